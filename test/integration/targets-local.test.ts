// Off-site copies to a local folder and with rsync (local path), with and without age encryption:
// through `batt` (the run's upload step) and through the Target API (list/get/remove/verify).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { sandbox, batt, writeScript, listFiles, missingTools, skipWithout, type Sandbox, writeTargetConf, HOST } from '../helpers/batt.js';
import { resolveHome } from '../../src/core/home.js';
import { loadTarget } from '../../src/targets/config.js';
import { openTarget } from '../../src/targets/open.js';

const missing = missingTools(['rsync', 'age', 'age-keygen']);
const skip = skipWithout(['rsync', 'age', 'age-keygen']);

let sb: Sandbox;
let remote: string;
let identity: string;
let recipient: string;

const conf = (name: string, text: string) => writeTargetConf(sb.home, name, text);

before(() => {
  if (skip) return;
  assert.deepEqual(missing, [], `required tools missing: ${missing.join(', ')}`);
  sb = sandbox();
  remote = path.join(sb.dir, 'remote');
  identity = path.join(sb.dir, 'age.key');
  execFileSync('age-keygen', ['-o', identity], { stdio: 'ignore' });
  fs.chmodSync(identity, 0o600);
  recipient = execFileSync('age-keygen', ['-y', identity], { encoding: 'utf8' }).trim();
  writeScript(sb.home, 'demo', 'printf "hello world\\n" > "$BATT_DEST/a.txt"; mkdir -p "$BATT_DEST/sub"; head -c 300000 /dev/urandom > "$BATT_DEST/sub/b.bin"');
  writeScript(sb.home, 'broken', 'echo partial > "$BATT_DEST/x"; exit 4');
  conf('disk', `TYPE=local\nPATH=${remote}/disk\n`);
  conf('rs', `TYPE=rsync\nPATH=${remote}/rs\n`);
  conf('sealed', `TYPE=local\nPATH=${remote}/sealed\nRECIPIENT=${recipient}\nIDENTITY_FILE=${identity}\n`);
});
after(() => sb?.cleanup());

const DEMO = /\/demo(\.\d+)?\/batt-manifest\.json$/;

function onlyBackup(): string {
  const m = listFiles(sb.root).filter((f) => DEMO.test(f));
  return path.dirname(path.join(sb.root, m.at(-1)!));
}

test('a run copies each successful service to every target and records it beside the manifest', { skip }, async () => {
  const r = await batt(['demo', 'broken', '--path', sb.pattern], { home: sb.home });
  assert.equal(r.code, 1, r.stderr); // broken failed; the copy of demo worked
  const dir = onlyBackup();
  const id = path.relative(sb.root, dir);
  for (const t of ['disk', 'rs']) {
    assert.deepEqual(listFiles(path.join(remote, t, HOST, id)), ['a.txt', 'batt-manifest.json', 'batt-remote.json', 'sub/b.bin']);
    assert.equal(fs.readFileSync(path.join(remote, t, HOST, id, 'a.txt'), 'utf8'), 'hello world\n');
  }
  // nothing of the failed service left the host
  assert.ok(!listFiles(remote).some((f) => f.includes('broken')));
  const copies = JSON.parse(fs.readFileSync(path.join(dir, 'batt-copies.json'), 'utf8')).copies;
  assert.deepEqual(copies.map((c: { target: string }) => c.target).sort(), ['disk', 'rs', 'sealed']);
  assert.match(r.stdout, /^copied 1 backup to disk, rs, sealed$/m);
  assert.ok(fs.readFileSync(path.join(sb.home, 'log', 'batt.log'), 'utf8').includes(`upload: copied ${HOST}/${id} -> disk: 3 files\n`));
  // the manifest was not rewritten and the backup still verifies (the sidecar is not an "extra" file)
  const v = await batt(['verify', '--path', sb.pattern], { home: sb.home });
  assert.equal(v.code, 0, v.stdout + v.stderr);
});

