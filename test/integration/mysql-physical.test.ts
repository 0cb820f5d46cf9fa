// MariaDB METHOD=physical through the built batt against a real, throwaway server: a hot copy by
// mariadb-backup (xbstream through zstd), restored into a fresh data directory of a stopped
// server, then a server started on it holds the same tables. And the refusals of the restore
// (a running server's datadir, a non-empty one without --force) and a copy that does not end
// with "completed OK!" (RELIABILITY 1, 3, 9, 13). And a copy taken while a writer keeps the server
// busy restores to one consistent moment: the redo log copied during the backup is applied
// (test/helpers/busy.ts).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { REPO, REQUIRE_SERVERS, batt, sandbox, type Sandbox, backupsOf, readText, writeServiceConf } from '../helpers/batt.js';
import { findBinary, mariadbTools, startMariaDB, type MariaDB, sqlString } from '../helpers/servers.js';
import { checkWorkFolders, plantWorkFolders } from '../helpers/workfolders.js';
import { BANK_CHECK, bankSchema, checkBank, startWriter, throttledZstd } from '../helpers/busy.js';

const PASSWORD = `Phys'cal "pw" \\ #7q-Secret`;
const tools = mariadbTools();
const missing = tools && findBinary('zstd') && findBinary('mariadb-backup') && findBinary('mbstream') ? [] : ['mariadbd/mariadb, mariadb-backup/mbstream or zstd'];
const skip = missing.length && !REQUIRE_SERVERS ? `not installed: ${missing.join(', ')}` : false;

/** Row count and CHECKSUM TABLE of every user table of the server. */
function serverSums(server: MariaDB): string {
  const tables = server
    .sql("SELECT CONCAT(TABLE_SCHEMA, '.', TABLE_NAME) FROM information_schema.TABLES WHERE TABLE_SCHEMA IN ('shop', 'blog') AND TABLE_TYPE='BASE TABLE' ORDER BY 1")
    .trim()
    .split('\n')
    .filter(Boolean);
  return tables.map((t) => `${t} ${server.sql(`SELECT COUNT(*) FROM ${t}`).trim()} ${server.sql(`CHECKSUM TABLE ${t}`).trim().split('\t')[1]}`).join('\n');
}

