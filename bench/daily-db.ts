// `bench/run.sh daily-db [quick|full]`: a week of daily backups of one changing database in a
// throwaway server (started as test/helpers/servers.ts starts the tests' servers). BENCH_DB=mariadb
// (the default): batt's mysql service (one zstd dump a day, kept locally), batt copying it to a
// restic repository target (TYPE=restic) with the dump as zstd (the default), `zstd --rsyncable`
// (ZSTD set to a wrapper) or plain (`--mysql-compress none`), and restic alone of a plain dump
// (mariadb-dump to a file, then restic backup of it; both timed). BENCH_DB=postgresql: a cluster
// laid out and authenticated as Debian's (peer over the socket; batt as root, the clients as the
// OS user postgres); batt's postgresql service (pg_dump -Fc, compressed by pg_dump itself, kept
// locally), batt to a restic target with that default or `--postgresql-compress none` (pg_dump
// -Z 0), and restic alone of a plain `pg_dump -Fp` and of `pg_dump -Fc -Z 0` (each to a file, then
// restic backup; both timed). The database: one table `orders` seeded with BENCH_DB_MB of plain
// dump (row contents from md5 of the row number: deterministic). Each simulated day changes about
// 1% of the rows the way a shop does: 0.5% new rows (appended ids), 0.4% updates and 0.01% deletes
// among the newest tenth of the rows, and a few old rows (1 in 50000) updated. Changes scattered
// over every row would touch every ~1 MB chunk of any dump and defeat every tool's deduplication
// (docs/targets.md, "What deduplicates"). Per day: wall, CPU (the whole process tree), bytes the
// storage grew, peak RSS. Needs root and the Debian packages restic, zstd, time and
// mariadb-server, mariadb-client or postgresql. Never part of `npm test`.
//
// Env: BENCH_DB (mariadb or postgresql), BENCH_DB_MB (plain dump size, 50), BENCH_DAYS (7),
//      BENCH_DIR ($TMPDIR/batt-bench), BENCH_RESULTS (bench/RESULTS.md: its "MariaDB daily
//      series" or "PostgreSQL daily series" section of this size is replaced, or added; "-" = do
//      not write).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startMariaDB, mariadbTools, startPostgreSQL } from '../test/helpers/servers.js';
import { backupDay, log, has, must, timed, writeSection, type DailyContender, type Day } from './measure.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DB_MB = Number(process.env.BENCH_DB_MB ?? 50);
const DAYS = Number(process.env.BENCH_DAYS ?? 7);
const BASE = path.resolve(process.env.BENCH_DIR ?? path.join(os.tmpdir(), 'batt-bench'));
const RESULTS = process.env.BENCH_RESULTS ?? path.join(repo, 'bench', 'RESULTS.md');
const WHICH = process.env.BENCH_DB ?? 'mariadb';
const CRON_VARS = ['PATH', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR'];
const env: NodeJS.ProcessEnv = Object.fromEntries(CRON_VARS.filter((k) => process.env[k] !== undefined).map((k) => [k, process.env[k]]));
const REF = 'restic, plain dump';

/**
 * The database a series backs up, as the common part of the series needs it: the server, the
 * table seeded and changed a day at a time, batt's service for it, and the dumps that restic
 * alone backs up.
 */
interface Subject {
  /** MariaDB, PostgreSQL: in the section's title. */
  name: string;
  /** The section's markers: `<!-- KEY daily series N MB: ... -->`. */
  key: string;
  /** batt's service and its scripts (copied into each home). */
  service: 'mysql' | 'postgresql';
  /** conf/<service>.conf */
  conf: string;
  /** Bytes of plain dump a row makes (measured), for BENCH_DB_MB. */
  rowBytes: number;
  /** Creates the table `orders` in database `bench` with this many rows. */
  seed(rows: number): void;
  /** MAX(id) and COUNT(*) of the table. */
  size(): [number, number];
  /** Day n's changes (see the top), MAX = MAX(id) before them. */
  change(n: number, max: number, ins: number): void;
  /** The restic targets' variants: the label, batt's options, ZSTD set to `zstd --rsyncable`. */
  variants: { label: string; opts: string[]; rsyncable?: boolean }[];
  /** The dumps restic alone backs up: the contender's name, the argv writing the dump to stdout, its file name. First: the plain dump, the series' reference. */
  alone: { name: string; dump: string[]; file: string }[];
  /** The server's and engine's words for the report. */
  version: string;
  engine: string;
  /** The contenders, described for the report. */
  contenders: string[];
  stop(): Promise<void>;
}

async function mariadb(): Promise<Subject> {
  const tools = mariadbTools();
  if (!tools) throw new Error('bench: mariadbd, mariadb-install-db, mariadb or mariadb-dump is missing (apt-get install mariadb-server mariadb-client)');
  if (process.getuid?.() !== 0) throw new Error('bench: run it as root (mariadbd --user=root)');
  const server = await startMariaDB();
  if (!server) throw new Error('bench: MariaDB could not be started');
  const row = (id: string, day: string) =>
    `1 + (${id} * 7919) % 50000, ELT(1 + (${id} + ${day}) % 4, 'new', 'paid', 'shipped', 'closed'), ((${id} * 37) % 100000) / 100, `
    + `CONCAT(MD5(CONCAT(${id}, '-', ${day})), ' ', MD5(${id}), ' ', SHA1(${id})), TIMESTAMP('2026-01-01') + INTERVAL ${id} SECOND + INTERVAL ${day} DAY`;
  const dumpArgs = ['--no-defaults', `--socket=${server.socket}`, '-uroot', '--single-transaction', '--routines', '--events', '--triggers', '--hex-blob', '--quick', '--default-character-set=utf8mb4', 'bench'];
  return {
    name: 'MariaDB',
    key: 'mariadb',
    service: 'mysql',
    conf: `SOCKET=${server.socket}\nUSER=root\nDATABASES=bench\n`,
    rowBytes: 158,
    seed: (rows) =>
      void server.sql(`
        CREATE DATABASE bench CHARACTER SET utf8mb4;
        USE bench;
        CREATE TABLE orders (id INT AUTO_INCREMENT PRIMARY KEY, customer INT, status VARCHAR(10), total DECIMAL(10,2), note VARCHAR(200), updated DATETIME) ENGINE=InnoDB;
        INSERT INTO orders (customer, status, total, note, updated) SELECT ${row('seq', '0')} FROM seq_1_to_${rows};
      `),
    size: () => server.sql('SELECT MAX(id), COUNT(*) FROM bench.orders').trim().split('\t').map(Number) as [number, number],
    change: (n, max, ins) =>
      void server.sql(`
        USE bench;
        INSERT INTO orders (customer, status, total, note, updated) SELECT ${row(`(${max} + seq)`, String(n))} FROM seq_1_to_${ins};
        UPDATE orders SET status = 'shipped', total = total + 1, note = CONCAT(MD5(CONCAT(id, '/', ${n})), SUBSTRING(note, 33)), updated = updated + INTERVAL 1 DAY
          WHERE id > ${Math.round(max * 0.9)} AND id <= ${max} AND (id * 31 + ${n}) % 25 = 0;
        UPDATE orders SET total = total - 1, updated = updated + INTERVAL 1 HOUR WHERE (id * 17 + ${n} * 7) % 50000 = 0;
        DELETE FROM orders WHERE id > ${Math.round(max * 0.9)} AND (id * 13 + ${n}) % 1000 = 0;
      `),
    variants: [
      { label: 'zstd', opts: [] },
      { label: 'zstd --rsyncable', opts: [], rsyncable: true },
      { label: 'none', opts: ['--mysql-compress', 'none'] },
    ],
    alone: [{ name: REF, dump: [tools.dump, ...dumpArgs], file: 'bench.sql' }],
    version: spawnSync(tools.server, ['--version'], { encoding: 'utf8' }).stdout.trim(),
    engine: 'one InnoDB table',
    contenders: [
      'Contenders: `batt mysql` (one zstd dump a day, local); "batt mysql → restic, X": the same with a `TYPE=restic` target (its own repository, version 2; bytes added = the',
      'repository\'s growth), X = the dump compressed by zstd (the default) or `zstd --rsyncable`, or none (`--mysql-compress none`: the plain `<db>.sql`); "restic, plain dump": `mariadb-dump > bench.sql && restic backup` (both timed).',
    ],
    stop: () => server.stop(),
  };
}

async function postgresql(): Promise<Subject> {
  if (process.getuid?.() !== 0) throw new Error('bench: run it as root (batt as root, the clients as the OS user postgres, as on Debian)');
  // Debian's layout and pg_hba (peer over the socket): batt runs as root, its clients as OS_USER postgres.
  const pg = await startPostgreSQL('bench-unused', { debian: true });
  if (!pg) throw new Error('bench: PostgreSQL is missing (apt-get install postgresql)');
  const pgDump = [...['runuser', '-u', 'postgres', '--'], path.join(pg.bin, 'pg_dump'), '-h', pg.dir, '-p', String(pg.port)];
  // generate_series in bigint: id * 7919 overflows an integer at 270000 rows. No sha1 in core PostgreSQL: 40 hex digits of sha256, as long.
  const row = (id: string, day: string) =>
    `1 + (${id} * 7919) % 50000, (ARRAY['new', 'paid', 'shipped', 'closed'])[1 + (${id} + ${day}) % 4], ((${id} * 37) % 100000) / 100.0, `
    + `md5(${id} || '-' || ${day}) || ' ' || md5(${id}::text) || ' ' || left(encode(sha256(${id}::text::bytea), 'hex'), 40), `
    + `timestamp '2026-01-01' + ${id} * interval '1 second' + ${day} * interval '1 day'`;
  return {
    name: 'PostgreSQL',
    key: 'postgresql',
    service: 'postgresql',
    conf: `HOST=${pg.dir}\nPORT=${pg.port}\nDATABASES=bench\n`,
    rowBytes: 152,
    seed: (rows) => {
      pg.sql('CREATE DATABASE bench');
      pg.sql(`
        CREATE TABLE orders (id integer GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, customer integer, status varchar(10), total numeric(10,2), note varchar(200), updated timestamp);
        INSERT INTO orders (customer, status, total, note, updated) SELECT ${row('g', '0')} FROM generate_series(1::bigint, ${rows}) g;
        VACUUM ANALYZE orders;
      `, 'bench');
    },
    size: () => pg.sql('SELECT MAX(id), COUNT(*) FROM orders', 'bench').trim().split('|').map(Number) as [number, number],
    // Autovacuum left as it is: at 0.4% dead rows a day it does not vacuum the table within the
    // week (a fifth of the rows), so, as on a server, an updated row's new version goes to free
    // space at the table's end, and so to the dump's end (COPY reads in the table's order).
    change: (n, max, ins) =>
      void pg.sql(`
        INSERT INTO orders (customer, status, total, note, updated) SELECT ${row(`(${max} + g)`, String(n))} FROM generate_series(1::bigint, ${ins}) g;
        UPDATE orders SET status = 'shipped', total = total + 1, note = md5(id || '/' || ${n}) || substr(note, 33), updated = updated + interval '1 day'
          WHERE id > ${Math.round(max * 0.9)} AND id <= ${max} AND (id * 31 + ${n}) % 25 = 0;
        UPDATE orders SET total = total - 1, updated = updated + interval '1 hour' WHERE (id * 17 + ${n} * 7) % 50000 = 0;
        DELETE FROM orders WHERE id > ${Math.round(max * 0.9)} AND (id * 13 + ${n}) % 1000 = 0;
      `, 'bench'),
    variants: [
      { label: 'default', opts: [] },
      { label: 'none', opts: ['--postgresql-compress', 'none'] },
    ],
    alone: [
      { name: REF, dump: [...pgDump, '-Fp', 'bench'], file: 'bench.sql' },
      { name: 'restic, pg_dump -Fc -Z 0', dump: [...pgDump, '-Fc', '-Z', '0', 'bench'], file: 'bench.dump' },
    ],
    version: spawnSync(path.join(pg.bin, 'postgres'), ['--version'], { encoding: 'utf8' }).stdout.trim(),
    engine: 'one table',
    contenders: [
      'Contenders: `batt postgresql` (one `pg_dump -Fc` a day, compressed by pg_dump itself, local; with the roles in globals.sql.zst); "batt postgresql → restic, X": the same with a `TYPE=restic`',
      'target (its own repository, version 2; bytes added = the repository\'s growth), X = the default or none (`--postgresql-compress none`: `pg_dump -Fc -Z 0` and a plain globals.sql);',
      '"restic, plain dump": `pg_dump -Fp > bench.sql && restic backup`, "restic, pg_dump -Fc -Z 0": the same with `pg_dump -Fc -Z 0 > bench.dump` (both timed; the clients as the OS user postgres, peer authentication).',
    ],
    stop: () => pg.stop(),
  };
}

async function main(): Promise<void> {
  for (const t of ['/usr/bin/time', 'restic', 'zstd']) if (!has(t)) throw new Error(`bench: ${t} is missing (apt-get install time restic zstd)`);
  if (WHICH !== 'mariadb' && WHICH !== 'postgresql') throw new Error(`bench: BENCH_DB is mariadb or postgresql, not '${WHICH}'`);
  fs.mkdirSync(BASE, { recursive: true });
  const work = fs.mkdtempSync(path.join(BASE, 'daily-db-'));
  let db: Subject | undefined;
  const loads: number[] = [];
  try {
    db = WHICH === 'postgresql' ? await postgresql() : await mariadb();
    const rows = Math.round((DB_MB * 2 ** 20) / db.rowBytes);
    log(`bench daily-db: ${db.name}, seeding ${rows} rows (~${DB_MB} MB of dump); load: ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
    db.seed(rows);
    const plainSize = Number(must('sh', ['-c', `"$0" "$@" | wc -c`, ...db.alone[0]!.dump], env).trim());
    log(`bench daily-db: the plain dump is ${(plainSize / 2 ** 20).toFixed(1)} MB`);

    fs.cpSync(path.join(repo, 'dist'), path.join(work, 'dist'), { recursive: true }); // others may rebuild dist mid-run
    const batt = path.join(work, 'dist', 'batt.js');
    const password = path.join(work, 'restic-password');
    fs.writeFileSync(password, 'bench\n', { mode: 0o600 });
    const rsyncable = path.join(work, 'zstd-rsyncable');
    fs.writeFileSync(rsyncable, '#!/bin/sh\nexec zstd --rsyncable "$@"\n', { mode: 0o755 });
    const service = db.service;
    const makeHome = (name: string, target?: string) => {
      const h = path.join(work, name);
      fs.mkdirSync(path.join(h, 'scripts-available'), { recursive: true });
      fs.mkdirSync(path.join(h, 'scripts-enabled'), { recursive: true });
      fs.mkdirSync(path.join(h, 'conf', 'targets'), { recursive: true, mode: 0o700 });
      for (const f of [`backup-${service}`, `restore-${service}`]) {
        fs.copyFileSync(path.join(repo, 'scripts-available', f), path.join(h, 'scripts-available', f));
        fs.chmodSync(path.join(h, 'scripts-available', f), 0o755);
      }
      fs.writeFileSync(path.join(h, 'conf', `${service}.conf`), db!.conf, { mode: 0o600 });
      if (target) fs.writeFileSync(path.join(h, 'conf', 'targets', 'r.conf'), `TYPE=restic\nREPOSITORY=${target}\nPASSWORD_FILE=${password}\n`, { mode: 0o600 });
      return h;
    };
    const resticEnv = (cache: string) => ({ ...env, RESTIC_PASSWORD_FILE: password, RESTIC_CACHE_DIR: path.join(work, cache) });
    const list: DailyContender[] = [];
    const local = path.join(work, 'local');
    const home = makeHome('home');
    list.push({ name: `batt ${service}`, storage: local, backup: (n) => timed(process.execPath, [batt, '--home', home, '--path', `${local}/%Y/day${n}`, service], env) });
    for (const [i, v] of db.variants.entries()) {
      const r = path.join(work, `t${i}-repo`);
      must('restic', ['init', '--repository-version', '2', '--repo', r, '-q'], resticEnv(`t${i}-cache`));
      const h = makeHome(`home-t${i}`, r);
      const e = { ...env, RESTIC_CACHE_DIR: path.join(work, `t${i}-cache`), ...(v.rsyncable ? { ZSTD: rsyncable } : {}) };
      list.push({ name: `batt ${service} → restic, ${v.label}`, storage: r, backup: (n) => timed(process.execPath, [batt, '--home', h, '--path', `${work}/t${i}/%Y/day${n}`, service, ...v.opts], e) });
    }
    for (const [i, a] of db.alone.entries()) {
      const resticRepo = path.join(work, `restic${i}`);
      const cache = `restic${i}-cache`;
      must('restic', ['init', '--repository-version', '2', '--repo', resticRepo, '-q'], resticEnv(cache));
      const dumpDir = path.join(work, `dump${i}`);
      fs.mkdirSync(dumpDir);
      list.push({
        name: a.name,
        storage: resticRepo,
        backup: () => timed('sh', ['-c', `"$0" "$@" > ${dumpDir}/${a.file} && restic backup --repo ${resticRepo} -q ${dumpDir}`, ...a.dump], resticEnv(cache)),
      });
    }

    const days: Record<string, Day[]> = Object.fromEntries(list.map((c) => [c.name, []]));
    const changes: string[] = [];
    for (let n = 1; n <= DAYS; n++) {
      if (n > 1) {
        const [max, count] = db.size();
        const ins = Math.round(count * 0.005);
        db.change(n, max, ins);
        changes.push(`day ${n}: ${ins} rows added, ~${Math.round(count * 0.004)} recent and ~${Math.round(count / 50000)} old rows updated, ~${Math.round(count / 10000)} recent deleted`);
      }
      loads.push(os.loadavg()[0]!);
      backupDay(list, n, days);
    }
    const lines = report(db, list.map((c) => c.name), days, changes, loads, plainSize);
    process.stdout.write(lines.join('\n') + '\n');
    if (RESULTS !== '-') {
      writeSection(RESULTS, `<!-- ${db.key} daily series ${DB_MB} MB:`, `<!-- end of ${db.key} daily series ${DB_MB} MB -->`, lines);
      log(`bench daily-db: wrote the series into ${RESULTS}`);
    }
  } finally {
    await db?.stop();
    fs.rmSync(work, { recursive: true, force: true });
  }
}

const MB = (b: number) => (b / 2 ** 20).toFixed(1);
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

function report(db: Subject, names: string[], days: Record<string, Day[]>, changes: string[], loads: number[], plainSize: number): string[] {
  const later = (name: string) => days[name]!.slice(1);
  const rows = ['| day | contender | wall | CPU | bytes added | peak RSS |', '| --- | --- | --- | --- | --- | --- |'];
  for (let i = 0; i < DAYS; i++) {
    for (const name of names) {
      const d = days[name]![i]!;
      rows.push(`| ${i + 1} | ${name} | ${d.wallS.toFixed(2)} s | ${d.cpuS.toFixed(2)} s | ${MB(d.addedBytes)} MB | ${(d.peakRssKb / 1024).toFixed(0)} MB |`);
    }
  }
  const ref = later(REF).map((d) => d.addedBytes);
  const summary = [`| after ${DAYS} days | storage | bytes added, days 2-${DAYS} | CPU per day, days 2-${DAYS} (mean) | growth days 2-${DAYS} / restic of a plain dump (each day) |`, '| --- | --- | --- | --- | --- |'];
  for (const name of names) {
    const added = later(name).map((d) => d.addedBytes);
    summary.push(
      `| ${name} | ${MB(sum(days[name]!.map((d) => d.addedBytes)))} MB | ${MB(sum(added))} MB | ${(sum(later(name).map((d) => d.cpuS)) / later(name).length).toFixed(2)} s | `
        + `${(sum(added) / sum(ref)).toFixed(2)}x (${added.map((a, i) => (a / ref[i]!).toFixed(2)).join(', ')}) |`,
    );
  }
  return [
    `<!-- ${db.key} daily series ${DB_MB} MB: written by bench/daily-db.ts (${db.key === 'mariadb' ? '' : `BENCH_DB=${db.key} `}bench/run.sh daily-db) -->`,
    `## Daily series: a week of backups of a changing ${db.name} database (${MB(plainSize)} MB dump)`,
    '',
    `${new Date().toISOString().slice(0, 10)}, ${db.engine}, ${DAYS} days; ${os.cpus().length} cores, load average at the start of each day ${loads.map((l) => l.toFixed(1)).join(', ')} `
      + '(a shared machine: wall times are noisy, CPU less so).',
    `${spawnSync('restic', ['version'], { encoding: 'utf8' }).stdout.split(' compiled')[0]}; ${db.version}.`,
    ...db.contenders,
    'Changes each day: ' + changes.join('; ') + '.',
    '',
    ...rows,
    '',
    ...summary,
    `<!-- end of ${db.key} daily series ${DB_MB} MB -->`,
  ];
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