test('age: the encrypted copy holds only ciphertext, records both hashes, and restores through get()', { skip }, async () => {
  const dir = onlyBackup();
  const id = path.relative(sb.root, dir);
  const files = listFiles(path.join(remote, 'sealed', HOST, id));
  assert.deepEqual(files, ['a.txt.age', 'batt-manifest.json.age', 'batt-remote.json', 'sub/b.bin.age']);
  const cipher = fs.readFileSync(path.join(remote, 'sealed', HOST, id, 'a.txt.age'));
  assert.ok(cipher.subarray(0, 21).toString().startsWith('age-encryption.org/v1'));
  assert.ok(!cipher.includes(Buffer.from('hello world')));
  const rec = JSON.parse(fs.readFileSync(path.join(dir, 'batt-copies.json'), 'utf8')).copies.find((c: { target: string }) => c.target === 'sealed');
  const a = rec.files.find((f: { path: string }) => f.path === 'a.txt');
  assert.equal(rec.encryption, 'age');
  assert.notEqual(a.sha256, a.remoteSha256);
  assert.match(a.remoteSha256, /^[0-9a-f]{64}$/);
  // the secret key is in no log and no sidecar
  const secret = fs.readFileSync(identity, 'utf8').match(/AGE-SECRET-KEY-\S+/)![0];
  for (const f of listFiles(sb.home).map((x) => path.join(sb.home, x)).concat(path.join(dir, 'batt-copies.json'))) {
    if (f.endsWith('age.key')) continue;
    assert.ok(!fs.readFileSync(f, 'utf8').includes(secret), `secret key found in ${f}`);
  }
  const { target, encryption } = await openTarget(await loadTarget(resolveHome(sb.home, {}), 'sealed'));
  const [copy] = await target.list();
  assert.equal(copy!.id, `${HOST}/${id}`);
  assert.equal(copy!.host, HOST);
  const out = path.join(sb.dir, 'restored');
  const m = await target.get(copy!.id, out, { encryption });
  assert.equal(m.service, 'demo');
  assert.equal(fs.readFileSync(path.join(out, 'a.txt'), 'utf8'), 'hello world\n');
  assert.deepEqual(fs.readFileSync(path.join(out, 'sub/b.bin')), fs.readFileSync(path.join(dir, 'sub/b.bin')));
  // a flipped byte in the ciphertext is caught before decryption
  const f = path.join(remote, 'sealed', HOST, id, 'sub/b.bin.age');
  const buf = fs.readFileSync(f);
  buf[buf.length - 10]! ^= 1;
  fs.writeFileSync(f, buf);
  await assert.rejects(target.get(copy!.id, path.join(sb.dir, 'restored2'), { encryption }), /does not match its index/);
  await target.close();
});

test('rsync and local targets list, verify and remove copies; an incomplete copy is not listed', { skip }, async () => {
  const home = resolveHome(sb.home, {});
  for (const name of ['rs', 'disk']) {
    const { target } = await openTarget(await loadTarget(home, name));
    const copies = await target.list();
    assert.equal(copies.length, 1, name);
    const id = copies[0]!.id;
    assert.deepEqual(await target.verify(id), []);
    fs.rmSync(path.join(remote, name, id, 'a.txt'));
    assert.deepEqual((await target.verify(id)).map((p) => p.path), ['a.txt']);
    // a copy without its index (an interrupted upload) is not a copy
    fs.rmSync(path.join(remote, name, id, 'batt-remote.json'));
    assert.deepEqual(await target.list(), []);
    fs.copyFileSync(path.join(sb.root, id.slice(HOST.length + 1), 'batt-manifest.json'), path.join(remote, name, id, 'batt-remote.json.bak'));
    await target.remove(id);
    assert.ok(!fs.existsSync(path.join(remote, name, id)), `${name}: ${id} still there`);
    await target.close();
  }
});

test('--target picks one target; an unknown one fails before any backup runs', { skip }, async () => {
  const before = listFiles(sb.root).length;
  const bad = await batt(['demo', '--target', 'nope', '--path', sb.pattern], { home: sb.home });
  assert.equal(bad.code, 2, bad.stderr);
  assert.match(bad.stderr, /no target named nope/);
  assert.equal(listFiles(sb.root).length, before);
  fs.rmSync(remote, { recursive: true, force: true });
  const r = await batt(['demo', '--target', 'disk', '--json', '--path', sb.pattern], { home: sb.home });
  assert.equal(r.code, 0, r.stderr);
  const doc = JSON.parse(r.stdout);
  assert.equal(doc.ok, true);
  assert.deepEqual(doc.copies.map((c: { target: string; ok: boolean }) => [c.target, c.ok]), [['disk', true]]);
  assert.deepEqual(fs.readdirSync(remote), ['disk']);
});

