// What the benchmarks (bench/daily.ts, daily-db.ts, db.ts, physical.ts) measure with: GNU time
// around a command, the bytes below a folder, a median, the load, the order of contenders, and
// the section of bench/RESULTS.md a run replaces.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface Run {
  wallS: number;
  cpuS: number;
  peakRssKb: number;
}

export interface Day extends Run {
  addedBytes: number;
}

/** One contender of a daily series: what it runs each day and the folder whose growth is its cost. */
export interface DailyContender {
  name: string;
  storage: string;
  backup: (n: number) => Run;
}

export const has = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;

export function dirBytes(p: string): number {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(p);
  } catch {
    return 0;
  }
  if (!st.isDirectory()) return st.isFile() ? st.size : 0;
  return fs.readdirSync(p).reduce((n, e) => n + dirBytes(path.join(p, e)), 0);
}

/** Runs cmd under GNU time: wall, user + system CPU of it and all it waited for, max RSS. */
export function timed(cmd: string, args: string[], e: NodeJS.ProcessEnv, cwd?: string): Run {
  spawnSync('sync'); // the previous contender's dirty pages are written now, untimed
  const r = spawnSync('/usr/bin/time', ['-f', 'BENCHTIME %e %U %S %M', cmd, ...args], { env: e, cwd, encoding: 'utf8', maxBuffer: 1 << 26 });
  const m = /BENCHTIME ([\d.]+) ([\d.]+) ([\d.]+) (\d+)/.exec(r.stderr ?? '');
  if (r.status !== 0 || !m) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${(r.stderr ?? '').slice(-1500)}`);
  return { wallS: Number(m[1]), cpuS: Number(m[2]) + Number(m[3]), peakRssKb: Number(m[4]) };
}

/** Runs cmd untimed; its stdout, or an error with the end of its stderr. */
export function must(cmd: string, args: string[], e: NodeJS.ProcessEnv, cwd?: string, input?: string): string {
  const r = spawnSync(cmd, args, { env: e, cwd, input, encoding: 'utf8', maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${(r.stderr ?? '').slice(-1500)}`);
  return r.stdout;
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/** Replaces the section of `file` between `<!-- START` (up to its end of line) and `END`, or appends it. */
export function writeSection(file: string, start: string, end: string, lines: string[]): void {
  const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
  const a = text.indexOf(start);
  const b = text.indexOf(end);
  const section = lines.join('\n');
  const next = a >= 0 && b > a ? text.slice(0, a) + section + text.slice(b + end.length) : `${text.trimEnd()}\n\n${section}\n`;
  fs.writeFileSync(file, next);
}

export const log = (s: string) => process.stderr.write(s + '\n');

/** The load averages (1, 5, 15 min), for the results' "load" notes. */
export const load = () => os.loadavg().map((l) => l.toFixed(2)).join(', ');

/** The contenders in round k's order: rotated by k, so none is always first. */
export function rotate<T>(xs: T[], k: number): T[] {
  const i = k % xs.length;
  return [...xs.slice(i), ...xs.slice(0, i)];
}

/** Replaces the section TITLE ("## ...", up to the next "## ") of FILE with TEXT, or appends it. */
export function putSection(file: string, title: string, text: string): void {
  const old = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
  const at = old.indexOf(`\n${title}\n`);
  const rest = at < 0 ? '' : old.slice(at + 1).slice(title.length + 1).replace(/^[\s\S]*?(?=\n## |$)/, '').replace(/^\n+/, '');
  fs.writeFileSync(file, `${(at < 0 ? old : old.slice(0, at)).trimEnd()}\n\n${text}${rest ? `\n${rest}` : ''}`);
}

/**
 * Day n of a series: every contender in turn (the order rotated by the day), its time and the
 * bytes its storage grew, added to `days`.
 */
export function backupDay(list: DailyContender[], n: number, days: Record<string, Day[]>): void {
  for (const c of rotate(list, n - 1)) {
    const before = dirBytes(c.storage);
    const t = c.backup(n);
    const added = dirBytes(c.storage) - before;
    days[c.name]!.push({ ...t, addedBytes: added });
    log(`day ${n} ${c.name}: ${t.wallS.toFixed(2)} s wall, ${t.cpuS.toFixed(2)} s CPU, +${(added / 2 ** 20).toFixed(1)} MB`);
  }
}
