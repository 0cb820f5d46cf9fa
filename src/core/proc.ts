// What Linux says about a process: whether it exists, and the fields of /proc/<pid>/stat.
import { readFileSync } from 'node:fs';
import { readFile, readdir, readlink } from 'node:fs/promises';

/** True unless the kernel says there is no such process (EPERM still means it exists). */
export function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/**
 * The fields of /proc/<pid>/stat that follow the command name in parentheses (which may hold
 * spaces): index 0 is field 3 (state), 2 is field 5 (pgrp), 19 is field 22 (starttime).
 */
export function statFields(pid: number | 'self'): string[] | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return undefined;
  }
}

/**
 * Field 22 of /proc/<pid>/stat (starttime, clock ticks since boot): with the pid it names one
 * process, even after the pid is reused. Undefined when /proc cannot tell (no /proc, hidepid, the
 * process just ended).
 */
export function startTime(pid: number | 'self'): string | undefined {
  const t = statFields(pid)?.[19];
  return t && /^\d+$/.test(t) ? t : undefined;
}

/**
 * How far the processes of group `pgrp` have read into the files under `dir` they hold open: the
 * file offset ("pos" of /proc/<pid>/fdinfo/<fd>) by path, the largest where several descriptors
 * share a file. A file read by pread or mmap keeps offset 0. Processes and descriptors that go
 * away meanwhile, or cannot be read (another user's), are left out.
 */
export async function openFileOffsets(pgrp: number, dir: string): Promise<Map<string, number>> {
  const found = new Map<string, number>();
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  for (const name of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(name) || Number(statFields(Number(name))?.[2]) !== pgrp) continue;
    for (const fd of await readdir(`/proc/${name}/fd`).catch(() => [] as string[])) {
      const target = await readlink(`/proc/${name}/fd/${fd}`).catch(() => '');
      if (!target.startsWith(prefix)) continue;
      const pos = /^pos:\s*(\d+)/m.exec(await readFile(`/proc/${name}/fdinfo/${fd}`, 'utf8').catch(() => ''));
      if (pos) found.set(target, Math.max(found.get(target) ?? 0, Number(pos[1])));
    }
  }
  return found;
}
