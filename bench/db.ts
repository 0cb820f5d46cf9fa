// `bench/run.sh db`: batt's PostgreSQL backup and restore against the same commands by hand, on a
// generated database (bench/db/postgresql.sql: deterministic, md5 of the row numbers; its size
// set by BENCH_DB_ROWS) in a throwaway cluster set up as Debian's package does (peer
// authentication; batt runs as root, the clients as postgres); then batt's MySQL backup against
// the bare `mariadb-dump | zstd -3 -T0` by hand, on the same rows in MariaDB (bench/db/mariadb.sql)
// in a throwaway mariadbd started as the tests start theirs (root over its socket). Contenders
// alternate, the order rotating every round; the median of BENCH_RUNS rounds is kept and the
// ratios are same-run ratios, with the load average noted. Needs root. Never part of `npm test`.
//
// Env: BENCH_DB_ROWS (orders rows; 2500000 = about 650 MB in PostgreSQL, 540 MB in MariaDB),
//      BENCH_RUNS (3), BENCH_JOBS (2: pg_dump -j, mydumper threads), BENCH_DB (postgresql,mariadb: which halves run),
//      BENCH_RESULTS (file whose "## Databases" and "## MySQL dump" sections are replaced; "-" = print only).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { mariadbTools, startMariaDB, startPostgreSQL } from '../test/helpers/servers.js';
import { load, log, median, putSection, rotate } from './measure.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ROWS = Number(process.env.BENCH_DB_ROWS ?? 2_500_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const JOBS = String(process.env.BENCH_JOBS ?? 2);
const RESULTS = process.env.BENCH_RESULTS ?? path.join(repo, 'bench', 'RESULTS.md');
const HALVES = (process.env.BENCH_DB ?? 'postgresql,mariadb').split(',').map((h) => h.trim());

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

/** One round: each contender once, in this round's rotated order, its cost added to got[name]. */
function timeRound(contenders: Record<string, () => Cost>, round: number, got: Record<string, Cost[]>): void {
  for (const name of rotate(Object.keys(contenders), round)) {
    const c = contenders[name]!();
    (got[name] ??= []).push(c);
    log(`round ${round + 1} ${name}: ${c.wall.toFixed(2)} s wall, ${c.cpu.toFixed(2)} s CPU (load ${load()})`);
  }
}

async function postgresql(): Promise<string> {
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
      timeRound(backups, round, got);
      for (const db of ['r_hand', 'r_handdir', 'r_custom', 'r_dir']) pg.sql(`DROP DATABASE IF EXISTS ${db}`);
      timeRound(restores, round, got);
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
    return lines.join('\n');
  } finally {
    await pg.stop();
    fs.rmSync(work, { recursive: true, force: true });
  }
}

