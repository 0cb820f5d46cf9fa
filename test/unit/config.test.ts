import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { DEFAULT_TIMEOUT_SECONDS, confEnv, effectiveTimeout, loadConfFile, loadGlobalSettings, parseConf, serviceTimeout, type TimeoutInputs } from '../../src/config/config.js';
import { retentionConf } from '../../src/retention/conf.js';
import { resolveHome } from '../../src/core/home.js';
import { ConfigError } from '../../src/core/errors.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'batt-conf-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

test('parseConf reads KEY=value lines without expanding anything', () => {
  const cases: [string, Record<string, string>][] = [
    ['A=1\nB=two words\n', { A: '1', B: 'two words' }],
    ['# comment\n\n  C = spaced  \r\n', { C: 'spaced' }],
    ['export D=x', { D: 'x' }],
    ['E="quoted # not a comment"', { E: 'quoted # not a comment' }],
    ["F='$HOME $(id)'", { F: '$HOME $(id)' }],
    ['G="a\\"b\\\\c"', { G: 'a"b\\c' }],
    ['H=$(rm -rf /)', { H: '$(rm -rf /)' }],
    ['I=a=b=c', { I: 'a=b=c' }],
    ['J=', { J: '' }],
    ['K=1\nK=2', { K: '2' }],
  ];
  for (const [text, want] of cases) assert.deepEqual(parseConf(text, 'x.conf'), want, JSON.stringify(text));
});

test('parseConf refuses malformed lines and names file and line', () => {
  const cases: [string, RegExp][] = [
    ['A=1\njust words', /x\.conf:2: expected KEY=value/],
    ['lower=1', /x\.conf:1: "lower" is not a valid key/],
    ['1A=1', /not a valid key/],
    ['A-B=1', /not a valid key/],
    ['A="open', /x\.conf:1: unterminated quote in A/],
    ["A='", /unterminated quote/],
  ];
  for (const [text, msg] of cases) {
    assert.throws(() => parseConf(text, 'x.conf'), (e: unknown) => e instanceof ConfigError && msg.test(e.message), text);
  }
});

test('loadConfFile refuses secrets in a file others can read, naming the file', async () => {
  const cases: [string, string, number, boolean][] = [
    ['password 0644', 'PASSWORD=s3cret\n', 0o644, false],
    ['password 0640', 'DB_PASS=s3cret\n', 0o640, false],
    ['token 0604', 'API_TOKEN=t\n', 0o604, false],
    ['secret 0600', 'PASSWORD=s3cret\n', 0o600, true],
    ['no secret 0644', 'USER=bob\n', 0o644, true],
    ['empty secret 0644', 'PASSWORD=\n', 0o644, true],
  ];
  for (const [name, text, mode, ok] of cases) {
    const file = path.join(dir, `${name.replace(/\W/g, '_')}.conf`);
    fs.writeFileSync(file, text);
    fs.chmodSync(file, mode);
    if (ok) {
      await assert.doesNotReject(loadConfFile(file), name);
    } else {
      await assert.rejects(loadConfFile(file), (e: unknown) => {
        assert.ok(e instanceof ConfigError, name);
        assert.ok(e.message.includes(file), `${name}: ${e.message}`);
        assert.doesNotMatch(e.message, /s3cret/, 'the secret itself is not in the message');
        return true;
      });
    }
  }
});

test('loadConfFile: a missing file is empty; an unreadable path is a ConfigError', async () => {
  assert.deepEqual(await loadConfFile(path.join(dir, 'missing.conf')), {});
  await assert.rejects(loadConfFile(dir), ConfigError); // a folder: EISDIR
});

test('confEnv prefixes keys with BATT_CONF_', () => {
  assert.deepEqual(confEnv({ USER: 'bob', PASSWORD: 'x' }), { BATT_CONF_USER: 'bob', BATT_CONF_PASSWORD: 'x' });
});

