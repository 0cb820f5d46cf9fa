// The work files of restore-redis and restore-sqlite: each decompresses the backup into
// .batt-restore-KIND.PID-START.XXXXXX beside its target, checks it, then renames it into place. A
// restore killed outright (SIGKILL: no EXIT trap) leaves that file, a full copy of the data; the
// next restore into that folder removes it, and leaves what it cannot tell is a dead restore's.
// Here: a restore really killed mid-way (batt's whole process group, SIGKILL, while a wrapped tool
// holds the script still), and planted names of each kind, removed or kept.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BATT } from './batt.js';
import { statFields, startTime } from '../../src/core/proc.js';

/** The name a restore of KIND gives its work file: pid, start time, mktemp's six characters. */
export const workFileName = (kind: string) => new RegExp(`^\\.batt-restore-${kind}\\.(\\d+)-(\\d+)\\.[A-Za-z0-9]{6}$`);

/** Whether PID is still the process that started at START (a zombie is not). */
export function sameProcess(pid: number, start: string): boolean {
  const f = statFields(pid);
  return !!f && f[0] !== 'Z' && f[0] !== 'X' && f[19] === start;
}

export async function until(what: string, cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

/**
 * A wrapper named NAME in DIR: runs REAL with its arguments (the real work: the file it writes is
 * whole), records its pid in PIDFILE (written aside, then renamed), then sleeps until killed.
 */
export function thenSleep(dir: string, name: string, real: string, pidFile: string): string {
  const f = path.join(dir, name);
  fs.writeFileSync(
    f,
    `#!/usr/bin/env bash
set -euo pipefail
${JSON.stringify(real)} "$@"
echo $$ > ${JSON.stringify(`${pidFile}.part`)}
mv ${JSON.stringify(`${pidFile}.part`)} ${JSON.stringify(pidFile)}
exec sleep 300
`,
    { mode: 0o755 },
  );
  return f;
}

/**
 * Runs `batt ARGS` in its own process group (as under cron), waits until `ready` says the restore
 * is where it should die, SIGKILLs the whole group, then waits until the restore script (named by
 * its work file in DIR) is gone: batt's watchdog ends the script's own group with SIGKILL too, so
 * no EXIT trap runs. Returns the work files left in DIR.
 */
export async function killedRestore(args: string[], opts: { home: string; env: Record<string, string>; dir: string; kind: string; ready: () => boolean }): Promise<string[]> {
  const child = spawn(process.execPath, [BATT, ...args], {
    env: { ...process.env, NO_COLOR: '1', BATT_HOME: opts.home, ...opts.env },
    stdio: 'ignore',
    detached: true,
  });
  const pattern = workFileName(opts.kind);
  const left = () => fs.readdirSync(opts.dir).filter((n) => pattern.test(n));
  try {
    await until('the restore to reach the point where it is killed', () => {
      if (child.exitCode !== null) throw new Error(`batt ${args.join(' ')} ended (exit ${child.exitCode}) before it was killed`);
      return opts.ready();
    }, 60_000);
    process.kill(-child.pid!, 'SIGKILL');
    await until('batt to die', () => child.exitCode !== null || child.signalCode !== null, 5_000);
    for (const n of left()) {
      const [, pid, start] = pattern.exec(n)!;
      await until(`the restore script (pid ${pid}) to be gone`, () => !sameProcess(Number(pid), start!), 10_000);
    }
    return left();
  } finally {
    try {
      process.kill(-child.pid!, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

export interface Planted {
  name: string;
  path: string;
  /** What the next restore must do with it. */
  removed: boolean;
}

/**
 * Plants, in DIR, work files of restores of KIND: those of dead restores (the next restore removes
 * them, with their SQLite companions) and those it must leave: a live restore's (this test's pid and
 * start time), a symlink, a folder, the form before names carried a pid, names near the pattern.
 * Every file holds "a copy of the data"; a symlink points at a file outside the pattern.
 */
export function plantWorkFiles(dir: string, kind: string): Planted[] {
  const start = startTime('self');
  if (!start) throw new Error('no start time in /proc/self/stat');
  const dead = '4194400-12345'; // above pid_max's limit: no such process
  const rows: [string, 'file' | 'symlink' | 'folder', boolean][] = [
    [`.batt-restore-${kind}.${dead}.Dead01`, 'file', true],
    [`.batt-restore-${kind}.${dead}.Dead01-journal`, 'file', true],
    [`.batt-restore-${kind}.${dead}.Dead01-wal`, 'file', true],
    [`.batt-restore-${kind}.${dead}.Dead01-shm`, 'file', true],
    // this test's pid, another start time: the pid was reused by another process
    [`.batt-restore-${kind}.${process.pid}-${Number(start) + 1}.Reus01`, 'file', true],
    [`.batt-restore-${kind}.${process.pid}-${start}.Live01`, 'file', false],
    [`.batt-restore-${kind}.${process.pid}-${start}.Live01-wal`, 'file', false],
    [`.batt-restore-${kind}.${dead}.Link01`, 'symlink', false],
    [`.batt-restore-${kind}.${dead}.Dead02`, 'file', true],
    [`.batt-restore-${kind}.${dead}.Dead02-wal`, 'symlink', false], // a companion that is a symlink
    [`.batt-restore-${kind}.${dead}.Fold01`, 'folder', false],
    ['.batt-restore-abcdef', 'file', false], // the old form: whose it is, nothing tells
    [`.batt-restore-${kind}.${dead}.Dead01.bak`, 'file', false],
    [`.batt-restore-${kind}.${dead}`, 'file', false],
    [`.batt-restore-${kind}.x${dead}.Dead03`, 'file', false],
    [`.batt-restore-other.${dead}.Dead04`, 'file', false], // another kind's: not this restore's to judge
  ];
  const outside = path.join(dir, 'not-a-work-file');
  fs.writeFileSync(outside, 'the target of the symlinks');
  return rows.map(([name, type, removed]) => {
    const p = path.join(dir, name);
    if (type === 'file') fs.writeFileSync(p, 'a copy of the data', { mode: 0o600 });
    else if (type === 'symlink') fs.symlinkSync(outside, p);
    else {
      fs.mkdirSync(p);
      fs.writeFileSync(path.join(p, 'inside'), 'a copy of the data');
    }
    return { name, path: p, removed };
  });
}

/** Checks what the restore did with each planted name, then removes what is left of them. */
export function checkWorkFiles(rows: Planted[], output: string): void {
  const wrong: string[] = [];
  for (const r of rows) {
    let there = true;
    try {
      fs.lstatSync(r.path);
    } catch {
      there = false;
    }
    if (there === r.removed) wrong.push(`${r.name}: ${there ? 'still there' : 'removed'}`);
    // one line for each removed work file (its companions go with it)
    const said = output.includes(`removed ${r.path}, left by a restore that was killed`);
    const sayIt = r.removed && !/-(journal|wal|shm)$/.test(r.name);
    if (said !== sayIt) wrong.push(`${r.name}: ${said ? 'said removed' : 'not said removed'}`);
  }
  if (!fs.existsSync(path.join(path.dirname(rows[0]!.path), 'not-a-work-file'))) wrong.push('the target of the symlinks was removed');
  if (wrong.length) throw new Error(`${wrong.join('\n')}\n${output}`);
  for (const r of rows) fs.rmSync(r.path, { recursive: true, force: true });
  fs.rmSync(path.join(path.dirname(rows[0]!.path), 'not-a-work-file'));
}
