import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { checkConfig, formatFinding, suggest, type ConfFile, type Finding } from '../../src/config/configcheck.js';
import { loadConfFile, loadGlobalSettings, readRunSettings, serviceDrillEvery, serviceMinSizeRatio, serviceTimeout } from '../../src/config/config.js';
import { retentionConf } from '../../src/retention/conf.js';
import {
  ENCRYPTION_RELATIONS,
  GLOBAL_KEYS,
  GLOBAL_RELATIONS,
  SERVICE_KEYS,
  TARGET_KEYS,
  TARGET_KINDS,
  TARGET_KIND_KEYS,
  TARGET_RELATIONS,
  type KeySpec,
  type TargetKind,
} from '../../src/config/confkeys.js';
import { ConfigError } from '../../src/core/errors.js';
import { resolveHome } from '../../src/core/home.js';
import { loadTarget } from '../../src/targets/config.js';
import { openCopyTarget } from '../../src/targets/open.js';

const global = (text: string, mode = 0o600): ConfFile => ({ file: '/h/conf/batt.conf', kind: 'global', name: 'batt', text, mode: 0o100000 | mode });
const service = (name: string, text: string, mode = 0o600): ConfFile => ({ file: `/h/conf/${name}.conf`, kind: 'service', name, text, mode: 0o100000 | mode });
const brief = (f: Finding[]) => f.map((x) => `${x.level} ${x.file.split('/').pop()}:${x.line ?? '-'} ${x.key ?? '-'} ${x.message}`);

describe('checkConfig: batt.conf', () => {
  test('a sound conf has no findings', () => {
    const text = [
      '# notifications',
      'DEST=/srv/backup/%Y/%m/%d',
      'JOBS=2',
      'TIMEOUT=3600',
      'KEEP_DAILY=7',
      'WEEK_START=sun',
      'PURGE_AFTER_RUN=yes',
      'NOTIFY_ON=always',
      'NOTIFY_TIMEOUT=30',
      'SMTP_HOST=mail.example.org',
      'SMTP_PORT=587',
      'SMTP_TLS=starttls',
      'SMTP_USER=batt',
      "SMTP_PASSWORD='p#ss w=rd'",
      'SMTP_FROM="Backups <batt@example.org>"',
      'SMTP_TO=ops@example.org, root@example.org',
      'WEBHOOK_URL=https://hooks.example.org/batt',
      'HEALTHCHECK_URL=https://hc-ping.com/0b5e-uuid',
      'EMPTY_IS_FINE_FOR_KNOWN=',
    ].join('\n');
    const f = checkConfig([global(text.replace('EMPTY_IS_FINE_FOR_KNOWN=', 'JOBS='))], []);
    assert.deepEqual(brief(f), ['warning batt.conf:19 JOBS is set twice (lines 3 and 19); the last one wins']);
  });

  const cases: [string, string, string[]][] = [
    ['unknown key with a suggestion', 'NOTIFY_OM=always', ['error batt.conf:1 NOTIFY_OM unknown key (did you mean NOTIFY_ON?); settings for one service go in <service>.conf']],
    ['unknown key without one', 'MYSQL_USER=root', ['error batt.conf:1 MYSQL_USER unknown key; settings for one service go in <service>.conf']],
    ['bad number', 'JOBS=two', ['error batt.conf:1 JOBS must be a positive whole number, got "two"']],
    ['zero jobs', 'JOBS=0', ['error batt.conf:1 JOBS must be a positive whole number, got "0"']],
    ['bad port', 'SMTP_PORT=70000', ['error batt.conf:1 SMTP_PORT must be a port number 1-65535, got "70000"']],
    ['bad KEEP_', 'KEEP_WEEKLY=-2', ['error batt.conf:1 KEEP_WEEKLY must be a whole number >= 0, got "-2"']],
    ['bad WEEK_START', 'WEEK_START=fri', ['error batt.conf:1 WEEK_START must be mon or sun, got "fri"']],
    ['bad NOTIFY_ON', 'NOTIFY_ON=sometimes', ['error batt.conf:1 NOTIFY_ON must be one of failure, warning, always, got "sometimes"']],
    ['bad SMTP_TLS', 'SMTP_TLS=ssl', ['error batt.conf:1 SMTP_TLS must be one of tls, starttls, none, got "ssl"']],
    ['relative DEST', 'DEST=backup/%Y', ['error batt.conf:1 DEST destination pattern "backup/%Y" must be an absolute path']],
    ['DEST with a bad conversion', 'DEST=/srv/%Y/%c', ['error batt.conf:1 DEST destination pattern "/srv/%Y/%c" uses %c, which batt does not allow in a path']],
    ['DEST without a fixed root', 'DEST=/%Y/%m', [/needs at least one fixed folder/.source]],
    ['webhook not http', 'WEBHOOK_URL=ftp://x/y', ['error batt.conf:1 WEBHOOK_URL must be an http:// or https:// URL']],
    ['healthcheck not a URL', 'HEALTHCHECK_URL=hc-ping.com/abc', ['error batt.conf:1 HEALTHCHECK_URL is not a valid URL']],
    ['bad address', 'SMTP_HOST=m\nSMTP_TO=ops@example.org, nobody', ['error batt.conf:2 SMTP_TO "nobody" is not a mail address']],
    ['host without recipients', 'SMTP_HOST=mail.example.org', ['error batt.conf:1 SMTP_HOST is set but SMTP_TO is empty: no one would get the mail']],
    ['recipients without host', 'SMTP_TO=a@b.c', ['warning batt.conf:1 SMTP_TO is set but SMTP_HOST is empty: no mail is sent']],
    [
      'password in clear text to a remote host',
      'SMTP_HOST=mail.example.org\nSMTP_TO=a@b.c\nSMTP_TLS=none\nSMTP_USER=u\nSMTP_PASSWORD=p',
      ['warning batt.conf:3 SMTP_TLS sends the SMTP password unencrypted to mail.example.org; use starttls or tls'],
    ],
    ['parse error, and the next line still checked', 'JOBS 4\nTIMEOUT=x', ['error batt.conf:1 - expected KEY=value, got "JOBS 4"', 'error batt.conf:2 TIMEOUT must be a positive whole number, got "x"']],
    ['a malformed secret line is not echoed', 'SMTP_PASSWORD hunter2', ['error batt.conf:1 - expected KEY=value (the line is not shown: it may hold a secret)']],
    ['unterminated quote', 'DEST="/srv/%Y', ['error batt.conf:1 - unterminated quote in DEST']],
  ];
  for (const [name, text, want] of cases) {
    test(name, () => {
      const got = brief(checkConfig([global(text)], []));
      if (want.length === 1 && !want[0]!.startsWith('error') && !want[0]!.startsWith('warning')) {
        assert.equal(got.length, 1, got.join('\n'));
        assert.match(got[0]!, new RegExp(want[0]!));
      } else assert.deepEqual(got, want);
    });
  }

  test('secrets in a file others can read: one error per secret, values never shown', () => {
    const f = checkConfig([global('SMTP_HOST=m\nSMTP_TO=a@b.c\nSMTP_USER=u\nSMTP_PASSWORD=hunter2\nWEBHOOK_TOKEN=tok', 0o644)], []);
    assert.deepEqual(
      brief(f).map((l) => l.replace(/chmod 600 .*/, 'chmod')),
      [
        'error batt.conf:4 SMTP_PASSWORD is a secret but the file is readable by others (mode 644); batt refuses it: chmod',
        'error batt.conf:5 WEBHOOK_TOKEN is a secret but the file is readable by others (mode 644); batt refuses it: chmod',
      ],
    );
    assert.ok(!JSON.stringify(f).includes('hunter2') && !JSON.stringify(f).includes('"tok"'));
  });

  test('group-readable is also refused; 0600 and 0400 are fine', () => {
    const conf = 'SMTP_HOST=m\nSMTP_TO=a@b.c\nSMTP_PASSWORD=x\nSMTP_USER=u';
    assert.deepEqual(checkConfig([global(conf, 0o640)], []).map((x) => `${x.level} ${x.key}`), ['error SMTP_PASSWORD']);
    assert.deepEqual(checkConfig([global(conf, 0o600)], []), []);
    assert.deepEqual(checkConfig([global(conf, 0o400)], []), []);
  });

  test('a world-writable conf without secrets is a warning', () => {
    assert.deepEqual(brief(checkConfig([global('JOBS=2', 0o666)], [])), ['warning batt.conf:- - is writable by everyone (mode 666): chmod 600 /h/conf/batt.conf']);
  });
});

