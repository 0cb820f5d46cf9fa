// `bench/run.sh daily-db [quick|full]`: a week of daily backups of one changing MariaDB database
// in a throwaway mariadbd (started as test/helpers/servers.ts starts the tests' servers), for
// batt's mysql service (one zstd dump a day, kept locally), batt copying it to a restic repository
// target (TYPE=restic) with the dump as zstd (the default), `zstd --rsyncable` (ZSTD set to a
// wrapper) or plain (`--mysql-compress none`), and restic alone of a plain dump (mariadb-dump to a file, then restic backup of it;
// both timed). The database: one InnoDB table `orders` seeded with BENCH_DB_MB of dump text (row
// contents from md5 of the row number: deterministic). Each simulated day changes about 1% of the
// rows the way a shop does: 0.5% new rows (appended ids), 0.4% updates and 0.01% deletes among
// the newest tenth of the rows, and a few old rows (1 in 50000) updated. Changes scattered over
// every row would touch every ~1 MB chunk of any dump and defeat every tool's deduplication
// (docs/targets.md, "What deduplicates"). Per day: wall, CPU (the
// whole process tree), bytes the storage grew, peak RSS. Needs root (mariadbd --user=root) and
// the Debian packages mariadb-server, mariadb-client, restic, zstd, time.
// Never part of `npm test`.
//
// Env: BENCH_DB_MB (dump size, 50), BENCH_DAYS (7), BENCH_DIR ($TMPDIR/batt-bench),
//      BENCH_RESULTS (bench/RESULTS.md: its "MariaDB daily series" section of this size is
//      replaced, or added; "-" = do not write).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startMariaDB, mariadbTools } from '../test/helpers/servers.js';
import { backupDay, log, has, must, timed, writeSection, type DailyContender, type Day } from './measure.js';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DB_MB = Number(process.env.BENCH_DB_MB ?? 50);
const DAYS = Number(process.env.BENCH_DAYS ?? 7);
const BASE = path.resolve(process.env.BENCH_DIR ?? path.join(os.tmpdir(), 'batt-bench'));
const RESULTS = process.env.BENCH_RESULTS ?? path.join(repo, 'bench', 'RESULTS.md');
const CRON_VARS = ['PATH', 'HOME', 'USER', 'LOGNAME', 'SHELL', 'LANG', 'LC_ALL', 'TZ', 'TMPDIR'];
const env: NodeJS.ProcessEnv = Object.fromEntries(CRON_VARS.filter((k) => process.env[k] !== undefined).map((k) => [k, process.env[k]]));
/** Bytes of dump text a row makes (measured: about 158). */
const ROW_BYTES = 158;

const row = (id: string, day: string) =>
  `1 + (${id} * 7919) % 50000, ELT(1 + (${id} + ${day}) % 4, 'new', 'paid', 'shipped', 'closed'), ((${id} * 37) % 100000) / 100, `
  + `CONCAT(MD5(CONCAT(${id}, '-', ${day})), ' ', MD5(${id}), ' ', SHA1(${id})), TIMESTAMP('2026-01-01') + INTERVAL ${id} SECOND + INTERVAL ${day} DAY`;

