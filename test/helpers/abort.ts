// Stopping a stream mid-file: the input is a FIFO that gets `data` and then nothing, so only the
// signal can end the work. Shared by the encrypt and decrypt abort tests.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { CryptoInterruptedError } from '../../src/targets/crypto.js';

/**
 * Starts `work` on a FIFO (dir/NAME.fifo) writing dir/NAME.out, feeds it `data`, waits (up to
 * `waitMs`) until 1 MiB of output appeared, aborts, and asserts that the work ends with
 * CryptoInterruptedError within 5 s and leaves no partial output. `output` and `verb` word the
 * assertion messages ("no ciphertext appeared", "still encrypting 5 s after the abort").
 */
export async function abortMidStream(
  dir: string,
  name: string,
  data: Buffer,
  work: (input: string, out: string, signal: AbortSignal) => Promise<unknown>,
  words: { output: string; verb: string; waitMs: number },
): Promise<void> {
  const fifo = path.join(dir, `${name}.fifo`);
  execFileSync('mkfifo', [fifo]);
  const out = path.join(dir, `${name}.out`);
  const ac = new AbortController();
  const running = work(fifo, out, ac.signal);
  running.catch(() => {}); // awaited below
  const w = await fs.promises.open(fifo, 'w');
  try {
    await w.write(data);
    const until = Date.now() + words.waitMs;
    while (!(fs.existsSync(out) && fs.statSync(out).size >= 1 << 20) && Date.now() < until) await sleep(10);
    assert.ok(fs.existsSync(out), `no ${words.output} appeared`);
    ac.abort();
    const r = await Promise.race([running.then(() => 'resolved', (e: unknown) => e), sleep(5000).then(() => `still ${words.verb} 5 s after the abort`)]);
    assert.ok(r instanceof CryptoInterruptedError, String(r));
  } finally {
    await w.close(); // EOF: lets work that ignored the signal end
    await running.catch(() => {});
  }
  assert.ok(!fs.existsSync(out), `the partial ${words.output} was left behind`);
}
