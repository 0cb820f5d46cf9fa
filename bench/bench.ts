// `npm run bench`: batt against tar|zstd, restic and the disk, on one generated tree, in one run.
// Runs alternate (the order rotates every round) and the median of BENCH_RUNS rounds is kept,
// so a load change on a shared machine hits every contender alike. Never part of `npm test`.
//
// Env: BENCH_SIZE_MB (default 1024), BENCH_RUNS (3), BENCH_STARTUP_RUNS (30), BENCH_SEED (1),
//      BENCH_DIR (default $TMPDIR/batt-bench; the tree is kept there and reused when its stamp
//      matches), BENCH_RESULTS (file to write, default bench/RESULTS.md; "-" = do not write),
//      BENCH_S3_MB (2048; 0 skips the upload), BENCH_S3_RUNS (1), BENCH_RESTIC_RUNS (at most 3:
//      restic is the slowest by far; its rounds are the first ones).
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureTree, writeRandomFile, type TreeStats } from './tree.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
// Every timed command runs in a cron-like environment: the variables a job under cron or a
// systemd timer has, none of what a developer's shell adds. NODE_EXTRA_CA_CERTS alone (set on this
// workplace's machines) makes every node start read a CA bundle, +30 ms, which flattered
// `batt list` against `node -e 0` and slowed every batt run. BENCH_* settings are read from the
// real environment.
const CRON_VARS = ['PATH', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR'];
const env: NodeJS.ProcessEnv = Object.fromEntries(CRON_VARS.filter((k) => process.env[k] !== undefined).map((k) => [k, process.env[k]]));
const dropped = Object.keys(process.env).filter((k) => /^NODE_|^BATT_/.test(k));
const SIZE_MB = Number(process.env.BENCH_SIZE_MB ?? 1024);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const STARTUP_RUNS = Number(process.env.BENCH_STARTUP_RUNS ?? 30);
const SEED = Number(process.env.BENCH_SEED ?? 1);
const BASE = path.resolve(process.env.BENCH_DIR ?? path.join(os.tmpdir(), 'batt-bench'));
const RESTIC_RUNS = Number(process.env.BENCH_RESTIC_RUNS ?? Math.min(RUNS, 3));
const S3_MB = Number(process.env.BENCH_S3_MB ?? 2048);
const S3_RUNS = Number(process.env.BENCH_S3_RUNS ?? 1);
const RESULTS = process.env.BENCH_RESULTS ?? path.join(repo, 'bench', 'RESULTS.md');
// dist/ is copied into the work folder first: others rebuilding the shared tree mid-run cannot
// pull it away (the bundle is self-contained).
let BATT = path.join(repo, 'dist', 'batt.js');
const NODE = process.execPath;

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};
const mb = (n: number) => `${(n / 1024 / 1024).toFixed(0)} MB`;
const sec = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
const log = (s: string) => process.stderr.write(s + '\n');

function sh(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : '';
}

interface Timed {
  ms: number;
  /** Wall clock (ms since the epoch) at spawn and at exit, to place batt's log lines. */
  startedAt: number;
  endedAt: number;
  /** Peak RSS of the process itself (VmHWM), kB. */
  selfPeakKb?: number;
  /** Peak of the summed RSS of all its descendants at one instant, kB. */
  childrenPeakKb?: number;
}

