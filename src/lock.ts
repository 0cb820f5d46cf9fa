// One run at a time per backup root: <root>/.batt.lock holds the pid and the process start
// time, so a lock left by a dead (or recycled) pid is recognised as stale.
import fs from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LockedError, fromSystemError } from './errors.js';

export const LOCK_FILE = '.batt.lock';

interface LockInfo {
  pid: number;
  host: string;
  procStart: string;
  since: string;
}

function procStart(pid: number): string {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 22 (starttime) comes after the command name in parentheses.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '';
  } catch {
    return '';
  }
}

export function isAlive(info: LockInfo): boolean {
  if (info.host !== os.hostname()) return true; // cannot tell: assume alive
  try {
    process.kill(info.pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
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
    try {
      const fh = await fs.open(file, 'wx', 0o600);
      await fh.writeFile(JSON.stringify(info));
      await fh.close();
      return {
        file,
        staleRemoved,
        release: async () => {
          const cur = await readLock(file);
          if (cur?.pid === process.pid) await fs.rm(file, { force: true });
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw fromSystemError(err, file);
    }
    const holder = await readLock(file);
    if (!holder || !isAlive(holder)) {
      // An unreadable lock file is one whose writer died between open and write.
      await fs.rm(file, { force: true });
      staleRemoved = true;
      continue;
    }
    if (Date.now() >= deadline) {
      throw new LockedError(
        `another batt run (pid ${holder.pid}, since ${holder.since}) is using ${root}`,
        `wait for it, or use --wait; remove ${file} only if no batt runs`,
      );
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}
