// SFTP and rsync-over-ssh targets against a real OpenSSH server (Debian openssh-server, started
// by test/helpers/sshd.ts on a free 127.0.0.1 port with temp host and user keys, key login only).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { sandbox, batt, writeScript, listFiles, REQUIRE_SERVERS, type Sandbox } from '../helpers/batt.js';
import { SSHD, startSshd, type Sshd } from '../helpers/sshd.js';
import { resolveHome } from '../../src/home.js';
import { loadTarget } from '../../src/targets/config.js';
import { openTarget } from '../../src/targets/open.js';

const skip = !SSHD && !REQUIRE_SERVERS ? 'sshd not installed (openssh-server)' : false;

let sb: Sandbox;
let sshd: Sshd;

function conf(name: string, text: string) {
  const f = path.join(sb.home, 'conf', 'targets', `${name}.conf`);
  fs.mkdirSync(path.dirname(f), { recursive: true, mode: 0o700 });
  fs.writeFileSync(f, text, { mode: 0o600 });
}

const target = async (name: string) => openTarget(await loadTarget(resolveHome(sb.home, {}), name));

before(async () => {
  if (skip) return;
  sshd = await startSshd();
  sb = sandbox();
  writeScript(sb.home, 'demo', 'printf "hello sftp\\n" > "$BATT_DEST/a.txt"; mkdir -p "$BATT_DEST/d"; head -c 2000000 /dev/urandom > "$BATT_DEST/d/big.bin"');
  const ssh = `HOST=127.0.0.1\nPORT=${sshd.port}\nUSER=${sshd.user}\nSSH_KEY=${sshd.keyFile}\n`;
  conf('box', `TYPE=sftp\n${ssh}KNOWN_HOSTS=${sshd.knownHosts}\nPATH=${sshd.data}/sftp\nRETRIES=1\nRETRY_DELAY_MS=100\n`);
  conf('rbox', `TYPE=rsync\n${ssh}KNOWN_HOSTS=${sshd.knownHosts}\nPATH=${sshd.data}/rsync\n`);
  conf('spoofed', `TYPE=sftp\n${ssh}KNOWN_HOSTS=${sshd.wrongKnownHosts}\nPATH=${sshd.data}/spoofed\nRETRIES=0\n`);
});
after(async () => {
  await sshd?.stop();
  sb?.cleanup();
});

test('a run copies the backup over SFTP and rsync+ssh; the remote bytes equal the local ones', { skip }, async () => {
  const r = await batt(['demo', '--target', 'box', '--target', 'rbox', '--path', sb.pattern], { home: sb.home });
  assert.equal(r.code, 0, r.stderr);
  const local = path.dirname(path.join(sb.root, listFiles(sb.root).find((f) => f.endsWith('demo/batt-manifest.json'))!));
  const id = path.relative(sb.root, local);
  for (const sub of ['sftp', 'rsync']) {
    const dir = path.join(sshd.data, sub, id);
    assert.deepEqual(listFiles(dir), ['a.txt', 'batt-manifest.json', 'batt-remote.json', 'd/big.bin'], sub);
    assert.deepEqual(fs.readFileSync(path.join(dir, 'd/big.bin')), fs.readFileSync(path.join(local, 'd/big.bin')));
    assert.ok(!listFiles(path.join(sshd.data, sub)).some((f) => f.includes('batt-tmp')), `${sub}: temp files left`);
  }
  const copies = JSON.parse(fs.readFileSync(path.join(local, 'batt-copies.json'), 'utf8')).copies;
  assert.deepEqual(copies.map((c: { location: string }) => c.location).sort(), [
    `rsync:${sshd.user}@127.0.0.1:${sshd.data}/rsync/${id}`,
    `sftp://${sshd.user}@127.0.0.1:${sshd.port}${sshd.data}/sftp/${id}`,
  ]);
});

test('SFTP: list, get (checked against the index), re-upload over an existing copy, remove', { skip }, async () => {
  const { target: t } = await target('box');
  try {
    const [copy] = await t.list();
    assert.ok(copy);
    const out = path.join(sb.dir, 'got');
    const m = await t.get(copy.id, out);
    assert.equal(m.service, 'demo');
    assert.equal(fs.readFileSync(path.join(out, 'a.txt'), 'utf8'), 'hello sftp\n');
    // put again into the same name (what a retry does): still exactly one complete copy
    await t.put(path.join(sb.root, copy.id), copy.id);
    assert.equal((await t.list()).length, 1);
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
