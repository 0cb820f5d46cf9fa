// SFTP and rsync-over-ssh targets against a real OpenSSH server (Debian openssh-server, started
// by test/helpers/sshd.ts on a free 127.0.0.1 port with temp host and user keys, key login only).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { sandbox, batt, writeScript, listFiles, REQUIRE_SERVERS, type Sandbox, writeTargetConf, HOST } from '../helpers/batt.js';
import { SSHD, startSshd, type Sshd } from '../helpers/sshd.js';
import { startThrottle, type Throttle } from '../helpers/net.js';
import { resolveHome } from '../../src/core/home.js';
import { loadTarget } from '../../src/targets/config.js';
import { openTarget } from '../../src/targets/open.js';

const skip = !SSHD && !REQUIRE_SERVERS ? 'sshd not installed (openssh-server)' : false;

let sb: Sandbox;
let sshd: Sshd;
/** sshd behind a 2 MB/s uplink, and a known_hosts naming the server on that port. */
let slow: Throttle;

const conf = (name: string, text: string) => writeTargetConf(sb.home, name, text);

const target = async (name: string) => openTarget(await loadTarget(resolveHome(sb.home, {}), name));

before(async () => {
  if (skip) return;
  sshd = await startSshd();
  sb = sandbox();
  writeScript(sb.home, 'demo', 'printf "hello sftp\\n" > "$BATT_DEST/a.txt"; mkdir -p "$BATT_DEST/d"; head -c 2000000 /dev/urandom > "$BATT_DEST/d/big.bin"');
  const ssh = `HOST=127.0.0.1\nPORT=${sshd.port}\nUSER=${sshd.user}\nSSH_KEY=${sshd.keyFile}\n`;
  conf('box', `TYPE=sftp\n${ssh}KNOWN_HOSTS=${sshd.knownHosts}\nPATH=${sshd.data}/sftp\nRETRIES=1\nRETRY_DELAY_MS=100\n`);
  conf('rbox', `TYPE=rsync\n${ssh}KNOWN_HOSTS=${sshd.knownHosts}\nPATH=${sshd.data}/rsync\n`);
  slow = await startThrottle(sshd.port, 2 * 1024 * 1024);
  const slowKnown = path.join(sb.dir, 'slow_known_hosts');
  fs.writeFileSync(slowKnown, fs.readFileSync(sshd.knownHosts, 'utf8').replace(`]:${sshd.port} `, `]:${slow.port} `));
  const slowSsh = `HOST=127.0.0.1\nPORT=${slow.port}\nUSER=${sshd.user}\nSSH_KEY=${sshd.keyFile}\nKNOWN_HOSTS=${slowKnown}\n`;
  conf('slow', `TYPE=sftp\n${slowSsh}PATH=${sshd.data}/slow\n`);
  conf('rslow', `TYPE=rsync\n${slowSsh}PATH=${sshd.data}/rslow\n`);
  writeScript(sb.home, 'huge', 'head -c 24000000 /dev/urandom > "$BATT_DEST/big.bin"');
  conf('spoofed', `TYPE=sftp\n${ssh}KNOWN_HOSTS=${sshd.wrongKnownHosts}\nPATH=${sshd.data}/spoofed\nRETRIES=0\n`);
});
after(async () => {
  await slow?.stop();
  await sshd?.stop();
  sb?.cleanup();
});

test('a run copies the backup over SFTP and rsync+ssh; the remote bytes equal the local ones', { skip }, async () => {
  const r = await batt(['demo', '--target', 'box', '--target', 'rbox', '--path', sb.pattern], { home: sb.home });
  assert.equal(r.code, 0, r.stderr);
  const local = path.dirname(path.join(sb.root, listFiles(sb.root).find((f) => f.endsWith('demo/batt-manifest.json'))!));
  const id = path.relative(sb.root, local);
  for (const sub of ['sftp', 'rsync']) {
    const dir = path.join(sshd.data, sub, HOST, id);
    assert.deepEqual(listFiles(dir), ['a.txt', 'batt-manifest.json', 'batt-remote.json', 'd/big.bin'], sub);
    assert.deepEqual(fs.readFileSync(path.join(dir, 'd/big.bin')), fs.readFileSync(path.join(local, 'd/big.bin')));
    assert.ok(!listFiles(path.join(sshd.data, sub)).some((f) => f.includes('batt-tmp')), `${sub}: temp files left`);
  }
  const copies = JSON.parse(fs.readFileSync(path.join(local, 'batt-copies.json'), 'utf8')).copies;
  assert.deepEqual(copies.map((c: { location: string }) => c.location).sort(), [
    `rsync:${sshd.user}@127.0.0.1:${sshd.data}/rsync/${HOST}/${id}`,
    `sftp://${sshd.user}@127.0.0.1:${sshd.port}${sshd.data}/sftp/${HOST}/${id}`,
  ]);
});

