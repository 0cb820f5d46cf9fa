// What Linux says about a process: whether it exists, and the fields of /proc/<pid>/stat.
import { readFileSync } from 'node:fs';

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