describe('checkConfig: <service>.conf', () => {
  test('free keys pass to the script; retention keys are checked', () => {
    const f = checkConfig([service('mysql', 'USER=backup\nHOST=db1\nKEEP_DAILY=x\nWEEK_START=mon')], ['mysql']);
    assert.deepEqual(brief(f), ['error mysql.conf:3 KEEP_DAILY must be a whole number >= 0, got "x"']);
  });

  test('mysql COMPRESS is zstd or none, as backup-mysql takes it', () => {
    assert.deepEqual(brief(checkConfig([service('mysql', 'COMPRESS=none')], ['mysql'])), []);
    assert.deepEqual(brief(checkConfig([service('mysql', 'COMPRESS=zstd')], ['mysql'])), []);
    assert.deepEqual(brief(checkConfig([service('mysql', 'USER=b\nCOMPRESS=gzip')], ['mysql'])), ['error mysql.conf:2 COMPRESS must be one of zstd, none, got "gzip"']);
    assert.deepEqual(brief(checkConfig([service('file', 'COMPRESS=gzip')], ['file'])), [], "another service's COMPRESS is its own");
  });

  test('postgresql COMPRESS is zstd or none, as backup-postgresql takes it', () => {
    assert.deepEqual(brief(checkConfig([service('postgresql', 'COMPRESS=none')], ['postgresql'])), []);
    assert.deepEqual(brief(checkConfig([service('postgresql', 'COMPRESS=zstd')], ['postgresql'])), []);
    assert.deepEqual(brief(checkConfig([service('postgresql', 'HOST=db1\nCOMPRESS=lz4')], ['postgresql'])), ['error postgresql.conf:2 COMPRESS must be one of zstd, none, got "lz4"']);
  });

  test('a conf for a service without a script is a warning', () => {
    assert.deepEqual(brief(checkConfig([service('ghost', 'A=1')], ['mysql'])), [
      'warning ghost.conf:- - no script scripts-available/backup-ghost: this conf is not used by any service',
    ]);
  });

  test('a service conf with a password readable by others', () => {
    const f = checkConfig([service('mysql', 'PASSWORD=s3cr3t', 0o604)], ['mysql']);
    assert.equal(f.length, 1);
    assert.equal(f[0]!.key, 'PASSWORD');
    assert.match(formatFinding(f[0]!), /^error: \/h\/conf\/mysql.conf:1: PASSWORD is a secret but the file is readable by others \(mode 604\)/);
  });

  test('findings are ordered by file, then line', () => {
    const f = checkConfig([global('TIMEOUT=x\nJOBS=y'), service('a', 'KEEP_LAST=z')], []);
    assert.deepEqual(f.map((x) => `${x.file.split('/').pop()}:${x.line ?? 0}`), ['batt.conf:1', 'batt.conf:2', 'a.conf:0', 'a.conf:1']);
  });
});

