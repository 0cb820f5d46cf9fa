// The files a conf names (conffiles.ts): each check on its own, which files `batt config check`
// checks for which conf (and only when the run would use them), that the run refuses the same
// files with the same words, and that no file's contents ever show.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { knownHostsFor, passphraseFile, privateFile, readableFile, type FileCheck } from '../../src/config/conffiles.js';
import { checkConfig, formatFinding, type ConfFile } from '../../src/config/configcheck.js';
import { checkNamedFiles } from '../../src/commands/config.js';
import { encryptionFromConf } from '../../src/targets/crypto.js';
import { ConfigError } from '../../src/core/errors.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'batt-conffiles-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const SECRET = 'correct-horse-battery-staple';
const PUB = 'age1' + 'q'.repeat(58);
let n = 0;
/** A fresh file with this text and mode; null: a path where nothing is. */
function file(text: string | null, mode = 0o600): string {
  const p = path.join(dir, `f${n++}`);
  if (text !== null) {
    fs.writeFileSync(p, text);
    fs.chmodSync(p, mode);
  }
  return p;
}
const folder = () => {
  const p = path.join(dir, `d${n++}`);
  fs.mkdirSync(p, { mode: 0o700 });
  return p;
};

describe('the checks', () => {
  const known = '[10.0.0.9]:2222 ssh-ed25519 AAAAkey\nbackup.example ssh-ed25519 AAAAtwo\n';
  const cases: [string, FileCheck, () => string, RegExp | undefined][] = [
    ['readable: a file', readableFile, () => file('x'), undefined],
    ['readable: world-readable is fine', readableFile, () => file('x', 0o644), undefined],
    ['readable: missing', readableFile, () => file(null), /^\S+ cannot be read \(no such file\)$/],
    ['readable: a folder', readableFile, () => folder(), /^\S+ cannot be read \(is a folder\)$/],
    ['private: 0600', privateFile, () => file(SECRET), undefined],
    ['private: 0400', privateFile, () => file(SECRET, 0o400), undefined],
    ['private: missing', privateFile, () => file(null), /cannot be read \(no such file\)$/],
    ['private: group-readable', privateFile, () => file(SECRET, 0o640), /^\S+ is readable by others \(mode 640\)$/],
    ['private: others-readable', privateFile, () => file(SECRET, 0o604), /is readable by others \(mode 604\)$/],
    ['private: a folder', privateFile, () => folder(), /cannot be read \(is a folder\)/],
    ['passphrase: good', passphraseFile, () => file(`${SECRET}\n`), undefined],
    ['passphrase: empty', passphraseFile, () => file(''), /^\S+ is empty$/],
    ['passphrase: blank first line', passphraseFile, () => file('  \nsecond\n'), /is empty$/],
    ['passphrase: readable by others', passphraseFile, () => file(SECRET, 0o644), /is readable by others \(mode 644\)$/],
    ['passphrase: missing', passphraseFile, () => file(null), /cannot be read/],
    ['known_hosts: has the server', knownHostsFor('10.0.0.9', 2222), () => file(known, 0o644), undefined],
    ['known_hosts: port 22 name', knownHostsFor('backup.example', 22), () => file(known, 0o644), undefined],
    ['known_hosts: not the server', knownHostsFor('10.0.0.9', 22), () => file(known, 0o644), /^\S+ has no key for 10\.0\.0\.9:22$/],
    ['known_hosts: missing', knownHostsFor('10.0.0.9', 2222), () => file(null), /cannot be read/],
  ];
  for (const [name, check, make, want] of cases) {
    test(name, async () => {
      const f = make();
      const p = await check(f);
      if (!want) return assert.equal(p, undefined);
      assert.ok(p, 'a problem');
      assert.match(p.why, want);
      assert.ok(p.why.startsWith(f), p.why);
      assert.ok(!p.why.includes(SECRET) && !p.why.includes('AAAA'), 'no contents');
      if (/readable by others/.test(p.why)) assert.equal(p.fix, `chmod 600 ${f}`);
      else assert.equal(p.fix, undefined);
    });
  }
});