test('loadGlobalSettings: what batt.conf values become (defaults for unset and empty keys)', async () => {
  const home = resolveHome(path.join(dir, 'gh'), {});
  fs.mkdirSync(home.conf, { recursive: true });
  const notify = { on: 'failure', timeoutSeconds: 20, smtp: undefined, webhookUrl: undefined, webhookToken: undefined, webhookFormat: 'json', ntfyUrl: undefined, ntfyToken: undefined, healthcheckUrl: undefined };
  const run = { retries: undefined, retryWaitSeconds: undefined, nice: undefined, ioniceClass: undefined, ioniceLevel: undefined, maxAgeSeconds: undefined, warnAgeSeconds: undefined };
  const fleet = { run, metricsDir: undefined, syslog: undefined, minSizeRatio: undefined, hostName: undefined };
  const cases: [string, object][] = [
    ['', { pattern: undefined, jobs: undefined, timeoutSeconds: undefined, notify }],
    ['MIN_SIZE_RATIO=0.25\nNOTIFY_ON=warning', { pattern: undefined, jobs: undefined, timeoutSeconds: undefined, minSizeRatio: 0.25, notify: { ...notify, on: 'warning' } }],
    ['DEST=\nJOBS=\nNOTIFY_ON=\n', { pattern: undefined, jobs: undefined, timeoutSeconds: undefined, notify }],
    ['DEST=/srv/b/%Y\nJOBS=03\nTIMEOUT=60\nNOTIFY_TIMEOUT=5\nNOTIFY_ON=always', { pattern: '/srv/b/%Y', jobs: 3, timeoutSeconds: 60, notify: { ...notify, on: 'always', timeoutSeconds: 5 } }],
    // DRILL_EVERY: a number and a unit, in ms; 0 is off
    ['DRILL_EVERY=7d', { pattern: undefined, jobs: undefined, timeoutSeconds: undefined, drillEveryMs: 7 * 86_400_000, notify }],
    ['DRILL_EVERY=12h', { pattern: undefined, jobs: undefined, timeoutSeconds: undefined, drillEveryMs: 12 * 3_600_000, notify }],
    ['DRILL_EVERY=0', { pattern: undefined, jobs: undefined, timeoutSeconds: undefined, drillEveryMs: 0, notify }],
    // a bad SMTP_TLS is not read while mail is off (the check still reports it)
    ['SMTP_TLS=ssl\nWEBHOOK_URL=https://h/x\nWEBHOOK_TOKEN=t\nHEALTHCHECK_URL=https://hc/1', { pattern: undefined, jobs: undefined, timeoutSeconds: undefined, notify: { ...notify, webhookUrl: 'https://h/x', webhookToken: 't', healthcheckUrl: 'https://hc/1' } }],
    [
      'SMTP_HOST=mail\nSMTP_PORT=465\nSMTP_TLS=tls\nSMTP_USER=u\nSMTP_PASSWORD=p\nSMTP_FROM=a@b\nSMTP_TO= x@y , ,z@w\nSMTP_CA_FILE=/ca.pem',
      {
        pattern: undefined,
        jobs: undefined,
        timeoutSeconds: undefined,
        notify: { ...notify, smtp: { host: 'mail', port: 465, tls: 'tls', user: 'u', password: 'p', from: 'a@b', to: ['x@y', 'z@w'], caFile: '/ca.pem' } },
      },
    ],
    ['SMTP_HOST=mail\nSMTP_TO=x@y\nSMTP_USER=', { pattern: undefined, jobs: undefined, timeoutSeconds: undefined, notify: { ...notify, smtp: { host: 'mail', port: undefined, tls: 'starttls', user: undefined, password: undefined, from: undefined, to: ['x@y'], caFile: undefined } } }],
    // issue 23: retries, priority, freshness, metrics, syslog, slack and ntfy
    [
      'RETRIES=2\nRETRY_WAIT=5m\nNICE=-5\nIONICE_CLASS=idle\nIONICE_LEVEL=7\nMAX_AGE=1d12h\nWARN_AGE=3600\nMETRICS_DIR=/var/lib/prometheus/node-exporter\nSYSLOG=local3\nSYSLOG_SOCKET=/run/log\nWEBHOOK_FORMAT=slack\nNTFY_URL=https://ntfy.sh/t\nNTFY_TOKEN=tk',
      {
        pattern: undefined,
        jobs: undefined,
        timeoutSeconds: undefined,
        notify: { ...notify, webhookFormat: 'slack', ntfyUrl: 'https://ntfy.sh/t', ntfyToken: 'tk' },
        run: { retries: 2, retryWaitSeconds: 300, nice: -5, ioniceClass: 3, ioniceLevel: 7, maxAgeSeconds: 129600, warnAgeSeconds: 3600 },
        metricsDir: '/var/lib/prometheus/node-exporter',
        syslog: { facility: 'local3', socket: '/run/log' },
      },
    ],
    ['SYSLOG=yes\nIONICE_CLASS=Best-Effort', { pattern: undefined, jobs: undefined, timeoutSeconds: undefined, notify, run: { ...run, ioniceClass: 2 }, syslog: { facility: 'daemon', socket: undefined } }],
    ['SYSLOG=no', { pattern: undefined, jobs: undefined, timeoutSeconds: undefined, notify }],
    // issue 22: this host's name on shared targets
    ['HOST_NAME=web1.example.net', { pattern: undefined, jobs: undefined, timeoutSeconds: undefined, notify, hostName: 'web1.example.net' }],
  ];
  for (const [text, want] of cases) {
    fs.writeFileSync(path.join(home.conf, 'batt.conf'), text, { mode: 0o600 });
    assert.deepEqual(await loadGlobalSettings(home), { ...fleet, ...want }, text);
  }
});

