// `bench/run.sh physical [small|full]`: physical copies (METHOD=physical: mariadb-backup,
// pg_basebackup) against the logical dumps (batt's defaults) of the same generated database, for
// MariaDB and PostgreSQL: backup time, size, and above all the time to get a database back
// (a logical restore loads the dump into a new database; a physical one unpacks the copy into an
// empty data directory, and the time until a server started on it answers is counted too).
// Throwaway servers as the tests start them (PostgreSQL with peer authentication, as Debian sets
// it up; batt as root). Contenders alternate; the median of BENCH_RUNS rounds is kept and the
// ratios are same-run ratios, with the load noted. Needs root. Never part of `npm test`.
//
// Env: BENCH_DB_ROWS (rows per database: 2500000 = about 650 MB in PostgreSQL, 4000000 = about
//      1 GB), BENCH_RUNS (3), BENCH_RESULTS (file whose "## Physical and logical" section is
//      replaced; "-" = print only).
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startMariaDB, startPostgreSQL } from '../test/helpers/servers.js';
import { dirBytes, load, log, median, putSection, rotate } from './measure.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const ROWS = Number(process.env.BENCH_DB_ROWS ?? 2_500_000);
const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const RESULTS = process.env.BENCH_RESULTS ?? path.join(repo, 'bench', 'RESULTS.md');
const SECTION = '## Physical and logical';
const sec = (s: number) => `${s.toFixed(2)} s`;
const mb = (b: number) => `${(b / 1e6).toFixed(0)} MB`;

/** Runs argv; its wall seconds. */
function timed(argv: string[]): number {
  spawnSync('sync');
  const t0 = process.hrtime.bigint();
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] });
  if (r.status !== 0) throw new Error(`${argv.join(' ')} failed (${r.status}): ${r.stderr.slice(-1500)}`);
  return Number(process.hrtime.bigint() - t0) / 1e9;
}

/** batt's home as ./install makes it, with a copy of dist/ (others may rebuild the tree). */
function makeHome(work: string, service: string): { home: string; batt: string[] } {
  const home = path.join(work, `home-${service}`);
  for (const d of ['scripts-available', 'scripts-enabled', 'conf', 'dist']) fs.mkdirSync(path.join(home, d), { recursive: true });
  for (const f of [`backup-${service}`, `restore-${service}`]) fs.copyFileSync(path.join(repo, 'scripts-available', f), path.join(home, 'scripts-available', f));
  fs.cpSync(path.join(repo, 'dist'), path.join(home, 'dist'), { recursive: true });
  return { home, batt: [process.execPath, path.join(home, 'dist', 'batt.js'), '--home', home] };
}