describe('checkConfig: targets/*.conf', () => {
  const target = (name: string, text: string): ConfFile => ({ file: `/h/conf/targets/${name}.conf`, kind: 'target', name, text, mode: 0o100600 });
  test('the keys batt parses are checked, every problem listed; other keys are free', () => {
    const f = checkConfig([target('box', 'TYPE=ftp\nHOST=h\nPORT=ftp\nSECURE=tls\nKEEP_DAILY=x\nFORCE_PATH_STYLE=maybe\nANYTHING=goes')], []);
    assert.deepEqual(brief(f), [
      'error box.conf:- PATH is required for a ftp target',
      'error box.conf:3 PORT must be a whole number, got "ftp"',
      'error box.conf:4 SECURE must be no, yes or implicit',
      'error box.conf:5 KEEP_DAILY must be a whole number >= 0, got "x"',
      'error box.conf:6 FORCE_PATH_STYLE must be yes or no, got "maybe"',
    ]);
  });
  test('the keys of its kind and their relations: each problem at its line, missing keys without one', () => {
    const f = checkConfig([target('box', 'TYPE=sftp\nHOST=h\nSSH_KEY=id_ed25519\nKNOWN_HOSTS=\nRECIPIENT=age1short\nPASSPHRASE=hunter2')], []);
    assert.deepEqual(brief(f), [
      'error box.conf:- USER is required for a sftp target',
      'error box.conf:- PATH is required for a sftp target',
      'error box.conf:3 SSH_KEY must be an absolute path, got "id_ed25519"',
      'error box.conf:4 KNOWN_HOSTS is required for a sftp target',
      'error box.conf:5 RECIPIENT "age1short..." is not an age or ssh public key',
      'error box.conf:6 PASSPHRASE is refused: put the passphrase in a 0600 file and name it with PASSPHRASE_FILE',
    ]);
    assert.ok(!JSON.stringify(f).includes('hunter2'));
  });
  test('TYPE is required', () => {
    assert.deepEqual(brief(checkConfig([target('t', 'PATH=/x')], [])), ['error t.conf:- TYPE must be one of local, rsync, sftp, s3, ftp, restic, got ""']);
    assert.deepEqual(brief(checkConfig([target('t', 'TYPE=\nPATH=/x')], [])), ['error t.conf:1 TYPE must be one of local, rsync, sftp, s3, ftp, restic, got ""']);
  });
});

test('a service conf: BACKUP_TIMEOUT must be a positive whole number, reported with file:line', () => {
  const f = checkConfig([service('mysql', 'USER=backup\nBACKUP_TIMEOUT=6h\nTIMEOUT=anything')], ['mysql']);
  assert.deepEqual(brief(f), ['error mysql.conf:2 BACKUP_TIMEOUT must be a positive whole number, got "6h"']);
  assert.equal(formatFinding(f[0]!), 'error: /h/conf/mysql.conf:2: BACKUP_TIMEOUT must be a positive whole number, got "6h"');
  assert.deepEqual(brief(checkConfig([service('redis', 'BACKUP_TIMEOUT=0')], ['redis'])), ['error redis.conf:1 BACKUP_TIMEOUT must be a positive whole number, got "0"']);
  assert.deepEqual(brief(checkConfig([service('redis', 'BACKUP_TIMEOUT=600\nTIMEOUT=60')], ['redis'])), []);
});

test('a service conf: PURGE_AFTER_RUN is checked as the loader reads it', () => {
  assert.deepEqual(brief(checkConfig([service('mysql', 'PURGE_AFTER_RUN=sometimes')], ['mysql'])), ['error mysql.conf:1 PURGE_AFTER_RUN must be yes or no, got "sometimes"']);
});

test('a built-in service conf: a relative path in a key its scripts refuse is an error (scripts-available say the same)', () => {
  const f = checkConfig(
    [
      service('mysql', 'SOCKET=run/mysqld.sock\nDEFAULTS_FILE=/etc/mysql/debian.cnf\nDEFAULTS_FILE=debian.cnf\nHOST=db1'),
      service('redis', 'SOCKET=/run/redis.sock\nRESTORE_DIR=data'),
      service('file', 'PATHS=/etc  www /srv'),
      service('sqlite', 'DATABASES="/srv/a.db app.db"'),
      service('postgresql', 'OS_USER=postgres\nOS_USER=\nOS_USER="post gres"'),
      service('custom', 'SOCKET=relative.sock\nPATHS=www'),
    ],
    ['mysql', 'redis', 'file', 'sqlite', 'postgresql', 'custom'],
  ).filter((x) => x.level === 'error');
  assert.deepEqual(brief(f), [
    'error mysql.conf:1 SOCKET must be an absolute path, got "run/mysqld.sock"',
    'error mysql.conf:3 DEFAULTS_FILE must be an absolute path, got "debian.cnf"',
    'error redis.conf:2 RESTORE_DIR must be an absolute path, got "data"',
    'error file.conf:1 PATHS must be absolute paths, got "www"',
    'error sqlite.conf:1 DATABASES must be absolute paths, got "app.db"',
    'error postgresql.conf:3 OS_USER must be a user name, got "post gres"',
  ]);
});

test('a built-in service conf: CONTAINER_ENGINE is podman or docker (backup-redis says the same)', () => {
  const f = checkConfig([service('redis', 'CONTAINER=cache\nCONTAINER_ENGINE=podman\nCONTAINER_ENGINE=docker\nCONTAINER_ENGINE=lxc')], ['redis']);
  assert.deepEqual(brief(f.filter((x) => x.level === 'error')), ['error redis.conf:4 CONTAINER_ENGINE must be podman or docker, got "lxc"']);
});