async function main(): Promise<void> {
  for (const t of ['/usr/bin/time', 'restic', 'zstd']) if (!has(t)) throw new Error(`bench: ${t} is missing (apt-get install time restic zstd)`);
  const tools = mariadbTools();
  if (!tools) throw new Error('bench: mariadbd, mariadb-install-db, mariadb or mariadb-dump is missing (apt-get install mariadb-server mariadb-client)');
  if (process.getuid?.() !== 0) throw new Error('bench: run it as root (mariadbd --user=root)');
  fs.mkdirSync(BASE, { recursive: true });
  const work = fs.mkdtempSync(path.join(BASE, 'daily-db-'));
  const server = await startMariaDB();
  if (!server) throw new Error('bench: MariaDB could not be started');
  const loads: number[] = [];
  try {
    const rows = Math.round((DB_MB * 2 ** 20) / ROW_BYTES);
    log(`bench daily-db: seeding ${rows} rows (~${DB_MB} MB of dump); load: ${os.loadavg().map((x) => x.toFixed(1)).join(' ')}`);
    server.sql(`
      CREATE DATABASE bench CHARACTER SET utf8mb4;
      USE bench;
      CREATE TABLE orders (id INT AUTO_INCREMENT PRIMARY KEY, customer INT, status VARCHAR(10), total DECIMAL(10,2), note VARCHAR(200), updated DATETIME) ENGINE=InnoDB;
      INSERT INTO orders (customer, status, total, note, updated) SELECT ${row('seq', '0')} FROM seq_1_to_${rows};
    `);
    const dumpArgs = ['--no-defaults', `--socket=${server.socket}`, '-uroot', '--single-transaction', '--routines', '--events', '--triggers', '--hex-blob', '--quick', '--default-character-set=utf8mb4', 'bench'];
    const plainSize = Number(must('sh', ['-c', `"$0" "$@" | wc -c`, tools.dump, ...dumpArgs], env).trim());
    log(`bench daily-db: the plain dump is ${(plainSize / 2 ** 20).toFixed(1)} MB`);

    fs.cpSync(path.join(repo, 'dist'), path.join(work, 'dist'), { recursive: true }); // others may rebuild dist mid-run
    const batt = path.join(work, 'dist', 'batt.js');
    const password = path.join(work, 'restic-password');
    fs.writeFileSync(password, 'bench\n', { mode: 0o600 });
    const rsyncable = path.join(work, 'zstd-rsyncable');
    fs.writeFileSync(rsyncable, '#!/bin/sh\nexec zstd --rsyncable "$@"\n', { mode: 0o755 });
    const makeHome = (name: string, target?: string) => {
      const h = path.join(work, name);
      fs.mkdirSync(path.join(h, 'scripts-available'), { recursive: true });
      fs.mkdirSync(path.join(h, 'scripts-enabled'), { recursive: true });
      fs.mkdirSync(path.join(h, 'conf', 'targets'), { recursive: true, mode: 0o700 });
      for (const f of ['backup-mysql', 'restore-mysql']) {
        fs.copyFileSync(path.join(repo, 'scripts-available', f), path.join(h, 'scripts-available', f));
        fs.chmodSync(path.join(h, 'scripts-available', f), 0o755);
      }
      fs.writeFileSync(path.join(h, 'conf', 'mysql.conf'), `SOCKET=${server.socket}\nUSER=root\nDATABASES=bench\n`, { mode: 0o600 });
      if (target) fs.writeFileSync(path.join(h, 'conf', 'targets', 'r.conf'), `TYPE=restic\nREPOSITORY=${target}\nPASSWORD_FILE=${password}\n`, { mode: 0o600 });
      return h;
    };
    const resticEnv = (cache: string) => ({ ...env, RESTIC_PASSWORD_FILE: password, RESTIC_CACHE_DIR: path.join(work, cache) });
    const list: DailyContender[] = [];
    const local = path.join(work, 'local');
    const home = makeHome('home');
    list.push({ name: 'batt mysql', storage: local, backup: (n) => timed(process.execPath, [batt, '--home', home, '--path', `${local}/%Y/day${n}`, 'mysql'], env) });
    for (const [i, v] of (['zstd', 'zstd --rsyncable', 'none'] as const).entries()) {
      const r = path.join(work, `t${i}-repo`);
      must('restic', ['init', '--repository-version', '2', '--repo', r, '-q'], resticEnv(`t${i}-cache`));
      const h = makeHome(`home-t${i}`, r);
      const e = { ...env, RESTIC_CACHE_DIR: path.join(work, `t${i}-cache`), ...(v === 'zstd --rsyncable' ? { ZSTD: rsyncable } : {}) };
      const opts = v === 'none' ? ['--mysql-compress', 'none'] : [];
      list.push({ name: `batt mysql → restic, ${v}`, storage: r, backup: (n) => timed(process.execPath, [batt, '--home', h, '--path', `${work}/t${i}/%Y/day${n}`, 'mysql', ...opts], e) });
    }
    const resticRepo = path.join(work, 'restic');
    must('restic', ['init', '--repository-version', '2', '--repo', resticRepo, '-q'], resticEnv('restic-cache'));
    const dumpDir = path.join(work, 'dump');
    fs.mkdirSync(dumpDir);
    list.push({
      name: 'restic, plain dump',
      storage: resticRepo,
      backup: () => timed('sh', ['-c', `"$0" "$@" > ${dumpDir}/bench.sql && restic backup --repo ${resticRepo} -q ${dumpDir}`, tools.dump, ...dumpArgs], resticEnv('restic-cache')),
    });

    const days: Record<string, Day[]> = Object.fromEntries(list.map((c) => [c.name, []]));
    const changes: string[] = [];
    for (let n = 1; n <= DAYS; n++) {
      if (n > 1) {
        const [max, count] = server.sql('SELECT MAX(id), COUNT(*) FROM bench.orders').trim().split('\t').map(Number) as [number, number];
        const ins = Math.round(count * 0.005);
        server.sql(`
          USE bench;
          INSERT INTO orders (customer, status, total, note, updated) SELECT ${row(`(${max} + seq)`, String(n))} FROM seq_1_to_${ins};
          UPDATE orders SET status = 'shipped', total = total + 1, note = CONCAT(MD5(CONCAT(id, '/', ${n})), SUBSTRING(note, 33)), updated = updated + INTERVAL 1 DAY
            WHERE id > ${Math.round(max * 0.9)} AND id <= ${max} AND (id * 31 + ${n}) % 25 = 0;
          UPDATE orders SET total = total - 1, updated = updated + INTERVAL 1 HOUR WHERE (id * 17 + ${n} * 7) % 50000 = 0;
          DELETE FROM orders WHERE id > ${Math.round(max * 0.9)} AND (id * 13 + ${n}) % 1000 = 0;
        `);
        changes.push(`day ${n}: ${ins} rows added, ~${Math.round(count * 0.004)} recent and ~${Math.round(count / 50000)} old rows updated, ~${Math.round(count / 10000)} recent deleted`);
      }
      loads.push(os.loadavg()[0]!);
      backupDay(list, n, days);
    }
    const lines = report(list.map((c) => c.name), days, changes, loads, plainSize);
    process.stdout.write(lines.join('\n') + '\n');
    if (RESULTS !== '-') {
      writeSection(RESULTS, `<!-- mariadb daily series ${DB_MB} MB:`, `<!-- end of mariadb daily series ${DB_MB} MB -->`, lines);
      log(`bench daily-db: wrote the series into ${RESULTS}`);
    }
  } finally {
    await server.stop();
    fs.rmSync(work, { recursive: true, force: true });
  }
}

