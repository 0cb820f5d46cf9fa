// Work done while a script runs, so that the seal after it has less left to do.
//
// Writeback: twice a second, the files in its staging folder that grew by a few MB are flushed
// (fdatasync) so the disk writes along with the compressor. Without this a machine with plenty of
// RAM keeps the whole backup dirty in the page cache, and the final fsync of the seal (which stays
// the one that counts) waits for all of it at once: seconds per GB.
//
// Hash-ahead, only for a script that declares `# batt: append-only` (it writes each file front to
// back and never rewrites a byte it wrote): each growing file is also hashed up to its current
// end, through a descriptor held on its inode, while the page cache is hot and while a core may be
// idle. The seal then hashes only the tail written since. A file that shrinks, or whose name now
// points at another inode, is started again from byte 0, and the seal falls back to a full hash of
// any file it cannot match to a cursor (see sealFiles).
//
// Progress: the same pass adds up the sizes of the files it stats, so `written()` tells the bytes
// in the staging folder so far (for the progress line on a terminal) without a second walker.
//
// Best effort only: a file that vanishes or cannot be opened is left to the seal to judge.
import fs from 'node:fs/promises';
import { constants } from 'node:fs';
import path from 'node:path';
import { HashCursor } from '../catalog/manifest.js';

/** New bytes in a file before it is flushed again. */
const MIN_GROWTH = 8 << 20;
/** A script that writes more files than this writes small ones: the seal's fsyncs suffice. */
const MAX_FILES = 2000;
/** Files hashed ahead at once (two 1 MB buffers and a descriptor each); others wait for the seal. */
const MAX_CURSORS = 8;

export interface WritebackOptions {
  everyMs?: number;
  /** Hash growing files ahead of the seal (the script declared its output append-only). */
  hashAhead?: boolean;
}

export interface Writeback {
  /**
   * Stops; resolves once a pass in progress is done, with the hash-ahead cursors (by path), which
   * the caller now owns: finish() or close() each.
   */
  stop(): Promise<Map<string, HashCursor>>;
  /**
   * Bytes in the staging folder at the last pass (regular files, by their size), or undefined
   * before the first pass and once the folder holds more than MAX_FILES entries (no more passes).
   */
  written(): number | undefined;
}

export function startWriteback(dir: string, { everyMs = 500, hashAhead = false }: WritebackOptions = {}): Writeback {
  let stopped = false;
  let busy: Promise<void> | undefined;
  let written: number | undefined;
  const flushed = new Map<string, number>();
  const cursors = new Map<string, HashCursor>();
  const drop = async (file: string) => {
    await cursors.get(file)?.close();
    cursors.delete(file);
  };
  const follow = async (file: string) => {
    let cursor = cursors.get(file);
    if (cursor) {
      const st = await fs.lstat(file).catch(() => undefined);
      // renamed away, replaced, or cut shorter than what was hashed: that hash is no good
      if (!st || st.ino !== cursor.ino || st.dev !== cursor.dev || st.size < cursor.offset) {
        await drop(file);
        cursor = undefined;
      }
    }
    if (!cursor) {
      if (cursors.size >= MAX_CURSORS) return;
      cursor = await HashCursor.open(file, { check: true });
      if (!cursor) return;
      cursors.set(file, cursor);
    }
    await cursor.advance();
  };
  const flushFile = async (file: string, size: number) => {
    if (size - (flushed.get(file) ?? 0) < MIN_GROWTH) return;
    // O_NONBLOCK: a FIFO swapped in after readdir must not block us; fstat decides.
    const fh = await fs.open(file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW);
    try {
      const st = await fh.stat();
      if (!st.isFile() || st.size - (flushed.get(file) ?? 0) < MIN_GROWTH) return;
      await fh.datasync();
      flushed.set(file, st.size);
    } finally {
      await fh.close();
    }
  };
  const tick = async () => {
    const entries = await fs.readdir(dir, { recursive: true, withFileTypes: true }).catch(() => []);
    if (entries.length > MAX_FILES) {
      stopped = true;
      written = undefined;
      clearInterval(timer);
      return;
    }
    let total = 0;
    for (const e of entries) {
      if (stopped) return;
      if (!e.isFile()) continue;
      const file = path.join(e.parentPath, e.name);
      if (hashAhead) await follow(file).catch(() => drop(file));
      const size = (await fs.lstat(file).catch(() => undefined))?.size;
      if (size === undefined) continue;
      total += size;
      await flushFile(file, size).catch(() => {});
    }
    written = total;
  };
  const timer = setInterval(() => {
    busy ??= tick().finally(() => (busy = undefined));
  }, everyMs);
  timer.unref();
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      await busy;
      return cursors;
    },
    written: () => written,
  };
}
