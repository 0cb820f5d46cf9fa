// `bench/run.sh db`: batt's PostgreSQL backup and restore against the same commands by hand, on a
// generated database (bench/db/postgresql.sql: deterministic, md5 of the row numbers; its size
// set by BENCH_DB_ROWS) in a throwaway cluster set up as Debian's package does (peer
// authentication; batt runs as root, the clients as postgres). Contenders alternate, the order
// rotating every round; the median of BENCH_RUNS rounds is kept and the ratios are same-run
// ratios, with the load average noted. Needs root. Never part of `npm test`.
//
// Env: BENCH_DB_ROWS (orders rows; 2500000 = about 650 MB), BENCH_RUNS (3), BENCH_JOBS (2),
//      BENCH_RESULTS (file whose "## Databases" section is replaced; "-" = print only).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startPostgreSQL } from '../test/helpers/servers.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ROWS = Number(process.env.BENCH_DB_ROWS ?? 2_500_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const JOBS = String(process.env.BENCH_JOBS ?? 2);
const RESULTS = process.env.BENCH_RESULTS ?? path.join(repo, 'bench', 'RESULTS.md');
const log = (s: string) => process.stderr.write(s + '\n');
const load = () => os.loadavg().map((l) => l.toFixed(2)).join(', ');
const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

interface Cost {
  wall: number;
  cpu: number;
}

