// `bench/run.sh daily-quick` / `daily-full`: a week of daily backups of one changing tree, for
// batt (a full every day), batt with FULL_EVERY=7 (a full, then incrementals), restic alone (one
// repository, its cache kept as a real setup keeps it), borg alone (when installed; skipped with a
// line saying so otherwise) and batt copying each backup to a restic repository target (TYPE=restic)
// with the file archives compressed by zstd (batt's default), not compressed (restic compresses
// itself, repository version 2) or by `zstd --rsyncable`, fulls and incrementals. Each simulated
// day changes 1% of the files (a line appended), adds new files (half text, half random;
// BENCH_ADD_MB, by default 2% of the tree: 20 MB a day on the 1 GB tree) and deletes a few; then
// each contender backs up the same state (the order rotates every day). Per day: wall time, CPU
// (user + system of the whole process tree, from GNU time), bytes its storage grew (for batt with a
// restic target: the repository), peak RSS of its largest process. After day BENCH_RESTORE_DAY,
// one file changed that day is restored from that day's backup by batt (`batt restore file ID
// --file PATH`: its whole chain), restic (`restic restore --include`) and borg (`borg extract`),
// BENCH_RESTORE_RUNS rounds alternating, median.
// Never part of `npm test`.
//
// Env: BENCH_SIZE_MB (100), BENCH_DAYS (7), BENCH_SEED (1), BENCH_DIR ($TMPDIR/batt-bench),
//      BENCH_ADD_MB (MB added a day; default 20 per GB of tree: 2 MB on 100 MB, 20 MB on 1 GB),
//      BENCH_TARGET (1; 0 = no batt-with-a-restic-target contenders; recommended = only the setup
//      docs/targets.md recommends, incrementals with COMPRESS=none), BENCH_RESTORE_DAY (4; 0 = no
//      restore), BENCH_RESTORE_RUNS (3),
//      BENCH_RESULTS (bench/RESULTS.md: its "Daily series" section of this tree size is replaced,
//      or added; "-" = do not write).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureTree, rng, writeRandomFile, writeTextFile } from './tree.js';
import { backupDay, log, has, median, must, timed, writeSection, type DailyContender, type Day, type Run } from './measure.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SIZE_MB = Number(process.env.BENCH_SIZE_MB ?? 100);
const DAYS = Number(process.env.BENCH_DAYS ?? 7);
const SEED = Number(process.env.BENCH_SEED ?? 1);
const BASE = path.resolve(process.env.BENCH_DIR ?? path.join(os.tmpdir(), 'batt-bench'));
const ADD_MB = Number(process.env.BENCH_ADD_MB ?? (SIZE_MB * 20) / 1024);
const TARGET = process.env.BENCH_TARGET !== '0';
/** Only the recommended setup among the restic-target contenders (an hour less at 1 GB). */
const TARGET_RECOMMENDED = process.env.BENCH_TARGET === 'recommended';
const RESTORE_DAY = Number(process.env.BENCH_RESTORE_DAY ?? 4);
const RESTORE_RUNS = Number(process.env.BENCH_RESTORE_RUNS ?? 3);
const RESULTS = process.env.BENCH_RESULTS ?? path.join(repo, 'bench', 'RESULTS.md');
const CRON_VARS = ['PATH', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR'];
const env: NodeJS.ProcessEnv = Object.fromEntries(CRON_VARS.filter((k) => process.env[k] !== undefined).map((k) => [k, process.env[k]]));

/** One contender of the series: what it runs each day and the folder whose growth is its cost. */
interface Contender extends DailyContender {
  /** Restores `file` (absolute, as in the tree) as of day n into the empty folder `into`. */
  restore?: (n: number, file: string, into: string) => Run;
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
function mutate(tree: string, n: number): { changed: string[]; added: number; deleted: number } {
  const r = rng(SEED * 1000 + n);
  const all = files(tree);
  const changed: string[] = [];
  for (let i = 0, count = Math.max(1, Math.round(all.length / 100)); i < count; i++) {
    const rel = all[Math.floor(r() * all.length)]!;
    fs.appendFileSync(path.join(tree, rel), `day ${n}: changed ${r().toString(36).slice(2)}\n`);
    changed.push(rel);
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

/** The id of batt's backup of day n below root (pattern ROOT/%Y/dayN): its folder, relative. */
function battId(root: string, n: number): string {
  const year = fs.readdirSync(root).find((y) => fs.existsSync(path.join(root, y, `day${n}`)));
  if (!year) throw new Error(`no backup of day ${n} in ${root}`);
  const [svc] = fs.readdirSync(path.join(root, year, `day${n}`)).filter((s) => fs.existsSync(path.join(root, year, `day${n}`, s, 'batt-manifest.json')));
  if (!svc) throw new Error(`no sealed backup of day ${n} in ${root}/${year}`);
  return `${year}/day${n}/${svc}`;
}

interface TargetVariant {
  label: string;
  full: boolean;
  compress: 'zstd' | 'none' | 'rsyncable';
}
const VARIANTS: TargetVariant[] = [
  { label: 'batt full → restic, zstd', full: true, compress: 'zstd' },
  { label: 'batt full → restic, none', full: true, compress: 'none' },
  { label: 'batt full → restic, zstd --rsyncable', full: true, compress: 'rsyncable' },
  { label: 'batt incremental → restic, zstd', full: false, compress: 'zstd' },
  { label: 'batt incremental → restic, none', full: false, compress: 'none' },
];

function contenders(work: string, tree: string): { list: Contender[]; notes: string[] } {
  const notes: string[] = [];
  fs.cpSync(path.join(repo, 'dist'), path.join(work, 'dist'), { recursive: true }); // others may rebuild dist mid-run
  const batt = path.join(work, 'dist', 'batt.js');
  const home = makeHome(path.join(work, 'home'));
  const password = path.join(work, 'restic-password');
  fs.writeFileSync(password, 'bench\n', { mode: 0o600 });
  const resticEnv = (cache: string) => ({ ...env, RESTIC_PASSWORD_FILE: password, RESTIC_CACHE_DIR: path.join(work, cache) });
  const initRestic = (dir: string, cache: string) => must('restic', ['init', '--repository-version', '2', '--repo', dir, '-q'], resticEnv(cache));

  const battRestore = (root: string, h: string) => (n: number, file: string, into: string) =>
    timed(process.execPath, [batt, '--home', h, 'restore', 'file', battId(root, n), '--path', `${root}/%Y/day${n}`, '--to', into, '--file', file], env);
  const battContender = (name: string, dir: string, extra: string[]): Contender => ({
    name,
    storage: dir,
    backup: (n) => timed(process.execPath, [batt, '--home', home, '--path', `${dir}/%Y/day${n}`, '--file', tree, ...extra], env),
    restore: battRestore(dir, home),
  });
  const list: Contender[] = [
    battContender('batt full', path.join(work, 'full'), []),
    battContender('batt incremental', path.join(work, 'incr'), ['--file-full-every', '7']),
  ];

  const resticRepo = path.join(work, 'restic');
  initRestic(resticRepo, 'restic-cache');
  let snapshot = '';
  list.push({
    name: 'restic',
    storage: resticRepo,
    backup: () => {
      const t = timed('restic', ['backup', '--repo', resticRepo, '-q', tree], resticEnv('restic-cache'));
      snapshot = (JSON.parse(must('restic', ['snapshots', '--repo', resticRepo, '--json', '--latest', '1'], resticEnv('restic-cache'))) as { id: string }[]).at(-1)!.id;
      return t;
    },
    restore: (_n, file, into) => timed('restic', ['restore', snapshot, '--repo', resticRepo, '-q', '--target', into, '--include', file], resticEnv('restic-cache')),
  });

  if (has('borg')) {
    const borgRepo = path.join(work, 'borg');
    const borgEnv = { ...env, BORG_PASSPHRASE: 'bench', BORG_BASE_DIR: path.join(work, 'borg-base') };
    must('borg', ['init', '--encryption', 'repokey-blake2', borgRepo], borgEnv);
    list.push({
      name: 'borg',
      storage: borgRepo,
      backup: (n) => timed('borg', ['create', '--compression', 'zstd,3', `${borgRepo}::day${n}`, tree], borgEnv),
      restore: (n, file, into) => timed('borg', ['extract', `${borgRepo}::day${n}`, file.replace(/^\/+/, '')], borgEnv, into),
    });
    notes.push(must('borg', ['--version'], borgEnv).trim() + ' (repokey-blake2, --compression zstd,3)');
  } else {
    notes.push('borg: not installed (apt-get install borgbackup), its row is skipped');
    log('bench daily: borg is not installed (apt-get install borgbackup): skipping its row');
  }

  if (TARGET) {
    const rsyncable = path.join(work, 'zstd-rsyncable');
    fs.writeFileSync(rsyncable, '#!/bin/sh\nexec zstd --rsyncable "$@"\n', { mode: 0o755 });
    VARIANTS.forEach((v, i) => {
      if (TARGET_RECOMMENDED && (v.full || v.compress !== 'none')) return;
      const dir = path.join(work, `t${i}`);
      const h = makeHome(path.join(work, `home-t${i}`));
      const r = path.join(work, `t${i}-repo`);
      const cache = `t${i}-cache`;
      initRestic(r, cache);
      fs.mkdirSync(path.join(h, 'conf', 'targets'), { recursive: true, mode: 0o700 });
      fs.writeFileSync(path.join(h, 'conf', 'targets', 'r.conf'), `TYPE=restic\nREPOSITORY=${r}\nPASSWORD_FILE=${password}\n`, { mode: 0o600 });
      const e = { ...env, RESTIC_CACHE_DIR: path.join(work, cache), ...(v.compress === 'rsyncable' ? { ZSTD: rsyncable } : {}) };
      const extra = [...(v.full ? [] : ['--file-full-every', '7']), ...(v.compress === 'none' ? ['--file-compress', 'none'] : [])];
      list.push({
        name: v.label,
        storage: r,
        backup: (n) => timed(process.execPath, [batt, '--home', h, '--path', `${dir}/%Y/day${n}`, '--file', tree, ...extra], e),
      });
    });
  }
  return { list, notes };
}

interface RestoreResult {
  name: string;
  runs: Run[];
}

/** Restores `file` as of day n with each contender that can, RESTORE_RUNS rounds alternating; checks what came out. */
function restoreRound(list: Contender[], n: number, file: string, expected: Buffer, work: string): RestoreResult[] {
  const out = list.filter((c) => c.restore).map((c) => ({ name: c.name, runs: [] as Run[] }));
  for (let round = 0; round < RESTORE_RUNS; round++) {
    const order = [...out.slice(round % out.length), ...out.slice(0, round % out.length)];
    for (const r of order) {
      const c = list.find((x) => x.name === r.name)!;
      const into = fs.mkdtempSync(path.join(work, 'restore-'));
      const t = c.restore!(n, file, into);
      const got = path.join(into, file);
      if (!fs.existsSync(got) || !fs.readFileSync(got).equals(expected)) throw new Error(`${c.name} restored ${file} wrong (or not at all) into ${into}`);
      const restored = files(into);
      if (restored.length !== 1) throw new Error(`${c.name} restored ${restored.length} files, not only ${file}`);
      fs.rmSync(into, { recursive: true, force: true });
      r.runs.push(t);
      log(`restore day ${n} ${c.name}: ${t.wallS.toFixed(2)} s wall, ${t.cpuS.toFixed(2)} s CPU`);
    }
  }
  return out;
}

function main(): void {
  for (const t of ['/usr/bin/time', 'restic', 'tar', 'zstd']) {
    if (!has(t)) throw new Error(`bench: ${t} is missing (apt-get install time restic tar zstd)`);
  }
  const source = path.join(BASE, `tree-${SIZE_MB}mb-seed${SEED}`);
  const made = ensureTree({ dir: source, sizeMb: SIZE_MB, seed: SEED });
  log(`bench daily: tree ${source} (${made.reused ? 'reused' : `built in ${made.seconds.toFixed(0)} s`}), ${DAYS} days; load: ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
  const work = fs.mkdtempSync(path.join(BASE, 'daily-'));
  const loads: number[] = [];
  try {
    const tree = path.join(work, 'tree');
    spawnSync('cp', ['-a', source, tree]);
    const { list, notes } = contenders(work, tree);
    const days: Record<string, Day[]> = Object.fromEntries(list.map((c) => [c.name, []]));
    const changes: string[] = [];
    let restores: { file: string; results: RestoreResult[] } | undefined;
    for (let n = 1; n <= DAYS; n++) {
      let changed: string[] = [];
      if (n > 1) {
        const c = mutate(tree, n);
        changed = c.changed;
        changes.push(`day ${n}: ${c.changed.length} files changed, ${(c.added / 2 ** 20).toFixed(1)} MB added, ${c.deleted} deleted`);
      }
      loads.push(os.loadavg()[0]!);
      backupDay(list, n, days);
      if (n === RESTORE_DAY) {
        // a file changed today (so batt's incremental needs the full and today's level), still there
        const rel = changed.find((f) => fs.existsSync(path.join(tree, f))) ?? files(tree)[0]!;
        const file = path.join(tree, rel);
        restores = { file: rel, results: restoreRound(list, n, file, fs.readFileSync(file), work) };
      }
    }
    const lines = report(list.map((c) => c.name), days, changes, loads, notes, restores);
    process.stdout.write(lines.join('\n') + '\n');
    if (RESULTS !== '-') {
      // quick and full each have their own section
      writeSection(RESULTS, `<!-- daily series ${SIZE_MB} MB:`, `<!-- end of daily series ${SIZE_MB} MB -->`, lines);
      log(`bench daily: wrote the daily series into ${RESULTS}`);
    }
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

const MB = (b: number) => (b / 2 ** 20).toFixed(1);
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
const mean = (xs: number[]) => sum(xs) / xs.length;
const verdict = (ok: boolean) => (ok ? 'met' : 'NOT met');

function report(
  names: string[],
  days: Record<string, Day[]>,
  changes: string[],
  loads: number[],
  notes: string[],
  restores: { file: string; results: RestoreResult[] } | undefined,
): string[] {
  const total = (name: string) => sum(days[name]!.map((d) => d.addedBytes));
  const later = (name: string) => days[name]!.slice(1);
  const ratios = later('batt incremental').map((d, i) => d.cpuS / later('restic')[i]!.cpuS);
  const storage = total('batt incremental') / total('restic');
  const rows = ['| day | contender | wall | CPU | bytes added | peak RSS |', '| --- | --- | --- | --- | --- | --- |'];
  for (let i = 0; i < DAYS; i++) {
    for (const name of names) {
      const d = days[name]![i]!;
      rows.push(`| ${i + 1} | ${name} | ${d.wallS.toFixed(2)} s | ${d.cpuS.toFixed(2)} s | ${MB(d.addedBytes)} MB | ${(d.peakRssKb / 1024).toFixed(0)} MB |`);
    }
  }
  const summary = [
    `| after ${DAYS} days | storage | bytes added, days 2-${DAYS} | CPU per day, days 2-${DAYS} (mean) | growth days 2-${DAYS} / restic alone's (each day) |`,
    '| --- | --- | --- | --- | --- |',
  ];
  const resticLater = later('restic').map((d) => d.addedBytes);
  for (const name of names) {
    const each = later(name).map((d, i) => d.addedBytes / resticLater[i]!);
    summary.push(
      `| ${name} | ${MB(total(name))} MB | ${MB(sum(later(name).map((d) => d.addedBytes)))} MB | ${mean(later(name).map((d) => d.cpuS)).toFixed(2)} s | `
        + `${(sum(later(name).map((d) => d.addedBytes)) / sum(resticLater)).toFixed(2)}x (${each.map((x) => x.toFixed(2)).join(', ')}) |`,
    );
  }
  const targetNames = names.filter((n) => n.includes('→ restic'));
  const worst = (name: string) => Math.max(...later(name).map((d, i) => d.addedBytes / resticLater[i]!));
  const best = targetNames.length ? targetNames.reduce((a, b) => (sum(later(a).map((d) => d.addedBytes)) <= sum(later(b).map((d) => d.addedBytes)) ? a : b)) : undefined;
  const targetLine = best
    ? `batt with a restic target: the smallest growth on days 2-${DAYS} is "${best}", at most ${worst(best).toFixed(2)}x restic alone's on any day `
      + `(target <= 1.2: ${verdict(worst(best) <= 1.2)})`
      + (targetNames.length > 1 ? `; the others at most ${targetNames.filter((n) => n !== best).map((n) => `${worst(n).toFixed(2)}x (${n})`).join(', ')}.` : '.')
    : 'batt with a restic target: not measured (BENCH_TARGET=0).';
  const restoreLines: string[] = [];
  if (restores) {
    const med = (name: string) => median(restores.results.find((r) => r.name === name)!.runs.map((r) => r.wallS));
    restoreLines.push(
      '',
      `Single-file restore from day ${RESTORE_DAY} (\`${restores.file}\`, changed that day; into an empty folder, the restored file compared byte for byte; `
        + `median of ${RESTORE_RUNS} rounds, contenders alternating): \`batt restore file ID --to DIR --file PATH\` (the whole chain verified, then only that member extracted from each archive), `
        + '`restic restore SNAPSHOT --include PATH`, `borg extract ARCHIVE PATH`.',
      '',
      '| contender | wall (median) | CPU (median) | x restic |',
      '| --- | --- | --- | --- |',
      ...restores.results.map((r) => `| ${r.name} | ${med(r.name).toFixed(2)} s | ${median(r.runs.map((x) => x.cpuS)).toFixed(2)} s | ${(med(r.name) / med('restic')).toFixed(2)}x |`),
      '',
      `Target: batt's single-file restore (incremental chain) ${(med('batt incremental') / med('restic')).toFixed(2)}x restic's wall time (target <= 2: ${verdict(med('batt incremental') / med('restic') <= 2)}); `
        + `from a full ${(med('batt full') / med('restic')).toFixed(2)}x.`,
    );
  }
  return [
    `<!-- daily series ${SIZE_MB} MB: written by bench/daily.ts (bench/run.sh daily-quick / daily-full) -->`,
    `## Daily series: a week of backups of a changing tree (${SIZE_MB} MB)`,
    '',
    `${new Date().toISOString().slice(0, 10)}, ${SIZE_MB} MB tree (seed ${SEED}), ${DAYS} days; ${os.cpus().length} cores (${os.cpus()[0]?.model ?? '?'}), `
      + `load average at the start of each day ${loads.map((l) => l.toFixed(1)).join(', ')} (a machine shared with other engineers: wall times are noisy, CPU less so).`,
    `${spawnSync('restic', ['version'], { encoding: 'utf8' }).stdout.split(' compiled')[0]}; ${spawnSync('tar', ['--version'], { encoding: 'utf8' }).stdout.split('\n')[0]}; ${notes.join('; ')}.`,
    'Contenders: `batt --file TREE` (a full every day), `batt --file TREE --file-full-every 7` (a full, then incrementals),',
    '`restic backup TREE` into one repository (version 2, init untimed, cache kept), `borg create` into one repository;',
    '"batt … → restic, X": batt with a `TYPE=restic` target (its own repository, version 2): the run backs up locally, then copies the sealed folder',
    'as one snapshot; bytes added = the repository\'s growth; X = the file archives as `zstd` (the default), `none` (`--file-compress none`) or',
    '`zstd --rsyncable` (ZSTD set to a wrapper). CPU = user + system of the whole process tree (GNU time); peak RSS = the largest single process.',
    'Changes each day: ' + changes.join('; ') + '.',
    '',
    ...rows,
    '',
    ...summary,
    '',
    `Targets: batt incremental ${DAYS}-day storage ${storage.toFixed(2)}x restic's (target <= 1.3: ${verdict(storage <= 1.3)}); `
      + `CPU on days 2-${DAYS} ${ratios.map((x) => x.toFixed(2)).join(', ')}x restic's, at most ${Math.max(...ratios).toFixed(2)}x (target <= 1.5: ${verdict(Math.max(...ratios) <= 1.5)}).`,
    targetLine,
    ...restoreLines,
    `<!-- end of daily series ${SIZE_MB} MB -->`,
  ];
}

main();