test('loadGlobalSettings: the first problem is a ConfigError naming the file and key', async () => {
  const home = resolveHome(path.join(dir, 'gb'), {});
  fs.mkdirSync(home.conf, { recursive: true });
  const file = path.join(home.conf, 'batt.conf');
  const cases: [string, string][] = [
    ['JOBS=0\nTIMEOUT=x', 'JOBS must be a positive whole number, got "0"'],
    ['TIMEOUT=1h', 'TIMEOUT must be a positive whole number, got "1h"'],
    ['HOST_NAME=../web1', 'HOST_NAME must be a host name (letters, digits, . _ -, starting with a letter or digit), got "../web1"'],
    ['SMTP_PORT=0', 'SMTP_PORT must be a port number 1-65535, got "0"'],
    ['SMTP_PORT=smtp\nSMTP_HOST=m', 'SMTP_PORT must be a port number 1-65535, got "smtp"'],
    ['SMTP_HOST=m\nNOTIFY_ON=never', 'SMTP_HOST is set but SMTP_TO is empty: no one would get the mail'],
    ['NOTIFY_ON=never\nNOTIFY_TIMEOUT=x', 'NOTIFY_ON must be one of failure, warning, always, got "never"'],
    ['NOTIFY_TIMEOUT=0', 'NOTIFY_TIMEOUT must be a positive whole number, got "0"'],
    ['SMTP_HOST=m\nSMTP_TO=a@b\nSMTP_TLS=STARTTLS', 'SMTP_TLS must be one of tls, starttls, none, got "STARTTLS"'],
    ['RETRIES=-1', 'RETRIES must be a whole number, got "-1"'],
    ['RETRY_WAIT=soon', 'RETRY_WAIT must be a duration such as 26h, 90m, 1d12h or seconds, got "soon"'],
    ['NICE=20', 'NICE must be a whole number from -20 to 19, got "20"'],
    ['NICE=-21', 'NICE must be a whole number from -20 to 19, got "-21"'],
    ['IONICE_CLASS=low', 'IONICE_CLASS must be idle, best-effort, realtime or none (3, 2, 1, 0), got "low"'],
    ['IONICE_LEVEL=8', 'IONICE_LEVEL must be a whole number from 0 (first) to 7 (last), got "8"'],
    ['MAX_AGE=26 h', 'MAX_AGE must be a duration such as 26h, 90m, 1d12h or seconds, got "26 h"'],
    ['METRICS_DIR=prom', 'METRICS_DIR must be an absolute path, got "prom"'],
    ['SYSLOG=local8', 'SYSLOG must be yes, no or a facility (daemon, user, local0...local7...), got "local8"'],
    ['WEBHOOK_FORMAT=teams', 'WEBHOOK_FORMAT must be one of json, slack, got "teams"'],
  ];
  for (const [text, msg] of cases) {
    fs.writeFileSync(file, text, { mode: 0o600 });
    await assert.rejects(loadGlobalSettings(home), (e: unknown) => e instanceof ConfigError && e.message === `${file}: ${msg}`, text);
  }
});