test('a target that cannot be written fails the run loudly and keeps the local backup', { skip }, async () => {
  fs.mkdirSync(path.join(sb.dir, 'ro'), { recursive: true });
  fs.writeFileSync(path.join(sb.dir, 'ro', 'file'), 'x'); // PATH below a regular file: mkdir fails
  conf('bad', `TYPE=local\nPATH=${sb.dir}/ro/file/sub\n`);
  const n = listFiles(sb.root).filter((f) => DEMO.test(f)).length;
  const r = await batt(['demo', '--target', 'bad', '--path', sb.pattern], { home: sb.home });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /demo -> bad: upload failed/);
  assert.match(r.stderr, /local backups are kept/);
  assert.equal(listFiles(sb.root).filter((f) => DEMO.test(f)).length, n + 1);
});

test('passphrase file: files sealed with a per-copy key (itself sealed with the passphrase); restore needs the passphrase', { skip }, async () => {
  const pass = path.join(sb.dir, 'passphrase');
  fs.writeFileSync(pass, 'a long and secret passphrase\n', { mode: 0o600 });
  conf('pp', `TYPE=local\nPATH=${remote}/pp\nPASSPHRASE_FILE=${pass}\n`);
  const r = await batt(['demo', '--target', 'pp', '--path', sb.pattern], { home: sb.home });
  assert.equal(r.code, 0, r.stderr);
  const { target, encryption } = await openTarget(await loadTarget(resolveHome(sb.home, {}), 'pp'));
  try {
    const [copy] = await target.list();
    assert.equal(copy!.keyFile, 'batt-key.age');
    assert.deepEqual(listFiles(path.join(remote, 'pp', copy!.id)), ['a.txt.age', 'batt-key.age', 'batt-manifest.json.age', 'batt-remote.json', 'sub/b.bin.age']);
    // standard age with an scrypt stanza: `age -d` with the passphrase opens it too
    assert.match(fs.readFileSync(path.join(remote, 'pp', copy!.id, 'batt-key.age')).subarray(0, 60).toString('latin1'), /^age-encryption\.org\/v1\n-> scrypt /);
    for (const f of listFiles(path.join(remote, 'pp'))) {
      const text = fs.readFileSync(path.join(remote, 'pp', f));
      assert.ok(!text.includes(Buffer.from('a long and secret')) && !text.includes(Buffer.from('AGE-SECRET-KEY')), f);
    }
    const m = await target.get(copy!.id, path.join(sb.dir, 'pp-restored'), { encryption });
    assert.equal(m.service, 'demo');
    assert.equal(fs.readFileSync(path.join(sb.dir, 'pp-restored', 'a.txt'), 'utf8'), 'hello world\n');
    fs.writeFileSync(pass, 'not the passphrase\n');
    await assert.rejects(target.get(copy!.id, path.join(sb.dir, 'pp-wrong'), { encryption }), /cannot decrypt with the passphrase/);
  } finally {
    await target.close();
  }
});

test('batt --purge is skipped when an upload failed, and runs when every copy succeeded', { skip }, async () => {
  const count = () => listFiles(sb.root).filter((f) => DEMO.test(f)).length;
  const n = count();
  assert.ok(n >= 2, `need older backups, have ${n}`);
  const r = await batt(['demo', '--target', 'bad', '--purge', '--keep-last', '1', '--path', sb.pattern], { home: sb.home });
  assert.equal(r.code, 1);
  assert.equal(count(), n + 1, 'nothing may be purged after a failed upload');
  const ok = await batt(['demo', '--target', 'disk', '--purge', '--keep-last', '1', '--path', sb.pattern], { home: sb.home });
  assert.equal(ok.code, 0, ok.stderr);
  assert.equal(count(), 1);
});

test('local target: an abort mid-file stops the copy at once and removes the partial temp file', { skip }, async () => {
  // the source is a FIFO: the copy has exactly the bytes written so far, and then waits
  const src = path.join(sb.dir, 'slow.fifo');
  execFileSync('mkfifo', [src]);
  const dest = path.join(remote, 'aborted');
  const { LocalBackend } = await import('../../src/targets/local.js');
  const backend = new LocalBackend(dest);
  const ctl = new AbortController();
  const put = backend.putFile(src, 'x/big.bin', 8 << 20, { signal: ctl.signal });
  put.catch(() => {});
  const writer = await fs.promises.open(src, 'w');
  try {
    await writer.write(Buffer.alloc(2 << 20, 7));
    const until = Date.now() + 5000;
    const partial = () => listFiles(dest).find((f) => fs.statSync(path.join(dest, f)).size >= 2 << 20);
    while (!partial() && Date.now() < until) await new Promise((r) => setTimeout(r, 10));
    assert.match(partial() ?? '', /^x\/big\.bin\.batt-tmp-/, 'the copy never started');
    ctl.abort();
    const outcome = await Promise.race([put.then(() => 'finished', (e: Error) => e), new Promise((r) => setTimeout(r, 2000, 'still copying'))]);
    assert.equal((outcome as Error).name, 'AbortError', String(outcome));
    assert.deepEqual(listFiles(dest), []);
  } finally {
    await writer.close();
  }
});

