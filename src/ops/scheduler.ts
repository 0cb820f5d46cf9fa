// Can a schedule fire: is the scheduler it was written for running? systemd runs when
// <root>/run/systemd/system exists (what sd_booted() checks); a cron daemon runs when a process
// in <root>/proc has one of the names below. `root` is / on a live machine; tests (and
// `schedule install --root`) point it at another tree. A tree without proc/ is an image being
// built, where nothing runs yet: undefined (no verdict).
import fs from 'node:fs/promises';
import path from 'node:path';

/** The command names (/proc/<pid>/comm) of the cron daemons Debian and others ship. */
export const CRON_DAEMONS = ['cron', 'crond', 'cronie', 'fcron', 'dcron', 'busybox-crond'];

export type SchedulerKind = 'systemd' | 'cron';

/** Whether `comms` (the command names of the running processes) include a cron daemon. */
export function hasCronDaemon(comms: string[]): boolean {
  return comms.some((c) => CRON_DAEMONS.includes(c.trim()));
}

async function processNames(proc: string): Promise<string[] | undefined> {
  let names: string[];
  try {
    names = await fs.readdir(proc);
  } catch {
    return undefined;
  }
  const out: string[] = [];
  for (const n of names) {
    if (!/^\d+$/.test(n)) continue;
    const comm = await fs.readFile(path.join(proc, n, 'comm'), 'utf8').catch(() => undefined);
    if (comm !== undefined) out.push(comm.trim());
  }
  return out;
}

/**
 * Why a schedule of `kind` in the tree `root` cannot fire, in words, or undefined when it can (or
 * when the tree has no /proc to tell).
 */
export async function schedulerProblem(kind: SchedulerKind, root = '/'): Promise<string | undefined> {
  const comms = await processNames(path.join(root, 'proc'));
  if (comms === undefined) return undefined;
  if (kind === 'systemd') {
    const booted = await fs.stat(path.join(root, 'run/systemd/system')).then((s) => s.isDirectory(), () => false);
    return booted ? undefined : 'systemd is not running on this machine, so the batt.timer never fires (batt schedule install --cron, with a cron daemon running)';
  }
  return hasCronDaemon(comms) ? undefined : 'no cron daemon is running, so /etc/cron.d/batt never fires (apt-get install cron, or start it; or batt schedule install --systemd where systemd runs)';
}

/**
 * The batt schedules installed in the tree `root` (the files `batt schedule install` writes), each
 * with why it cannot fire, for `batt doctor`.
 */
export async function installedSchedules(root = '/'): Promise<{ kind: SchedulerKind; file: string; problem?: string }[]> {
  const out: { kind: SchedulerKind; file: string; problem?: string }[] = [];
  const files: [SchedulerKind, string][] = [
    ['systemd', path.join(root, 'etc/systemd/system/batt.timer')],
    ['cron', path.join(root, 'etc/cron.d/batt')],
  ];
  for (const [kind, file] of files) {
    if (!(await fs.stat(file).then(() => true, () => false))) continue;
    out.push({ kind, file, problem: await schedulerProblem(kind, root) });
  }
  return out;
}
