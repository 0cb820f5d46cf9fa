// The remote side of the commands: `batt backups --from`, `batt restore --from` (download, check,
// decrypt, restore; works when the local backups are gone) and `batt purge --target`.
// Uses a local-folder target with age encryption, so it needs only the age package.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { sandbox, batt, writeScript, listFiles, skipWithout, type Sandbox } from '../helpers/batt.js';

const skip = skipWithout(['age', 'age-keygen']);

let sb: Sandbox;
let remote: string;
let tmp: string;
let secret: string;
const env = () => ({ TMPDIR: tmp });

before(async () => {
  if (skip) return;
  sb = sandbox();
  remote = path.join(sb.dir, 'remote');
  tmp = path.join(sb.dir, 'tmp');
  fs.mkdirSync(tmp);
  const identity = path.join(sb.dir, 'age.key');
  execFileSync('age-keygen', ['-o', identity], { stdio: 'ignore' });
  fs.chmodSync(identity, 0o600);
  secret = fs.readFileSync(identity, 'utf8').match(/AGE-SECRET-KEY-\S+/)![0];
  const recipient = execFileSync('age-keygen', ['-y', identity], { encoding: 'utf8' }).trim();
  writeScript(sb.home, 'demo', 'printf "run %s\\n" "$BATT_RUN_ID" > "$BATT_DEST/a.txt"');
  writeScript(sb.home, 'demo', 'test "$BATT_FORCE" = 1 || [ ! -e "$BATT_RESTORE_TO" ] || exit 3\ncp "$BATT_BACKUP/a.txt" "$BATT_RESTORE_TO"', 'restore');
  const f = path.join(sb.home, 'conf', 'targets', 'vault.conf');
  fs.mkdirSync(path.dirname(f), { recursive: true, mode: 0o700 });
  fs.writeFileSync(f, `TYPE=local\nPATH=${remote}\nRECIPIENT=${recipient}\nIDENTITY_FILE=${identity}\nKEEP_LAST=1\n`, { mode: 0o600 });
  for (let i = 0; i < 2; i++) {
    const r = await batt(['demo', '--path', sb.pattern], { home: sb.home, env: env() });
    assert.equal(r.code, 0, r.stderr);
  }
});
after(() => sb?.cleanup());

test('backups --from lists the complete copies on the target', { skip }, async () => {
  const r = await batt(['backups', '--from', 'vault', '--json'], { home: sb.home, env: env() });
  assert.equal(r.code, 0, r.stderr);
  const doc = JSON.parse(r.stdout);
  assert.equal(doc.target, 'vault');
  assert.deepEqual(doc.backups.map((b: { service: string; encryption: string; files: number }) => [b.service, b.encryption, b.files]), [
    ['demo', 'age', 1],
    ['demo', 'age', 1],
  ]);
  const text = await batt(['backups', '--from', 'vault'], { home: sb.home, env: env() });
  assert.match(text.stdout, /demo\s.*\sage/);
});

test('restore --from decrypts the newest copy, even when the local backups are gone, and cleans up', { skip }, async () => {
  fs.rmSync(sb.root, { recursive: true, force: true }); // the disk died
  const to = path.join(sb.dir, 'restored.txt');
  const r = await batt(['restore', 'demo', '--from', 'vault', '--to', to, '--json'], { home: sb.home, env: env() });
  assert.equal(r.code, 0, r.stderr);
  const copies = JSON.parse((await batt(['backups', '--from', 'vault', '--json'], { home: sb.home, env: env() })).stdout).backups;
  const expected = copies.at(-1).id;
  assert.equal(JSON.parse(r.stdout).backup, `vault:${expected}`);
  assert.match(fs.readFileSync(to, 'utf8'), /^run \d{8}T\d{6}-[0-9a-f]{6}\n$/);
  assert.deepEqual(fs.readdirSync(tmp), [], 'temp download folder left behind');
  for (const out of [r.stdout, r.stderr]) assert.ok(!out.includes(secret));
  // an id that is not there: usage error, nothing restored
  const bad = await batt(['restore', 'demo', 'no/such/id', '--from', 'vault', '--to', to, '--force'], { home: sb.home, env: env() });
  assert.equal(bad.code, 2, bad.stderr);
  assert.match(bad.stderr, /no demo backup "no\/such\/id" of host \S+ on target vault/);
});

test('purge --target applies the target\'s own retention (KEEP_LAST=1); --dry-run deletes nothing', { skip }, async () => {
  const before = listFiles(remote);
  const dry = await batt(['purge', '--target', 'vault', '--keep-daily', '7', '--dry-run'], { home: sb.home, env: env() });
  assert.equal(dry.code, 0, dry.stderr);
  assert.match(dry.stdout, /would remove vault:/);
  assert.deepEqual(listFiles(remote), before);
  const r = await batt(['purge', '--target', 'vault', '--keep-daily', '7'], { home: sb.home, env: env() });
  assert.equal(r.code, 0, r.stderr);
  const left = JSON.parse((await batt(['backups', '--from', 'vault', '--json'], { home: sb.home, env: env() })).stdout).backups;
  assert.equal(left.length, 1);
  assert.equal(listFiles(remote).filter((f) => f.endsWith('batt-remote.json')).length, 1);
});

test('verify --from re-hashes the uploaded (encrypted) files without the key and names a flipped byte', { skip }, async () => {
  const good = await batt(['verify', '--from', 'vault'], { home: sb.home, env: env() });
  assert.equal(good.code, 0, good.stderr);
  assert.match(good.stdout, /^ok vault:\S+ \(2 files\)\nverified 1 copy on vault\n$/);
  const f = listFiles(remote).find((x) => x.endsWith('/a.txt.age'))!;
  const buf = fs.readFileSync(path.join(remote, f));
  buf[buf.length - 5]! ^= 0x01;
  fs.writeFileSync(path.join(remote, f), buf);
  const bad = await batt(['verify', '--from', 'vault', '--json'], { home: sb.home, env: env() });
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /vault:.*: a\.txt\.age: checksum/);
  assert.equal(JSON.parse(bad.stdout).ok, false);
  const plain = await batt(['verify', '--from', 'vault'], { home: sb.home, env: env() });
  assert.equal(plain.code, 1);
  assert.match(plain.stderr, /^batt: verify failed: 1 of 1 copy on vault has problems$/m);
});
