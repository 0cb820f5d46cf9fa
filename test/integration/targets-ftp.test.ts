// FTP target against a real vsftpd (Debian package, started by test/helpers/ftpd.ts on a free
// 127.0.0.1 port with passive ports, anonymous upload into a temp folder).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { sandbox, batt, writeScript, listFiles, REQUIRE_SERVERS, type Sandbox, HOST } from '../helpers/batt.js';
import { VSFTPD, startFtpd, type Ftpd } from '../helpers/ftpd.js';
import { resolveHome } from '../../src/core/home.js';
import { loadTarget } from '../../src/targets/config.js';
import { openTarget } from '../../src/targets/open.js';

const skip = !VSFTPD && !REQUIRE_SERVERS ? 'vsftpd not installed' : false;

let sb: Sandbox;
let ftpd: Ftpd;

before(async () => {
  if (skip) return;
  ftpd = await startFtpd();
  sb = sandbox();
  writeScript(sb.home, 'demo', 'printf "hello ftp\\n" > "$BATT_DEST/a.txt"; mkdir "$BATT_DEST/d"; head -c 1500000 /dev/urandom > "$BATT_DEST/d/big.bin"');
  const f = path.join(sb.home, 'conf', 'targets', 'ftp.conf');
  fs.mkdirSync(path.dirname(f), { recursive: true, mode: 0o700 });
  fs.writeFileSync(f, `TYPE=ftp\nHOST=127.0.0.1\nPORT=${ftpd.port}\nUSER=anonymous\nPATH=/up/batt\nRETRIES=1\nRETRY_DELAY_MS=100\n`, { mode: 0o600 });
});
after(async () => {
  await ftpd?.stop();
  sb?.cleanup();
});

test('a run copies the backup over FTP (temp name, SIZE check, rename); list/get/verify/remove', { skip }, async () => {
  const r = await batt(['demo', '--path', sb.pattern], { home: sb.home });
  assert.equal(r.code, 0, r.stderr);
  const local = path.dirname(path.join(sb.root, listFiles(sb.root).find((x) => x.endsWith('demo/batt-manifest.json'))!));
  const id = `${HOST}/${path.relative(sb.root, local)}`;
  const remote = path.join(ftpd.data, 'batt', id);
  assert.deepEqual(listFiles(remote), ['a.txt', 'batt-manifest.json', 'batt-remote.json', 'd/big.bin']);
  assert.deepEqual(fs.readFileSync(path.join(remote, 'd/big.bin')), fs.readFileSync(path.join(local, 'd/big.bin')));
  const { target: t } = await openTarget(await loadTarget(resolveHome(sb.home, {}), 'ftp'));
  try {
    assert.deepEqual((await t.list()).map((c) => c.id), [id]);
    assert.deepEqual(await t.verify(id), []);
    const out = path.join(sb.dir, 'got');
    await t.get(id, out);
    assert.equal(fs.readFileSync(path.join(out, 'a.txt'), 'utf8'), 'hello ftp\n');
    // again: never over the existing copy (MKD of a folder that exists fails), beside it
    const again = await t.put(local, id);
    assert.equal(again.id, `${id}~2`);
    assert.deepEqual((await t.list()).map((c) => c.id), [id, again.id]);
    assert.ok(!listFiles(path.join(ftpd.data, 'batt')).some((f) => f.includes('batt-tmp')));
    await t.remove(again.id);
    await t.remove(id);
    assert.deepEqual(await t.list(), []);
    assert.ok(!fs.existsSync(remote));
  } finally {
    await t.close();
  }
});

test('an FTP server that is not there fails the run after its retries; the local backup stays', { skip }, async () => {
  const f = path.join(sb.home, 'conf', 'targets', 'ftp.conf');
  fs.writeFileSync(f, fs.readFileSync(f, 'utf8').replace(/PORT=\d+/, 'PORT=1'));
  const n = listFiles(sb.root).filter((x) => x.endsWith('batt-manifest.json')).length;
  const r = await batt(['demo', '--path', sb.pattern], { home: sb.home });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /demo -> ftp: upload failed: .*ECONNREFUSED/);
  assert.equal(listFiles(sb.root).filter((x) => x.endsWith('batt-manifest.json')).length, n + 1);
});

test('FTPS (SECURE=yes): uploads over TLS with the server checked against CA_FILE; an unknown certificate is refused', { skip }, async () => {
  const tlsd = await startFtpd({ tls: true });
  try {
    const f = path.join(sb.home, 'conf', 'targets', 'ftps.conf');
    const base = `TYPE=ftp\nHOST=127.0.0.1\nPORT=${tlsd.port}\nUSER=anonymous\nPATH=/up/batt\nSECURE=yes\nRETRIES=0\n`;
    fs.writeFileSync(f, `${base}CA_FILE=${tlsd.certFile}\n`, { mode: 0o600 });
    const r = await batt(['demo', '--target', 'ftps', '--path', sb.pattern], { home: sb.home });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(listFiles(path.join(tlsd.data, 'batt')).filter((x) => x.endsWith('batt-remote.json')).length, 1);
    fs.writeFileSync(f, base, { mode: 0o600 }); // no CA_FILE: the self-signed certificate is not trusted
    const bad = await batt(['demo', '--target', 'ftps', '--path', sb.pattern], { home: sb.home });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /ftps: upload failed: .*(self-signed|self signed)/);
    assert.equal(listFiles(path.join(tlsd.data, 'batt')).filter((x) => x.endsWith('batt-remote.json')).length, 1);
  } finally {
    await tlsd.stop();
  }
});

