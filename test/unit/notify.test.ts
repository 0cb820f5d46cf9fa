import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { pingUrl } from '../../src/notify/healthcheck.js';
import { redactUrl, subjectLine, textBody, type RunSummary } from '../../src/notify/summary.js';

describe('pingUrl', () => {
  const cases: [string, 'start' | 'success' | 'fail', string][] = [
    ['https://hc-ping.com/abc', 'start', 'https://hc-ping.com/abc/start'],
    ['https://hc-ping.com/abc', 'success', 'https://hc-ping.com/abc'],
    ['https://hc-ping.com/abc', 'fail', 'https://hc-ping.com/abc/fail'],
    ['https://hc-ping.com/abc/', 'fail', 'https://hc-ping.com/abc/fail'],
    ['https://hc-ping.com/abc/', 'success', 'https://hc-ping.com/abc'],
    ['https://hc.example/ping/key/slug?create=1', 'start', 'https://hc.example/ping/key/slug/start?create=1'],
    ['http://127.0.0.1:8000', 'start', 'http://127.0.0.1:8000/start'],
  ];
  for (const [base, kind, want] of cases) test(`${base} ${kind}`, () => assert.equal(pingUrl(base, kind), want));
});

test('redactUrl keeps scheme and host only', () => {
  assert.equal(redactUrl('https://user:pw@hooks.example.org/T000/B000/XXXX?token=1'), 'https://hooks.example.org/…');
  assert.equal(redactUrl('not a url'), '(invalid URL)');
});

describe('summary text', () => {
  const base: RunSummary = {
    host: 'db1',
    runId: '20261128T023000-3f9a1c',
    ok: false,
    startedAt: '2026-11-28T02:30:00.000Z',
    durationMs: 81234,
    destination: '/srv/backup/2026/11/28',
    logFile: '/opt/batt/log/batt.log',
    services: [
      { service: 'file', status: 'ok', durationMs: 41200, files: 2, bytes: 3 * 1024 * 1024, dest: '/srv/backup/2026/11/28/file' },
      { service: 'mysql', status: 'failed', durationMs: 3100, files: 0, bytes: 0, error: 'mysql: backup script exited with code 2: Access denied' },
      { service: 'redis', status: 'timeout', durationMs: 9000, files: 0, bytes: 0, error: 'redis: timed out after 9s and was stopped' },
    ],
  };

  test('subjects', () => {
    assert.equal(subjectLine(base), 'batt on db1: backup FAILED (mysql, redis)');
    assert.equal(subjectLine({ ...base, ok: true, services: [base.services[0]!] }), 'batt on db1: backup complete (1 ok)');
  });

  test('body: one line per service, then the errors and the log', () => {
    const lines = textBody(base).split('\n');
    assert.equal(lines[0], 'Backup FAILED on db1: 1 ok, 2 failed');
    assert.match(lines[1]!, /^run 20261128T023000-3f9a1c, started 2026-11-28T02:30:00.000Z, 81\.2s, destination \/srv\/backup\/2026\/11\/28$/);
    assert.match(textBody(base), /^ok +file +41\.2s +2 files +3\.0 MiB +\/srv\/backup\/2026\/11\/28\/file$/m);
    assert.match(textBody(base), /^FAILED mysql +3\.1s +0 files +0 B$/m);
    assert.match(textBody(base), /^TIMEOUT redis /m);
    const one = { ...base, services: [{ ...base.services[0]!, files: 1 }] };
    assert.match(textBody(one), /^ok +file +41\.2s +1 file +3\.0 MiB /m);
    assert.match(textBody(base), /^Errors:\n {2}mysql: backup script exited with code 2: Access denied\n {2}redis: timed out/m);
    assert.match(textBody(base), /^Script output: \/opt\/batt\/log\/batt\.log$/m);
  });
});

describe('issue 23: syslog priorities, slack and ntfy shapes', async () => {
  const { priority, severityOf } = await import('../../src/notify/syslog.js');
  const { slackText } = await import('../../src/notify/webhook.js');
  const { ntfyBody, ntfyHeaders } = await import('../../src/notify/ntfy.js');
  const failed: RunSummary = {
    host: 'db1',
    runId: 'r1',
    ok: false,
    startedAt: '2026-11-28T02:30:00.000Z',
    durationMs: 4000,
    destination: '/srv/backup/2026/11/28',
    services: [
      { service: 'file', status: 'ok', durationMs: 1000, files: 1, bytes: 10, dest: '/srv/backup/2026/11/28/file', tries: 2 },
      { service: 'mysql', status: 'failed', durationMs: 3000, files: 0, bytes: 0, error: 'mysql: backup script exited with code 2: Access denied', lastLines: ['connecting', 'Access denied'] },
    ],
  };

  test('severity from the status (warning is issue 15\'s), PRI = facility * 8 + severity', () => {
    const sev: [string, string][] = [['ok', 'info'], ['warning', 'warning'], ['failed', 'err'], ['timeout', 'err'], ['interrupted', 'err']];
    for (const [status, want] of sev) assert.equal(severityOf(status), want, status);
    const pri: [string, Parameters<typeof priority>[1], number][] = [['daemon', 'info', 30], ['daemon', 'err', 27], ['user', 'warning', 12], ['local0', 'info', 134], ['local7', 'err', 187], ['kern', 'err', 3]];
    for (const [f, s, want] of pri) assert.equal(priority(f, s), want, `${f}.${s}`);
  });

  test('slack: the subject in bold, the summary, the failed service\'s last lines fenced', () => {
    const t = slackText(failed);
    assert.match(t, /^\*batt on db1: backup FAILED \(mysql\)\*\nBackup FAILED on db1: 1 ok, 1 failed\n/);
    assert.match(t, /^ok +file .* \(ok after 2 tries\)$/m);
    assert.match(t, /Last lines of mysql:\n```\nconnecting\nAccess denied\n```\n$/);
    assert.doesNotMatch(slackText({ ...failed, ok: true, services: [failed.services[0]!] }), /Last lines/);
  });

  test('ntfy: title, priority and tags from the outcome; the body ends with the last lines', () => {
    assert.deepEqual(ntfyHeaders(failed, 'tk'), { title: 'batt on db1: backup FAILED (mysql)', priority: 'high', tags: 'warning', authorization: 'Bearer tk' });
    assert.deepEqual(ntfyHeaders({ ...failed, ok: true, host: 'dé1', services: [] }), { title: 'batt on d?1: backup complete (0 ok)', priority: 'default', tags: 'white_check_mark' });
    assert.match(ntfyBody(failed), /Last lines of mysql:\nconnecting\nAccess denied\n$/);
    assert.ok(ntfyBody({ ...failed, services: [{ ...failed.services[1]!, lastLines: ['x'.repeat(9000)] }] }).length <= 4000);
  });
});
