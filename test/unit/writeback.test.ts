import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startWriteback } from '../../src/writeback.js';

test('writeback flushes growing files and stops cleanly despite FIFOs, links and vanishing files', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'batt-writeback-'));
  try {
    fs.mkdirSync(path.join(dir, 'sub'));
    assert.equal(spawnSync('mkfifo', [path.join(dir, 'sub', 'fifo')]).status, 0);
    fs.symlinkSync(path.join(dir, 'sub', 'fifo'), path.join(dir, 'link-to-fifo'));
    const big = path.join(dir, 'sub', 'big');
    fs.writeFileSync(big, Buffer.alloc(9 << 20, 1));
    const wb = startWriteback(dir, 10);
    for (let i = 0; i < 20; i++) {
      fs.writeFileSync(path.join(dir, `tmp${i}`), 'x');
      fs.rmSync(path.join(dir, `tmp${i}`));
      await sleep(5);
    }
    // stop() must come back (a FIFO opened for reading without O_NONBLOCK would hang it).
    const stopped = await Promise.race([wb.stop().then(() => true), sleep(10_000).then(() => false)]);
    assert.equal(stopped, true, 'writeback did not stop');
    assert.equal(fs.statSync(big).size, 9 << 20, 'files are only read, never changed');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
