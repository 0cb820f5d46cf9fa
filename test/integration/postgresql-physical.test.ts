// PostgreSQL METHOD=physical through the built batt against a real, throwaway cluster: one
// pg_basebackup tar stream (WAL included) through zstd, run as the OS user postgres like the other
// clients; restored into a fresh data directory, a server started on it has the same rows. And
// the refusals (a running server's data directory, a non-empty one without --force) and a copy
// pg_basebackup did not finish (RELIABILITY 1, 3, 9). And a copy taken while a writer keeps the
// cluster busy restores to one consistent moment: the WAL written during the copy is replayed
// (test/helpers/busy.ts).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REQUIRE_SERVERS, batt, sandbox, type Sandbox, backupsOf, readText } from '../helpers/batt.js';
import { checkWorkFolders, plantWorkFolders } from '../helpers/workfolders.js';
import { BANK_CHECK, bankSchema, checkBank, startWriter, throttledZstd } from '../helpers/busy.js';
import { findBinary, pgTableSums, postgresBin, startPostgreSQL, type PostgreSQL } from '../helpers/servers.js';

const bin = postgresBin();
const isRoot = process.getuid?.() === 0;
const missing = bin && isRoot && findBinary('zstd') ? [] : ['root, PostgreSQL (initdb, pg_basebackup) or zstd'];
const skip = missing.length && !REQUIRE_SERVERS ? `needs: ${missing.join(', ')}` : false;

