// Private scratch folders (0700, under $TMPDIR, named after the batt process that made them):
// scripts' TMPDIR, where a credentials file a script writes (mysqldump's defaults file, a
// PGPASSFILE) is removed when the script ends; the downloads of `restore --from` and `verify
// --from` (decrypted backup data); an upload's encrypted files and, for a passphrase target, the
// copy's secret key while it is sealed; rsync's index files. Each is removed by whoever made it,
// and by the next run when batt was killed (SIGKILL, a crash) before it could clean up.
//
// Names: batt-scratch-<pid>-T<starttime>-<label>-XXXXXX, where starttime is field 22 of
// /proc/<pid>/stat (clock ticks since boot): with the pid it names one process, so a folder whose
// pid was reused by an unrelated process is still recognised as left behind. Without /proc the
// name is batt-scratch-<pid>-<label>-XXXXXX, the form older versions made, which the sweep reads
// by the pid alone. The two cannot be confused: a label starts with a lower-case letter or a digit
// (fixed words, service names), never with "T"; and an older batt reads the pid of either form.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from '../core/log.js';
import { pidExists, startTime } from '../core/proc.js';

const PREFIX = 'batt-scratch-';
const LABEL = /^[a-z0-9][a-z0-9_-]*$/;
const NAME = /^batt-scratch-(\d+)-(?:T(\d+)-)?/;

export interface Scratch {
  dir: string;
  remove(): Promise<void>;
}

let ownStart: string | undefined | null = null;

/** The name a scratch folder of this process starts with (mkdtemp appends 6 characters). */
export function scratchPrefix(label: string, pid: number, start: string | undefined): string {
  if (!LABEL.test(label)) throw new Error(`scratch label "${label}" must start with a lower-case letter or a digit`);
  return `${PREFIX}${pid}-${start ? `T${start}-` : ''}${label}-`;
}

export async function makeScratch(label: string, tmp = os.tmpdir()): Promise<Scratch> {
  if (ownStart === null) ownStart = startTime('self'); // a process's start time never changes
  const dir = await fs.mkdtemp(path.join(tmp, scratchPrefix(label, process.pid, ownStart)));
  await fs.chmod(dir, 0o700);
  return { dir, remove: () => fs.rm(dir, { recursive: true, force: true }) };
}

/** The process a scratch folder's name names (start: undefined for the old, pid-only form). */
export function parseScratchName(name: string): { pid: number; start?: string } | undefined {
  const m = NAME.exec(name);
  if (!m) return undefined;
  return m[2] === undefined ? { pid: Number(m[1]) } : { pid: Number(m[1]), start: m[2] };
}

/** What the sweep asks Linux about a process. */
export interface ProcView {
  exists(pid: number): boolean;
  /** undefined when it cannot tell (no /proc, the process just ended, hidepid) */
  startTime(pid: number): string | undefined;
}

const liveProcs: ProcView = { exists: pidExists, startTime };

/**
 * Whether a folder in $TMPDIR is a scratch folder left by a batt that is gone: named like one,
 * a real folder (lstat: never a link) of our uid, and its process ended, or its pid now belongs
 * to a process that started at another time. When /proc cannot tell the start time, the pid alone
 * decides: a live pid keeps the folder.
 */
export function isStaleScratch(
  name: string,
  st: { isDirectory(): boolean; uid: number } | null,
  uid: number | undefined,
  procs: ProcView = liveProcs,
): boolean {
  const owner = parseScratchName(name);
  if (!owner || !st?.isDirectory() || uid === undefined || st.uid !== uid) return false; // only our own, never through a link
  if (!procs.exists(owner.pid)) return true;
  if (owner.start === undefined) return false;
  const now = procs.startTime(owner.pid);
  return now !== undefined && now !== owner.start;
}

/**
 * A scratch folder holding this file is the record of a drill (src/run/drill.ts): it names the
 * scratch databases the drill may have left on a server. The sweep below leaves such a folder to
 * the drill sweep, which drops those databases first and removes the folder only then.
 */
export const DRILL_RECORD = 'batt-drill-record.json';

/** Scratch folders whose batt process is gone (ended, or its pid reused). */
export async function listStaleScratch(tmp = os.tmpdir()): Promise<string[]> {
  const stale: string[] = [];
  let names: string[];
  try {
    names = await fs.readdir(tmp);
  } catch {
    return stale;
  }
  for (const name of names) {
    if (!parseScratchName(name)) continue;
    const dir = path.join(tmp, name);
    const st = await fs.lstat(dir).catch(() => null);
    if (isStaleScratch(name, st, process.getuid?.())) stale.push(dir);
  }
  return stale;
}

/** Removes scratch folders whose batt process is gone, except drill records (above); returns them. */
export async function removeStaleScratch(tmp = os.tmpdir()): Promise<string[]> {
  const removed: string[] = [];
  for (const dir of await listStaleScratch(tmp)) {
    if (await fs.lstat(path.join(dir, DRILL_RECORD)).then(() => true, () => false)) continue;
    await fs.rm(dir, { recursive: true, force: true });
    removed.push(dir);
  }
  return removed;
}

/** removeStaleScratch, with a batt.log line for each folder removed. */
export async function sweepStaleScratch(log: Logger): Promise<void> {
  for (const dir of await removeStaleScratch()) log.write('batt', `removed ${dir}, a scratch folder left by a killed batt`);
}