test('SFTP: list, get (checked against the index), a second upload of a taken id goes beside it, remove', { skip }, async () => {
  const { target: t } = await target('box');
  try {
    const [copy] = await t.list();
    assert.ok(copy);
    const out = path.join(sb.dir, 'got');
    const m = await t.get(copy.id, out);
    assert.equal(m.service, 'demo');
    assert.equal(fs.readFileSync(path.join(out, 'a.txt'), 'utf8'), 'hello sftp\n');
    // put again under the same name: the first copy is never replaced, the second goes to ~2
    const before = fs.readFileSync(path.join(sshd.data, 'sftp', copy.id, 'batt-remote.json'), 'utf8');
    const again = await t.put(path.join(sb.root, copy.id.slice(HOST.length + 1)), copy.id);
    assert.equal(again.id, `${copy.id}~2`);
    assert.equal(fs.readFileSync(path.join(sshd.data, 'sftp', copy.id, 'batt-remote.json'), 'utf8'), before);
    assert.deepEqual((await t.list()).map((c) => c.id), [copy.id, again.id]);
    await t.remove(again.id);
    assert.deepEqual(await t.verify(copy.id), []);
    fs.truncateSync(path.join(sshd.data, 'sftp', copy.id, 'd/big.bin'), 10);
    assert.match((await t.verify(copy.id))[0]!.problem, /size 10/);
    await t.remove(copy.id);
    assert.deepEqual(await t.list(), []);
    assert.ok(!fs.existsSync(path.join(sshd.data, 'sftp', copy.id)));
  } finally {
    await t.close();
  }
});

test('rsync over ssh: list and remove work remotely', { skip }, async () => {
  const { target: t } = await target('rbox');
  const copies = await t.list();
  assert.equal(copies.length, 1);
  await t.remove(copies[0]!.id);
  assert.deepEqual(await t.list(), []);
  assert.ok(!fs.existsSync(path.join(sshd.data, 'rsync', copies[0]!.id)));
});

test('a host key that is not in KNOWN_HOSTS is refused: the run fails, the local backup stays', { skip }, async () => {
  const before = listFiles(sb.root).filter((f) => f.endsWith('batt-manifest.json')).length;
  const r = await batt(['demo', '--target', 'spoofed', '--path', sb.pattern], { home: sb.home });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /host key of 127\.0\.0\.1:\d+ is not in/);
  assert.equal(listFiles(sb.root).filter((f) => f.endsWith('batt-manifest.json')).length, before + 1);
  assert.ok(!fs.existsSync(path.join(sshd.data, 'spoofed')));
});

/**
 * Runs `batt huge --target <name>` and sends SIGTERM once more than 1 MB of big.bin has reached
 * `remoteDir` (under whatever temp name): mid-file, since the whole file takes seconds on the slow link.
 */
async function sigtermMidFile(name: string, remoteDir: string) {
  let child: import('node:child_process').ChildProcess | undefined;
  let sentAt = 0;
  const poll = setInterval(() => {
    const partial = listFiles(remoteDir).find((f) => /big\.bin/.test(f) && fs.statSync(path.join(remoteDir, f)).size > 1_000_000);
    if (partial && child && !sentAt) {
      sentAt = Date.now();
      child.kill('SIGTERM');
    }
  }, 25);
  try {
    const r = await batt(['huge', '--target', name, '--path', sb.pattern], { home: sb.home, onSpawn: (c) => (child = c) });
    return { r, took: Date.now() - sentAt, sent: sentAt > 0 };
  } finally {
    clearInterval(poll);
  }
}