describe('mysql METHOD=physical: mariadb-backup hot copy and restore into a stopped server', { skip, concurrency: false }, () => {
  let source: MariaDB;
  let restored: MariaDB | null = null;
  let sb: Sandbox;
  let id = '';

  before(async () => {
    if (missing.length) throw new Error(`BATT_REQUIRE_SERVERS=1 but not installed: ${missing.join(', ')}`);
    source = (await startMariaDB())!;
    source.sql(`
      CREATE DATABASE shop;
      USE shop;
      CREATE TABLE shop.orders (id INT PRIMARY KEY, note VARCHAR(50)) ENGINE=InnoDB;
      INSERT INTO shop.orders SELECT seq, CONCAT('order ', seq, ' Grüße') FROM seq_1_to_5000;
      CREATE TABLE shop.audit (id INT PRIMARY KEY, at VARCHAR(20)) ENGINE=MyISAM;
      INSERT INTO shop.audit SELECT seq, 'insert' FROM seq_1_to_300;
      CREATE DATABASE blog;
      CREATE TABLE blog.posts (id INT PRIMARY KEY, title VARCHAR(200)) ENGINE=Aria;
      INSERT INTO blog.posts VALUES (1, 'Hello'), (2, 'Café');
      CREATE USER 'batt'@'127.0.0.1' IDENTIFIED BY ${sqlString(PASSWORD)};
      GRANT ALL ON *.* TO 'batt'@'127.0.0.1';
    `);
    sb = sandbox({ builtins: true });
    const conf = { HOST: '127.0.0.1', PORT: source.port, USER: 'batt', PASSWORD, METHOD: 'physical', DATADIR: source.datadir };
    writeServiceConf(sb.home, 'mysql', conf);
  });

  after(async () => {
    await Promise.all([source?.stop(), restored?.stop()]);
    sb?.cleanup();
  });

  const run = (args: string[], env: Record<string, string> = {}) => batt([...args, '--path', sb.pattern], { home: sb.home, env });

  test('check mode (doctor) connects and copies nothing: it once ran the whole mariadb-backup', async () => {
    const seen = path.join(sb.dir, 'backup-calls');
    const shim = path.join(sb.dir, 'mariadb-backup-shim');
    const real = findBinary('mariadb-backup', 'mariabackup')!;
    fs.writeFileSync(shim, `#!/bin/sh\necho called >> '${seen}'\nexec '${real}' "$@"\n`, { mode: 0o755 });
    assert.equal((await batt(['enable', 'mysql'], { home: sb.home })).code, 0);
    try {
      const d = await run(['doctor'], { MARIADB_BACKUP: shim });
      assert.match(d.stdout, /^ok +mysql +check mode: ok$/m, d.stdout + d.stderr);
      assert.ok(!fs.existsSync(seen), 'mariadb-backup never ran');
      assert.deepEqual(backupsOf(sb), [], 'nothing written');
    } finally {
      await batt(['disable', 'mysql'], { home: sb.home });
    }
  });

  test('backs up the live server as one physical.xbstream.zst (0600), the password nowhere in the log', async () => {
    const r = await run(['mysql']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const files = backupsOf(sb);
    const file = files.find((f) => f.endsWith('/mysql/physical.xbstream.zst'));
    assert.ok(file, `no physical copy in ${files.join(', ')}`);
    id = path.dirname(file);
    assert.deepEqual(files.filter((f) => f.startsWith(`${id}/`)).map((f) => path.basename(f)).sort(), ['batt-manifest.json', 'physical.xbstream.zst']);
    assert.equal(fs.statSync(path.join(sb.root, file)).mode & 0o077, 0);
    const log = readText(path.join(sb.home, 'log', 'batt.log'));
    assert.match(log, /completed OK!/);
    assert.equal(log.includes('#7q-Secret'), false, 'password in the log');
  });

  test('restores into a fresh data directory (removing a killed restore\'s work folder there); a server started on it has the same tables', async () => {
    const datadir = path.join(sb.dir, 'restored-data');
    const planted = plantWorkFolders(sb.dir, 'mysql');
    const r = await run(['restore', 'mysql', id, '--to', datadir]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    checkWorkFolders(planted, r.stdout + r.stderr + readText(path.join(sb.home, 'log', 'batt.log')));
    assert.deepEqual(fs.readdirSync(path.dirname(datadir)).filter((n) => n.startsWith('.batt-restore-mysql')), [], 'work folder removed');
    restored = await startMariaDB({ datadir });
    assert.ok(restored);
    const want = serverSums(source);
    assert.match(want, /shop\.orders 5000 /);
    assert.equal(serverSums(restored), want);
    assert.equal(restored.sql("SELECT note FROM shop.orders WHERE id = 7").trim(), 'order 7 Grüße');
  });

  test('refuses the data directory of a running server (even with --force) and a non-empty one without --force', async () => {
    const datadir = restored!.datadir;
    const running = await run(['restore', 'mysql', id, '--to', datadir, '--force']);
    assert.notEqual(running.code, 0);
    assert.match(running.stderr, /a server is running on/);
    await restored!.stop();
    restored = null;
    const before = fs.readdirSync(datadir).sort();
    const full = await run(['restore', 'mysql', id, '--to', datadir]);
    assert.notEqual(full.code, 0);
    assert.match(full.stderr, /not empty.*--force/);
    assert.deepEqual(fs.readdirSync(datadir).sort(), before, 'a refusal changes nothing');

    const forced = await run(['restore', 'mysql', id, '--to', datadir, '--force']);
    assert.equal(forced.code, 0, forced.stderr + forced.stdout);
    const aside = fs.readdirSync(path.dirname(datadir)).filter((n) => n.startsWith('restored-data.batt-replaced-'));
    assert.equal(aside.length, 1, 'the former contents are kept aside');
    restored = await startMariaDB({ datadir });
    assert.equal(serverSums(restored!), serverSums(source));
  });

  test('docs/restore-without-batt.md: the by-hand block, run literally, restores a server that starts', async () => {
    const doc = fs.readFileSync(path.join(REPO, 'docs', 'restore-without-batt.md'), 'utf8');
    let block = /```sh\n# by hand: mysql-physical\n([\s\S]*?)```/.exec(doc)?.[1];
    assert.ok(block, 'no by-hand block');
    const datadir = path.join(sb.dir, 'by-hand-data');
    assert.match(block, /^DATADIR=/m);
    block = block.replace(/^DATADIR=.*$/m, `DATADIR=${JSON.stringify(datadir)}`);
    const r = spawnSync('bash', ['-e', '-o', 'pipefail', '-c', block], { encoding: 'utf8', cwd: sb.dir, env: { ...process.env, B: path.join(sb.root, id) } });
    assert.equal(r.status, 0, r.stderr.slice(-2000));
    await restored?.stop();
    restored = await startMariaDB({ datadir });
    assert.equal(serverSums(restored!), serverSums(source));
  });

  test('a copy that does not end with "completed OK!" fails and is not sealed', async () => {
    const fake = path.join(sb.dir, 'mariadb-backup-cut');
    // A stand-in that runs the real mariadb-backup but hides its last line, as a cut-off copy would.
    fs.writeFileSync(fake, `#!/usr/bin/env bash\n${JSON.stringify(findBinary('mariadb-backup'))} "$@" 2> >(grep -v 'completed OK!' >&2)\n`, { mode: 0o755 });
    const count = backupsOf(sb).length;
    const r = await run(['mysql'], { MARIADB_BACKUP: fake });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /incomplete: mariadb-backup-cut did not end with 'completed OK!'/);
    assert.equal(backupsOf(sb).length, count, 'nothing new sealed');
  });

  test('a database selection is refused with METHOD=physical', async () => {
    const r = await run(['mysql', '--mysql-db', 'shop']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /copies the whole server/);
  });

  test('a copy taken while a writer moves money between InnoDB accounts restores consistent: prepare applies the redo copied during it', async (t) => {
    source.sql(`CREATE DATABASE bank; USE bank; ${bankSchema('mariadb')}`);
    const logRows = () => Number(source.sql('SELECT COUNT(*) FROM bank.log').trim());
    const lsnNow = () => BigInt(source.sql("SHOW GLOBAL STATUS LIKE 'Innodb_lsn_current'").trim().split('\t')[1]!);
    // The stream is fed to zstd at 8 MiB/s: the copy of this small server (~40 MB) takes seconds,
    // and the writer runs all along (about a thousand transfers a second on an idle machine).
    const zstd = path.join(sb.dir, 'zstd-throttled');
    fs.writeFileSync(zstd, throttledZstd(findBinary('zstd')!, 8 << 20), { mode: 0o755 });
    const battLog = path.join(sb.home, 'log', 'batt.log');
    const logFrom = readText(battLog).length;
    const earlier = new Set(backupsOf(sb));
    const writer = await startWriter(tools!.client, ['--no-defaults', `--socket=${source.socket}`, '-uroot', 'bank'], logRows);
    let r: Awaited<ReturnType<typeof run>>;
    let atStart: number;
    let atEnd: number;
    let lsnAtStart: bigint;
    try {
      atStart = logRows();
      lsnAtStart = lsnNow();
      r = await run(['mysql'], { ZSTD: zstd });
      atEnd = logRows();
    } finally {
      await writer.stop();
    }
    assert.equal(r.code, 0, r.stderr + r.stdout);
    checkBank('the source', source.sql(BANK_CHECK, 'bank'));
    assert.ok(atStart < atEnd, `the writer wrote during the backup (log rows ${atStart} -> ${atEnd})`);
    const made = readText(battLog).slice(logFrom);
    // mariadb-backup copied the redo log up to the moment the copy ended, past where it began.
    const copied = /Redo log \(from LSN (\d+) to (\d+)\) was copied/.exec(made);
    assert.ok(copied, `no "Redo log (from LSN .. to ..) was copied" in the log:\n${made.slice(-3000)}`);
    assert.ok(BigInt(copied[2]!) > lsnAtStart, `the redo copied ends at LSN ${copied[2]}, not past ${lsnAtStart}, the server's LSN when the backup started`);
    // (the day's folder has the earlier tests' copy: this one is mysql.2/ beside it)
    const file = backupsOf(sb).find((f) => !earlier.has(f) && /\/mysql(\.\d+)?\/physical\.xbstream\.zst$/.test(f));
    assert.ok(file, `no new physical copy in ${backupsOf(sb).join(', ')}`);

    await restored?.stop();
    restored = null;
    const datadir = path.join(sb.dir, 'busy-data');
    const restoreFrom = readText(battLog).length;
    const back = await run(['restore', 'mysql', path.dirname(file), '--to', datadir]);
    assert.equal(back.code, 0, back.stderr + back.stdout);
    restored = await startMariaDB({ datadir });
    assert.ok(restored, 'a server starts on the restored copy');
    const got = checkBank('the restored copy', restored.sql(BANK_CHECK, 'bank'));
    // One moment of the busy server: after the backup started, at the latest when it ended.
    assert.ok(
      got.logRows > atStart && got.logRows <= atEnd,
      `restored log rows ${got.logRows}, not within (${atStart}, ${atEnd}]: the copy ${got.logRows > atStart ? 'is from after the backup ended' : 'holds nothing written during the backup'}`,
    );
    // The server started on a prepared, clean copy: it had no redo of its own to apply. (Without
    // --prepare, mariadbd 10.8+ replays the copied ib_logfile0 itself at its first start, and the
    // bank still balances: this is what tells a restore that skipped the prepare.)
    const started = readText(path.join(restored.dir, 'error.log'));
    assert.doesNotMatch(started, /Starting crash recovery|To recover: \d+ pages/, `the restored server had to recover:\n${started.slice(0, 3000)}`);
    // It was made consistent by the crash recovery of --prepare: from the checkpoint of the
    // copy's start through the redo copied during it, onto pages copied at different moments.
    const prepared = readText(battLog).slice(restoreFrom);
    const from = /Starting crash recovery from checkpoint LSN=(\d+)/.exec(prepared);
    const end = /End of log at LSN=(\d+)/.exec(prepared);
    const pages = /To recover: (\d+) pages/.exec(prepared);
    assert.ok(from && end && pages, `prepare did not recover from the redo log:\n${prepared.slice(0, 4000)}`);
    assert.equal(end[1], copied[2], 'prepare replayed the redo up to where the copy ended');
    assert.ok(BigInt(end[1]!) > BigInt(from[1]!) && Number(pages[1]) > 0, `${from[0]}, ${end[0]}, ${pages[0]}`);
    t.diagnostic(`log rows ${atStart} when the backup started, ${atEnd} when it ended, ${got.logRows} restored; prepare: ${from[0]}, ${end[0]}, ${pages[0]}`);
  });
});
