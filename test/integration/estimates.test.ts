// The size each built-in script announces before it writes ("batt: expect BYTES", for the
// percentage on a terminal: docs/script-contract.md), against real servers: MariaDB
// (information_schema data_length + index_length), PostgreSQL (pg_database_size), Redis
// (used_memory), SQLite (the file size) and a folder (du). batt records it in the manifest as
// expectedBytes. The figures are only checked to be of the right order: estimates, never exact.
// The scripts announce only when batt shows progress (BATT_PROGRESS=1): batt runs on a pty here
// (script(1)); piped, as in cron, no estimate is asked for at all.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { BATT, REQUIRE_SERVERS, batt, sandbox, type Sandbox } from '../helpers/batt.js';
import { findBinary, mariadbTools, postgresBin, startMariaDB, startPostgreSQL, type MariaDB, type PostgreSQL } from '../helpers/servers.js';
import { startRedis, which, type RedisServer } from '../helpers/redis.js';
import type { Manifest } from '../../src/catalog/manifest.js';

const skipUnless = (ok: unknown, what: string) => (ok || REQUIRE_SERVERS ? false : `not installed: ${what}`);

/** The manifest of the (one) backup of `service` under the root; a path prefix ("piped/2026/file") narrows it. */
function manifestOf(sb: Sandbox, service: string): Manifest {
  const rel = fs.readdirSync(sb.root, { recursive: true, encoding: 'utf8' }).find((f) => f.endsWith(`${service}/batt-manifest.json`) && (service.includes('/') || !f.startsWith('piped/')));
  assert.ok(rel, `a ${service} backup under ${sb.root}`);
  return JSON.parse(fs.readFileSync(path.join(sb.root, rel), 'utf8')) as Manifest;
}

function conf(sb: Sandbox, service: string, lines: Record<string, string | number>): void {
  fs.writeFileSync(path.join(sb.home, 'conf', `${service}.conf`), Object.entries(lines).map(([k, v]) => `${k}=${v}\n`).join(''), { mode: 0o600 });
}

/** Backs the service up on a pty; returns the estimate its script announced (from the manifest). */
async function announced(sb: Sandbox, args: string[]): Promise<number> {
  const piped = await batt([...args, '--path', `${sb.root}/piped/%Y`], { home: sb.home });
  assert.equal(piped.code, 0, piped.stderr + piped.stdout);
  assert.equal(manifestOf(sb, `piped/${new Date().getFullYear()}/${args[0]!}`).expectedBytes, undefined, 'piped: no estimate asked for');
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const cmd = `stty cols 120 rows 40; exec ${[process.execPath, BATT, ...args, '--path', sb.pattern].map(q).join(' ')}`;
  const r = spawnSync('script', ['-qec', cmd, '/dev/null'], { env: { ...process.env, BATT_HOME: sb.home }, encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr + r.stdout);
  const m = manifestOf(sb, args[0]!);
  const log = fs.readFileSync(path.join(sb.home, 'log', 'batt.log'), 'utf8');
  assert.match(log, new RegExp(`${args[0]}: > batt: expect ${m.expectedBytes}$`, 'm'), 'the line is in batt.log like any other');
  assert.equal(typeof m.expectedBytes, 'number', `${args[0]} announced an estimate`);
  return m.expectedBytes!;
}

describe('estimates of the built-in scripts', { skip: !fs.existsSync('/usr/bin/script') && 'no script(1)' }, () => {
  let sb: Sandbox;
  before(() => {
    sb = sandbox({ builtins: true });
  });
  after(() => sb.cleanup());

  test('file: the source bytes of its paths (du), excludes left out', { skip: skipUnless(findBinary('zstd'), 'zstd') }, async () => {
    const tree = path.join(sb.dir, 'tree');
    fs.mkdirSync(path.join(tree, 'logs'), { recursive: true });
    fs.writeFileSync(path.join(tree, 'a.bin'), Buffer.alloc(3_000_000, 7));
    fs.writeFileSync(path.join(tree, 'logs', 'big.log'), Buffer.alloc(5_000_000, 1));
    const n = await announced(sb, ['file', '--file', tree, '--file-exclude', '*.log']);
    assert.ok(n >= 3_000_000 && n < 3_100_000, `${n}: a.bin and the folders, not the excluded log`);
  });

  test('sqlite: the size of the database file', { skip: skipUnless(findBinary('sqlite3') && findBinary('zstd'), 'sqlite3, zstd') }, async () => {
    const db = path.join(sb.dir, 'app.db');
    spawnSync('sqlite3', [db, "CREATE TABLE t(x); INSERT INTO t SELECT randomblob(1000) FROM generate_series(1, 2000);"]);
    const n = await announced(sb, ['sqlite', '--sqlite', db]);
    assert.equal(n, fs.statSync(db).size);
  });

  describe('mysql', { skip: skipUnless(mariadbTools() && findBinary('zstd'), 'mariadb, zstd') }, () => {
    let server: MariaDB | null;
    before(async () => {
      server = await startMariaDB();
      server!.sql('CREATE DATABASE shop');
      server!.sql("CREATE TABLE t (id INT PRIMARY KEY, b LONGBLOB) ENGINE=InnoDB; INSERT INTO t SELECT seq, REPEAT('x', 4000) FROM seq_1_to_2000; ANALYZE TABLE t;", 'shop');
    });
    after(async () => server?.stop());
    test('mysql: data_length + index_length of the databases dumped', async () => {
      conf(sb, 'mysql', { SOCKET: server!.socket, USER: 'root' });
      const n = await announced(sb, ['mysql', '--mysql-db', 'shop']);
      const want = Number(server!.sql("SELECT SUM(data_length + index_length) FROM information_schema.TABLES WHERE table_schema = 'shop'").trim());
      assert.equal(n, want);
      assert.ok(n > 4_000_000, `${n}: about 8 MB of rows`);
    });
  });

  describe('postgresql', { skip: skipUnless(postgresBin() && findBinary('zstd'), 'postgresql, zstd') }, () => {
    let server: PostgreSQL | null;
    before(async () => {
      server = await startPostgreSQL();
      server!.sql('CREATE DATABASE shop');
      server!.sql("CREATE TABLE t AS SELECT g AS id, repeat('x', 1000) AS pad FROM generate_series(1, 5000) g", 'shop');
    });
    after(async () => server?.stop());
    test('postgresql: pg_database_size of the databases dumped', async () => {
      conf(sb, 'postgresql', { HOST: '127.0.0.1', PORT: server!.port, USER: 'postgres', PASSWORD: server!.password, GLOBALS: 'no' });
      const n = await announced(sb, ['postgresql', '--postgresql-db', 'shop']);
      const want = Number(server!.sql("SELECT pg_database_size('shop')").trim());
      assert.ok(Math.abs(n - want) < want * 0.1, `${n} vs pg_database_size ${want}`);
    });
  });

  describe('redis', { skip: skipUnless(which('redis-server') && which('redis-cli') && findBinary('zstd'), 'redis, zstd') }, () => {
    let server: RedisServer;
    before(async () => {
      server = await startRedis({ password: 'est-Secret-1' });
      for (let i = 0; i < 200; i++) await server.client.call('SET', `k${i}`, 'v'.repeat(10_000));
    });
    after(async () => server?.stop());
    test('redis: used_memory of the server', async () => {
      conf(sb, 'redis', { PORT: server.port, PASSWORD: 'est-Secret-1' });
      const n = await announced(sb, ['redis']);
      assert.ok(n > 2_000_000 && n < 50_000_000, `${n}: about 2 MB of values plus the server's own`);
    });
  });
});