describe('batt config check: the files the confs name', () => {
  const target = (name: string, text: string): ConfFile => ({ file: `/h/conf/targets/${name}.conf`, kind: 'target', name, text, mode: 0o100600 });
  const global = (text: string): ConfFile => ({ file: '/h/conf/batt.conf', kind: 'global', name: 'batt', text, mode: 0o100600 });
  const check = async (f: ConfFile) => {
    const findings = checkConfig([f], [], await checkNamedFiles([f]));
    return findings.map(formatFinding);
  };

  test('a conf whose files are all good passes', async () => {
    const kh = file('[127.0.0.1]:2200 ssh-ed25519 AAAAkey\n', 0o644);
    const key = file('-----BEGIN OPENSSH PRIVATE KEY-----\n');
    const good = [
      global(`SMTP_HOST=mail.example.org\nSMTP_TO=ops@example.org\nSMTP_CA_FILE=${file('ca', 0o644)}\n`),
      target('pass', `TYPE=local\nPATH=/srv/copies\nPASSPHRASE_FILE=${file(`${SECRET}\n`)}\n`),
      target('age', `TYPE=s3\nBUCKET=b\nRECIPIENT=${PUB}\nRECIPIENTS_FILE=${file(`${PUB}\n`, 0o644)}\nIDENTITY_FILE=${file('AGE-SECRET-KEY-1X\n')}\n`),
      target('sftp', `TYPE=sftp\nHOST=127.0.0.1\nPORT=2200\nUSER=u\nPATH=/x\nSSH_KEY=${key}\nKNOWN_HOSTS=${kh}\n`),
      target('rsync', `TYPE=rsync\nHOST=h\nPATH=/x\nSSH_KEY=${key}\nKNOWN_HOSTS=${kh}\n`),
      target('ftp', `TYPE=ftp\nHOST=h\nPATH=/x\nSECURE=yes\nCA_FILE=${file('ca', 0o644)}\n`),
    ];
    for (const f of good) assert.deepEqual(await check(f), [], f.name);
  });

  // Each refusal: the conf, then the finding (the file's path written as {F}).
  const missing = () => file(null);
  const cases: [string, (f: string) => ConfFile, () => string, string][] = [
    ['PASSPHRASE_FILE missing', (f) => target('t', `TYPE=local\nPATH=/x\nPASSPHRASE_FILE=${f}`), missing, 't.conf:3: PASSPHRASE_FILE {F} cannot be read (no such file)'],
    ['PASSPHRASE_FILE 0644', (f) => target('t', `TYPE=local\nPATH=/x\nPASSPHRASE_FILE=${f}`), () => file(SECRET, 0o644), 't.conf:3: PASSPHRASE_FILE {F} is readable by others (mode 644): chmod 600 {F}'],
    ['PASSPHRASE_FILE empty', (f) => target('t', `TYPE=local\nPATH=/x\nPASSPHRASE_FILE=${f}`), () => file('\n'), 't.conf:3: PASSPHRASE_FILE {F} is empty'],
    ['PASSPHRASE_FILE with a bad TYPE', (f) => target('t', `TYPE=tape\nPASSPHRASE_FILE=${f}`), () => file(''), 't.conf:2: PASSPHRASE_FILE {F} is empty'],
    ['IDENTITY_FILE 0640', (f) => target('t', `TYPE=local\nPATH=/x\nRECIPIENT=${PUB}\nIDENTITY_FILE=${f}`), () => file('AGE-SECRET-KEY-1X', 0o640), 't.conf:4: IDENTITY_FILE {F} is readable by others (mode 640): chmod 600 {F}'],
    ['IDENTITY_FILE missing', (f) => target('t', `TYPE=local\nPATH=/x\nRECIPIENT=${PUB}\nIDENTITY_FILE=${f}`), missing, 't.conf:4: IDENTITY_FILE {F} cannot be read (no such file)'],
    ['RECIPIENTS_FILE missing', (f) => target('t', `TYPE=local\nPATH=/x\nRECIPIENTS_FILE=${f}`), missing, 't.conf:3: RECIPIENTS_FILE {F} cannot be read (no such file)'],
    ['sftp SSH_KEY missing', (f) => target('t', `TYPE=sftp\nHOST=h\nUSER=u\nPATH=/x\nSSH_KEY=${f}\nKNOWN_HOSTS=${file('h ssh-ed25519 AAAA')}`), missing, 't.conf:5: SSH_KEY {F} cannot be read (no such file)'],
    ['sftp KNOWN_HOSTS missing', (f) => target('t', `TYPE=sftp\nHOST=h\nUSER=u\nPATH=/x\nSSH_KEY=${file('k')}\nKNOWN_HOSTS=${f}`), missing, 't.conf:6: KNOWN_HOSTS {F} cannot be read (no such file)'],
    ['sftp KNOWN_HOSTS without the server', (f) => target('t', `TYPE=sftp\nHOST=h\nPORT=2200\nUSER=u\nPATH=/x\nSSH_KEY=${file('k')}\nKNOWN_HOSTS=${f}`), () => file('h ssh-ed25519 AAAA', 0o644), 't.conf:7: KNOWN_HOSTS {F} has no key for h:2200'],
    ['rsync with HOST: SSH_KEY missing', (f) => target('t', `TYPE=rsync\nHOST=h\nPATH=/x\nSSH_KEY=${f}\nKNOWN_HOSTS=${file('h ssh-ed25519 AAAA')}`), missing, 't.conf:4: SSH_KEY {F} cannot be read (no such file)'],
    ['rsync with HOST: KNOWN_HOSTS a folder', (f) => target('t', `TYPE=rsync\nHOST=h\nPATH=/x\nSSH_KEY=${file('k')}\nKNOWN_HOSTS=${f}`), folder, 't.conf:5: KNOWN_HOSTS {F} cannot be read (is a folder)'],
    ['ftp CA_FILE missing', (f) => target('t', `TYPE=ftp\nHOST=h\nPATH=/x\nCA_FILE=${f}`), missing, 't.conf:4: CA_FILE {F} cannot be read (no such file)'],
    ['batt.conf SMTP_CA_FILE missing', (f) => global(`SMTP_HOST=m.example.org\nSMTP_TO=a@b.c\nSMTP_CA_FILE=${f}`), missing, 'batt.conf:3: SMTP_CA_FILE {F} cannot be read (no such file)'],
  ];
  for (const [name, conf, make, want] of cases) {
    test(name, async () => {
      const f = make();
      const got = (await check(conf(f))).filter((l) => !/ TYPE must be/.test(l)); // (the bad-TYPE case's own key error)
      const where = want.startsWith('batt.conf') ? '/h/conf/' : '/h/conf/targets/';
      assert.deepEqual(got, [`error: ${where}${want.replaceAll('{F}', f)}`]);
      assert.ok(!got.join('\n').includes(SECRET));
    });
  }

  // What the run does not use is not checked: no error for a file that is not there.
  const unused: [string, ConfFile][] = [
    ['SMTP_CA_FILE without SMTP_HOST', global(`SMTP_CA_FILE=${missing()}`)],
    ['rsync to a local folder: SSH_KEY, KNOWN_HOSTS', target('t', `TYPE=rsync\nPATH=/x\nSSH_KEY=${missing()}\nKNOWN_HOSTS=${missing()}`)],
    ['CA_FILE of an s3 target', target('t', `TYPE=s3\nBUCKET=b\nCA_FILE=${missing()}`)],
    ['a service conf', { file: '/h/conf/mysql.conf', kind: 'service', name: 'mysql', text: `SSL_CA=${missing()}\nPASSPHRASE_FILE=${missing()}`, mode: 0o100600 }],
  ];
  for (const [name, f] of unused) test(`not used, not checked: ${name}`, async () => assert.deepEqual(await checkNamedFiles([f]), []));

  // A relative path is reported once, by its key rule (the lint for SMTP_CA_FILE), and never read
  // as a file: from the check's working folder it may be missing, or worse be there while the run,
  // started elsewhere, reads another file. {R}: a relative path to a good file from this folder.
  const rel = (p: string) => path.relative(process.cwd(), p);
  const relative: [string, (r: { gone: string; good: string; secret: string; pass: string }) => ConfFile, string][] = [
    ['sftp SSH_KEY, KNOWN_HOSTS', (r) => target('t', `TYPE=sftp\nHOST=h\nUSER=u\nPATH=/x\nSSH_KEY=${r.gone}\nKNOWN_HOSTS=${r.good}`), 'SSH_KEY:5 KNOWN_HOSTS:6'],
    ['rsync with HOST: SSH_KEY, KNOWN_HOSTS', (r) => target('t', `TYPE=rsync\nHOST=h\nPATH=/x\nSSH_KEY=${r.secret}\nKNOWN_HOSTS=${r.gone}`), 'SSH_KEY:4 KNOWN_HOSTS:5'],
    ['PASSPHRASE_FILE missing', (r) => target('t', `TYPE=local\nPATH=/x\nPASSPHRASE_FILE=${r.gone}`), 'PASSPHRASE_FILE:3'],
    ['PASSPHRASE_FILE good from here', (r) => target('t', `TYPE=local\nPATH=/x\nPASSPHRASE_FILE=${r.pass}`), 'PASSPHRASE_FILE:3'],
    ['PASSPHRASE_FILE with a bad TYPE', (r) => target('t', `TYPE=tape\nPASSPHRASE_FILE=${r.gone}`), 'PASSPHRASE_FILE:2'],
    ['IDENTITY_FILE missing', (r) => target('t', `TYPE=local\nPATH=/x\nRECIPIENT=${PUB}\nIDENTITY_FILE=${r.gone}`), 'IDENTITY_FILE:4'],
    ['IDENTITY_FILE good from here', (r) => target('t', `TYPE=local\nPATH=/x\nRECIPIENT=${PUB}\nIDENTITY_FILE=${r.secret}`), 'IDENTITY_FILE:4'],
    ['RECIPIENTS_FILE missing', (r) => target('t', `TYPE=local\nPATH=/x\nRECIPIENTS_FILE=${r.gone}`), 'RECIPIENTS_FILE:3'],
    ['RECIPIENTS_FILE and IDENTITY_FILE good from here', (r) => target('t', `TYPE=s3\nBUCKET=b\nRECIPIENTS_FILE=${r.good}\nIDENTITY_FILE=${r.secret}`), 'RECIPIENTS_FILE:3 IDENTITY_FILE:4'],
    ['ftp CA_FILE missing', (r) => target('t', `TYPE=ftp\nHOST=h\nPATH=/x\nSECURE=yes\nCA_FILE=${r.gone}`), 'CA_FILE:5'],
    ['ftp CA_FILE good from here', (r) => target('t', `TYPE=ftp\nHOST=h\nPATH=/x\nCA_FILE=${r.good}`), 'CA_FILE:4'],
    ['batt.conf SMTP_CA_FILE missing', (r) => global(`SMTP_HOST=m.example.org\nSMTP_TO=a@b.c\nSMTP_CA_FILE=${r.gone}`), 'SMTP_CA_FILE:3'],
  ];
  for (const [name, conf, want] of relative) {
    test(`relative, reported once by its key, not read: ${name}`, async () => {
      const r = { gone: 'nowhere/f', good: rel(file('x', 0o644)), secret: rel(file('AGE-SECRET-KEY-1X\n')), pass: rel(file(`${SECRET}\n`)) };
      const f = conf(r);
      assert.deepEqual(await checkNamedFiles([f]), [], 'no file finding');
      const got = (await check(f)).filter((l) => !/ TYPE must be/.test(l));
      const value = (key: string) => f.text.split('\n').find((l) => l.startsWith(`${key}=`))!.slice(key.length + 1);
      const expected = want.split(' ').map((kl) => {
        const [key, line] = kl.split(':') as [string, string];
        return `error: ${f.file}:${line}: ${key} must be an absolute path, got "${value(key)}"`;
      });
      assert.deepEqual(got, expected);
    });
  }
});

