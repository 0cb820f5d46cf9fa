// Writeback while a script runs: twice a second, the files in its staging folder that grew by a
// few MB are flushed (fdatasync) so the disk writes along with the compressor. Without this a
// machine with plenty of RAM keeps the whole backup dirty in the page cache, and the final fsync
// of the seal (which stays the one that counts) waits for all of it at once: seconds per GB.
// Best effort only: a file that vanishes or cannot be opened is left to the seal to judge.
import fs from 'node:fs/promises';
import { constants } from 'node:fs';
import path from 'node:path';

/** New bytes in a file before it is flushed again. */
const MIN_GROWTH = 8 << 20;
/** A script that writes more files than this writes small ones: the seal's fsyncs suffice. */
const MAX_FILES = 2000;

export interface Writeback {
  /** Stops flushing; resolves once a flush in progress is done. */
  stop(): Promise<void>;
}

export function startWriteback(dir: string, everyMs = 500): Writeback {
  let stopped = false;
  let busy: Promise<void> | undefined;
  const flushed = new Map<string, number>();
  const flushFile = async (file: string) => {
    if ((await fs.lstat(file)).size - (flushed.get(file) ?? 0) < MIN_GROWTH) return;
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
      clearInterval(timer);
      return;
    }
    for (const e of entries) {
      if (stopped) return;
      if (e.isFile()) await flushFile(path.join(e.parentPath, e.name)).catch(() => {});
    }
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
    },
  };
}
