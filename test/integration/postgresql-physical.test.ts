// PostgreSQL METHOD=physical through the built batt against a real, throwaway cluster: one
// pg_basebackup tar stream (WAL included) through zstd, run as the OS user postgres like the other
// clients; restored into a fresh data directory, a server started on it has the same rows. And
// the refusals (a running server's data directory, a non-empty one without --force) and a copy
// pg_basebackup did not finish (RELIABILITY 1, 3, 9).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REQUIRE_SERVERS, batt, sandbox, type Sandbox, backupsOf, readText } from '../helpers/batt.js';
import { checkWorkFolders, plantWorkFolders } from '../helpers/workfolders.js';
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
});