function statusKb(pid: number, field: string): number | undefined {
  try {
    const m = fs.readFileSync(`/proc/${pid}/status`, 'utf8').match(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

function descendants(pid: number): number[] {
  const out: number[] = [];
  const stack = [pid];
  while (stack.length) {
    const p = stack.pop()!;
    let kids: number[] = [];
    try {
      kids = fs.readFileSync(`/proc/${p}/task/${p}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    } catch {
      /* gone */
    }
    out.push(...kids);
    stack.push(...kids);
  }
  return out;
}

/** Runs a command to completion, timing it; optionally samples memory every 50 ms. */
function timed(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; memory?: boolean } = {}): Promise<Timed> {
  // Untimed: the dirty pages the previous contender left (hundreds of MB) are written now, not
  // during this contender's run, so no run pays for the one before it.
  spawnSync('sync');
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const startedAt = Date.now();
    const child = spawn(cmd, args, { env: opts.env ?? env, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr!.on('data', (c: Buffer) => (stderr = (stderr + c.toString()).slice(-4000)));
    let selfPeakKb = 0;
    let childrenPeakKb = 0;
    const sample = () => {
      if (!child.pid) return;
      selfPeakKb = Math.max(selfPeakKb, statusKb(child.pid, 'VmHWM') ?? 0);
      let sum = 0;
      for (const d of descendants(child.pid)) sum += statusKb(d, 'VmRSS') ?? 0;
      childrenPeakKb = Math.max(childrenPeakKb, sum);
    };
    const timer = opts.memory ? setInterval(sample, 50) : undefined;
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      const ms = performance.now() - t0;
      clearInterval(timer);
      if (code !== 0) reject(new Error(`${cmd} ${args.join(' ')} failed (${code ?? signal}): ${stderr.trim().slice(-1000)}`));
      else resolve({ ms, startedAt, endedAt: Date.now(), ...(opts.memory ? { selfPeakKb, childrenPeakKb } : {}) });
    });
  });
}

function rotate<T>(xs: T[], k: number): T[] {
  const i = k % xs.length;
  return [...xs.slice(i), ...xs.slice(0, i)];
}

/** A batt home like the installed one: the repo's scripts-available, nothing enabled. */
function makeHome(dir: string, extra: Record<string, string> = {}): string {
  fs.mkdirSync(path.join(dir, 'scripts-available'), { recursive: true });
  fs.mkdirSync(path.join(dir, 'scripts-enabled'), { recursive: true });
  for (const f of fs.readdirSync(path.join(repo, 'scripts-available'))) {
    fs.copyFileSync(path.join(repo, 'scripts-available', f), path.join(dir, 'scripts-available', f));
    fs.chmodSync(path.join(dir, 'scripts-available', f), 0o755);
  }
  for (const [name, from] of Object.entries(extra)) {
    fs.copyFileSync(path.join(repo, 'scripts-available', from), path.join(dir, 'scripts-available', name));
    fs.chmodSync(path.join(dir, 'scripts-available', name), 0o755);
  }
  return dir;
}

/** Splits the tree's top-level folders into n parts of similar size (largest first, greedy). */
function splitTops(stats: TreeStats, n: number): string[][] {
  const parts = Array.from({ length: n }, () => ({ bytes: 0, names: [] as string[] }));
  for (const t of [...stats.tops].sort((a, b) => b.bytes - a.bytes)) {
    const p = parts.reduce((a, b) => (b.bytes < a.bytes ? b : a));
    p.bytes += t.bytes;
    p.names.push(t.name);
  }
  return parts.map((p) => p.names);
}

function dirBytes(p: string): number {
  const st = fs.lstatSync(p);
  if (!st.isDirectory()) return st.isFile() ? st.size : 0;
  return fs.readdirSync(p).reduce((n, e) => n + dirBytes(path.join(p, e)), 0);
}

function machine(): string[] {
  const cpu = os.cpus()[0]?.model ?? '?';
  const fsType = sh('findmnt', ['-n', '-o', 'FSTYPE', '--target', BASE]) || sh('stat', ['-f', '-c', '%T', BASE]);
  const rot = sh('bash', ['-c', `cat /sys/block/$(basename "$(df --output=source "$1" | tail -1)")/queue/rotational 2>/dev/null`, 'x', BASE]);
  const dev = sh('df', ['--output=source', BASE]).split('\n')[1] ?? '?';
  return [
    `- CPU: ${cpu}, ${os.cpus().length} cores; RAM ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB; kernel ${os.release()}`,
    `- Disk: ${dev} (${fsType}${rot === '1' ? ', reported rotational' : rot === '0' ? ', SSD' : ''}${dev.startsWith('/dev/vd') ? ', virtio' : ''}), the tree, outputs and repositories all on it`,
    `- node ${process.version}; ${sh('tar', ['--version']).split('\n')[0]}; zstd ${sh('zstd', ['-V']).match(/v[\d.]+/)?.[0] ?? '?'}; ${sh('restic', ['version']).split(' compiled')[0]}`,
  ];
}

const load = () => os.loadavg().map((l) => l.toFixed(2)).join(', ');

async function main(): Promise<void> {
  if (!fs.existsSync(BATT)) throw new Error(`${BATT} is missing: run npm run build (npm run bench does)`);
  for (const tool of ['tar', 'zstd', 'restic', 'bash']) {
    if (!sh('bash', ['-c', `command -v ${tool}`])) throw new Error(`${tool} is not installed`);
  }
  const loadBefore = load();
  const tree = path.join(BASE, `tree-${SIZE_MB}mb-s${SEED}`);
  const work = path.join(BASE, 'work');
  fs.rmSync(work, { recursive: true, force: true });
  fs.mkdirSync(work, { recursive: true });
  fs.cpSync(path.join(repo, 'dist'), path.join(work, 'dist'), { recursive: true });
  fs.symlinkSync(path.join(repo, 'node_modules'), path.join(work, 'node_modules')); // the few externals
  BATT = path.join(work, 'dist', 'batt.js');
  log(`bench: tree ${tree} (${SIZE_MB} MB, seed ${SEED}), ${RUNS} runs, load ${loadBefore}`);
  const t = ensureTree({ dir: tree, sizeMb: SIZE_MB, seed: SEED });
  const stats = t.stats;
  log(`bench: tree ${t.reused ? 'reused' : `generated in ${t.seconds.toFixed(1)} s`}: ${stats.files} files, ${mb(stats.bytes)}`);

  // The page cache cannot be dropped reliably here (shared machine, maybe a container): read
  // the tree once so that every contender starts warm rather than the first one paying the disk.
  await timed('bash', ['-c', 'tar -cf - "$1" | cat >/dev/null', 'warm', tree]);

  const home = makeHome(path.join(work, 'home'), { 'backup-part1': 'backup-file', 'backup-part2': 'backup-file', 'backup-part3': 'backup-file', 'backup-part4': 'backup-file' });
  const pwFile = path.join(work, 'restic-password');
  fs.writeFileSync(pwFile, 'bench-only-password\n', { mode: 0o600 });
  const resticEnv: NodeJS.ProcessEnv = { ...env, RESTIC_PASSWORD_FILE: pwFile };
  delete resticEnv.RESTIC_PASSWORD;
  delete resticEnv.RESTIC_REPOSITORY;

  type Name = 'batt' | 'tar|zstd' | 'tar|zstd+fsync' | 'tar+xattrs|zstd' | 'by hand' | 'restic' | 'read';
  const times: Record<Name, number[]> = { batt: [], 'tar|zstd': [], 'tar|zstd+fsync': [], 'tar+xattrs|zstd': [], 'by hand': [], restic: [], read: [] };
  const rss: { self: number[]; children: number[] } = { self: [], children: [] };
  const phases = { startup: [] as number[], script: [] as number[], seal: [] as number[], exit: [] as number[] };
  const hashedAheadShare: number[] = [];
  const sizes: Record<string, number> = {};
  const order: Name[] = ['batt', 'tar|zstd', 'restic', 'read', 'tar|zstd+fsync', 'tar+xattrs|zstd', 'by hand'];
  for (let run = 0; run < RUNS; run++) {
    for (const name of rotate(order, run)) {
      if (name === 'restic' && run >= RESTIC_RUNS) continue;
      const out = path.join(work, `${name.replace(/\W/g, '_')}-${run}`);
      let r: Timed;
      if (name === 'batt') {
        // No memory sampling here: walking /proc every 50 ms costs CPU that only batt would pay.
        r = await timed(NODE, [BATT, '--home', home, '--path', out, '--file', tree]);
        const manifest = JSON.parse(fs.readFileSync(path.join(out, 'file', 'batt-manifest.json'), 'utf8'));
        sizes.batt = manifest.totalBytes;
        const ph = battPhases(path.join(home, 'log', 'batt.log'), r);
        if (ph) for (const k of Object.keys(phases) as (keyof typeof phases)[]) phases[k].push(ph[k]);
        const ahead = hashedAhead(path.join(home, 'log', 'batt.log'));
        if (ahead !== undefined) hashedAheadShare.push(ahead);
      } else if (name === 'tar|zstd' || name === 'tar|zstd+fsync') {
        const sync = name === 'tar|zstd+fsync' ? ' && sync "$2"' : '';
        r = await timed('bash', ['-c', `set -o pipefail; tar -cf - "$1" | zstd -3 -T0 -q >"$2"${sync}`, name, tree, out]);
        sizes['tar|zstd'] = fs.statSync(out).size;
      } else if (name === 'tar+xattrs|zstd' || name === 'by hand') {
        // What backup-file runs: the same pipeline with tar's flags for a faithful copy. "By hand"
        // also does the rest of batt's work with the fastest tools here: the archive's SHA-256
        // (openssl, SHA-NI; coreutils sha256sum is 6x slower on this CPU) and an fsync. Like
        // backup-file, perl widens the pipe into zstd to 1 MiB first (F_SETPIPE_SZ).
        const flags = '--numeric-owner --xattrs --sparse --blocking-factor=128 --warning=no-file-changed';
        const widen = `perl -e 'fcntl(STDIN, 1031, 1 << 20)'`;
        const rest = name === 'by hand' ? ' && openssl dgst -sha256 "$2" >/dev/null && sync "$2"' : '';
        r = await timed('bash', ['-c', `set -o pipefail; tar --create --file=- --directory=/ ${flags} -- "$1" | { ${widen}; exec zstd -3 -T0 -q -o "$2"; }${rest}`, name, tree.slice(1), out]);
      } else if (name === 'restic') {
        const e = { ...resticEnv, RESTIC_CACHE_DIR: `${out}-cache` };
        spawnSync('restic', ['init', '--repo', out, '-q'], { env: e, stdio: 'ignore' });
        r = await timed('restic', ['backup', '--repo', out, '-q', tree], { env: e });
        sizes.restic = dirBytes(out);
      } else {
        // Not `tar -cf - TREE >/dev/null`: GNU tar sees /dev/null and skips reading file data.
        r = await timed('bash', ['-c', 'set -o pipefail; tar -cf - "$1" | cat >/dev/null', name, tree]);
      }
      times[name].push(r.ms);
      log(`  run ${run + 1}/${RUNS} ${name.padEnd(15)} ${sec(r.ms)}${r.selfPeakKb ? ` (node peak ${mb(r.selfPeakKb * 1024)}, children ${mb(r.childrenPeakKb! * 1024)})` : ''}`);
      fs.rmSync(out, { recursive: true, force: true });
      fs.rmSync(`${out}-cache`, { recursive: true, force: true });
    }
  }

  // Memory: one more batt run, untimed, sampled every 50 ms (VmHWM of node, RSS of its children).
  {
    const out = path.join(work, 'batt-memory');
    const r = await timed(NODE, [BATT, '--home', home, '--path', out, '--file', tree], { memory: true });
    rss.self.push(r.selfPeakKb!);
    rss.children.push(r.childrenPeakKb!);
    log(`  memory run: node peak ${mb(r.selfPeakKb! * 1024)}, children ${mb(r.childrenPeakKb! * 1024)}`);
    fs.rmSync(out, { recursive: true, force: true });
  }

  // Four services in one run: four copies of backup-file over four parts of the tree.
  const parts = splitTops(stats, 4);
  const partArgs = parts.flatMap((names, i) => names.flatMap((n) => [`--part${i + 1}`, path.join(tree, n)]));
  const jobTimes: Record<string, number[]> = { '1': [], '4': [] };
  for (let run = 0; run < RUNS; run++) {
    for (const j of rotate(['4', '1'], run)) {
      const out = path.join(work, `jobs${j}-${run}`);
      const r = await timed(NODE, [BATT, '--home', home, '--path', out, '--jobs', j, ...partArgs]);
      jobTimes[j]!.push(r.ms);
      log(`  run ${run + 1}/${RUNS} 4 services --jobs ${j} ${sec(r.ms)}`);
      fs.rmSync(out, { recursive: true, force: true });
    }
  }

  // Start-up: alternating, many runs, in-process timing of a spawn each.
  const startHome = makeHome(path.join(work, 'home-startup'));
  const startup: Record<string, number[]> = { 'node -e 0': [], 'batt --help': [], 'batt list': [] };
  const startCmds: [string, string[]][] = [
    ['node -e 0', ['-e', '0']],
    ['batt --help', [BATT, '--help']],
    ['batt list', [BATT, 'list']],
  ];
  for (let i = 0; i < STARTUP_RUNS + 2; i++) {
    for (const [name, args] of rotate(startCmds, i)) {
      const t0 = performance.now();
      const r = spawnSync(NODE, args, { env: { ...env, BATT_HOME: startHome }, stdio: 'ignore' });
      const ms = performance.now() - t0;
      if (r.status !== 0) throw new Error(`${name} exited ${r.status}`);
      if (i >= 2) startup[name]!.push(ms); // two warm-up rounds
    }
  }

  const s3 = await s3Upload(work);
  const loadAfter = load();

  // Figures.
  const m = Object.fromEntries(Object.entries(times).map(([k, v]) => [k, median(v)])) as Record<Name, number>;
  const st = Object.fromEntries(Object.entries(startup).map(([k, v]) => [k, median(v)]));
  const vsTar = m.batt / m['tar|zstd'];
  const vsRestic = m.batt / m.restic;
  const listRatio = st['batt list']! / st['node -e 0']!;
  const peakSelf = Math.max(...rss.self) / 1024;
  const peakChildren = Math.max(...rss.children) / 1024;
  const jobs1 = median(jobTimes['1']!);
  const jobs4 = median(jobTimes['4']!);
  const yes = (ok: boolean) => (ok ? '**met**' : '**missed**');
  const all = (xs: number[]) => xs.map((x) => (x / 1000).toFixed(2)).join(' / ');
  const mbps = (ms: number) => `${(stats.bytes / 1024 / 1024 / (ms / 1000)).toFixed(0)} MB/s`;

  const lines = [
    '# batt benchmark results',
    '',
    `Measured ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC by \`npm run bench\` ` +
      `(BENCH_SIZE_MB=${SIZE_MB}, BENCH_RUNS=${RUNS}, BENCH_STARTUP_RUNS=${STARTUP_RUNS}, seed ${SEED}).`,
    '',
    '## Machine',
    '',
    ...machine(),
    `- Load average (1, 5, 15 min) before: ${loadBefore}; after: ${loadAfter}. The machine was shared with other`,
    '  work while this ran: compare the ratios (same run, alternating order), not the absolute times, and',
    '  repeat the measurement on a quiet machine before quoting it.',
    '- Page cache: it cannot be dropped reliably here, so the tree was read once before timing; every',
    '  contender reads it warm.',
    `- Environment: every timed command ran with cron's kind of environment (${CRON_VARS.join(', ')} as set),` +
      ` not the caller's${dropped.length ? `; left out: ${dropped.join(', ')}` : ''}.`,
    '',
    '## Tree',
    '',
    `${stats.files} files in ${stats.dirs} folders (depth up to ${stats.maxDepth}), ${stats.symlinks} symlinks, ` +
      `${mb(stats.bytes)}: ${mb(stats.randomBytes)} incompressible (media-like, one ${mb(stats.largest)} file), ` +
      'the rest source code, JSON, docs, rotated logs, a log and a SQL dump. Deterministic (bench/tree.ts, seeded).',
    `Compressed: tar|zstd -3 ${mb(sizes['tar|zstd'] ?? 0)}, batt ${mb(sizes.batt ?? 0)}, restic repository ${mb(sizes.restic ?? 0)}.`,
    '',
    `## File backup (median of ${RUNS}, runs alternate)`,
    '',
    '| contender | median | runs (s) | throughput | vs tar\\|zstd |',
    '|---|---|---|---|---|',
    ...(['batt', 'tar|zstd', 'tar|zstd+fsync', 'tar+xattrs|zstd', 'by hand', 'restic', 'read'] as Name[]).map(
      (k) => `| ${k.replace(/\|/g, '\\|')} | ${sec(m[k])} | ${all(times[k])} | ${mbps(m[k])} | ${(m[k] / m['tar|zstd']).toFixed(2)}x |`,
    ),
    '',
    '- batt: `batt --home H --path OUT --file TREE` (default settings: backup-file, tar | zstd -3 -T0, then',
    '  manifest with SHA-256, fsync, rename).',
    ...(phases.startup.length
      ? [
          `  Its time, from batt's log (medians): start-up to the script's start ${sec(median(phases.startup))}, the script`,
          `  (backup-file) ${sec(median(phases.script))}, seal (SHA-256 of what was not hashed yet + fsync + manifest + rename) ${sec(median(phases.seal))}, exit ${sec(median(phases.exit))}.`,
          ...(hashedAheadShare.length
            ? [`  Hashed while backup-file wrote it (\`# batt: append-only\`): ${(median(hashedAheadShare) * 100).toFixed(0)}% of the archive (median).`]
            : []),
        ]
      : []),
    '- tar|zstd: `tar -cf - TREE | zstd -3 -T0 > OUT`; +fsync adds `sync OUT` (batt makes its backup durable);',
    '  tar+xattrs|zstd is the pipeline backup-file runs (`--numeric-owner --xattrs --sparse --blocking-factor=128`:',
    '  an llistxattr per member, ACLs included; 64 KiB records; a 1 MiB pipe into zstd, set by perl).',
    '- by hand: the same work as batt without batt: tar+xattrs|zstd, then `openssl dgst -sha256 OUT` and',
    '  `sync OUT` (the SHA-256 for the manifest, and durability).',
    `- restic: \`restic backup TREE\` into a fresh repository (init not timed), fresh cache; ${Math.min(RUNS, RESTIC_RUNS)} rounds.`,
    '- read: `tar -cf - TREE | cat > /dev/null` (GNU tar skips reading file data when its output is /dev/null).',
    '',
    '## Four services in one run',
    '',
    `Four copies of backup-file over four parts of the tree (${parts.map((p) => p.join('+')).join(', ')}):`,
    `--jobs 1 ${sec(jobs1)} (${all(jobTimes['1']!)}), --jobs 4 ${sec(jobs4)} (${all(jobTimes['4']!)}): --jobs 4 is ${(jobs1 / jobs4).toFixed(2)}x as fast.`,
    `zstd -T0 already keeps the ${os.cpus().length} cores busy, so running services at once can only win the time one`,
    'service spends reading files or sealing while another compresses.',
    '',
    `## Start-up (median of ${STARTUP_RUNS}, alternating, spawn to exit)`,
    '',
    '| command | median | vs node -e 0 |',
    '|---|---|---|',
    ...Object.keys(startup).map((k) => `| ${k} | ${st[k]!.toFixed(1)} ms | ${(st[k]! / st['node -e 0']!).toFixed(2)}x |`),
    '',
    '## Memory',
    '',
    `Peak RSS during the file backup: batt's node process ${peakSelf.toFixed(0)} MB (VmHWM); its children (bash, tar,`,
    `zstd) together at most ${peakChildren.toFixed(0)} MB at one instant (sampled every 50 ms).`,
    '',
    '## S3 upload',
    '',
    ...s3.lines,
    '',
    '## Targets',
    '',
    'As measured in this run, under the load noted above.',
    '',
    `- batt file backup within 1.10x of tar|zstd: ${vsTar.toFixed(2)}x, ${yes(vsTar <= 1.1)}` +
      ` (of the same work by hand, ACLs, SHA-256 and fsync included: ${(m.batt / m['by hand']).toFixed(2)}x)`,
    `- batt file backup faster than restic's first backup: ${vsRestic.toFixed(2)}x of restic, ${yes(vsRestic < 1)}`,
    `- \`batt list\` under 2x \`node -e 0\`: ${listRatio.toFixed(2)}x, ${yes(listRatio < 2)}`,
    `- batt peak RSS under 150 MB: ${peakSelf.toFixed(0)} MB during the file backup, ${yes(peakSelf < 150)}` +
      (s3.peakMb ? `; ${s3.peakMb.toFixed(0)} MB during the S3 upload, ${yes(s3.peakMb < 150)}` : ''),
    '',
    ...NOTES,
  ];
  process.stdout.write(lines.join('\n'));
  if (RESULTS !== '-') {
    fs.writeFileSync(RESULTS, lines.join('\n'));
    log(`bench: wrote ${RESULTS}`);
  }
  fs.rmSync(work, { recursive: true, force: true });
}

/** The share of the archive the newest batt run hashed while backup-file wrote it (0-1). */
function hashedAhead(logFile: string): number | undefined {
  const m = [...fs.readFileSync(logFile, 'utf8').matchAll(/seal: (\d+) of (\d+) bytes were hashed while the script ran/g)].at(-1);
  return m ? Number(m[1]) / Number(m[2]) : undefined;
}

/** batt's phases in one run, from the log lines it writes (ms timestamps) and the spawn/exit times. */
function battPhases(logFile: string, r: Timed): { startup: number; script: number; seal: number; exit: number } | undefined {
  let lines: string[];
  try {
    lines = fs.readFileSync(logFile, 'utf8').split('\n');
  } catch {
    return undefined;
  }
  const at = (re: RegExp) => {
    for (let i = lines.length - 1; i >= 0; i--) {
      if (re.test(lines[i]!)) {
        const t = Date.parse(lines[i]!.slice(0, 24));
        if (t >= r.startedAt - 1000) return t;
      }
    }
    return undefined;
  };
  const start = at(/ file: start /);
  const archived = at(/ file: > archived /);
  const ok = at(/ file: ok /);
  if (start === undefined || archived === undefined || ok === undefined) return undefined;
  return { startup: start - r.startedAt, script: archived - start, seal: ok - archived, exit: r.endedAt - ok };
}

/** What was found and changed to meet the targets (kept with the figures it explains). */
const NOTES = [
  '## What it took, and where batt still pays',
  '',
  'Found with this bench (1 GB tree, 74k files) and fixed:',
  '',
  '- backup-file tested every archive with `zstd -t`: a second full pass (decompresses ~1 GB again,',
  '  ~2 s per GB here). It now runs `zstd -l`, which walks the frame and block headers to the end in',
  '  milliseconds: a truncated archive or trailing garbage still fails; every exit status of the',
  '  pipeline is still checked (PIPESTATUS), and the SHA-256 manifest covers the bytes.',
  '- backup-file excluded its own staging folder with an unanchored `--exclude`: GNU tar then tries a',
  '  match at every `/` of every member name, +1.2 s of CPU on 74k files (~25% of the backup). The',
  '  exclude is now anchored and literal, and only given for a path that holds the staging folder.',
  '- The durable fsync at the seal waited for the whole archive to reach the disk (up to +4 s per GB',
  '  on this shared disk, see tar|zstd+fsync). batt now flushes (fdatasync) a script\'s growing files',
  '  twice a second while it runs (src/run/writeback.ts), and the seal runs each file\'s fsync alongside its',
  '  hash, up to 4 files at once (src/run/backup.ts).',
  '- hashFile read through a stream (a new 1 MB buffer per MB read): now two reused buffers with',
  '  read-ahead, so memory stays flat (file-backup peak ~60 MB instead of ~90 MB) (src/catalog/manifest.ts).',
  '- The seal hashed the whole archive after the script, on one core while the other sat idle',
  '  (0.3-0.4 s per GB of archive). backup-file now declares `# batt: append-only`, and batt hashes',
  '  its archive while it grows (src/run/writeback.ts, through a descriptor on the inode); the seal only',
  '  hashes the tail written since the last pass. A file that shrinks or is replaced is hashed again.',
  '- Between contenders the bench now runs an untimed `sync`, so no run pays for the dirty pages of',
  '  the one before it; batt\'s timed runs are no longer sampled for memory (walking /proc every 50 ms',
  '  cost CPU only batt paid); one extra untimed run gives the memory figures.',
  '- Start-up: plain `batt list` and plain runs (`batt [SERVICE...] [--<svc>[-key] V...] [--path P]`)',
  '  skip yargs (src/entry/fastpath.ts, same arguments, output and exit codes; ~40 ms);',
  '  string-width and wrap-ansi, whose Unicode tables cost 30-90 ms to build, load on first use',
  '  (build.mjs); dist/ is written in place with atomic renames so a rebuild never breaks a running batt.',
  '',
  '- backup-file ran tar with `--acls --xattrs`. `--xattrs` alone already stores every ACL, as the',
  '  xattrs system.posix_acl_access and _default, so `--acls` stored each one a second time, for one',
  '  or two more getxattr calls per member (80k failing calls here, ~0.25 s of CPU on the critical',
  '  path: tar is one thread). backup-file now runs `--xattrs` alone; restore-file restores',
  '  system.posix_acl_* with the user.* xattrs, and still uses `--acls` for archives that hold',
  '  SCHILY.acl records. A test compares `getfacl -R` of the source and the restored copy.',
  "- tar wrote 10 KiB records into zstd's pipe: 116k writes for 1 GB, each read back by zstd.",
  '  `--blocking-factor=128` (64 KiB records) makes that 18k: -0.35 s of CPU, -0.2 s of wall time',
  '  (tar|zstd alone, 5 alternating rounds: 2.45 s with 10 KiB records, 2.25 s with 64 KiB,',
  "  2.43 s with 1 MiB). The archive ends in up to 64 KiB of zeros after tar's end marker, which",
  '  a reader stops before: `zstd -dc X | tar -t` under `set -o pipefail` failed 6 times in 200',
  "  (zstd's broken pipe). restore-file therefore drains the rest of the stream after a tar that",
  '  succeeded (tested with 1 MiB records, where every such listing fails); by hand,',
  '  `tar --zstd -xf X` does the same.',
  '  Together, on this machine (7 alternating rounds): tar|zstd 2.37 s, batt before 2.80 s (1.18x),',
  '  batt after 2.51 s (1.06x).',
  '  Three full runs of this bench (7 rounds each) the same evening, after the change: batt 1.09x,',
  '  1.10x and 1.11x of tar|zstd, and 0.96x, 1.01x and 0.99x of the same work by hand. The 1.10x',
  '  target is met by the pipeline (tar+xattrs|zstd is 0.95-0.97x) and lost again by what a bare',
  '  pipeline does not do: the SHA-256 for the manifest, durability (tar|zstd+fsync: 1.02-1.09x alone)',
  "  and node's start (0.10 s to the script's start).",
  '',
  '- The bench ran every command with the caller\'s environment. On this workplace\'s machines that',
  '  holds NODE_EXTRA_CA_CERTS, which makes every node start read a CA bundle: `node -e 0` took 52 ms',
  '  with it and 22 ms without. That hid most of batt\'s own start-up: `batt list` was reported at',
  '  1.45x of `node -e 0`, but in a clean environment it was 2.21x, over the 2x target, and every batt',
  '  run paid 30 ms that tar never does. Every timed command now runs in a cron-like environment.',
  '- `batt list`: node loads ES modules far slower than the same code as CommonJS (the list path as 11',
  '  ESM chunks: +13 ms over an empty script; as one ESM file: +8 ms; as one CommonJS file: +3 ms).',
  '  dist/batt.js is now a small CommonJS entry; the plain `batt list` runs from one self-contained',
  '  CommonJS bundle (dist/list.js), everything else from the ES module build in dist/esm/ as before.',
  '  A process loads one or the other, so every class has one identity. 47 ms -> 29-30 ms (1.46-1.50x).',
  "- Linux gives a pipe 64 KiB: tar and zstd woke each other for every 64 KiB record. backup-file",
  "  now widens the pipe into the compressor to 1 MiB (perl, F_SETPIPE_SZ): tar|zstd with 64 KiB",
  '  records, 8 alternating rounds: 2.37 s with the default pipe, 2.26 s with 1 MiB, 2.30 s with',
  '  256 KiB (records of 256 or 512 KiB with the 1 MiB pipe: no better). In batt (7 rounds): 2.76 s',
  '  before, 2.67 s after, against 2.46 s for tar|zstd.',
  '- Tried and left out: zstd -T3/-T4 (no gain; output identical anyway), zstd job sizes -B4M to',
  "  -B32M (no clear gain), and running batt's own work (hash-ahead, writeback) at nice 5, 10 or 19",
  '  after the script starts (no gain: 6 rounds each, medians within 0.1 s; the hash still kept up).',
  '  The run path as one CommonJS bundle too (the heavy libraries left out of it) ran a tiny backup',
  '  in 89 ms against 98 ms: 8 ms, 0.3% of the 1 GB backup. Its lazily loaded targets (the S3 SDK,',
  '  age, nodemailer) would have to be parsed on every run or split into bundles that share classes.',
  '  Four full runs of this bench (7 rounds each, clean environment) after these changes: batt',
  '  1.04x, 1.08x, 1.05x and 1.04x of tar|zstd (0.98x, 0.95x, 0.95x and 0.94x of the same work by',
  '  hand); `batt list` 1.50x, 1.46x, 1.48x and 1.50x of `node -e 0` (2.21x before, same environment).',
  '',
  'What batt still pays over a bare `tar | zstd`, by design: node start-up and the run command',
  "(~0.06 s to the script's start), the SHA-256 of the archive for the manifest (~0.25 s of CPU for the ~450 MB archive,",
  "SHA-NI at 2 GB/s here), tar's llistxattr per member (xattrs and ACLs kept), and durability (the",
  'writeback and the fsync before the rename). The 64 KiB records win back most of that. tar and',
  'zstd keep both cores busy, so every CPU-second batt adds costs about half a second of wall time,',
  'whether it runs during the script or after it. Hashing ahead (stop 9) took the seal from ~0.35 s',
  'to 0.02 s, but on 2 busy cores the script phase grew by as much; where the compressor leaves a',
  'core idle it pays: `--file-compress none`, 5 alternating rounds, 2.69 s vs 3.53 s (0.76x).',
  '',
  'Tried and left out:',
  '- 1 MiB records (`--blocking-factor=2048`): no gain over 64 KiB (see above), and 1 MiB of padding',
  '  after the end marker: every `zstd -dc X | tar -x` under pipefail fails with 141.',
  "- No periodic writeback (only the seal's fsync), or no hash-ahead: within the noise (5 rounds,",
  '  2.93 s and 2.90 s against 2.85 s), so both stay.',
  '',
  'Run-to-run spread on this shared machine is +-10%: repeat on a quiet machine before quoting.',
  '',
];

/**
 * Upload of one large file to an S3-protocol server (the tests' s3rver, in its own process):
 * `batt` with an s3 target (the backup script copies the file: copy + seal + upload),
 * the same batt run without a target (copy + seal), and `aws s3 cp`.
 */
async function s3Upload(work: string): Promise<{ lines: string[]; peakMb?: number }> {
  if (!fs.existsSync(path.join(repo, 'src', 'targets', 's3.ts'))) return { lines: ['Skipped: src/targets/s3.ts does not exist.'] };
  if (S3_MB <= 0) return { lines: ['Skipped: BENCH_S3_MB=0.'] };
  if (!fs.existsSync(path.join(repo, 'node_modules', 's3rver'))) return { lines: ['Skipped: s3rver (npm, the tests\' S3 server) is not installed.'] };
  const aws = sh('bash', ['-c', 'command -v aws']);
  const dir = path.join(work, 's3');
  fs.mkdirSync(dir, { recursive: true });
  const blob = path.join(dir, 'blob.bin');
  writeRandomFile(blob, S3_MB * 1024 * 1024, SEED + 1);
  await timed('bash', ['-c', 'cat "$1" >/dev/null', 'warm', blob]);
  const server = spawn(NODE, ['--import', 'tsx', path.join(repo, 'bench', 's3-server.ts')], { cwd: repo, stdio: ['pipe', 'pipe', 'inherit'] });
  try {
    const info = await new Promise<{ endpoint: string; bucket: string; key: string; secret: string }>((resolve, reject) => {
      let buf = '';
      server.stdout!.on('data', (c: Buffer) => {
        buf += c.toString();
        if (buf.includes('\n')) resolve(JSON.parse(buf.split('\n')[0]!));
      });
      server.on('exit', (code) => reject(new Error(`the S3 server exited (${code})`)));
    });
    const mkS3Home = (name: string, withTarget: boolean) => {
      const h = path.join(work, name);
      fs.mkdirSync(path.join(h, 'scripts-available'), { recursive: true });
      fs.mkdirSync(path.join(h, 'conf', 'targets'), { recursive: true, mode: 0o700 });
      fs.writeFileSync(path.join(h, 'scripts-available', 'backup-blob'), '#!/usr/bin/env bash\nset -euo pipefail\ncp -- "$1" "$BATT_DEST/blob.bin"\n', { mode: 0o755 });
      if (withTarget) {
        fs.writeFileSync(
          path.join(h, 'conf', 'targets', 's3.conf'),
          `TYPE=s3\nENDPOINT=${info.endpoint}\nREGION=us-east-1\nBUCKET=${info.bucket}\nPREFIX=batt\nACCESS_KEY_ID=${info.key}\nSECRET_ACCESS_KEY=${info.secret}\n`,
          { mode: 0o600 },
        );
      }
      return h;
    };
    const withS3 = mkS3Home('home-s3', true);
    const noS3 = mkS3Home('home-nos3', false);
    const awsEnv = { ...env, AWS_ACCESS_KEY_ID: info.key, AWS_SECRET_ACCESS_KEY: info.secret, AWS_DEFAULT_REGION: 'us-east-1' };
    const t: Record<string, number[]> = { 'batt (backup + upload)': [], 'batt (backup only)': [], 'aws s3 cp': [] };
    const peak: Record<string, number> = {};
    const names = Object.keys(t).filter((n) => aws || n !== 'aws s3 cp');
    for (let run = 0; run < S3_RUNS; run++) {
      for (const name of rotate(names, run)) {
        const out = path.join(dir, `out-${run}`);
        let r: Timed;
        if (name === 'aws s3 cp') {
          r = await timed(aws, ['--endpoint-url', info.endpoint, 's3', 'cp', blob, `s3://${info.bucket}/aws-${run}.bin`, '--only-show-errors'], { env: awsEnv, memory: true });
        } else {
          const home = name === 'batt (backup only)' ? noS3 : withS3;
          r = await timed(NODE, [BATT, '--home', home, '--path', `${out}/%s`, '--blob', blob], { memory: true });
        }
        t[name]!.push(r.ms);
        peak[name] = Math.max(peak[name] ?? 0, r.selfPeakKb! / 1024, name === 'aws s3 cp' ? r.childrenPeakKb! / 1024 : 0);
        log(`  s3 run ${run + 1}/${S3_RUNS} ${name.padEnd(21)} ${sec(r.ms)} (peak ${peak[name]!.toFixed(0)} MB)`);
        fs.rmSync(out, { recursive: true, force: true });
      }
    }
    const up = median(t['batt (backup + upload)']!);
    const seal = median(t['batt (backup only)']!);
    const lines = [
      `One ${S3_MB} MB file of random bytes (the backup script copies it into the backup) to s3rver (the tests' S3-protocol server, node, on 127.0.0.1, in`,
      `its own process), median of ${S3_RUNS}. s3rver itself is slow and shares the 2 cores: compare the ratio.`,
      '',
      '| contender | median | peak RSS |',
      '|---|---|---|',
      ...names.map((n) => `| ${n} | ${sec(median(t[n]!))} | ${peak[n]!.toFixed(0)} MB |`),
      '',
      `batt's upload alone (difference): ${sec(up - seal)}` +
        (aws ? `; aws s3 cp: ${sec(median(t['aws s3 cp']!))}, ratio ${((up - seal) / median(t['aws s3 cp']!)).toFixed(2)}x.` : '; aws CLI not installed.'),
      'batt: S3 target with its defaults (16 MB parts, 2 at once), sha256 of the file before the upload,',
      `HeadObject check after. aws: ${sh('bash', ['-c', 'aws --version 2>&1'])} with its defaults (8 MB parts, 10 at once).`,
    ];
    return { lines, peakMb: peak['batt (backup + upload)'] };
  } finally {
    server.stdin!.end();
    server.kill('SIGTERM');
  }
}

main().catch((err) => {
  log(`bench: ${err instanceof Error ? err.message : String(err)}`);
  // Outputs, repositories and copies can take GBs: never leave them behind.
  fs.rmSync(path.join(BASE, 'work'), { recursive: true, force: true });
  process.exitCode = 1;
});
