// Copies cut off before their index (no batt-remote.json) and left for more than a day: the sweep
// before an upload (and `batt purge --target`) removes them from a local folder, an SFTP server
// (test/helpers/sshd.ts), an FTP server (vsftpd, test/helpers/ftpd.ts) and S3 (s3rver, test/helpers/s3.ts), and keeps a recent one, a complete
// copy, foreign folders and files, and anything holding a link.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { S3Client, PutObjectCommand } from '@aws-sdk/client-s3';
import { sandbox, batt, writeScript, REQUIRE_SERVERS, type Sandbox, writeTargetConf } from '../helpers/batt.js';
import { SSHD, startSshd, type Sshd } from '../helpers/sshd.js';
import { startS3, S3_KEY, S3_SECRET, type S3Server } from '../helpers/s3.js';
import { VSFTPD, startFtpd, type Ftpd } from '../helpers/ftpd.js';

const noSshd = !SSHD && !REQUIRE_SERVERS ? 'sshd not installed (openssh-server)' : false;
const noFtpd = !VSFTPD && !REQUIRE_SERVERS ? 'vsftpd not installed' : false;
const HOUR = 3600_000;
const old = new Date(Date.now() - 48 * HOUR);
const recent = new Date(Date.now() - HOUR);

let sb: Sandbox;
let sshd: Sshd | undefined;
let ftpd: Ftpd | undefined;
let s3: S3Server;

const conf = (name: string, text: string) => writeTargetConf(sb.home, name, text);

before(async () => {
  sb = sandbox();
  writeScript(sb.home, 'demo', 'printf "hello\\n" > "$BATT_DEST/a.txt"');
  conf('disk', `TYPE=local\nPATH=${sb.dir}/remote/disk\n`);
  s3 = await startS3();
  conf('s3', `TYPE=s3\nENDPOINT=${s3.endpoint}\nREGION=us-east-1\nBUCKET=${s3.bucket}\nACCESS_KEY_ID=${S3_KEY}\nSECRET_ACCESS_KEY=${S3_SECRET}\nPREFIX=ab/\n`);
  if (!noSshd) {
    sshd = await startSshd();
    conf('box', `TYPE=sftp\nHOST=127.0.0.1\nPORT=${sshd.port}\nUSER=${sshd.user}\nSSH_KEY=${sshd.keyFile}\nKNOWN_HOSTS=${sshd.knownHosts}\nPATH=${sshd.data}/sftp\n`);
  }
  if (!noFtpd) {
    ftpd = await startFtpd();
    conf('ftp', `TYPE=ftp\nHOST=127.0.0.1\nPORT=${ftpd.port}\nUSER=anonymous\nPATH=/up/ab\n`);
  }
});
after(async () => {
  await ftpd?.stop();
  await sshd?.stop();
  await s3?.stop();
  sb?.cleanup();
});

/** [rel, mtime]: the files planted on a target; what goes and what stays. */
const FILES: [string, Date][] = [
  // cut off two days ago: finished files, a temp file, no index
  ['2020/01/01/demo/a.txt', old],
  ['2020/01/01/demo/d/big.bin', old],
  ['2020/01/01/demo/d/c.bin.batt-tmp-0a1b2c3d', old],
  ['2020/01/01/demo.2/a.txt', old], // a second run's folder, cut off too
  // cut off an hour ago, or another host still uploading it
  ['2020/01/02/demo/a.txt', old],
  ['2020/01/02/demo/d/big.bin', recent],
  // complete
  ['2020/01/03/demo/a.txt', old],
  ['2020/01/03/demo/batt-remote.json', old],
  // not batt's layout
  ['2020/01/04/Foreign/a.txt', old],
  ['2020/01/04/notes.txt', old],
  ['misc/2020/01/01/demo/a.txt', old],
  ['demo/a.txt', old],
];
const GONE = ['2020/01/01/demo', '2020/01/01/demo.2'];
const STAY = FILES.map(([rel]) => rel).filter((rel) => !GONE.some((g) => rel.startsWith(`${g}/`)));

function plant(base: string) {
  for (const [rel, when] of FILES) {
    const f = path.join(base, rel);
    fs.mkdirSync(path.dirname(f), { recursive: true });
    fs.writeFileSync(f, rel);
    fs.utimesSync(f, when, when);
  }
}