const MB = (b: number) => (b / 2 ** 20).toFixed(1);
const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

function report(names: string[], days: Record<string, Day[]>, changes: string[], loads: number[], plainSize: number): string[] {
  const later = (name: string) => days[name]!.slice(1);
  const rows = ['| day | contender | wall | CPU | bytes added | peak RSS |', '| --- | --- | --- | --- | --- | --- |'];
  for (let i = 0; i < DAYS; i++) {
    for (const name of names) {
      const d = days[name]![i]!;
      rows.push(`| ${i + 1} | ${name} | ${d.wallS.toFixed(2)} s | ${d.cpuS.toFixed(2)} s | ${MB(d.addedBytes)} MB | ${(d.peakRssKb / 1024).toFixed(0)} MB |`);
    }
  }
  const ref = later('restic, plain dump').map((d) => d.addedBytes);
  const summary = [`| after ${DAYS} days | storage | bytes added, days 2-${DAYS} | CPU per day, days 2-${DAYS} (mean) | growth days 2-${DAYS} / restic of a plain dump (each day) |`, '| --- | --- | --- | --- | --- |'];
  for (const name of names) {
    const added = later(name).map((d) => d.addedBytes);
    summary.push(
      `| ${name} | ${MB(sum(days[name]!.map((d) => d.addedBytes)))} MB | ${MB(sum(added))} MB | ${(sum(later(name).map((d) => d.cpuS)) / later(name).length).toFixed(2)} s | `
        + `${(sum(added) / sum(ref)).toFixed(2)}x (${added.map((a, i) => (a / ref[i]!).toFixed(2)).join(', ')}) |`,
    );
  }
  return [
    `<!-- mariadb daily series ${DB_MB} MB: written by bench/daily-db.ts (bench/run.sh daily-db) -->`,
    `## Daily series: a week of backups of a changing MariaDB database (${MB(plainSize)} MB dump)`,
    '',
    `${new Date().toISOString().slice(0, 10)}, one InnoDB table, ${DAYS} days; ${os.cpus().length} cores, load average at the start of each day ${loads.map((l) => l.toFixed(1)).join(', ')} `
      + '(a shared machine: wall times are noisy, CPU less so).',
    `${spawnSync('restic', ['version'], { encoding: 'utf8' }).stdout.split(' compiled')[0]}; ${spawnSync(mariadbTools()!.server, ['--version'], { encoding: 'utf8' }).stdout.trim()}.`,
    'Contenders: `batt mysql` (one zstd dump a day, local); "batt mysql → restic, X": the same with a `TYPE=restic` target (its own repository, version 2; bytes added = the',
    'repository\'s growth), X = the dump compressed by zstd (the default) or `zstd --rsyncable`, or none (`--mysql-compress none`: the plain `<db>.sql`); "restic, plain dump": `mariadb-dump > bench.sql && restic backup` (both timed).',
    'Changes each day: ' + changes.join('; ') + '.',
    '',
    ...rows,
    '',
    ...summary,
    `<!-- end of mariadb daily series ${DB_MB} MB -->`,
  ];
}

main().catch((err) => {
  process.stderr.write(`${(err as Error).stack ?? err}\n`);
  process.exit(1);
});
