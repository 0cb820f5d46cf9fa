// The stream check of compressed files (src/catalog/streamcheck.ts), on real compressors' output:
// whole streams pass, empty ones and every cut short of the end fail, whatever the chunking.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { SNIFF_BYTES, sniffFormat, streamChecker, type StreamFormat } from '../../src/catalog/streamcheck.js';
import { HashCursor } from '../../src/catalog/manifest.js';

const TOOLS: [StreamFormat, string, string[]][] = [
  ['gzip', 'gzip', ['-c']],
  ['zstd', 'zstd', ['-q', '-c']],
  ['xz', 'xz', ['-c']],
  ['bzip2', 'bzip2', ['-c']],
  ['lz4', 'lz4', ['-q', '-c']],
  // pzstd (backup-file's zstd): a skippable frame before each frame
  ['zstd', 'pzstd', ['-q', '-c', '-p', '2']],
];

const compress = (tool: string, args: string[], input: Buffer) => execFileSync(tool, args, { input, maxBuffer: 64 << 20 });

/** Some text that compresses, with a random part that makes several blocks in zstd and lz4. */
const SAMPLE = Buffer.concat([Buffer.from('INSERT INTO t VALUES (1, "abc");\n'.repeat(2000)), randomBytes(300_000)]);

async function check(data: Buffer, chunk = 65_537): Promise<string | undefined> {
  const c = streamChecker(data.subarray(0, SNIFF_BYTES));
  assert.ok(c, 'a known format');
  for (let i = 0; i < data.length; i += chunk) await c.feed(data.subarray(i, i + chunk));
  return c.finish(data.length, async (p, l) => data.subarray(p, p + l));
}

for (const [format, tool, args] of TOOLS) {
  test(`${tool}: a whole stream passes, in any chunking; empty and cut streams fail`, async () => {
    const whole = compress(tool, args, SAMPLE);
    assert.equal(sniffFormat(whole), format);
    for (const chunk of [1, 7, 4096, 1 << 20]) {
      if (chunk === 1 && whole.length > 50_000 && format === 'gzip') continue; // a byte a write: slow, and no different
      assert.equal(await check(whole, chunk), undefined, `chunks of ${chunk}`);
    }
    // two streams one after the other (`(a | gzip; b | gzip) > f`) are one whole file
    assert.equal(await check(Buffer.concat([whole, compress(tool, args, Buffer.from('more\n'))])), undefined);
    assert.match((await check(compress(tool, args, Buffer.alloc(0))))!, /empty compressed stream/);
    for (const keep of [whole.length - 1, whole.length - 5, Math.floor(whole.length / 2), 20]) {
      assert.match((await check(whole.subarray(0, keep)))!, new RegExp(`truncated ${format} stream`), `cut at ${keep} of ${whole.length}`);
    }
  });

  test(`${tool}: every cut of a small stream fails`, async () => {
    const small = compress(tool, args, Buffer.from('a small dump\n'.repeat(50)));
    for (let keep = 6; keep < small.length; keep++) {
      const said = await check(small.subarray(0, keep), 5);
      assert.ok(said, `cut at ${keep} of ${small.length} passed`);
    }
  });
}

test('a header split across two chunks is read right although the caller reuses the first chunk\'s buffer at once (as HashCursor does)', async () => {
  for (const [format, tool, args] of TOOLS) {
    const whole = compress(tool, args, SAMPLE);
    for (const chunk of [2, 7, 4099]) {
      const c = streamChecker(whole.subarray(0, 6))!;
      const buf = Buffer.alloc(chunk);
      for (let i = 0; i < whole.length; i += chunk) {
        const n = whole.copy(buf, 0, i, i + chunk);
        await c.feed(buf.subarray(0, n));
        buf.fill(0xa5); // the next read lands here before the rest of a header is fed
      }
      assert.equal(await c.finish(whole.length, async (p, l) => whole.subarray(p, p + l)), undefined, `${format}, chunks of ${chunk}`);
    }
  }
});

test('files that are not compressed, or too short to tell, are not checked', () => {
  for (const head of ['plain text', '', '\x1f\x8b', 'BZh0', 'BZ', '\x28\xb5\x2f']) assert.equal(streamChecker(Buffer.from(head, 'latin1')), undefined, JSON.stringify(head));
});

test('the seal hash reports the stream problem; verify hashing does not look', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'batt-streamcheck-'));
  try {
    const file = path.join(dir, 'all.sql.gz');
    fs.writeFileSync(file, compress('gzip', ['-c'], Buffer.alloc(0)));
    const sealed = await (await HashCursor.open(file, { check: true }))!.finish();
    assert.match(sealed.streamProblem!, /empty/);
    const plain = await (await HashCursor.open(file))!.finish();
    assert.equal(plain.streamProblem, undefined);
    assert.equal(plain.sha256, sealed.sha256);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('a file checked while it grows (hash-ahead): told by its first bytes once there are enough, whole at the end', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'batt-streamcheck-'));
  try {
    for (const [format, tool, args] of TOOLS) {
      const whole = compress(tool, args, SAMPLE);
      const file = path.join(dir, `grow.${format}`);
      fs.writeFileSync(file, whole.subarray(0, 3)); // too few bytes to tell the format yet
      const cursor = (await HashCursor.open(file, { check: true }))!;
      await cursor.advance();
      assert.equal(cursor.offset, 0, 'nothing hashed before the format is known');
      fs.appendFileSync(file, whole.subarray(3, 5000));
      await cursor.advance();
      assert.equal(cursor.offset, 5000);
      fs.appendFileSync(file, whole.subarray(5000));
      const done = await cursor.finish();
      assert.equal(done.size, whole.length);
      assert.equal(done.streamProblem, undefined, format);
      // the same growth stopped short: the end is missing
      fs.writeFileSync(file, whole.subarray(0, 5000));
      const cut = (await HashCursor.open(file, { check: true }))!;
      await cut.advance();
      assert.match((await cut.finish()).streamProblem ?? '', /truncated/, format);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