/** The log lines the sweep of `name` must have written: one per folder removed, one per folder kept with a reason. */
function assertLogged(name: string, extraKept: RegExp[] = []) {
  const log = fs.readFileSync(path.join(sb.home, 'log', 'batt.log'), 'utf8');
  for (const g of GONE) {
    assert.match(log, new RegExp(`target ${name}: removed ${g.replace('.', '\\.')}, a copy cut off before its index \\(no batt-remote\\.json, newest file 4[89]\\.\\d h old\\)`));
  }
  assert.match(log, new RegExp(`target ${name}: 2020/01/02/demo: no batt-remote\\.json, but its newest file is [01]\\.\\d h old \\(an upload may be in progress\\): kept`));
  for (const re of extraKept) assert.match(log, re);
  assert.doesNotMatch(log, new RegExp(`target ${name}: (removed )?(2020/01/03|2020/01/04|misc|demo/)`));
}

test('local: an upload removes copies cut off more than a day ago, keeps recent and complete copies, foreign folders and links', async () => {
  const base = path.join(sb.dir, 'remote', 'disk');
  plant(base);
  // a cut-off copy holding a link (batt writes none), and a "copy" that is a link to a folder elsewhere
  const outside = path.join(sb.dir, 'outside');
  fs.mkdirSync(outside);
  fs.writeFileSync(path.join(outside, 'x'), 'not batt');
  fs.utimesSync(path.join(outside, 'x'), old, old);
  fs.mkdirSync(path.join(base, '2020/01/05/demo'), { recursive: true });
  fs.writeFileSync(path.join(base, '2020/01/05/demo/a.txt'), 'a');
  fs.utimesSync(path.join(base, '2020/01/05/demo/a.txt'), old, old);
  fs.symlinkSync(path.join(outside, 'x'), path.join(base, '2020/01/05/demo/l'));
  fs.mkdirSync(path.join(base, '2020/01/06'), { recursive: true });
  fs.symlinkSync(outside, path.join(base, '2020/01/06/demo'));
  fs.mkdirSync(path.join(base, '2020/01/07/demo'), { recursive: true }); // empty, just made: a copy beginning
  const r = await batt(['demo', '--target', 'disk', '--path', sb.pattern], { home: sb.home });
  assert.equal(r.code, 0, r.stderr);
  for (const g of GONE) assert.ok(!fs.existsSync(path.join(base, g)), `${g} is still there`);
  for (const s of [...STAY, '2020/01/05/demo/a.txt', '2020/01/05/demo/l', '2020/01/06/demo', '2020/01/07/demo']) assert.ok(fs.lstatSync(path.join(base, s)), `${s} was removed`);
  assert.equal(fs.readFileSync(path.join(outside, 'x'), 'utf8'), 'not batt', 'a link was followed');
  assertLogged('disk', [
    /target disk: 2020\/01\/05\/demo: no batt-remote\.json, but it holds 2020\/01\/05\/demo\/l, which is neither a plain file nor a folder \(batt writes none\): kept/,
    /target disk: 2020\/01\/07\/demo: no batt-remote\.json, but its newest folder is 0\.0 h old/,
  ]);
  // the copy just made is complete and stays
  const made = fs.readdirSync(base, { recursive: true }).map(String).filter((f) => f.endsWith('/demo/batt-remote.json'));
  assert.equal(made.length, 2, made.join(' '));
});

test('local: batt purge --target names them with --dry-run, then removes them', async () => {
  const base = path.join(sb.dir, 'remote', 'disk');
  const f = path.join(base, '2020/02/01/demo/a.txt');
  fs.mkdirSync(path.dirname(f), { recursive: true });
  fs.writeFileSync(f, 'a');
  fs.utimesSync(f, old, old);
  const args = ['purge', '--target', 'disk', '--keep-last', '100', '--path', sb.pattern];
  const dry = await batt([...args, '--dry-run'], { home: sb.home });
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /would remove disk:2020\/02\/01\/demo {2}a copy cut off before its index \(no batt-remote\.json, newest file 4[89]\.\d h old\)/);
  assert.match(dry.stdout, /keep {3}disk:2020\/01\/02\/demo {2}no batt-remote\.json, but its newest file is/);
  assert.ok(fs.existsSync(f));
  const r = await batt(args, { home: sb.home });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /removed disk:2020\/02\/01\/demo {2}a copy cut off/);
  assert.ok(!fs.existsSync(path.dirname(f)));
  assert.ok(fs.existsSync(path.join(base, '2020/01/02/demo/a.txt')));
  assert.match(fs.readFileSync(path.join(sb.home, 'log', 'batt.log'), 'utf8'), /removed disk:2020\/02\/01\/demo, a copy cut off before its index/);
});