async function mariadb(): Promise<string> {
  const tools = mariadbTools();
  // A bigger buffer pool than the tests' 16 MB, so building the rows takes minutes, not tens of them.
  const my = tools && (await startMariaDB({ serverArgs: ['--innodb-buffer-pool-size=256M', '--innodb-log-file-size=64M'] }));
  if (!tools || !my) throw new Error('MariaDB is not installed');
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'batt-bench-mysql-'));
  // METHOD=mydumper (issue 19 item 3) when Debian's mydumper is installed.
  const mydumper = spawnSync('sh', ['-c', 'command -v mydumper']).status === 0;
  try {
    log(`building the MariaDB database: ${ROWS} rows (load ${load()})`);
    my.sql('CREATE DATABASE bench');
    my.sql(`SET @rows = ${ROWS};\n${fs.readFileSync(path.join(repo, 'bench', 'db', 'mariadb.sql'), 'utf8')}`, 'bench');
    const mb = Number(my.sql("SELECT SUM(data_length + index_length) FROM information_schema.TABLES WHERE table_schema = 'bench'").trim()) / 1e6;
    log(`database: ${mb.toFixed(0)} MB`);

    const home = path.join(work, 'home');
    for (const d of ['scripts-available', 'scripts-enabled', 'conf', 'dist']) fs.mkdirSync(path.join(home, d), { recursive: true });
    fs.copyFileSync(path.join(repo, 'scripts-available', 'backup-mysql'), path.join(home, 'scripts-available', 'backup-mysql'));
    fs.cpSync(path.join(repo, 'dist'), path.join(home, 'dist'), { recursive: true });
    fs.writeFileSync(path.join(home, 'conf', 'mysql.conf'), `SOCKET=${my.socket}\nUSER=root\nDATABASES=bench\n`, { mode: 0o600 });
    const batt = [process.execPath, path.join(home, 'dist', 'batt.js'), '--home', home];
    const out = (name: string) => path.join(work, 'out', name);
    const fresh = () => {
      fs.rmSync(path.join(work, 'out'), { recursive: true, force: true });
      fs.mkdirSync(path.join(work, 'out'));
    };
    // The script by itself (no batt: no start-up, no hashing, no fsync), as batt runs it.
    const script = (dest: string, env: string[]) => {
      fs.mkdirSync(dest);
      return timed(['env', `BATT_DEST=${dest}`, `BATT_CONF_SOCKET=${my.socket}`, 'BATT_CONF_USER=root', 'BATT_CONF_DATABASES=bench', ...env,
        path.join(home, 'scripts-available', 'backup-mysql')]);
    };
    // The dump options backup-mysql uses, so both dump the same bytes.
    const dumpOpts = ['--single-transaction', '--routines', '--events', '--triggers', '--hex-blob', '--quick', '--no-tablespaces',
      '--default-character-set=utf8mb4', '--add-drop-table', '--comments', '--dump-date'];
    const HAND = 'by hand mariadb-dump | zstd -3 -T0';
    const SYNC = 'by hand, then sync OUT';
    const BATT = 'batt mysql';
    const SCRIPT = 'backup-mysql alone';
    const OLD = 'backup-mysql alone, PERL= STDBUF= (tee + fifo + tail)';
    const MYDUMPER = `batt mysql METHOD=mydumper JOBS=${JOBS}`;
    const backups: Record<string, () => Cost> = {
      [HAND]: () =>
        timed(['bash', '-c', 'set -o pipefail; o=$1; shift; "$@" | zstd -q -3 -T0 -o "$o"', 'hand', out('hand.sql.zst'),
          tools.dump, '--no-defaults', `--socket=${my.socket}`, '-uroot', ...dumpOpts, 'bench']),
      // batt makes its backup durable (fsync before the rename): the bare pipeline does not.
      [SYNC]: () =>
        timed(['bash', '-c', 'set -o pipefail; o=$1; shift; "$@" | zstd -q -3 -T0 -o "$o" && sync "$o"', 'hand', out('sync.sql.zst'),
          tools.dump, '--no-defaults', `--socket=${my.socket}`, '-uroot', ...dumpOpts, 'bench']),
      [BATT]: () => timed([...batt, '--path', out('batt'), 'mysql']),
      [SCRIPT]: () => script(out('script'), []),
      ...(mydumper ? { [MYDUMPER]: () => timed([...batt, '--path', out('mydumper'), 'mysql', '--mysql-method', 'mydumper', '--mysql-jobs', JOBS]) } : {}),
      [OLD]: () => script(out('old'), ['PERL=', 'STDBUF=']),
    };
    const got: Record<string, Cost[]> = {};
    const loads: string[] = [];
    for (let round = 0; round < RUNS; round++) {
      fresh();
      loads.push(load());
      timeRound(backups, round, got);
    }
    const dumpMb = fs.statSync(out('hand.sql.zst')).size / 1e6;
    const m = (name: string) => ({ wall: median(got[name]!.map((c) => c.wall)), cpu: median(got[name]!.map((c) => c.cpu)) });
    // Per round, then the median: a same-round ratio cancels the load of that round.
    const ratio = (a: string, b: string) => {
      const per = (k: 'wall' | 'cpu') => median(got[a]!.map((c, i) => c[k] / got[b]![i]![k]));
      return `${per('wall').toFixed(2)}x wall, ${per('cpu').toFixed(2)}x CPU`;
    };
    return [
      '## MySQL dump',
      '',
      `\`bench/run.sh db\` on ${new Date().toISOString().slice(0, 10)}: MariaDB ${mb.toFixed(0)} MB of data and indexes (${ROWS} rows, bench/db/mariadb.sql,`,
      `InnoDB), dump ${dumpMb.toFixed(0)} MB compressed; root over the socket; ${os.cpus().length} cores; median of ${RUNS} rounds, contenders alternating;`,
      `load averages at each round's start: ${loads.join(' | ')}.`,
      '',
      '| contender | wall | CPU |',
      '| --- | --- | --- |',
      ...Object.keys(got).map((k) => `| ${k.replaceAll('|', '\\|')} | ${m(k).wall.toFixed(2)} s | ${m(k).cpu.toFixed(2)} s |`),
      '',
      'Median of the per-round ratios:',
      '',
      `- batt mysql / by hand: ${ratio(BATT, HAND)} (target <= 1.05x)`,
      `- batt mysql / by hand, then sync: ${ratio(BATT, SYNC)}`,
      `- backup-mysql alone / by hand: ${ratio(SCRIPT, HAND)}`,
      `- the old completion check (tee + fifo + tail, 4 KiB writes) / by hand: ${ratio(OLD, HAND)}`,
      ...(mydumper ? [`- batt METHOD=mydumper JOBS=${JOBS} / batt (mariadb-dump): ${ratio(MYDUMPER, BATT)}`] : []),
      '',
    ].join('\n');
  } finally {
    await my.stop();
    fs.rmSync(work, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('bench/db.ts runs as root (batt as root, the clients as postgres, as on Debian)');
  for (const [half, title, run] of [['postgresql', '## Databases', postgresql], ['mariadb', '## MySQL dump', mariadb]] as const) {
    if (!HALVES.includes(half)) continue;
    const text = await run();
    process.stdout.write(text + '\n');
    if (RESULTS !== '-') putSection(RESULTS, title, text);
  }
}

main().catch((err: unknown) => {
  log(`bench/db.ts: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