test('SIGTERM mid-file on a slow FTP server: the client is closed at once, exit 143, no complete-looking copy', { skip }, async (t) => {
  const slowd = await startFtpd({ maxRate: 2 * 1024 * 1024 }); // 24 MB: seconds to upload
  try {
    const f = path.join(sb.home, 'conf', 'targets', 'slowftp.conf');
    fs.writeFileSync(f, `TYPE=ftp\nHOST=127.0.0.1\nPORT=${slowd.port}\nUSER=anonymous\nPATH=/up/batt\n`, { mode: 0o600 });
    writeScript(sb.home, 'huge', 'head -c 24000000 /dev/urandom > "$BATT_DEST/big.bin"');
    const remote = path.join(slowd.data, 'batt');
    let child: import('node:child_process').ChildProcess | undefined;
    let sentAt = 0;
    const poll = setInterval(() => {
      const partial = listFiles(remote).find((x) => /big\.bin/.test(x) && fs.statSync(path.join(remote, x)).size > 1_000_000);
      if (partial && child && !sentAt) {
        sentAt = Date.now();
        child.kill('SIGTERM');
      }
    }, 25);
    const r = await batt(['huge', '--target', 'slowftp', '--path', sb.pattern], { home: sb.home, onSpawn: (c) => (child = c) }).finally(() => clearInterval(poll));
    const took = Date.now() - sentAt;
    t.diagnostic(`batt exited ${took} ms after SIGTERM`);
    assert.ok(sentAt > 0, 'SIGTERM was never sent: no partial big.bin appeared');
    assert.equal(r.code, 143, r.stderr);
    assert.ok(took < 2000, `batt took ${took} ms to exit after SIGTERM`);
    const left = listFiles(remote);
    assert.ok(!left.some((x) => x.endsWith('batt-remote.json') || x.endsWith('/big.bin')), `looks complete: ${left.join(' ')}`);
    const local = path.dirname(path.join(sb.root, listFiles(sb.root).filter((x) => /\/huge(\.\d+)?\/batt-manifest\.json$/.test(x)).at(-1)!));
    const m = JSON.parse(fs.readFileSync(path.join(local, 'batt-manifest.json'), 'utf8'));
    assert.equal(fs.statSync(path.join(local, 'big.bin')).size, m.files.find((x: { path: string }) => x.path === 'big.bin').size, 'the local backup must stay');
  } finally {
    await slowd.stop();
  }
});

test('an FTP upload removes day-old batt temp files left by interrupted uploads, nothing else', { skip }, async () => {
  const f = path.join(sb.home, 'conf', 'targets', 'ftp.conf');
  fs.writeFileSync(f, fs.readFileSync(f, 'utf8').replace(/PORT=\d+/, `PORT=${ftpd.port}`)); // an earlier test pointed it at port 1
  // planted in the folder vsftpd serves as /up/batt, owned by the user it writes as
  const base = path.join(ftpd.data, 'batt');
  const { uid, gid } = fs.statSync(ftpd.data);
  const old = new Date(Date.now() - 2 * 24 * 3600_000);
  const own = (p: string) => fs.chownSync(p, uid, gid);
  const plant = (rel: string, when: Date) => {
    const file = path.join(base, rel);
    let d = path.dirname(file);
    fs.mkdirSync(d, { recursive: true });
    for (; d.startsWith(base); d = path.dirname(d)) own(d);
    fs.writeFileSync(file, 'partial');
    own(file);
    fs.utimesSync(file, when, when);
  };
  const gone = ['2020/01/01/demo/d/.batt-tmp-0a1b2c3d-big.bin', '2020/01/01/demo/.batt-tmp-4e5f6a7b-batt-remote.json'];
  for (const x of gone) plant(x, old);
  plant('2020/01/01/demo/.batt-tmp-11111111-fresh.bin', new Date()); // another host's upload in progress
  plant('2020/01/01/demo/notes.txt', old);
  plant('.batt-tmp-0a1b2c3d', old); // no NAME: not a name batt makes
  fs.symlinkSync('/etc/hostname', path.join(base, '.batt-tmp-22222222-link'));
  const stay = ['2020/01/01/demo/.batt-tmp-11111111-fresh.bin', '2020/01/01/demo/notes.txt', '.batt-tmp-0a1b2c3d', '.batt-tmp-22222222-link'];
  const r = await batt(['demo', '--target', 'ftp', '--path', sb.pattern], { home: sb.home });
  assert.equal(r.code, 0, r.stderr);
  for (const x of gone) assert.ok(!fs.existsSync(path.join(base, x)), `${x} is still there`);
  for (const x of stay) assert.ok(fs.lstatSync(path.join(base, x)), `${x} was removed`);
  assert.match(fs.readFileSync(path.join(sb.home, 'log', 'batt.log'), 'utf8'), /target ftp: removed 2 leftovers of interrupted uploads/);
});
