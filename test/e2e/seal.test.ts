// The seal of a script that declares `# batt: append-only`: its files are hashed while they grow
// (src/run/writeback.ts), and the manifest must still hold the SHA-256 of every byte in the end.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { batt, listFiles, readText, sandbox, writeScript, type Sandbox } from '../helpers/batt.js';

const boxes: Sandbox[] = [];
after(() => boxes.forEach((b) => b.cleanup()));
function box(): Sandbox {
  const b = sandbox();
  boxes.push(b);
  return b;
}
const sha = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

/** The one backup folder of a run, its manifest, and batt.log. */
function result(b: Sandbox, service: string) {
  const manifests = listFiles(b.root).filter((f) => f.endsWith(`${service}/batt-manifest.json`));
  assert.equal(manifests.length, 1, `one ${service} backup: ${manifests.join(', ')}`);
  const dir = path.join(b.root, path.dirname(manifests[0]!));
  const m = JSON.parse(fs.readFileSync(path.join(b.root, manifests[0]!), 'utf8'));
  return { dir, m, log: readText(path.join(b.home, 'log', 'batt.log')) };
}

// Writes in steps over ~1.5 s so that the writeback ticks (every 500 ms) hash parts of it while
// it runs; a second file is written in one go and renamed, which the seal must match by inode.
const GROWING = `# batt: append-only
for i in 1 2 3 4 5 6; do
  head -c 3000000 /dev/urandom >>"$BATT_DEST/growing.bin"
  sleep 0.25
done
head -c 100000 /dev/urandom >"$BATT_DEST/tmp.bin"
sleep 0.6
mv "$BATT_DEST/tmp.bin" "$BATT_DEST/renamed.bin"`;

test('append-only: files hashed while they grow get the SHA-256 of every byte; verify agrees', async () => {
  const b = box();
  writeScript(b.home, 'grow', GROWING);
  const r = await batt(['--home', b.home, '--path', b.pattern, 'grow']);
  assert.equal(r.code, 0, r.stderr);
  const { dir, m, log } = result(b, 'grow');
  for (const f of m.files) assert.equal(f.sha256, sha(path.join(dir, f.path)), f.path);
  assert.deepEqual(m.files.map((f: { path: string }) => f.path).sort(), ['growing.bin', 'renamed.bin']);
  const ahead = Number(/seal: (\d+) of (\d+) bytes were hashed while the script ran/.exec(log)?.[1]);
  assert.ok(ahead >= 3_000_000, `part of the output was hashed ahead: ${log}`);
  const v = await batt(['--home', b.home, '--path', b.pattern, 'verify']);
  assert.equal(v.code, 0, v.stdout + v.stderr);
});

test('without the declaration nothing is hashed ahead; a false declaration is caught by verify', async () => {
  const plain = box();
  writeScript(plain.home, 'grow', GROWING.replace('# batt: append-only', '# (no declaration)'));
  assert.equal((await batt(['--home', plain.home, '--path', plain.pattern, 'grow'])).code, 0);
  assert.doesNotMatch(result(plain, 'grow').log, /hashed while the script ran/);

  // Declares append-only, then rewrites its first bytes in place after they were hashed: the
  // declaration is trusted, so the manifest is wrong, and verify says so (never the reverse).
  const liar = box();
  writeScript(liar.home, 'liar', `# batt: append-only
head -c 4000000 /dev/zero >"$BATT_DEST/f.bin"
sleep 1.2
printf 'rewritten' | dd of="$BATT_DEST/f.bin" conv=notrunc status=none`);
  assert.equal((await batt(['--home', liar.home, '--path', liar.pattern, 'liar'])).code, 0);
  const v = await batt(['--home', liar.home, '--path', liar.pattern, 'verify']);
  assert.equal(v.code, 1, v.stdout + v.stderr);
  assert.match(v.stdout + v.stderr, /f\.bin/);
});
