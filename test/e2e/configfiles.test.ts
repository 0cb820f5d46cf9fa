// `batt config check` with the BUILT cli on the files the confs name: what a run would refuse
// (a passphrase file others can read, an empty one, a missing ssh key) is an error with exit 3,
// the fix named and the secret never shown; once fixed, "ok" and exit 0. `batt doctor` agrees.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { batt, sandbox } from '../helpers/batt.js';

test('config check: files named by the confs that the run would refuse, then fixed', async () => {
  const sb = sandbox();
  try {
    const targets = path.join(sb.home, 'conf/targets');
    fs.mkdirSync(targets, { mode: 0o700 });
    const pass = path.join(sb.dir, 'passphrase');
    const empty = path.join(sb.dir, 'empty-passphrase');
    const key = path.join(sb.dir, 'id_ed25519');
    const known = path.join(sb.dir, 'known_hosts');
    fs.writeFileSync(pass, 'hunter2-passphrase\n', { mode: 0o644 });
    fs.chmodSync(pass, 0o644);
    fs.writeFileSync(empty, '\n', { mode: 0o600 });
    fs.writeFileSync(known, '[127.0.0.1]:2200 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIK\n', { mode: 0o644 });
    const offsite = path.join(targets, 'offsite.conf');
    const spare = path.join(targets, 'spare.conf');
    const box = path.join(targets, 'box.conf');
    fs.writeFileSync(offsite, `TYPE=local\nPATH=${sb.dir}/copies\nPASSPHRASE_FILE=${pass}\n`, { mode: 0o600 });
    fs.writeFileSync(spare, `TYPE=local\nPATH=${sb.dir}/spare\nPASSPHRASE_FILE=${empty}\n`, { mode: 0o600 });
    fs.writeFileSync(box, `TYPE=sftp\nHOST=127.0.0.1\nPORT=2200\nUSER=u\nPATH=/x\nSSH_KEY=${key}\nKNOWN_HOSTS=${known}\n`, { mode: 0o600 });

    let r = await batt(['config', 'check'], { home: sb.home });
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, new RegExp(`${offsite}:3: PASSPHRASE_FILE ${pass} is readable by others \\(mode 644\\): chmod 600 ${pass}\\n`));
    assert.match(r.stderr, new RegExp(`${spare}:3: PASSPHRASE_FILE ${empty} is empty\\n`));
    assert.match(r.stderr, new RegExp(`${box}:6: SSH_KEY ${key} cannot be read \\(no such file\\)\\n`));
    assert.match(r.stderr, /3 errors, 0 warnings/);
    assert.ok(!`${r.stdout}${r.stderr}`.includes('hunter2'), 'the passphrase never shows');
    const j = await batt(['config', 'check', '--json'], { home: sb.home });
    assert.equal(j.code, 3);
    assert.equal(JSON.parse(j.stdout).errors, 3);
    assert.ok(!j.stdout.includes('hunter2'));
    const d = await batt(['doctor'], { home: sb.home });
    assert.match(d.stdout, /^FAIL +conf +3 errors in .* \(see batt config check\)$/m);

    fs.chmodSync(pass, 0o600);
    fs.writeFileSync(empty, 'another passphrase\n');
    fs.writeFileSync(key, '-----BEGIN OPENSSH PRIVATE KEY-----\n', { mode: 0o600 });
    r = await batt(['config', 'check'], { home: sb.home });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^ok: 3 conf files in .*: 0 errors, 0 warnings$/m);
  } finally {
    sb.cleanup();
  }
});

test('config check run by hand from the folder of a relative PASSPHRASE_FILE or CA_FILE still refuses it: the nightly run starts elsewhere', async () => {
  const sb = sandbox();
  try {
    const targets = path.join(sb.home, 'conf/targets');
    fs.mkdirSync(targets, { mode: 0o700 });
    fs.writeFileSync(path.join(sb.dir, 's3.pass'), 'hunter2-passphrase\n', { mode: 0o600 });
    fs.writeFileSync(path.join(sb.dir, 'ca.pem'), 'ca\n', { mode: 0o644 });
    const offsite = path.join(targets, 'offsite.conf');
    const ftp = path.join(targets, 'ftp.conf');
    fs.writeFileSync(offsite, `TYPE=local\nPATH=${sb.dir}/copies\nPASSPHRASE_FILE=s3.pass\n`, { mode: 0o600 });
    fs.writeFileSync(ftp, `TYPE=ftp\nHOST=127.0.0.1\nPATH=/up\nSECURE=yes\nCA_FILE=./ca.pem\n`, { mode: 0o600 });

    let r = await batt(['config', 'check'], { home: sb.home, cwd: sb.dir }); // both files are there, from here
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, new RegExp(`${ftp}:5: CA_FILE must be an absolute path, got "\\./ca\\.pem"\\n`));
    assert.match(r.stderr, new RegExp(`${offsite}:3: PASSPHRASE_FILE must be an absolute path, got "s3\\.pass"\\n`));
    assert.match(r.stderr, /2 errors, 0 warnings/);

    fs.writeFileSync(offsite, `TYPE=local\nPATH=${sb.dir}/copies\nPASSPHRASE_FILE=${sb.dir}/s3.pass\n`, { mode: 0o600 });
    fs.writeFileSync(ftp, `TYPE=ftp\nHOST=127.0.0.1\nPATH=/up\nSECURE=yes\nCA_FILE=${sb.dir}/ca.pem\n`, { mode: 0o600 });
    r = await batt(['config', 'check'], { home: sb.home });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^ok: 2 conf files in .*: 0 errors, 0 warnings$/m);
  } finally {
    sb.cleanup();
  }
});