test('CONTAINER_ENGINE is linted for every service whose scripts run in a container', () => {
  const svcs = ['mysql', 'postgresql', 'redis', 'mongodb'];
  const f = checkConfig(svcs.map((s) => service(s, 'CONTAINER=db\nCONTAINER_ENGINE=lxc')), svcs);
  assert.deepEqual(brief(f.filter((x) => x.level === 'error')), svcs.map((s) => `error ${s}.conf:2 CONTAINER_ENGINE must be podman or docker, got "lxc"`));
});

test('suggest', () => {
  assert.equal(suggest('SMTP_PASWORD', ['SMTP_PASSWORD', 'SMTP_USER']), 'SMTP_PASSWORD');
  assert.equal(suggest('COMPLETELY_ELSE', ['SMTP_PASSWORD']), undefined);
});

// One table of key rules (src/config/confkeys.ts) serves the loaders and the check. These cases prove they
// agree key by key: a good value passes both, a bad one is refused by both, with the same words
// (loader: "<file>: KEY why", check: finding {line, key: KEY, message: why}). Every key of every
// table must have a row here, so a key added to a table without a case fails the coverage test.
describe('loaders and config check agree on every key', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'batt-keys-'));
  after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const home = resolveHome(dir, {});
  fs.mkdirSync(path.join(home.conf, 'targets'), { recursive: true });

  type Kind = 'global' | 'service' | 'target';
  /**
   * rule: both refuse `bad`. lint: only the check refuses `bad`, the loader takes it as it is
   * (confkeys.ts says why). text: no rule at all, any value passes both.
   */
  interface Row {
    kind: Kind;
    key: string;
    good: string;
    bad?: string;
    how: 'rule' | 'lint' | 'text';
    /** other keys the file needs so the loader reads this one */
    base?: string;
    /** a key of one kind of target (TARGET_KIND_KEYS), not of the whole table */
    tk?: TargetKind;
  }
  const mail = 'SMTP_HOST=mail.example.org\nSMTP_TO=ops@example.org\n';
  const retention = (kind: Kind, base?: string): Row[] => [
    { kind, key: 'KEEP_LAST', good: '3', bad: '-1', how: 'rule', base },
    { kind, key: 'KEEP_HOURLY', good: '0', bad: '1234567', how: 'rule', base },
    { kind, key: 'KEEP_DAILY', good: '007', bad: '7 days', how: 'rule', base },
    { kind, key: 'KEEP_WEEKLY', good: '999999', bad: '1.5', how: 'rule', base },
    { kind, key: 'KEEP_MONTHLY', good: '12', bad: 'twelve', how: 'rule', base },
    { kind, key: 'KEEP_YEARLY', good: '1', bad: '+1', how: 'rule', base },
    { kind, key: 'MAX_DAYS', good: '30', bad: '30d', how: 'rule', base },
    { kind, key: 'WEEK_START', good: 'Sunday', bad: 'fri', how: 'rule', base },
    { kind, key: 'PURGE_AFTER_RUN', good: 'TRUE', bad: 'on', how: 'rule', base },
  ];
  const runKeys = (kind: Kind, base?: string): Row[] => [
    { kind, key: 'RETRIES', good: '2', bad: 'twice', how: 'rule', base },
    { kind, key: 'RETRY_WAIT', good: '5m', bad: '5 min', how: 'rule', base },
    { kind, key: 'NICE', good: '-20', bad: '+5x', how: 'rule', base },
    { kind, key: 'IONICE_CLASS', good: 'IDLE', bad: '4', how: 'rule', base },
    { kind, key: 'IONICE_LEVEL', good: '0', bad: '-1', how: 'rule', base },
    { kind, key: 'MAX_AGE', good: '1w', bad: '1y', how: 'rule', base },
    { kind, key: 'WARN_AGE', good: '90000', bad: '25h30', how: 'rule', base },
  ];
  const local = 'TYPE=local\nPATH=/srv/offsite\n';
  const ftp = 'TYPE=ftp\nHOST=ftp.example.org\nPATH=/up\n';
  const s3 = 'TYPE=s3\nBUCKET=b\n';
  const rsync = 'TYPE=rsync\nHOST=backup.example.net\nPATH=web1\nSSH_KEY=/k/id\nKNOWN_HOSTS=/k/known_hosts\n';
  const sftp = 'TYPE=sftp\nHOST=backup.example.net\nUSER=batt\nSSH_KEY=/k/id\nKNOWN_HOSTS=/k/known_hosts\nPATH=web1\n';
  // files the encryption keys name: they must exist and be 0600 when the target is opened
  const idFile = path.join(dir, 'id');
  fs.writeFileSync(idFile, 'AGE-SECRET-KEY-1X\n', { mode: 0o600 });
  const passFile = path.join(dir, 'pass');
  fs.writeFileSync(passFile, 'correct horse battery staple\n', { mode: 0o600 });
  const pub = 'age1' + 'q'.repeat(58);
  const restic = `TYPE=restic\nREPOSITORY=/srv/restic\nPASSWORD_FILE=${passFile}\n`;
  const resticSftp = `TYPE=restic\nREPOSITORY=sftp:batt@backup.example.net:/srv/restic\nPASSWORD_FILE=${passFile}\n`;
  const rows: Row[] = [
    { kind: 'global', key: 'DEST', good: '/srv/backup/%Y/%m', bad: 'relative/%Y', how: 'lint' },
    { kind: 'global', key: 'HOST_NAME', good: 'web1.example.net', bad: 'web 1', how: 'rule' },
    { kind: 'global', key: 'JOBS', good: '2', bad: '0', how: 'rule' },
    { kind: 'global', key: 'TIMEOUT', good: '3600', bad: 'soon', how: 'rule' },
    { kind: 'global', key: 'MIN_SIZE_RATIO', good: '0.25', bad: '50%', how: 'rule' },
    ...retention('global'),
    { kind: 'global', key: 'NOTIFY_ON', good: 'always', bad: 'Always', how: 'rule' },
    { kind: 'global', key: 'NOTIFY_TIMEOUT', good: '30', bad: '-5', how: 'rule' },
    { kind: 'global', key: 'SMTP_HOST', good: 'mail.example.org', bad: 'mail server', how: 'lint', base: mail },
    { kind: 'global', key: 'SMTP_PORT', good: '65535', bad: '65536', how: 'rule', base: mail },
    { kind: 'global', key: 'SMTP_TLS', good: 'tls', bad: 'ssl', how: 'rule', base: mail },
    { kind: 'global', key: 'SMTP_USER', good: 'batt', how: 'text', base: `${mail}SMTP_PASSWORD=x\n` },
    { kind: 'global', key: 'SMTP_PASSWORD', good: "'p#ss w=rd'", how: 'text', base: `${mail}SMTP_USER=u\n` },
    { kind: 'global', key: 'SMTP_FROM', good: '"Backups <batt@example.org>"', bad: 'batt', how: 'lint', base: mail },
    { kind: 'global', key: 'SMTP_TO', good: 'a@example.org, b@example.org', bad: 'nobody', how: 'lint', base: mail },
    { kind: 'global', key: 'SMTP_CA_FILE', good: '/etc/ssl/private-ca.pem', bad: 'ca.pem', how: 'lint', base: mail },
    { kind: 'global', key: 'WEBHOOK_URL', good: 'https://hooks.example.org/batt', bad: 'ftp://x/y', how: 'lint' },
    { kind: 'global', key: 'WEBHOOK_TOKEN', good: 'tok', how: 'text' },
    { kind: 'global', key: 'HEALTHCHECK_URL', good: 'http://hc.example.org/ping/1', bad: 'hc-ping.com/abc', how: 'lint' },
    ...runKeys('global'),
    { kind: 'global', key: 'METRICS_DIR', good: '/var/lib/prometheus/node-exporter', bad: 'prom', how: 'rule' },
    { kind: 'global', key: 'SYSLOG', good: 'Local7', bad: 'maybe', how: 'rule' },
    { kind: 'global', key: 'SYSLOG_SOCKET', good: '/dev/log', bad: 'log', how: 'rule' },
    { kind: 'global', key: 'WEBHOOK_FORMAT', good: 'slack', bad: 'Slack', how: 'rule' },
    { kind: 'global', key: 'NTFY_URL', good: 'https://ntfy.sh/acme-backups', bad: 'ntfy.sh/x', how: 'lint' },
    { kind: 'global', key: 'NTFY_TOKEN', good: 'tk_1', how: 'text' },
    { kind: 'global', key: 'DRILL_EVERY', good: '7d', bad: 'weekly', how: 'rule' },
    { kind: 'service', key: 'BACKUP_TIMEOUT', good: '21600', bad: '0', how: 'rule', base: 'USER=backup\n' },
    { kind: 'service', key: 'MIN_SIZE_RATIO', good: '0', bad: '1.5', how: 'rule', base: 'USER=backup\n' },
    { kind: 'service', key: 'DRILL_EVERY', good: '90m', bad: '7 d', how: 'rule', base: 'USER=backup\n' },
    ...retention('service', 'USER=backup\n'),
    ...runKeys('service', 'USER=backup\n'),
    { kind: 'target', key: 'TYPE', good: 'Local', bad: 'nfs', how: 'rule', base: local },
    { kind: 'target', key: 'TIMEOUT', good: '0', bad: '2m', how: 'rule', base: local },
    { kind: 'target', key: 'PORT', good: '2121', bad: 'ftp', how: 'rule', base: ftp },
    { kind: 'target', key: 'RETRIES', good: '5', bad: '-1', how: 'rule', base: local },
    { kind: 'target', key: 'RETRY_DELAY_MS', good: '250', bad: '0.5', how: 'rule', base: local },
    { kind: 'target', key: 'PART_SIZE_MB', good: '64', bad: '64MB', how: 'rule', base: s3 },
    { kind: 'target', key: 'QUEUE_SIZE', good: '4', bad: 'four', how: 'rule', base: s3 },
    { kind: 'target', key: 'FORCE_PATH_STYLE', good: 'off', bad: 'maybe', how: 'rule', base: s3 },
    { kind: 'target', key: 'SECURE', good: 'Implicit', bad: 'tls', how: 'rule', base: ftp },
    { kind: 'target', key: 'RECIPIENT', good: `${pub}, ssh-ed25519 AAAAC3Nz`, bad: 'AGE-SECRET-KEY-1X', how: 'rule', base: local },
    { kind: 'target', key: 'RECIPIENTS_FILE', good: '/etc/batt/recipients', bad: 'recipients.txt', how: 'rule', base: local },
    { kind: 'target', key: 'IDENTITY_FILE', good: idFile, bad: '~/.age/key.txt', how: 'rule', base: `${local}RECIPIENT=${pub}\n` },
    { kind: 'target', key: 'PASSPHRASE_FILE', good: passFile, bad: './s3.pass', how: 'rule', base: local },
    { kind: 'target', key: 'PASSPHRASE', good: '', bad: 'hunter2', how: 'rule', base: local },
    ...retention('target', local),
    // the keys of one kind (required ones are also refused when missing: the test after the rows)
    { kind: 'target', tk: 'local', key: 'PATH', good: '/srv/offsite', bad: 'offsite', how: 'rule', base: local },
    { kind: 'target', tk: 'rsync', key: 'PATH', good: 'web1', bad: '', how: 'rule', base: rsync },
    { kind: 'target', tk: 'rsync', key: 'SSH_KEY', good: '/k/id', bad: 'id_ed25519', how: 'rule', base: rsync },
    { kind: 'target', tk: 'rsync', key: 'KNOWN_HOSTS', good: '/k/known_hosts', bad: '~/.ssh/known_hosts', how: 'rule', base: rsync },
    { kind: 'target', tk: 'sftp', key: 'HOST', good: 'sftp.example.org', bad: '', how: 'rule', base: sftp },
    { kind: 'target', tk: 'sftp', key: 'USER', good: 'backup', bad: '', how: 'rule', base: sftp },
    { kind: 'target', tk: 'sftp', key: 'SSH_KEY', good: '/root/.ssh/id', bad: 'id', how: 'rule', base: sftp },
    { kind: 'target', tk: 'sftp', key: 'KNOWN_HOSTS', good: '/root/.ssh/known_hosts', bad: 'known_hosts', how: 'rule', base: sftp },
    { kind: 'target', tk: 'sftp', key: 'PATH', good: '/home/batt/web1', bad: '', how: 'rule', base: sftp },
    { kind: 'target', tk: 's3', key: 'BUCKET', good: 'acme-backups', bad: '', how: 'rule', base: s3 },
    { kind: 'target', tk: 'ftp', key: 'HOST', good: 'ftp.example.net', bad: '', how: 'rule', base: ftp },
    { kind: 'target', tk: 'ftp', key: 'PATH', good: 'web1', bad: '', how: 'rule', base: ftp },
    { kind: 'target', tk: 'ftp', key: 'CA_FILE', good: '/etc/ssl/ftp-ca.pem', bad: 'ca.pem', how: 'rule', base: `${ftp}SECURE=yes\n` },
    { kind: 'target', tk: 'restic', key: 'REPOSITORY', good: 's3:https://s3.example.org/bucket/web1', bad: '', how: 'rule', base: restic },
    { kind: 'target', tk: 'restic', key: 'PASSWORD_FILE', good: passFile, bad: 'restic.pw', how: 'rule', base: restic },
    { kind: 'target', tk: 'restic', key: 'SSH_KEY', good: '/root/.ssh/id', bad: 'id', how: 'rule', base: resticSftp },
    { kind: 'target', tk: 'restic', key: 'CA_FILE', good: '/etc/ssl/s3-ca.pem', bad: 's3-ca.pem', how: 'rule', base: restic },
    { kind: 'target', tk: 'restic', key: 'KNOWN_HOSTS', good: '/root/.ssh/known_hosts', bad: 'known_hosts', how: 'rule', base: resticSftp },
  ];
  const tables: Record<Kind, Record<string, KeySpec>> = { global: GLOBAL_KEYS, service: SERVICE_KEYS, target: TARGET_KEYS };

  /** The file's text: the base with the row's key set (once) to value. */
  const textOf = (row: Row, value: string) =>
    [...(row.base ?? '').split('\n').filter((l) => l && !l.startsWith(`${row.key}=`)), `${row.key}=${value}`].join('\n') + '\n';

  let n = 0;
  /** What the loaders that run, purge and upload use say: no error = accepted, else the ConfigError message. */
  async function load(kind: Kind, text: string): Promise<{ file: string; error?: string }> {
    const name = `k${++n}`;
    const file = kind === 'global' ? path.join(home.conf, 'batt.conf') : kind === 'service' ? path.join(home.conf, `${name}.conf`) : path.join(home.conf, 'targets', `${name}.conf`);
    fs.writeFileSync(file, text, { mode: 0o600 });
    try {
      if (kind === 'global') {
        await loadGlobalSettings(home);
        retentionConf(await loadConfFile(file), file);
      } else if (kind === 'service') {
        const conf = await loadConfFile(file);
        serviceTimeout(conf, file); // batt (run.ts plan)
        serviceMinSizeRatio(conf, file, undefined);
        serviceDrillEvery(conf, file); // batt (run.ts plan)
        retentionConf(conf, file); // batt purge
        readRunSettings(conf, file); // batt (run.ts plan) and batt status
      } else {
        const t = await loadTarget(home, name);
        retentionConf(t.conf, t.file);
        await openCopyTarget(t);
      }
      return { file };
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      return { file, error: err.message };
    } finally {
      fs.rmSync(file);
    }
  }
  const check = (kind: Kind, file: string, text: string) =>
    checkConfig([{ file, kind, name: path.basename(file, '.conf'), text, mode: 0o100600 }], [path.basename(file, '.conf')]).filter((f) => f.level === 'error');

  test('every key of every table has a row, and each row matches its table entry', () => {
    for (const kind of ['global', 'service', 'target'] as const) {
      const covered = rows.filter((r) => r.kind === kind && !r.tk).map((r) => r.key);
      assert.deepEqual([...covered].sort(), Object.keys(tables[kind]).sort(), kind);
    }
    for (const tk of TARGET_KINDS) {
      const covered = rows.filter((r) => r.tk === tk).map((r) => r.key);
      assert.deepEqual([...covered].sort(), Object.keys(TARGET_KIND_KEYS[tk]).sort(), tk);
    }
    for (const r of rows) {
      const spec = (r.tk ? (TARGET_KIND_KEYS[r.tk] as Record<string, KeySpec>) : tables[r.kind])[r.key]!;
      const how = spec.lint ? 'lint' : spec.rule ? 'rule' : 'text';
      assert.equal(r.how, how, `${r.kind} ${r.key}`);
      assert.equal(r.bad === undefined, how === 'text', `${r.kind} ${r.key}: a bad value unless any text passes`);
    }
  });

  for (const row of rows) {
    test(`${row.tk ?? row.kind} ${row.key}`, async () => {
      const good = textOf(row, row.good);
      const loaded = await load(row.kind, good);
      assert.equal(loaded.error, undefined, `loader refuses good ${row.key}=${row.good}`);
      assert.deepEqual(brief(check(row.kind, loaded.file, good)), [], `check refuses good ${row.key}=${row.good}`);
      if (row.bad === undefined) return;

      const bad = textOf(row, row.bad);
      const refused = await load(row.kind, bad);
      const findings = check(row.kind, refused.file, bad);
      assert.equal(findings.length, 1, `check: ${brief(findings).join('; ')}`);
      const f = findings[0]!;
      assert.equal(f.key, row.key);
      assert.equal(f.line, bad.split('\n').indexOf(`${row.key}=${row.bad}`) + 1);
      if (row.how === 'rule') assert.equal(refused.error, `${refused.file}: ${row.key} ${f.message}`, 'same words from loader and check');
      else assert.equal(refused.error, undefined, `${row.key} is a check-only lint: the loader takes "${row.bad}" as it is`);
    });
  }

  test('every required key of every kind of target: missing, both refuse it with the same words', async () => {
    const bases: Record<TargetKind, string> = { local, rsync, sftp, s3, ftp, restic };
    let required = 0;
    for (const tk of TARGET_KINDS) {
      for (const [key, spec] of Object.entries(TARGET_KIND_KEYS[tk] as Record<string, KeySpec>)) {
        if (!spec.required) continue;
        required++;
        const text = bases[tk].split('\n').filter((l) => !l.startsWith(`${key}=`)).join('\n');
        const r = await load('target', text);
        const findings = check('target', r.file, text);
        assert.deepEqual(brief(findings), [`error ${path.basename(r.file)}:- ${key} is required for a ${tk} target`], `${tk} ${key}`);
        assert.equal(r.error, `${r.file}: ${key} ${findings[0]!.message}`);
      }
    }
    assert.equal(required, 12);
  });

  /** Relations between keys: [table, conf text, the key reported, its message]; a good variant must pass both. */
  const relations: { table: TargetKind | 'encryption' | 'global'; bad: string; key: string; message: string; good: string }[] = [
    { table: 'global', bad: 'SMTP_HOST=m.example.org\n', key: 'SMTP_HOST', message: 'is set but SMTP_TO is empty: no one would get the mail', good: mail },
    {
      table: 'rsync',
      bad: 'TYPE=rsync\nPATH=relative/dir\n',
      key: 'PATH',
      message: 'must be an absolute path without HOST, got "relative/dir"',
      good: 'TYPE=rsync\nPATH=/srv/copies\n',
    },
    {
      table: 'rsync',
      bad: 'TYPE=rsync\nHOST=h\nPATH=/x\nSSH_KEY=/k\n',
      key: 'HOST',
      message: 'is set: an rsync target with HOST needs SSH_KEY and KNOWN_HOSTS',
      good: rsync,
    },
    {
      table: 's3',
      bad: `${s3}ACCESS_KEY_ID=AKIA\n`,
      key: 'ACCESS_KEY_ID',
      message: 'is set without SECRET_ACCESS_KEY: set both ACCESS_KEY_ID and SECRET_ACCESS_KEY, or neither (AWS chain)',
      good: `${s3}ACCESS_KEY_ID=AKIA\nSECRET_ACCESS_KEY=s\n`,
    },
    {
      table: 's3',
      bad: `${s3}SECRET_ACCESS_KEY=s\n`,
      key: 'SECRET_ACCESS_KEY',
      message: 'is set without ACCESS_KEY_ID: set both ACCESS_KEY_ID and SECRET_ACCESS_KEY, or neither (AWS chain)',
      good: `${s3}ACCESS_KEY_ID=\nSECRET_ACCESS_KEY=\n`,
    },
    {
      table: 'encryption',
      bad: `${local}RECIPIENT=${pub}\nPASSPHRASE_FILE=${passFile}\n`,
      key: 'PASSPHRASE_FILE',
      message: 'cannot be combined with RECIPIENT/RECIPIENTS_FILE/IDENTITY_FILE (age allows one or the other)',
      good: `${local}PASSPHRASE_FILE=${passFile}\n`,
    },
    {
      table: 'encryption',
      bad: `${local}IDENTITY_FILE=${idFile}\n`,
      key: 'IDENTITY_FILE',
      message: 'is set but no RECIPIENT: uploads would not be encrypted',
      good: `${local}IDENTITY_FILE=${idFile}\nRECIPIENTS_FILE=/etc/batt/recipients\n`,
    },
  ];

  // a restic repository is encrypted by restic: age keys are refused; ssh settings only for an sftp: repository
  for (const [key, value] of [['RECIPIENT', pub], ['RECIPIENTS_FILE', '/etc/batt/recipients'], ['PASSPHRASE_FILE', passFile]]) {
    relations.push({ table: 'restic', bad: `${restic}${key}=${value}\n`, key: key!, message: 'is not used by a restic target: restic encrypts the repository with PASSWORD_FILE', good: restic });
  }
  for (const [key, value] of [['SSH_KEY', '/root/.ssh/id'], ['KNOWN_HOSTS', '/root/.ssh/known_hosts'], ['PORT', '2222']]) {
    relations.push({ table: 'restic', bad: `${restic}${key}=${value}\n`, key: key!, message: 'only applies to an sftp: REPOSITORY', good: `${resticSftp}${key}=${value}\n` });
  }

  test('every relation has a case', () => {
    const all = [
      ...GLOBAL_RELATIONS.map((r) => `global ${r.key}`),
      ...ENCRYPTION_RELATIONS.map((r) => `encryption ${r.key}`),
      ...TARGET_KINDS.flatMap((tk) => TARGET_RELATIONS[tk].map((r) => `${tk} ${r.key}`)),
    ];
    assert.deepEqual(relations.map((c) => `${c.table} ${c.key}`).sort(), all.sort());
  });

  for (const c of relations) {
    test(`relation: ${c.table} ${c.key}`, async () => {
      const kind = c.table === 'global' ? 'global' : 'target';
      const ok = await load(kind, c.good);
      assert.equal(ok.error, undefined, 'loader refuses the good variant');
      assert.deepEqual(brief(check(kind, ok.file, c.good)), [], 'check refuses the good variant');
      const r = await load(kind, c.bad);
      const findings = check(kind, r.file, c.bad);
      const line = c.bad.split('\n').findIndex((l) => l.startsWith(`${c.key}=`)) + 1;
      assert.deepEqual(brief(findings), [`error ${path.basename(r.file)}:${line} ${c.key} ${c.message}`]);
      assert.equal(r.error, `${r.file}: ${c.key} ${c.message}`, 'same words from loader and check');
    });
  }

  /**
   * The files a target names are opened by a run that starts wherever cron or the timer starts it,
   * so a relative path is refused by both, whatever form it takes, even one that names a good file
   * from the folder these tests run in (by hand `batt config check` would have found it).
   */
  const relative: { key: string; value: string; base: string; what?: string }[] = [
    { key: 'RECIPIENTS_FILE', value: 'recipients', base: local },
    { key: 'RECIPIENTS_FILE', value: '../etc/batt/recipients', base: `${local}RECIPIENT=${pub}\n` },
    { key: 'IDENTITY_FILE', value: 'age.key', base: `${local}RECIPIENT=${pub}\n` },
    { key: 'IDENTITY_FILE', value: '~/.config/age/key', base: `${local}RECIPIENT=${pub}\n` },
    { key: 'IDENTITY_FILE', value: path.relative(process.cwd(), idFile), base: `${local}RECIPIENT=${pub}\n`, what: 'a good key from here' },
    { key: 'PASSPHRASE_FILE', value: 'targets/s3.pass', base: local },
    { key: 'PASSPHRASE_FILE', value: ' /root/.batt-pass', base: local },
    { key: 'PASSPHRASE_FILE', value: path.relative(process.cwd(), passFile), base: local, what: 'a good file from here' },
    { key: 'PASSPHRASE_FILE', value: './pass', base: 'TYPE=s3\nBUCKET=b\n' },
    { key: 'CA_FILE', value: 'ca.pem', base: `${ftp}SECURE=yes\n` },
    { key: 'CA_FILE', value: './certs/ca.pem', base: `${ftp}SECURE=implicit\n` },
  ];
  for (const c of relative) {
    test(`relative ${c.key}=${c.what ?? c.value}: both refuse it with the same words`, async () => {
      assert.ok(!c.value.startsWith('/'));
      const text = `${c.base}${c.key}='${c.value}'\n`;
      const r = await load('target', text);
      const findings = check('target', r.file, text);
      const line = text.split('\n').length - 1;
      const why = `must be an absolute path, got "${c.value}"`;
      assert.deepEqual(brief(findings), [`error ${path.basename(r.file)}:${line} ${c.key} ${why}`]);
      assert.equal(r.error, `${r.file}: ${c.key} ${why}`);
    });
  }

  test('a target without TYPE: both refuse it, with the same words', async () => {
    for (const text of ['PATH=/x\n', 'TYPE=\nPATH=/x\n']) {
      const r = await load('target', text);
      const findings = check('target', r.file, text);
      assert.equal(findings.length, 1, brief(findings).join('; '));
      assert.equal(findings[0]!.key, 'TYPE');
      assert.equal(findings[0]!.line, text.startsWith('TYPE') ? 1 : undefined);
      assert.equal(r.error, `${r.file}: TYPE ${findings[0]!.message}`);
      assert.match(r.error!, /TYPE must be one of local, rsync, sftp, s3, ftp, restic, got ""$/);
    }
  });

  test('relations: SMTP_HOST without recipients is refused by both, with the same words', async () => {
    for (const text of ['SMTP_HOST=mail.example.org\n', 'SMTP_HOST=mail.example.org\nSMTP_TO= , \n']) {
      const r = await load('global', text);
      const findings = check('global', r.file, text);
      assert.deepEqual(brief(findings), ['error batt.conf:1 SMTP_HOST is set but SMTP_TO is empty: no one would get the mail'], text);
      assert.equal(r.error, `${r.file}: SMTP_HOST ${findings[0]!.message}`);
    }
  });

  test('the loader stops at the first problem; the check lists them all', async () => {
    const text = 'JOBS=x\nTIMEOUT=y\nNOTIFY_ON=z\n';
    const r = await load('global', text);
    assert.equal(r.error, `${r.file}: JOBS must be a positive whole number, got "x"`);
    assert.deepEqual(check('global', r.file, text).map((f) => f.key), ['JOBS', 'TIMEOUT', 'NOTIFY_ON']);
    const t = 'TYPE=sftp\nSSH_KEY=k\nACCESS_KEY_ID=a\nIDENTITY_FILE=/nowhere\n';
    const rt = await load('target', t);
    assert.equal(rt.error, `${rt.file}: HOST is required for a sftp target`);
    assert.deepEqual(check('target', rt.file, t).map((f) => f.key), ['HOST', 'USER', 'KNOWN_HOSTS', 'PATH', 'SSH_KEY', 'IDENTITY_FILE']);
  });
});