test('sftp: the same, over SFTP', { skip: noSshd }, async () => {
  const base = path.join(sshd!.data, 'sftp');
  plant(base);
  const outside = path.join(sb.dir, 'outside-sftp');
  fs.writeFileSync(outside, 'not batt');
  fs.mkdirSync(path.join(base, '2020/01/05/demo'), { recursive: true });
  fs.writeFileSync(path.join(base, '2020/01/05/demo/a.txt'), 'a');
  fs.utimesSync(path.join(base, '2020/01/05/demo/a.txt'), old, old);
  fs.symlinkSync(outside, path.join(base, '2020/01/05/demo/l'));
  const r = await batt(['demo', '--target', 'box', '--path', sb.pattern], { home: sb.home });
  assert.equal(r.code, 0, r.stderr);
  for (const g of GONE) assert.ok(!fs.existsSync(path.join(base, g)), `${g} is still there`);
  for (const s of [...STAY, '2020/01/05/demo/l']) assert.ok(fs.lstatSync(path.join(base, s)), `${s} was removed`);
  assert.equal(fs.readFileSync(outside, 'utf8'), 'not batt');
  assertLogged('box', [/target box: 2020\/01\/05\/demo: no batt-remote\.json, but it holds 2020\/01\/05\/demo\/l, which is neither/]);
});

test('ftp: the same, over FTP (times from MDTM)', { skip: noFtpd }, async () => {
  const base = path.join(ftpd!.data, 'ab');
  plant(base);
  fs.mkdirSync(path.join(base, '2020/01/05/demo'), { recursive: true });
  fs.writeFileSync(path.join(base, '2020/01/05/demo/a.txt'), 'a');
  fs.utimesSync(path.join(base, '2020/01/05/demo/a.txt'), old, old);
  fs.symlinkSync('/etc/hostname', path.join(base, '2020/01/05/demo/l'));
  // owned by the user vsftpd writes as, like what it uploaded itself
  const { uid, gid } = fs.statSync(ftpd!.data);
  fs.chownSync(base, uid, gid);
  for (const p of fs.readdirSync(base, { recursive: true })) fs.lchownSync(path.join(base, String(p)), uid, gid);
  const r = await batt(['demo', '--target', 'ftp', '--path', sb.pattern], { home: sb.home });
  assert.equal(r.code, 0, r.stderr);
  for (const g of GONE) assert.ok(!fs.existsSync(path.join(base, g)), `${g} is still there`);
  for (const s of [...STAY, '2020/01/05/demo/l']) assert.ok(fs.lstatSync(path.join(base, s)), `${s} was removed`);
  assertLogged('ftp', [/target ftp: 2020\/01\/05\/demo: no batt-remote\.json, but it holds 2020\/01\/05\/demo\/l, which is neither/]);
});

test('s3: the same under the PREFIX (objects dated by LastModified)', async () => {
  const client = new S3Client({ endpoint: s3.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: S3_KEY, secretAccessKey: S3_SECRET } });
  try {
    for (const [rel, when] of FILES) {
      await client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: `ab/${rel}`, Body: rel }));
      // s3rver dates an object by the mtime of <bucket>/<key>._S3rver_object
      fs.utimesSync(path.join(s3.dir, s3.bucket, 'ab', `${rel}._S3rver_object`), when, when);
    }
    // outside the PREFIX: never looked at
    await client.send(new PutObjectCommand({ Bucket: s3.bucket, Key: 'abc/2020/01/01/demo/a.txt', Body: 'x' }));
    fs.utimesSync(path.join(s3.dir, s3.bucket, 'abc/2020/01/01/demo/a.txt._S3rver_object'), old, old);
    const r = await batt(['demo', '--target', 's3', '--path', sb.pattern], { home: sb.home });
    assert.equal(r.code, 0, r.stderr);
    const exists = (key: string) => fs.existsSync(path.join(s3.dir, s3.bucket, `${key}._S3rver_object`));
    for (const [rel] of FILES) assert.equal(exists(`ab/${rel}`), STAY.includes(rel), rel);
    assert.ok(exists('abc/2020/01/01/demo/a.txt'));
    assertLogged('s3');
  } finally {
    client.destroy();
  }
});