test('retentionConf: KEEP_*, WEEK_START and PURGE_AFTER_RUN values, and the first bad one', () => {
  const cases: [Record<string, string>, object | string][] = [
    [{}, {}],
    [{ KEEP_LAST: '', WEEK_START: '', PURGE_AFTER_RUN: '' }, {}],
    [{ KEEP_LAST: '3', KEEP_HOURLY: '0', KEEP_DAILY: '07', KEEP_WEEKLY: '999999', KEEP_MONTHLY: '12', KEEP_YEARLY: '1' }, { last: 3, hourly: 0, daily: 7, weekly: 999999, monthly: 12, yearly: 1 }],
    [{ WEEK_START: ' Sunday ', PURGE_AFTER_RUN: 'YES' }, { weekStart: 'sun', purgeAfterRun: true }],
    [{ WEEK_START: 'MON', PURGE_AFTER_RUN: 'false' }, { weekStart: 'mon', purgeAfterRun: false }],
    [{ KEEP_LAST: '1000000' }, 'r.conf: KEEP_LAST must be a whole number >= 0, got "1000000"'],
    [{ KEEP_YEARLY: 'x', KEEP_LAST: 'y' }, 'r.conf: KEEP_LAST must be a whole number >= 0, got "y"'],
    [{ WEEK_START: 'tue', PURGE_AFTER_RUN: 'x' }, 'r.conf: WEEK_START must be mon or sun, got "tue"'],
    [{ PURGE_AFTER_RUN: 'on' }, 'r.conf: PURGE_AFTER_RUN must be yes or no, got "on"'],
  ];
  for (const [conf, want] of cases) {
    if (typeof want === 'string') assert.throws(() => retentionConf(conf, 'r.conf'), (e: unknown) => e instanceof ConfigError && e.message === want, JSON.stringify(conf));
    else assert.deepEqual(retentionConf(conf, 'r.conf'), want, JSON.stringify(conf));
  }
});

test('effectiveTimeout: --timeout over BACKUP_TIMEOUT over batt.conf TIMEOUT over 4 h', () => {
  const cases: [TimeoutInputs, number, string][] = [
    [{}, 14400, 'default'],
    [{ global: 600 }, 600, 'TIMEOUT'],
    [{ service: 21600 }, 21600, 'BACKUP_TIMEOUT'],
    [{ service: 1, global: 600 }, 1, 'BACKUP_TIMEOUT'],
    [{ service: 21600, global: 600 }, 21600, 'BACKUP_TIMEOUT'], // a service may get longer than the global limit, too
    [{ flag: 30, service: 1, global: 600 }, 30, '--timeout'],
    [{ flag: 30 }, 30, '--timeout'],
    [{ flag: 0, service: 1, global: 600 }, 0, '--timeout'], // --timeout 0: no limit, for every service
  ];
  assert.equal(DEFAULT_TIMEOUT_SECONDS, 4 * 3600);
  for (const [inputs, seconds, from] of cases) assert.deepEqual(effectiveTimeout(inputs), { seconds, from }, JSON.stringify(inputs));
});

test('serviceTimeout: BACKUP_TIMEOUT of a <service>.conf, unset, or a ConfigError naming file and key', () => {
  const cases: [Record<string, string>, number | undefined | string][] = [
    [{}, undefined],
    [{ BACKUP_TIMEOUT: '' }, undefined],
    [{ BACKUP_TIMEOUT: '600', TIMEOUT: '5' }, 600], // TIMEOUT is the script's own key (redis, sqlite)
    [{ BACKUP_TIMEOUT: '0021600' }, 21600],
    [{ BACKUP_TIMEOUT: '0' }, 'mysql.conf: BACKUP_TIMEOUT must be a positive whole number, got "0"'],
    [{ BACKUP_TIMEOUT: '6h' }, 'mysql.conf: BACKUP_TIMEOUT must be a positive whole number, got "6h"'],
    [{ BACKUP_TIMEOUT: '-1' }, 'mysql.conf: BACKUP_TIMEOUT must be a positive whole number, got "-1"'],
  ];
  for (const [conf, want] of cases) {
    if (typeof want === 'string') assert.throws(() => serviceTimeout(conf, 'mysql.conf'), (e: unknown) => e instanceof ConfigError && e.message === want, JSON.stringify(conf));
    else assert.equal(serviceTimeout(conf, 'mysql.conf'), want, JSON.stringify(conf));
  }
});