test('the run refuses the same files with the same words (one check, two users)', async () => {
  const cases: [Record<string, string>, string, string?][] = [];
  const pf = file(SECRET, 0o644);
  cases.push([{ PASSPHRASE_FILE: pf }, `t.conf: PASSPHRASE_FILE ${pf} is readable by others (mode 644)`, `chmod 600 ${pf}`]);
  const empty = file('');
  cases.push([{ PASSPHRASE_FILE: empty }, `t.conf: PASSPHRASE_FILE ${empty} is empty`]);
  const gone = file(null);
  cases.push([{ RECIPIENT: PUB, IDENTITY_FILE: gone }, `t.conf: IDENTITY_FILE ${gone} cannot be read (no such file)`]);
  // relative: refused by the key rule before any file is read, even a good one from this folder
  const here = path.relative(process.cwd(), file(`${SECRET}\n`));
  cases.push([{ PASSPHRASE_FILE: here }, `t.conf: PASSPHRASE_FILE must be an absolute path, got "${here}"`]);
  cases.push([{ RECIPIENT: PUB, IDENTITY_FILE: here }, `t.conf: IDENTITY_FILE must be an absolute path, got "${here}"`]);
  cases.push([{ RECIPIENTS_FILE: 'recipients' }, `t.conf: RECIPIENTS_FILE must be an absolute path, got "recipients"`]);
  for (const [conf, message, hint] of cases) {
    await assert.rejects(encryptionFromConf(conf, 't.conf'), (e: unknown) => {
      assert.ok(e instanceof ConfigError);
      assert.equal(e.message, message);
      assert.equal(e.hint, hint);
      return true;
    });
  }
});
