// `bench/run.sh daily-quick` / `daily-full`: a week of daily backups of one changing tree, for
// batt (a full every day), batt with FULL_EVERY=7 (a full, then incrementals) and restic alone
// (one repository, its cache kept as a real setup keeps it). Each simulated day changes 1% of the
// files (a line appended), adds new files (half text, half random; BENCH_ADD_MB, by default 2%
// of the tree: 20 MB a day on the 1 GB tree) and deletes a few; then each contender backs up the same state
// (the order rotates every day). Per day: wall time, CPU (user + system of the whole process
// tree, from GNU time), bytes its storage grew, peak RSS of its largest process.
// Never part of `npm test`.
//
// Env: BENCH_SIZE_MB (100), BENCH_DAYS (7), BENCH_SEED (1), BENCH_DIR ($TMPDIR/batt-bench),
//      BENCH_ADD_MB (MB added a day; default 20 per GB of tree: 2 MB on 100 MB, 20 MB on 1 GB),
//      BENCH_RESULTS (bench/RESULTS.md: its "Daily series" section is replaced; "-" = do not write).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureTree, rng, writeRandomFile, writeTextFile } from './tree.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SIZE_MB = Number(process.env.BENCH_SIZE_MB ?? 100);
const DAYS = Number(process.env.BENCH_DAYS ?? 7);
const SEED = Number(process.env.BENCH_SEED ?? 1);
const BASE = path.resolve(process.env.BENCH_DIR ?? path.join(os.tmpdir(), 'batt-bench'));
const ADD_MB = Number(process.env.BENCH_ADD_MB ?? (SIZE_MB * 20) / 1024);
const RESULTS = process.env.BENCH_RESULTS ?? path.join(repo, 'bench', 'RESULTS.md');
const CRON_VARS = ['PATH', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR'];
const env: NodeJS.ProcessEnv = Object.fromEntries(CRON_VARS.filter((k) => process.env[k] !== undefined).map((k) => [k, process.env[k]]));
const log = (s: string) => process.stderr.write(s + '\n');

type Name = 'batt full' | 'batt incremental' | 'restic';
const NAMES: Name[] = ['batt full', 'batt incremental', 'restic'];

interface Day {
  wallS: number;
  cpuS: number;
  addedBytes: number;
  peakRssKb: number;
}

function dirBytes(p: string): number {
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
function timed(cmd: string, args: string[], e: NodeJS.ProcessEnv): Omit<Day, 'addedBytes'> {
  spawnSync('sync'); // the previous contender's dirty pages are written now, untimed
  const r = spawnSync('/usr/bin/time', ['-f', 'BENCHTIME %e %U %S %M', cmd, ...args], { env: e, encoding: 'utf8', maxBuffer: 1 << 26 });
  const m = /BENCHTIME ([\d.]+) ([\d.]+) ([\d.]+) (\d+)/.exec(r.stderr ?? '');
  if (r.status !== 0 || !m) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${(r.stderr ?? '').slice(-1500)}`);
  return { wallS: Number(m[1]), cpuS: Number(m[2]) + Number(m[3]), peakRssKb: Number(m[4]) };
}

/** Every regular file below dir (relative), sorted: the same list for the same tree. */
function files(dir: string, rel = ''): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
    const r = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(...files(dir, r));
    else if (e.isFile() && !e.name.startsWith('.batt-bench')) out.push(r);
  }
  return out;
}

/** Day n's changes: 1% of the files get a line appended, ~2% of the size is added, a few files go. */
function mutate(tree: string, n: number): { changed: number; added: number; deleted: number } {
  const r = rng(SEED * 1000 + n);
  const all = files(tree);
  const changed = Math.max(1, Math.round(all.length / 100));
  for (let i = 0; i < changed; i++) {
    const f = path.join(tree, all[Math.floor(r() * all.length)]!);
    fs.appendFileSync(f, `day ${n}: changed ${r().toString(36).slice(2)}\n`);
  }
  const deleted = Math.max(3, Math.round(all.length / 5000));
  for (let i = 0; i < deleted; i++) fs.rmSync(path.join(tree, all[Math.floor(r() * all.length)]!), { force: true });
  const addBytes = Math.round(ADD_MB * 2 ** 20);
  const dir = path.join(tree, `new-day-${n}`);
  fs.mkdirSync(dir, { recursive: true });
  let added = 0;
  for (let i = 0; added < addBytes; i++) {
    const bytes = Math.min(addBytes - added, 256 * 1024 + Math.floor(r() * 768 * 1024));
    if (i % 2) writeRandomFile(path.join(dir, `blob-${i}.bin`), bytes, SEED * 7919 + n * 101 + i);
    else writeTextFile(path.join(dir, `notes-${i}.txt`), bytes, SEED * 7919 + n * 101 + i);
    added += bytes;
  }
  return { changed, added, deleted };
}

function makeHome(dir: string): string {
  fs.mkdirSync(path.join(dir, 'scripts-available'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'scripts-enabled'), { recursive: true });
  for (const f of ['backup-file', 'restore-file']) {
    fs.copyFileSync(path.join(repo, 'scripts-available', f), path.join(dir, 'scripts-available', f));
    fs.chmodSync(path.join(dir, 'scripts-available', f), 0o755);
  }
  return dir;
}

function main(): void {
  for (const t of ['/usr/bin/time', 'restic', 'tar', 'zstd']) {
    if (spawnSync('sh', ['-c', `command -v ${t}`]).status !== 0) throw new Error(`bench: ${t} is missing (apt-get install time restic tar zstd)`);
  }
  const source = path.join(BASE, `tree-${SIZE_MB}mb-seed${SEED}`);
  const made = ensureTree({ dir: source, sizeMb: SIZE_MB, seed: SEED });
  log(`bench daily: tree ${source} (${made.reused ? 'reused' : `built in ${made.seconds.toFixed(0)} s`}), ${DAYS} days; load: ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  const work = fs.mkdtempSync(path.join(BASE, 'daily-'));
  const loads: number[] = [];
  try {
    const tree = path.join(work, 'tree');
    spawnSync('cp', ['-a', source, tree]);
    fs.cpSync(path.join(repo, 'dist'), path.join(work, 'dist'), { recursive: true }); // others may rebuild dist mid-run
    const batt = path.join(work, 'dist', 'batt.js');
    const home = makeHome(path.join(work, 'home'));
    const roots: Record<Name, string> = { 'batt full': path.join(work, 'full'), 'batt incremental': path.join(work, 'incr'), restic: path.join(work, 'restic') };
    const resticEnv = { ...env, RESTIC_PASSWORD_FILE: path.join(work, 'restic-password'), RESTIC_CACHE_DIR: path.join(work, 'restic-cache') };
    fs.writeFileSync(resticEnv.RESTIC_PASSWORD_FILE, 'bench\n', { mode: 0o600 });
    spawnSync('restic', ['init', '--repo', roots.restic, '-q'], { env: resticEnv, stdio: 'ignore' });
    const days: Record<Name, Day[]> = { 'batt full': [], 'batt incremental': [], restic: [] };
    const changes: string[] = [];
    for (let n = 1; n <= DAYS; n++) {
      if (n > 1) {
        const c = mutate(tree, n);
        changes.push(`day ${n}: ${c.changed} files changed, ${(c.added / 2 ** 20).toFixed(1)} MB added, ${c.deleted} deleted`);
      }
      loads.push(os.loadavg()[0]!);
      for (const name of [...NAMES.slice((n - 1) % 3), ...NAMES.slice(0, (n - 1) % 3)]) {
        const before = dirBytes(roots[name]);
        let t: Omit<Day, 'addedBytes'>;
        if (name === 'restic') t = timed('restic', ['backup', '--repo', roots.restic, '-q', tree], resticEnv);
        else {
          const extra = name === 'batt incremental' ? ['--file-full-every', '7'] : [];
          t = timed(process.execPath, [batt, '--home', home, '--path', `${roots[name]}/%Y/day${n}`, '--file', tree, ...extra], env);
        }
        days[name].push({ ...t, addedBytes: dirBytes(roots[name]) - before });
        log(`day ${n} ${name}: ${t.wallS.toFixed(2)} s wall, ${t.cpuS.toFixed(2)} s CPU, +${((dirBytes(roots[name]) - before) / 2 ** 20).toFixed(1)} MB`);
      }
    }
    const lines = report(days, changes, loads);
    process.stdout.write(lines.join('\n') + '\n');
    if (RESULTS !== '-') writeSection(RESULTS, lines);
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

const MB = (b: number) => (b / 2 ** 20).toFixed(1);

function report(days: Record<Name, Day[]>, changes: string[], loads: number[]): string[] {
  const total = (name: Name) => days[name].reduce((s, d) => s + d.addedBytes, 0);
  const later = (name: Name) => days[name].slice(1);
  const ratios = later('batt incremental').map((d, i) => d.cpuS / later('restic')[i]!.cpuS);
  const storage = total('batt incremental') / total('restic');
  const rows = [
    '| day | contender | wall | CPU | bytes added | peak RSS |',
    '| --- | --- | --- | --- | --- | --- |',
  ];
  for (let i = 0; i < DAYS; i++) {
    for (const name of NAMES) {
      const d = days[name][i]!;
      rows.push(`| ${i + 1} | ${name} | ${d.wallS.toFixed(2)} s | ${d.cpuS.toFixed(2)} s | ${MB(d.addedBytes)} MB | ${(d.peakRssKb / 1024).toFixed(0)} MB |`);
    }
  }
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  return [
    '<!-- daily series: written by bench/daily.ts (bench/run.sh daily-quick / daily-full) -->',
    '## Daily series: a week of backups of a changing tree',
    '',
    `${new Date().toISOString().slice(0, 10)}, ${SIZE_MB} MB tree (seed ${SEED}), ${DAYS} days; ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), `
      + `load average at the start of each day ${loads.map((l) => l.toFixed(1)).join(', ')} (a machine shared with other engineers: wall times are noisy, CPU less so).`,
    `${spawnSync('restic', ['version'], { encoding: 'utf8' }).stdout.split(' compiled')[0]}; ${spawnSync('tar', ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0]}.`,
    'Contenders: `batt --file TREE` (a full every day), `batt --file TREE --file-full-every 7` (a full, then incrementals),',
    '`restic backup TREE` into one repository (init untimed, cache kept). CPU = user + system of the whole process tree (GNU time);',
    'peak RSS = the largest single process. Changes each day: ' + changes.join('; ') + '.',
    '',
    ...rows,
    '',
    `| after ${DAYS} days | batt full | batt incremental | restic |`,
    '| --- | --- | --- | --- |',
    `| storage | ${MB(total('batt full'))} MB | ${MB(total('batt incremental'))} MB | ${MB(total('restic'))} MB |`,
    `| CPU per day, days 2-${DAYS} (mean) | ${mean(later('batt full').map((d) => d.cpuS)).toFixed(2)} s | ${mean(later('batt incremental').map((d) => d.cpuS)).toFixed(2)} s | ${mean(later('restic').map((d) => d.cpuS)).toFixed(2)} s |`,
    '',
    `Targets: batt incremental ${DAYS}-day storage ${storage.toFixed(2)}x restic's (target <= 1.3: ${storage <= 1.3 ? 'met' : 'NOT met'}); `
      + `CPU on days 2-${DAYS} ${ratios.map((x) => x.toFixed(2)).join(', ')}x restic's, at most ${Math.max(...ratios).toFixed(2)}x (target <= 1.5: ${Math.max(...ratios) <= 1.5 ? 'met' : 'NOT met'}).`,
    '<!-- end of daily series -->',
  ];
}

/** Replaces (or appends) the daily-series section of RESULTS.md. */
function writeSection(file: string, lines: string[]): void {
  const text = fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
  const start = text.indexOf('<!-- daily series:');
  const endMark = '<!-- end of daily series -->';
  const end = text.indexOf(endMark);
  const section = lines.join('\n');
  const next = start >= 0 && end > start ? text.slice(0, start) + section + text.slice(end + endMark.length) : `${text.trimEnd()}\n\n${section}\n`;
  fs.writeFileSync(file, next);
  log(`bench daily: wrote the daily series into ${file}`);
}

main();
