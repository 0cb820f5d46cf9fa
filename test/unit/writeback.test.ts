import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startWriteback } from '../../src/run/writeback.js';
import { createHash } from 'node:crypto';

test('writeback flushes growing files and stops cleanly despite FIFOs, links and vanishing files', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'batt-writeback-'));
  try {
    fs.mkdirSync(path.join(dir, 'sub'));
    assert.equal(spawnSync('mkfifo', [path.join(dir, 'sub', 'fifo')]).status, 0);
    fs.symlinkSync(path.join(dir, 'sub', 'fifo'), path.join(dir, 'link-to-fifo'));
    const big = path.join(dir, 'sub', 'big');
    fs.writeFileSync(big, Buffer.alloc(9 << 20, 1));
    const wb = startWriteback(dir, { everyMs: 10, hashAhead: true });
    for (let i = 0; i < 20; i++) {
      fs.writeFileSync(path.join(dir, `tmp${i}`), 'x');
      fs.rmSync(path.join(dir, `tmp${i}`));
      await sleep(5);
    }
    // stop() must come back (a FIFO opened for reading without O_NONBLOCK would hang it).
    const stopped = await Promise.race([wb.stop().then(async (c) => (await Promise.all([...c.values()].map((x) => x.close())), true)), sleep(10_000).then(() => false)]);
    assert.equal(stopped, true, 'writeback did not stop');
    assert.equal(fs.statSync(big).size, 9 << 20, 'files are only read, never changed');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const waitFor = async (what: string, ok: () => boolean) => {
  for (let i = 0; i < 500 && !ok(); i++) await sleep(10);
  assert.ok(ok(), `timed out waiting: ${what}`);
};

test('hash-ahead follows a growing file and its cursor finishes with the whole file\'s SHA-256', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'batt-ahead-'));
  try {
    const file = path.join(dir, 'out.zst');
    const parts = [Buffer.alloc(3 << 20, 7), Buffer.from('middle'), Buffer.alloc(1 << 20, 9)];
    const fd = fs.openSync(file, 'w');
    const wb = startWriteback(dir, { everyMs: 5, hashAhead: true });
    fs.writeSync(fd, parts[0]!);
    let cursors = new Map();
    // the cursor catches up with what is written while the "script" runs
    await waitFor('first part hashed', () => fs.statSync(file).size === 3 << 20);
    await sleep(100);
    fs.writeSync(fd, parts[1]!);
    fs.writeSync(fd, parts[2]!);
    fs.closeSync(fd);
    cursors = await wb.stop();
    const c = cursors.get(file);
    assert.ok(c, 'the growing file has a cursor');
    assert.ok(c.offset >= 3 << 20, `hashed ahead: ${c.offset} bytes`);
    const r = await c.finish();
    const all = Buffer.concat(parts);
    assert.deepEqual(r, { size: all.length, sha256: sha(all) });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('hash-ahead starts again when a file shrinks or its name moves to another inode; off by default', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'batt-ahead-'));
  try {
    const a = path.join(dir, 'a');
    const b = path.join(dir, 'b');
    fs.writeFileSync(a, Buffer.alloc(2 << 20, 1));
    fs.writeFileSync(b, Buffer.alloc(2 << 20, 2));
    const wb = startWriteback(dir, { everyMs: 5, hashAhead: true });
    await sleep(100); // both hashed to their end
    fs.writeFileSync(a, 'short'); // truncated and rewritten in place: shorter than what was hashed
    fs.writeFileSync(`${b}.new`, 'replacement');
    fs.renameSync(`${b}.new`, b); // the name now points at another inode
    await sleep(100);
    const cursors = await wb.stop();
    for (const [file, want] of [[a, 'short'], [b, 'replacement']] as const) {
      const c = cursors.get(file);
      assert.ok(c, `${file} has a cursor`);
      assert.equal(c.ino, fs.statSync(file).ino);
      assert.deepEqual(await c.finish(), { size: want.length, sha256: sha(Buffer.from(want)) });
    }
    // without the script's append-only declaration nothing is hashed ahead
    const off = startWriteback(dir, { everyMs: 5 });
    await sleep(50);
    assert.equal((await off.stop()).size, 0);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
