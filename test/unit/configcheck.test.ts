import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { checkConfig, formatFinding, suggest, type ConfFile, type Finding } from '../../src/configcheck.js';

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
    ['bad NOTIFY_ON', 'NOTIFY_ON=sometimes', ['error batt.conf:1 NOTIFY_ON must be one of failure, always, got "sometimes"']],
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

test('suggest', () => {
  assert.equal(suggest('SMTP_PASWORD', ['SMTP_PASSWORD', 'SMTP_USER']), 'SMTP_PASSWORD');
  assert.equal(suggest('COMPLETELY_ELSE', ['SMTP_PASSWORD']), undefined);
});