/** Runs argv under /usr/bin/time: wall and user+system CPU seconds of it and its children. */
function timed(argv: string[]): Cost {
  spawnSync('sync');
  const out = path.join(os.tmpdir(), `batt-bench-db-time-${process.pid}`);
  const r = spawnSync('/usr/bin/time', ['-f', '%e %U %S', '-o', out, ...argv], { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed (${r.status}): ${r.stderr.slice(-1500)}`);
  const [wall, user, sys] = fs.readFileSync(out, 'utf8').trim().split('\n').pop()!.split(' ').map(Number) as [number, number, number];
  fs.rmSync(out, { force: true });
  return { wall, cpu: user + sys };
}

function rotate<T>(xs: T[], k: number): T[] {
  const i = k % xs.length;
  return [...xs.slice(i), ...xs.slice(0, i)];
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('bench/db.ts runs as root (batt as root, the clients as postgres, as on Debian)');
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'batt-bench-db-'));
  fs.chmodSync(work, 0o755);
  const pg = await startPostgreSQL('bench-unused', { peer: true });
  if (!pg) throw new Error('PostgreSQL is not installed');
  try {
    const asPg = ['runuser', '-u', 'postgres', '--', 'env', `PGHOST=${pg.dir}`, `PGPORT=${pg.port}`];
    const client = (tool: string) => path.join(pg.bin, tool);
    log(`building the database: ${ROWS} rows (load ${load()})`);
    pg.sql('CREATE DATABASE bench');
    const built = spawnSync(asPg[0]!, [...asPg.slice(1), client('psql'), '-X', '-q', '-v', `rows=${ROWS}`, '-f', path.join(repo, 'bench', 'db', 'postgresql.sql'), 'bench'], { encoding: 'utf8' });
    if (built.status !== 0) throw new Error(`building the database failed: ${built.stderr}`);
    const size = pg.sql("SELECT pg_size_pretty(pg_database_size('bench'))").trim();
    log(`database: ${size}`);

    // batt's home, as ./install makes it, with a copy of dist/ (others may rebuild the tree).
    const home = path.join(work, 'home');
    for (const d of ['scripts-available', 'scripts-enabled', 'conf', 'dist']) fs.mkdirSync(path.join(home, d), { recursive: true });
    for (const f of ['backup-postgresql', 'restore-postgresql']) fs.copyFileSync(path.join(repo, 'scripts-available', f), path.join(home, 'scripts-available', f));
    fs.cpSync(path.join(repo, 'dist'), path.join(home, 'dist'), { recursive: true });
    const batt = [process.execPath, path.join(home, 'dist', 'batt.js'), '--home', home];
    const conf = (extra: string) =>
      fs.writeFileSync(path.join(home, 'conf', 'postgresql.conf'), `HOST=${pg.dir}\nPORT=${pg.port}\nDATABASES=bench\nGLOBALS=no\n${extra}`, { mode: 0o600 });
    const out = (name: string) => path.join(work, 'out', name);
    const fresh = () => {
      fs.rmSync(path.join(work, 'out'), { recursive: true, force: true });
      fs.mkdirSync(path.join(work, 'out'), { mode: 0o777 });
      fs.chmodSync(path.join(work, 'out'), 0o777);
    };

    const backups: Record<string, () => Cost> = {
      'by hand pg_dump -Fc': () => timed([...asPg, 'sh', '-c', `"$0" -Fc -d bench > "$1"`, client('pg_dump'), out('hand.dump')]),
      [`by hand pg_dump -Fd -j ${JOBS}`]: () => timed([...asPg, client('pg_dump'), '-Fd', '-j', JOBS, '-f', out('hand.dir'), '-d', 'bench']),
      'batt FORMAT=custom': () => (conf('FORMAT=custom\n'), timed([...batt, '--path', out('custom'), 'postgresql'])),
      [`batt FORMAT=directory JOBS=${JOBS}`]: () => (conf(`FORMAT=directory\nJOBS=${JOBS}\n`), timed([...batt, '--path', out('dir'), 'postgresql'])),
    };
    const restores: Record<string, () => Cost> = {
      'by hand pg_restore --single-transaction': () =>
        timed([...asPg, 'sh', '-c', `createdb r_hand && "$0" --single-transaction --exit-on-error -d r_hand < "$1"`, client('pg_restore'), out('hand.dump')]),
      [`by hand pg_restore -j ${JOBS}`]: () =>
        timed([...asPg, 'sh', '-c', `createdb r_handdir && "$0" -j ${JOBS} --exit-on-error -d r_handdir "$1"`, client('pg_restore'), out('hand.dir')]),
      'batt restore (custom)': () => (conf(''), timed([...batt, '--path', out('custom'), 'restore', 'postgresql', '--to', 'r_custom'])),
      [`batt restore (directory, -j ${JOBS})`]: () =>
        (conf(''), timed([...batt, '--path', out('dir'), 'restore', 'postgresql', '--to', 'r_dir', '--postgresql-jobs', JOBS])),
    };
    const got: Record<string, Cost[]> = {};
    const loads: string[] = [];
    for (let round = 0; round < RUNS; round++) {
      fresh();
      loads.push(load());
      for (const name of rotate(Object.keys(backups), round)) {
        const c = backups[name]!();
        (got[name] ??= []).push(c);
        log(`round ${round + 1} ${name}: ${c.wall.toFixed(2)} s wall, ${c.cpu.toFixed(2)} s CPU (load ${load()})`);
      }
      for (const db of ['r_hand', 'r_handdir', 'r_custom', 'r_dir']) pg.sql(`DROP DATABASE IF EXISTS ${db}`);
      for (const name of rotate(Object.keys(restores), round)) {
        const c = restores[name]!();
        (got[name] ??= []).push(c);
        log(`round ${round + 1} ${name}: ${c.wall.toFixed(2)} s wall, ${c.cpu.toFixed(2)} s CPU (load ${load()})`);
      }
    }
    const m = (name: string) => ({ wall: median(got[name]!.map((c) => c.wall)), cpu: median(got[name]!.map((c) => c.cpu)) });
    const ratio = (a: string, b: string) => `${(m(a).wall / m(b).wall).toFixed(2)}x wall, ${(m(a).cpu / m(b).cpu).toFixed(2)}x CPU`;
    const lines = [
      '## Databases',
      '',
      `\`bench/run.sh db\` on ${new Date().toISOString().slice(0, 10)}: PostgreSQL ${size} (${ROWS} rows, bench/db/postgresql.sql), peer authentication,`,
      `batt as root; ${os.cpus().length} cores; median of ${RUNS} rounds, contenders alternating; load averages at each round's start: ${loads.join(' | ')}.`,
      '',
      '| contender | wall | CPU |',
      '| --- | --- | --- |',
      ...Object.keys(got).map((k) => `| ${k} | ${m(k).wall.toFixed(2)} s | ${m(k).cpu.toFixed(2)} s |`),
      '',
      `- backup: batt FORMAT=directory JOBS=${JOBS} / batt FORMAT=custom: ${ratio(`batt FORMAT=directory JOBS=${JOBS}`, 'batt FORMAT=custom')} (target <= 0.70x)`,
      `- restore: batt directory -j ${JOBS} / batt custom: ${ratio(`batt restore (directory, -j ${JOBS})`, 'batt restore (custom)')} (target <= 0.90x)`,
      `- batt FORMAT=custom / pg_dump -Fc by hand: ${ratio('batt FORMAT=custom', 'by hand pg_dump -Fc')}`,
      `- batt FORMAT=directory / pg_dump -Fd -j ${JOBS} by hand: ${ratio(`batt FORMAT=directory JOBS=${JOBS}`, `by hand pg_dump -Fd -j ${JOBS}`)}`,
      `- batt restore custom / pg_restore by hand: ${ratio('batt restore (custom)', 'by hand pg_restore --single-transaction')}`,
      '',
    ];
    const text = lines.join('\n');
    process.stdout.write(text + '\n');
    if (RESULTS !== '-') {
      const old = fs.existsSync(RESULTS) ? fs.readFileSync(RESULTS, 'utf8') : '';
      const at = old.indexOf('\n## Databases\n');
      const rest = at < 0 ? '' : old.slice(at + 1).replace(/^## Databases\n[\s\S]*?(?=\n## |$)/, '').replace(/^\n+/, '');
      fs.writeFileSync(RESULTS, `${(at < 0 ? old : old.slice(0, at)).trimEnd()}\n\n${text}${rest ? `\n${rest}` : ''}`);
    }
  } finally {
    await pg.stop();
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  log(`bench/db.ts: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