function assertInterrupted(res: { r: { code: number | null; stderr: string }; took: number; sent: boolean }, remoteDir: string) {
  assert.ok(res.sent, 'SIGTERM was never sent: no partial big.bin appeared');
  assert.equal(res.r.code, 143, res.r.stderr);
  assert.ok(res.took < 2000, `batt took ${res.took} ms to exit after SIGTERM`);
  const remote = listFiles(remoteDir);
  assert.ok(!remote.some((f) => f.endsWith('batt-remote.json')), `an index was written: ${remote.join(' ')}`);
  assert.ok(!remote.some((f) => f.endsWith('/big.bin')), `big.bin looks complete on the target: ${remote.join(' ')}`);
  const local = path.dirname(path.join(sb.root, listFiles(sb.root).filter((f) => /\/huge(\.\d+)?\/batt-manifest\.json$/.test(f)).at(-1)!));
  const m = JSON.parse(fs.readFileSync(path.join(local, 'batt-manifest.json'), 'utf8'));
  assert.equal(fs.statSync(path.join(local, 'big.bin')).size, m.files.find((f: { path: string }) => f.path === 'big.bin').size, 'the local backup must stay');
  return remote;
}

test('SIGTERM mid-file over SFTP on a slow link: the transfer is cut at once, exit 143, no complete-looking copy', { skip }, async (t) => {
  const dir = path.join(sshd.data, 'slow');
  const res = await sigtermMidFile('slow', dir);
  t.diagnostic(`batt exited ${res.took} ms after SIGTERM`);
  assertInterrupted(res, dir);
});

test('SIGTERM mid-file over rsync+ssh on a slow link: rsync is stopped, exit 143, no complete-looking copy', { skip }, async (t) => {
  const dir = path.join(sshd.data, 'rslow');
  const res = await sigtermMidFile('rslow', dir);
  t.diagnostic(`batt exited ${res.took} ms after SIGTERM`);
  assertInterrupted(res, dir);
  // the rsync at the other end removes its temp file once it sees the connection gone
  const until = Date.now() + 3000;
  while (listFiles(dir).length && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(listFiles(dir), [], 'rsync left its temp file');
});

test('an SFTP upload removes day-old batt temp files left by interrupted uploads, nothing else', { skip }, async () => {
  const base = path.join(sshd.data, 'sftp');
  const old = new Date(Date.now() - 2 * 24 * 3600_000);
  const plant = (rel: string, when: Date) => {
    const f = path.join(base, rel);
    fs.mkdirSync(path.dirname(f), { recursive: true });
    fs.writeFileSync(f, 'partial');
    fs.utimesSync(f, when, when);
  };
  // what SIGTERM mid-file leaves (the slow test above made one: fresh, so it stays too)
  const gone = ['2020/01/01/demo/d/big.bin.batt-tmp-0a1b2c3d', '2020/01/01/demo/a.txt.batt-tmp-4e5f6a7b'];
  for (const f of gone) plant(f, old);
  plant('2020/01/01/demo/fresh.bin.batt-tmp-11111111', new Date()); // another host's upload in progress
  plant('2020/01/01/demo/notes.txt', old);
  plant('old.bin.batt-tmp-0a1b2c3d.keep', old);
  const outside = path.join(sb.dir, 'outside-sftp');
  fs.writeFileSync(outside, 'not batt');
  fs.utimesSync(outside, old, old);
  fs.symlinkSync(outside, path.join(base, 'link.batt-tmp-22222222'));
  fs.lutimesSync(path.join(base, 'link.batt-tmp-22222222'), old, old);
  const stay = ['2020/01/01/demo/fresh.bin.batt-tmp-11111111', '2020/01/01/demo/notes.txt', 'old.bin.batt-tmp-0a1b2c3d.keep', 'link.batt-tmp-22222222'];
  const r = await batt(['demo', '--target', 'box', '--path', sb.pattern], { home: sb.home });
  assert.equal(r.code, 0, r.stderr);
  for (const f of gone) assert.ok(!fs.existsSync(path.join(base, f)), `${f} is still there`);
  for (const f of stay) assert.ok(fs.lstatSync(path.join(base, f)), `${f} was removed`);
  assert.equal(fs.readFileSync(outside, 'utf8'), 'not batt');
  assert.match(fs.readFileSync(path.join(sb.home, 'log', 'batt.log'), 'utf8'), /target box: removed 2 leftovers of interrupted uploads/);
});