/**
 * Plants what an interrupted upload leaves (batt temp files untouched for two days) beside things
 * that must stay: a fresh temp file (another host's upload in progress), foreign files as old,
 * near-miss names, and a link and a folder with temp names. Returns the paths that must go and stay.
 */
function plantLeftovers(base: string, outside: string) {
  const old = new Date(Date.now() - 2 * 24 * 3600_000);
  const file = (rel: string, when: Date) => {
    const f = path.join(base, rel);
    fs.mkdirSync(path.dirname(f), { recursive: true });
    fs.writeFileSync(f, 'partial');
    fs.utimesSync(f, when, when);
  };
  const gone = ['2020/01/01/demo/sub/b.bin.batt-tmp-0a1b2c3d', '2020/01/01/demo/.batt-tmp-4e5f6a7b-a.txt'];
  const stay = ['2020/01/01/demo/fresh.bin.batt-tmp-11111111', '2020/01/01/demo/notes.txt', 'old.bin.batt-tmp-0a1b2c3d.keep', 'batt-tmp-0a1b2c3d-x'];
  for (const f of gone) file(f, old);
  file(stay[0]!, new Date());
  for (const f of stay.slice(1)) file(f, old);
  fs.writeFileSync(outside, 'not batt');
  fs.utimesSync(outside, old, old);
  fs.symlinkSync(outside, path.join(base, 'link.batt-tmp-22222222'));
  fs.lutimesSync(path.join(base, 'link.batt-tmp-22222222'), old, old);
  fs.mkdirSync(path.join(base, 'dir.batt-tmp-33333333'));
  fs.utimesSync(path.join(base, 'dir.batt-tmp-33333333'), old, old);
  return { gone, stay: [...stay, 'link.batt-tmp-22222222', 'dir.batt-tmp-33333333'] };
}

test('an upload to a local folder removes day-old batt temp files left by interrupted uploads, nothing else', { skip }, async () => {
  const base = path.join(remote, 'disk');
  const outside = path.join(sb.dir, 'outside.batt-tmp-44444444');
  const { gone, stay } = plantLeftovers(base, outside);
  const r = await batt(['demo', '--target', 'disk', '--path', sb.pattern], { home: sb.home });
  assert.equal(r.code, 0, r.stderr);
  for (const f of gone) assert.ok(!fs.existsSync(path.join(base, f)), `${f} is still there`);
  for (const f of stay) assert.ok(fs.lstatSync(path.join(base, f)), `${f} was removed`);
  assert.equal(fs.readFileSync(outside, 'utf8'), 'not batt', 'the link was followed');
  assert.ok(fs.lstatSync(path.join(base, 'link.batt-tmp-22222222')).isSymbolicLink());
  const log = fs.readFileSync(path.join(sb.home, 'log', 'batt.log'), 'utf8');
  assert.match(log, /target disk: removed 2 leftovers of interrupted uploads: 2020\/01\/01\/demo\/\.batt-tmp-4e5f6a7b-a\.txt, 2020\/01\/01\/demo\/sub\/b\.bin\.batt-tmp-0a1b2c3d/);
});

test('batt purge --target removes them too; --dry-run only names them', { skip }, async () => {
  const base = path.join(remote, 'disk');
  const old = new Date(Date.now() - 2 * 24 * 3600_000);
  const f = path.join(base, '2020/01/02/demo/big.bin.batt-tmp-5a5a5a5a');
  fs.mkdirSync(path.dirname(f), { recursive: true });
  fs.writeFileSync(f, 'partial');
  fs.utimesSync(f, old, old);
  const dry = await batt(['purge', '--target', 'disk', '--keep-last', '100', '--dry-run'], { home: sb.home });
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /would remove disk:2020\/01\/02\/demo\/big\.bin\.batt-tmp-5a5a5a5a {2}left by an interrupted upload/);
  assert.ok(fs.existsSync(f));
  const r = await batt(['purge', '--target', 'disk', '--keep-last', '100'], { home: sb.home });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /removed disk:2020\/01\/02\/demo\/big\.bin\.batt-tmp-5a5a5a5a/);
  assert.ok(!fs.existsSync(f));
  assert.ok(fs.existsSync(path.join(base, '2020/01/01/demo/notes.txt')));
});