describe('postgresql METHOD=physical: pg_basebackup copy and restore into a data directory', { skip, concurrency: false }, () => {
  let source: PostgreSQL;
  let restored: PostgreSQL | null = null;
  let sb: Sandbox;
  let env: Record<string, string>;
  let id = '';
  /** Folders outside the sandbox, removed after the servers stopped. */
  const cleanups: string[] = [];

  before(async () => {
    if (missing.length) throw new Error(`BATT_REQUIRE_SERVERS=1 but missing: ${missing.join(', ')}`);
    source = (await startPostgreSQL())!;
    source.sql('CREATE DATABASE shop');
    source.sql(`CREATE TABLE orders (id int PRIMARY KEY, note text); INSERT INTO orders SELECT g, 'order ' || g || ' Grüße' FROM generate_series(1, 5000) g;`, 'shop');
    sb = sandbox({ builtins: true });
    env = { PG_BASEBACKUP: path.join(bin!, 'pg_basebackup'), PSQL: path.join(bin!, 'psql') };
    // Over the socket as postgres, from root: the client runs as the OS user postgres (OS_USER).
    fs.writeFileSync(path.join(sb.home, 'conf', 'postgresql.conf'), `HOST=${source.dir}\nPORT=${source.port}\nUSER=postgres\nMETHOD=physical\n`, { mode: 0o600 });
  });

  after(async () => {
    await Promise.all([source?.stop(), restored?.stop()]);
    for (const d of cleanups) fs.rmSync(d, { recursive: true, force: true });
    sb?.cleanup();
  });

  const run = (args: string[], extra: Record<string, string> = {}) => batt([...args, '--path', sb.pattern], { home: sb.home, env: { ...env, ...extra } });

  test('check mode (doctor) connects and copies nothing: it once ran the whole pg_basebackup', async () => {
    const seen = path.join(sb.dir, 'basebackup-calls');
    const shim = path.join(sb.dir, 'pg_basebackup-shim');
    fs.writeFileSync(shim, `#!/bin/sh\necho called >> '${seen}'\nexec '${env.PG_BASEBACKUP}' "$@"\n`, { mode: 0o755 });
    assert.equal((await batt(['enable', 'postgresql'], { home: sb.home, env })).code, 0);
    try {
      const d = await run(['doctor'], { PG_BASEBACKUP: shim });
      assert.match(d.stdout, /^ok +postgresql +check mode: ok$/m, d.stdout + d.stderr);
      assert.ok(!fs.existsSync(seen), 'pg_basebackup never ran');
      assert.deepEqual(backupsOf(sb), [], 'nothing written');
    } finally {
      await batt(['disable', 'postgresql'], { home: sb.home, env });
    }
  });

  test('copies the running cluster into one physical.tar.zst (0600) as the OS user postgres', async () => {
    const r = await run(['postgresql']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const file = backupsOf(sb).find((f) => f.endsWith('/postgresql/physical.tar.zst'));
    assert.ok(file, backupsOf(sb).join(', '));
    id = path.dirname(file);
    assert.equal(fs.statSync(path.join(sb.root, file)).mode & 0o077, 0);
    assert.equal(source.sql("SELECT usename FROM pg_stat_activity WHERE application_name = 'pg_basebackup'").trim(), '', 'the copy has ended');
  });

  test('restores into a fresh data directory (removing a killed restore\'s work folder there); a server started on it has the same rows', async () => {
    // Outside the sandbox (0700, root's): the restored server runs as postgres.
    const parent = fs.mkdtempSync(path.join(os.tmpdir(), 'batt-pgdata-'));
    fs.chmodSync(parent, 0o755);
    cleanups.push(parent);
    const datadir = path.join(parent, 'restored-pg');
    const planted = plantWorkFolders(parent, 'postgresql');
    const r = await run(['restore', 'postgresql', id, '--to', datadir]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    checkWorkFolders(planted, r.stdout + r.stderr + readText(path.join(sb.home, 'log', 'batt.log')));
    assert.equal(fs.statSync(datadir).mode & 0o777, 0o700);
    assert.deepEqual(fs.readdirSync(parent).filter((n) => n.startsWith('.batt-restore-postgresql')), [], 'work folder removed');
    restored = await startPostgreSQL(undefined, { datadir });
    assert.deepEqual(pgTableSums(restored!, 'shop'), pgTableSums(source, 'shop'));
    assert.equal(restored!.sql("SELECT note FROM orders WHERE id = 7", 'shop').trim(), 'order 7 Grüße');
  });

  test('refuses a running server\'s data directory (even with --force) and a non-empty one without --force', async () => {
    const running = await run(['restore', 'postgresql', id, '--to', source.data, '--force']);
    assert.notEqual(running.code, 0);
    assert.match(running.stderr, /a server is running on/);
    const full = path.join(sb.dir, 'full');
    fs.mkdirSync(full);
    fs.writeFileSync(path.join(full, 'keep.txt'), 'mine');
    const refused = await run(['restore', 'postgresql', id, '--to', full]);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /not empty.*--force/);
    assert.deepEqual(fs.readdirSync(full), ['keep.txt'], 'a refusal changes nothing');
    const forced = await run(['restore', 'postgresql', id, '--to', full, '--force']);
    assert.equal(forced.code, 0, forced.stderr);
    assert.ok(fs.existsSync(path.join(full, 'PG_VERSION')));
    const aside = fs.readdirSync(sb.dir).filter((n) => n.startsWith('full.batt-replaced-'));
    assert.equal(aside.length, 1);
    assert.deepEqual(fs.readdirSync(path.join(sb.dir, aside[0]!)), ['keep.txt'], 'the former contents are kept aside');
  });

  test('a copy pg_basebackup did not report complete fails and is not sealed', async () => {
    // Outside the sandbox (0700, root's): the client runs as postgres, who must reach the stand-in.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'batt-pgbb-'));
    fs.chmodSync(dir, 0o755);
    cleanups.push(dir);
    const fake = path.join(dir, 'pg_basebackup-cut');
    // A stand-in that runs the real pg_basebackup but hides its closing line, as a cut-off copy would.
    fs.writeFileSync(fake, `#!/usr/bin/env bash\n${JSON.stringify(path.join(bin!, 'pg_basebackup'))} "$@" 2> >(grep -v 'base backup completed' >&2)\n`, { mode: 0o755 });
    const count = backupsOf(sb).length;
    const r = await run(['postgresql'], { PG_BASEBACKUP: fake });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /incomplete: pg_basebackup did not say 'base backup completed'/);
    assert.equal(backupsOf(sb).length, count);
  });

  test('a copy taken while a writer moves money between accounts restores consistent: the WAL written during it is replayed', async (t) => {
    source.sql('CREATE DATABASE bank');
    source.sql(bankSchema('postgresql'), 'bank');
    const logRows = () => Number(source.sql('SELECT count(*) FROM log', 'bank').trim());
    const lsn = (s: string) => {
      const [hi, lo] = s.split('/');
      return (BigInt(`0x${hi}`) << 32n) | BigInt(`0x${lo}`);
    };
    // The stream is fed to zstd at 8 MiB/s: the copy of this small cluster (~40 MB) takes seconds,
    // and the writer runs all along (hundreds of transfers a second on an idle machine).
    const zstd = path.join(sb.dir, 'zstd-throttled');
    fs.writeFileSync(zstd, throttledZstd(findBinary('zstd')!, 8 << 20), { mode: 0o755 });
    const battLog = path.join(sb.home, 'log', 'batt.log');
    const logFrom = readText(battLog).length;
    const earlier = new Set(backupsOf(sb));
    const psql = path.join(bin!, 'psql');
    const writer = await startWriter(psql, ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', source.dir, '-p', String(source.port), '-U', 'postgres', '-d', 'bank'], logRows);
    let r: Awaited<ReturnType<typeof run>>;
    let atStart: number;
    let atEnd: number;
    let lsnAtStart: bigint;
    let tick: NodeJS.Timeout | undefined;
    let checkpoints = 0;
    let tickError: unknown;
    try {
      atStart = logRows();
      lsnAtStart = lsn(source.sql('SELECT pg_current_wal_lsn()').trim());
      // Checkpoints while the files are copied, as on a busy server whose copy outlasts
      // checkpoint_timeout (5 min) or writes max_wal_size of WAL: each removes the WAL before its
      // redo point, and pg_basebackup -X fetch reads the copy's WAL at its end ("requested WAL
      // segment ... has already been removed" unless something holds it). At most 2: each
      // switch adds a 16 MB segment to the copy.
      tick = setInterval(() => {
        try {
          if (checkpoints < 2 && source.sql('SELECT phase FROM pg_stat_progress_basebackup').trim() === 'streaming database files') {
            source.sql('SELECT pg_switch_wal(); CHECKPOINT;');
            checkpoints++;
          }
        } catch (err) {
          tickError = err;
        }
      }, 1000);
      r = await run(['postgresql'], { ZSTD: zstd });
      atEnd = logRows();
    } finally {
      clearInterval(tick);
      await writer.stop();
    }
    assert.equal(r.code, 0, r.stderr + r.stdout + readText(battLog).slice(logFrom));
    assert.equal(tickError, undefined);
    assert.ok(checkpoints >= 1, 'a checkpoint while the files were copied');
    assert.match(r.stdout + readText(battLog).slice(logFrom), /the WAL from [0-9A-F]+\/[0-9A-F]+ is held for the copy \(temporary replication slot batt_/);
    // ... and the slot went with the session: nothing keeps WAL on the server after the backup.
    for (const until = Date.now() + 30_000; source.sql('SELECT count(*) FROM pg_replication_slots').trim() !== '0'; ) {
      assert.ok(Date.now() < until, `a replication slot is left: ${source.sql('SELECT slot_name, temporary, active FROM pg_replication_slots')}`);
      await new Promise((res) => setTimeout(res, 200));
    }
    checkBank('the source', source.sql(BANK_CHECK, 'bank'));
    assert.ok(atStart < atEnd, `the writer wrote during the backup (log rows ${atStart} -> ${atEnd})`);
    // (the day's folder has the earlier tests' copy: this one is postgresql.2/ beside it)
    const file = backupsOf(sb).find((f) => !earlier.has(f) && /\/postgresql(\.\d+)?\/physical\.tar\.zst$/.test(f));
    assert.ok(file, `no new physical copy in ${backupsOf(sb).join(', ')}`);

    await restored?.stop();
    restored = null;
    // Outside the sandbox (0700, root's): the restored server runs as postgres.
    const parent = fs.mkdtempSync(path.join(os.tmpdir(), 'batt-pgdata-'));
    fs.chmodSync(parent, 0o755);
    cleanups.push(parent);
    const datadir = path.join(parent, 'busy-pg');
    const back = await run(['restore', 'postgresql', path.dirname(file), '--to', datadir]);
    assert.equal(back.code, 0, back.stderr + back.stdout);
    restored = await startPostgreSQL(undefined, { datadir });
    assert.ok(restored, 'a server starts on the restored copy');
    const got = checkBank('the restored copy', restored.sql(BANK_CHECK, 'bank'));
    // One moment of the busy cluster: after the backup started, at the latest when it ended.
    assert.ok(
      got.logRows > atStart && got.logRows <= atEnd,
      `restored log rows ${got.logRows}, not within (${atStart}, ${atEnd}]: the copy ${got.logRows > atStart ? 'is from after the backup ended' : 'holds nothing written during the backup'}`,
    );
    // WAL was written while the files were copied: from the copy's start point to its end point.
    const made = readText(battLog).slice(logFrom);
    const walStart = /write-ahead log start point: ([0-9A-F]+\/[0-9A-F]+)/.exec(made);
    const walEnd = /write-ahead log end point: ([0-9A-F]+\/[0-9A-F]+)/.exec(made);
    assert.ok(walStart && walEnd, `no write-ahead log start and end point in the log:\n${made.slice(-3000)}`);
    assert.ok(lsn(walEnd[1]!) > lsnAtStart && lsn(walEnd[1]!) - lsn(walStart[1]!) > 64n * 1024n, `WAL written during the copy: ${walStart[0]}, ${walEnd[0]}`);
    // Made consistent by replaying the WAL of the copy, from its start point past its end point.
    const started = readText(path.join(restored.dir, 'postgres.log'));
    const redo = /redo starts at ([0-9A-F]+\/[0-9A-F]+)[\s\S]*?redo done at ([0-9A-F]+\/[0-9A-F]+)/.exec(started);
    assert.ok(redo, `the restored server replayed no WAL:\n${started.slice(0, 3000)}`);
    assert.equal(redo[1], walStart[1], 'the replay began at the copy\'s start point');
    assert.ok(lsn(redo[2]!) >= lsn(walEnd[1]!), `the replay ended at ${redo[2]}, before the copy's end point ${walEnd[1]}`);
    t.diagnostic(`log rows ${atStart} when the backup started, ${atEnd} when it ended, ${got.logRows} restored; ${checkpoints} checkpoints during it; ${walStart[0]}, ${walEnd[0]}; replayed ${redo[1]} to ${redo[2]}`);
  });

  test('the slot that holds the WAL goes when batt is killed mid-copy: none is left to keep WAL for ever', async () => {
    const zstd = path.join(sb.dir, 'zstd-slow');
    fs.writeFileSync(zstd, throttledZstd(findBinary('zstd')!, 1 << 20), { mode: 0o755 });
    const slots = () => source.sql('SELECT slot_name FROM pg_replication_slots').trim();
    assert.equal(slots(), '');
    let child: ChildProcess | undefined;
    const running = batt(['postgresql', '--path', sb.pattern], { home: sb.home, env: { ...env, ZSTD: zstd }, onSpawn: (c) => (child = c) });
    try {
      const copying = () => source.sql('SELECT count(*) FROM pg_stat_progress_basebackup').trim() !== '0';
      for (const until = Date.now() + 60_000; !(/^batt_\d+_\d+$/.test(slots()) && copying()); ) {
        assert.ok(Date.now() < until, `no slot (${slots()}) or no copy running within 60 s`);
        await new Promise((res) => setTimeout(res, 100));
      }
    } finally {
      child!.kill('SIGKILL');
    }
    assert.equal((await running).signal, 'SIGKILL');
    for (const until = Date.now() + 30_000; slots() !== ''; ) {
      assert.ok(Date.now() < until, `the killed copy's slot is still there: ${slots()}`);
      await new Promise((res) => setTimeout(res, 200));
    }
  });

  test('with no replication slot free to hold the WAL, the copy is made as before, with a warning', async () => {
    const max = Number(source.sql('SHOW max_replication_slots').trim());
    const fill = Array.from({ length: max - Number(source.sql('SELECT count(*) FROM pg_replication_slots').trim()) }, (_, i) => `fill_${i}`);
    source.sql(fill.map((n) => `SELECT pg_create_physical_replication_slot('${n}');`).join('\n'));
    try {
      const battLog = path.join(sb.home, 'log', 'batt.log');
      const logFrom = readText(battLog).length;
      const count = backupsOf(sb).length;
      const r = await run(['postgresql']);
      assert.equal(r.code, 0, r.stderr + r.stdout);
      assert.ok(backupsOf(sb).length > count, 'a copy was made');
      const said = readText(battLog).slice(logFrom);
      assert.match(said, /warning: no temporary replication slot holds the WAL during the copy: .*replication slots are in use.*: a checkpoint during a long copy can remove WAL it needs/);
      assert.match(said, /base backup completed/);
    } finally {
      source.sql(fill.map((n) => `SELECT pg_drop_replication_slot('${n}');`).join('\n'));
    }
  });
});
