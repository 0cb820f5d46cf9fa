// The state batt keeps between runs and the Prometheus text rendered from it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { catalogCounts, renderMetrics, statusValue } from '../../src/ops/metrics.js';
import { emptyState, recordRun, recordVerify } from '../../src/ops/state.js';
import type { Backup } from '../../src/catalog/catalog.js';

const at = (iso: string) => new Date(iso);
const T1 = '2026-11-28T02:30:00.000Z';
const T2 = '2026-11-29T02:30:00.000Z';
const r = (service: string, status: string, bytes = 10) => ({ service, status, durationMs: 1500, bytes: status === 'ok' ? bytes : 0, files: status === 'ok' ? 2 : 0 });

test('statusValue: 0 ok, 1 warning, 2 every failure', () => {
  const cases: [string, number][] = [['ok', 0], ['warning', 1], ['failed', 2], ['timeout', 2], ['interrupted', 2], ['anything', 2]];
  for (const [s, want] of cases) assert.equal(statusValue(s), want, s);
});

test('recordRun: a failure moves last run, never last success; a run of one service keeps the others', () => {
  let s = recordRun(emptyState(), [r('a', 'ok'), r('b', 'ok')], [{ service: 'a', target: 'off', ok: true }], at(T1));
  s = recordRun(s, [r('a', 'failed')], [{ service: 'a', target: 'off', ok: false }], at(T2));
  assert.equal(s.services.a!.lastRun!.status, 'failed');
  assert.equal(s.services.a!.lastRun!.at, T2);
  assert.equal(s.services.a!.lastSuccess!.at, T1);
  assert.equal(s.services.a!.lastSuccess!.bytes, 10);
  assert.equal(s.services.b!.lastRun!.at, T1, 'b was not in the second run');
  assert.deepEqual(s.copies, { a: { off: T1 } }, 'a failed copy never moves the copy time');
  // a warning counts as a success (issue 15 adds the status)
  s = recordRun(s, [r('b', 'warning')], [], at(T2));
  assert.equal(s.services.b!.lastSuccess!.at, T2);
  // a result's own finishing time wins over the run's
  s = recordRun(s, [{ ...r('c', 'ok'), finishedAt: T1 }], [], at(T2));
  assert.equal(s.services.c!.lastRun!.at, T1);
});

test('recordVerify: only services whose every checked backup was sound', () => {
  const s = recordVerify(emptyState(), [{ service: 'a', ok: true }, { service: 'a', ok: true }, { service: 'b', ok: true }, { service: 'b', ok: false }], at(T1));
  assert.deepEqual(Object.keys(s.services), ['a']);
  assert.equal(s.services.a!.lastVerified, T1);
});

const backup = (service: string, finishedAt: string): Backup => ({ dir: `/r/${service}`, id: service, manifest: { service, finishedAt, status: 'ok' } as Backup['manifest'] });

test('renderMetrics: every family once, one line per service, values from state and catalog', () => {
  let s = recordRun(emptyState(), [r('a', 'ok', 1234), r('b', 'ok')], [{ service: 'a', target: 'off"site', ok: true }], at(T1));
  s = recordRun(s, [r('b', 'failed')], [], at(T2));
  s = recordVerify(s, [{ service: 'a', ok: true }], at(T2));
  const counts = catalogCounts([backup('a', T1), backup('b', T1), backup('b', '2026-11-20T00:00:00Z'), backup('old', '2026-01-01T00:00:00Z')]);
  const text = renderMetrics(s, counts);
  const value = (line: string) => {
    const m = text.split('\n').find((l) => l.startsWith(`${line} `));
    return m === undefined ? undefined : Number(m.slice(line.length + 1));
  };
  const t1 = Date.parse(T1) / 1000;
  const t2 = Date.parse(T2) / 1000;
  assert.equal(value('batt_backup_last_success_timestamp_seconds{service="a"}'), t1);
  assert.equal(value('batt_backup_last_success_timestamp_seconds{service="b"}'), t1, 'the failed run did not move it');
  assert.equal(value('batt_backup_last_run_timestamp_seconds{service="b"}'), t2);
  assert.equal(value('batt_backup_last_status{service="a"}'), 0);
  assert.equal(value('batt_backup_last_status{service="b"}'), 2);
  assert.equal(value('batt_backup_last_duration_seconds{service="a"}'), 1.5);
  assert.equal(value('batt_backup_last_bytes{service="a"}'), 1234);
  assert.equal(value('batt_backup_last_bytes{service="b"}'), 0);
  assert.equal(value('batt_backup_last_files{service="a"}'), 2);
  assert.equal(value('batt_backups{service="b"}'), 2);
  assert.equal(value('batt_verify_last_success_timestamp_seconds{service="a"}'), t2);
  assert.equal(value('batt_verify_last_success_timestamp_seconds{service="b"}'), undefined, 'never verified: no line');
  assert.equal(value('batt_copy_last_success_timestamp_seconds{service="a",target="off\\"site"}'), t1, 'label values escaped');
  // a service only in the catalog (before the state existed): its success and count, no run lines
  assert.equal(value('batt_backup_last_success_timestamp_seconds{service="old"}'), Date.parse('2026-01-01T00:00:00Z') / 1000);
  assert.equal(value('batt_backups{service="old"}'), 1);
  assert.equal(value('batt_backup_last_status{service="old"}'), undefined);
  for (const name of ['batt_backup_last_success_timestamp_seconds', 'batt_backups', 'batt_copy_last_success_timestamp_seconds']) {
    assert.equal(text.split('\n').filter((l) => l === `# TYPE ${name} gauge`).length, 1, name);
  }
  assert.equal(renderMetrics(emptyState(), new Map()), '');
});