/** One contender's rounds: seconds, and the bytes of what it wrote. */
type Got = Record<string, { s: number[]; bytes?: number }>;

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('bench/physical.ts runs as root (batt as root, as the README says)');
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'batt-bench-physical-'));
  fs.chmodSync(work, 0o755); // a restored PostgreSQL runs as postgres
  const got: Got = {};
  const add = (name: string, s: number, bytes?: number) => {
    const g = (got[name] ??= { s: [] });
    g.s.push(s);
    if (bytes !== undefined) g.bytes = bytes;
    log(`  ${name}: ${sec(s)}${bytes !== undefined ? `, ${mb(bytes)}` : ''} (load ${load()})`);
  };
  const loads: string[] = [];
  const sizes: Record<string, string> = {};
  const pg = await startPostgreSQL('bench-unused', { peer: true });
  const my = await startMariaDB();
  if (!pg || !my) throw new Error('PostgreSQL or MariaDB is not installed');
  try {
    log(`building the databases: ${ROWS} rows each (load ${load()})`);
    pg.sql('CREATE DATABASE bench');
    const asPg = ['runuser', '-u', 'postgres', '--', 'env', `PGHOST=${pg.dir}`, `PGPORT=${pg.port}`];
    const built = spawnSync(asPg[0]!, [...asPg.slice(1), path.join(pg.bin, 'psql'), '-X', '-q', '-v', `rows=${ROWS}`, '-f', path.join(repo, 'bench', 'db', 'postgresql.sql'), 'bench'], { encoding: 'utf8' });
    if (built.status !== 0) throw new Error(`building the PostgreSQL database failed: ${built.stderr}`);
    pg.sql('CHECKPOINT');
    sizes.postgresql = pg.sql("SELECT pg_size_pretty(pg_database_size('bench'))").trim();
    // The same shape in MariaDB (InnoDB): md5 text of the row numbers, as bench/db/postgresql.sql.
    my.sql(`CREATE DATABASE bench; USE bench;
      CREATE TABLE orders (id INT PRIMARY KEY, customer INT NOT NULL, note VARCHAR(200), body TEXT, KEY (customer)) ENGINE=InnoDB;
      INSERT INTO orders SELECT seq, seq % 10007, MD5(seq), CONCAT(MD5(seq), SHA1(seq), MD5(seq + 1)) FROM seq_1_to_${ROWS};`);
    sizes.mysql = mb(dirBytes(path.join(my.datadir, 'bench')));
    log(`databases: PostgreSQL ${sizes.postgresql}, MariaDB ${sizes.mysql}`);

    const pgHome = makeHome(work, 'postgresql');
    const myHome = makeHome(work, 'mysql');
    // logical: the one database (a physical copy is always the whole server, which holds just it)
    const pgConf = (extra: string) =>
      fs.writeFileSync(path.join(pgHome.home, 'conf', 'postgresql.conf'), `HOST=${pg.dir}\nPORT=${pg.port}\n${extra || 'DATABASES=bench\nGLOBALS=no\n'}`, { mode: 0o600 });
    const myConf = (extra: string) => fs.writeFileSync(path.join(myHome.home, 'conf', 'mysql.conf'), `SOCKET=${my.socket}\nUSER=root\n${extra || 'DATABASES=bench\n'}`, { mode: 0o600 });
    const pgEnv = ['env', `PG_BASEBACKUP=${path.join(pg.bin, 'pg_basebackup')}`, `PSQL=${path.join(pg.bin, 'psql')}`, `PG_DUMP=${path.join(pg.bin, 'pg_dump')}`, `PG_RESTORE=${path.join(pg.bin, 'pg_restore')}`];
    const out = (name: string) => path.join(work, 'out', name);

    for (let round = 0; round < RUNS; round++) {
      fs.rmSync(path.join(work, 'out'), { recursive: true, force: true });
      fs.mkdirSync(path.join(work, 'out'), { mode: 0o755 });
      loads.push(load());
      log(`round ${round + 1}/${RUNS} (load ${load()})`);
      const backups: Record<string, () => void> = {
        'postgresql logical backup': () => (pgConf(''), add('postgresql logical backup', timed([...pgEnv, ...pgHome.batt, '--path', out('pg-logical'), 'postgresql']), dirBytes(out('pg-logical')))),
        'postgresql physical backup': () => (pgConf('METHOD=physical\n'), add('postgresql physical backup', timed([...pgEnv, ...pgHome.batt, '--path', out('pg-physical'), 'postgresql']), dirBytes(out('pg-physical')))),
        'mysql logical backup': () => (myConf(''), add('mysql logical backup', timed([...myHome.batt, '--path', out('my-logical'), 'mysql']), dirBytes(out('my-logical')))),
        'mysql physical backup': () => (myConf(`METHOD=physical\nDATADIR=${my.datadir}\n`), add('mysql physical backup', timed([...myHome.batt, '--path', out('my-physical'), 'mysql']), dirBytes(out('my-physical')))),
      };
      for (const name of rotate(Object.keys(backups), round)) backups[name]!();

      const restores: Record<string, () => Promise<void>> = {
        'postgresql logical restore': async () => {
          pgConf('');
          pg.sql('DROP DATABASE IF EXISTS r_logical');
          add('postgresql logical restore', timed([...pgEnv, ...pgHome.batt, '--path', out('pg-logical'), 'restore', 'postgresql', '--to', 'r_logical']));
        },
        'postgresql physical restore': async () => {
          pgConf('');
          const datadir = out('pg-datadir');
          const s = timed([...pgEnv, ...pgHome.batt, '--path', out('pg-physical'), 'restore', 'postgresql', '--to', datadir]);
          const t0 = process.hrtime.bigint();
          const restored = await startPostgreSQL('bench-unused', { peer: true, datadir });
          const up = Number(process.hrtime.bigint() - t0) / 1e9;
          add('postgresql physical restore', s);
          add('postgresql physical restore + server up', s + up);
          await restored?.stop();
        },
        'mysql logical restore': async () => {
          myConf('');
          my.sql('DROP DATABASE IF EXISTS r_logical');
          add('mysql logical restore', timed([...myHome.batt, '--path', out('my-logical'), 'restore', 'mysql', '--mysql-db', 'bench', '--to', 'r_logical']));
        },
        'mysql physical restore': async () => {
          myConf('');
          const datadir = out('my-datadir');
          const s = timed([...myHome.batt, '--path', out('my-physical'), 'restore', 'mysql', '--to', datadir]);
          const t0 = process.hrtime.bigint();
          const restored = await startMariaDB({ datadir });
          const up = Number(process.hrtime.bigint() - t0) / 1e9;
          add('mysql physical restore', s);
          add('mysql physical restore + server up', s + up);
          await restored?.stop();
        },
      };
      for (const name of rotate(Object.keys(restores), round)) await restores[name]!();
    }

    const m = (name: string) => median(got[name]!.s);
    const ratio = (a: string, b: string) => `${(m(a) / m(b)).toFixed(2)}x`;
    const lines = [
      SECTION,
      '',
      `\`bench/run.sh physical\` on ${new Date().toISOString().slice(0, 10)}: ${ROWS} rows in each database (PostgreSQL ${sizes.postgresql}, peer`,
      `authentication; MariaDB ${sizes.mysql}, InnoDB), batt as root, the defaults otherwise (PostgreSQL FORMAT=custom, MariaDB one`,
      `mariadb-dump); ${os.cpus().length} cores; median of ${RUNS} rounds, contenders alternating; load averages at each round's start: ${loads.join(' | ')}.`,
      '',
      '| contender | wall | size |',
      '| --- | --- | --- |',
      ...Object.keys(got).map((k) => `| ${k} | ${sec(m(k))} | ${got[k]!.bytes !== undefined ? mb(got[k]!.bytes!) : ''} |`),
      '',
      `- PostgreSQL restore, physical (until the server answers) / logical: ${ratio('postgresql physical restore + server up', 'postgresql logical restore')}; backup physical / logical: ${ratio('postgresql physical backup', 'postgresql logical backup')}`,
      `- MariaDB restore, physical (until the server answers) / logical: ${ratio('mysql physical restore + server up', 'mysql logical restore')}; backup physical / logical: ${ratio('mysql physical backup', 'mysql logical backup')}`,
      '- A physical copy is the whole server (every database, the indexes as built, the WAL or redo',
      '  log): it restores without rebuilding indexes, which is where a logical restore of a big',
      '  database spends its time; it is bigger, restores only whole, and only into the same major',
      '  version.',
      '',
    ];
    const text = lines.join('\n');
    process.stdout.write(text + '\n');
    if (RESULTS !== '-') putSection(RESULTS, SECTION, text);
  } finally {
    await Promise.all([pg.stop(), my.stop()]);
    fs.rmSync(work, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  log(`bench/physical.ts: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
});
