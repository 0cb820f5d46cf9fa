// One run at a time per backup root: <root>/.batt.lock holds the pid and the process start
// time, so a lock left by a dead (or recycled) pid is recognised as stale.
import fs from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import { LockedError, fromSystemError } from '../core/errors.js';
import { pidExists, startTime } from '../core/proc.js';

export const LOCK_FILE = '.batt.lock';

interface LockInfo {
  pid: number;
  host: string;
  procStart: string;
  since: string;
}

/** The process's start time (src/core/proc.ts), '' when /proc cannot tell. */
function procStart(pid: number): string {
  return startTime(pid) ?? '';
}

export function isAlive(info: LockInfo): boolean {
  if (info.host !== os.hostname()) return true; // cannot tell: assume alive
  if (!pidExists(info.pid)) return false;
  const start = procStart(info.pid);
  return !info.procStart || !start || start === info.procStart;
}

export interface Lock {
  file: string;
  staleRemoved: boolean;
  release(): Promise<void>;
}

async function readLock(file: string): Promise<LockInfo | null> {
  try {
    return JSON.parse(await fs.readFile(file, 'utf8')) as LockInfo;
  } catch {
    return null;
  }
}

/** The lock as found: its content (null when unreadable) and its inode, to remove only that file. */
async function inspectLock(file: string): Promise<{ info: LockInfo | null; ino: number; mtimeMs: number } | null> {
  let st;
  try {
    st = await fs.lstat(file);
  } catch {
    return null; // released meanwhile
  }
  return { info: await readLock(file), ino: st.ino, mtimeMs: st.mtimeMs };
}

/**
 * Creates the lock file with its whole content at once: a private temp file is linked into place
 * (link fails when the lock exists), so no other run ever reads a half-written lock as stale.
 */
async function createLock(file: string, content: string): Promise<boolean> {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await fs.writeFile(tmp, content, { mode: 0o600, flag: 'wx' });
  } catch (err) {
    // with 0 bytes free the file is created (an inode) but not written: it must not stay behind
    await fs.rm(tmp, { force: true });
    throw err;
  }
  try {
    await fs.link(tmp, file);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    if (!['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS'].includes(code ?? '')) throw err;
  } finally {
    await fs.rm(tmp, { force: true });
  }
  // No hard links on this filesystem: exclusive create (readers treat a young empty lock as held).
  let fh;
  try {
    fh = await fs.open(file, 'wx', 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
  try {
    await fh.writeFile(content);
  } finally {
    await fh.close();
  }
  return true;
}

/** Temp files of runs killed while creating the lock (`.batt.lock.<pid>.<hex>.tmp`). */
async function removeDeadTemps(root: string): Promise<void> {
  const names = await fs.readdir(root).catch(() => [] as string[]);
  for (const n of names) {
    const m = /^\.batt\.lock\.(\d+)\.[0-9a-f]+\.tmp$/.exec(n);
    if (!m || Number(m[1]) === process.pid || pidExists(Number(m[1]))) continue; // its writer still runs
    await fs.rm(path.join(root, n), { force: true });
  }
}

/** An unreadable lock younger than this may be one being written: it counts as held. */
const UNREADABLE_GRACE_MS = 10_000;

export async function acquireLock(root: string, opts: { waitMs?: number } = {}): Promise<Lock> {
  const file = path.join(root, LOCK_FILE);
  const info: LockInfo = {
    pid: process.pid,
    host: os.hostname(),
    procStart: procStart(process.pid),
    since: new Date().toISOString(),
  };
  const deadline = Date.now() + (opts.waitMs ?? 0);
  let staleRemoved = false;
  for (;;) {
    let created: boolean;
    try {
      created = await createLock(file, JSON.stringify(info));
    } catch (err) {
      throw fromSystemError(err, file);
    }
    if (created) {
      await removeDeadTemps(root);
      return {
        file,
        staleRemoved,
        release: async () => {
          const cur = await readLock(file);
          if (cur?.pid === process.pid) await fs.rm(file, { force: true });
        },
      };
    }
    const seen = await inspectLock(file);
    if (!seen) continue;
    const stale = seen.info ? !isAlive(seen.info) : Date.now() - seen.mtimeMs > UNREADABLE_GRACE_MS;
    if (stale) {
      // Remove the very file judged stale, not a fresh lock another run created meanwhile.
      const now = await fs.lstat(file).catch(() => null);
      if (now?.ino === seen.ino) await fs.rm(file, { force: true });
      staleRemoved = true;
      continue;
    }
    if (Date.now() >= deadline) {
      const who = seen.info ? `pid ${seen.info.pid}, since ${seen.info.since}` : 'starting';
      throw new LockedError(
        `another batt run (${who}) is using ${root}`,
        `wait for it, or use --wait; remove ${file} only if no batt runs`,
      );
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

/**
 * Whether a live batt run holds the lock of a backup root nested inside `root` that contains
 * `dir` (e.g. a run on /b/x/%Y while /b/%Y is cleaned up): its staging folders are not leftovers.
 */
export async function heldByNestedRun(dir: string, root: string): Promise<boolean> {
  for (let d = path.dirname(dir); d.startsWith(root + '/') && d !== root; d = path.dirname(d)) {
    const holder = await readLock(path.join(d, LOCK_FILE));
    if (holder && isAlive(holder)) return true;
  }
  return false;
}
