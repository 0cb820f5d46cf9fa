// Databases in containers (CONTAINER=NAME in a service's conf): the client runs through
// `ENGINE exec` inside the container and the dump streams out to batt's staging folder.
// The ENGINE here is a STAND-IN, not podman or docker: rootful podman cannot run in this sandbox
// (no cgroups, no overlay) and no image can be pulled (no internet). The stand-in takes
// `exec [-i] [-e VAR]... NAME CMD...`, records its argv, and runs CMD on the host against the
// test's real server with an environment of only PATH and the variables -e named, as an engine
// hands them into the container: a secret the script forgot to pass with -e does not arrive.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { REQUIRE_SERVERS, backupsOf, batt, readText, sandbox, type Sandbox, writeServiceConf } from '../helpers/batt.js';
import { startRedis, which, type RedisServer } from '../helpers/redis.js';
import { findBinary, mariadbTools, pgTableSums, postgresBin, startMariaDB, startPostgreSQL, type MariaDB, type PostgreSQL, sqlString } from '../helpers/servers.js';
import { standInEngine } from '../helpers/standins.js';

const PASSWORD = 'pw-Container-S3cret-41c9';
const missing = [...['redis-server', 'redis-cli', 'zstd', 'pg_dump'].filter((b) => !which(b)), ...(postgresBin() ? [] : ['postgresql'])];
const skip = missing.length && !REQUIRE_SERVERS ? `not installed: ${missing.join(', ')}` : false;

describe('databases in containers: the client runs through the engine (a stand-in)', { skip, concurrency: false }, () => {
  let sb: Sandbox;
  let server: RedisServer;
  let pg: PostgreSQL;
  let log: string;
  const conf = (service: string, body: string) => fs.writeFileSync(path.join(sb.home, 'conf', `${service}.conf`), body, { mode: 0o600 });

  before(async () => {
    if (missing.length) throw new Error(`BATT_REQUIRE_SERVERS=1 but not installed: ${missing.join(', ')}`);
    sb = sandbox({ builtins: true });
    log = path.join(sb.dir, 'engine.log');
    server = await startRedis({ password: PASSWORD });
    for (let i = 0; i < 100; i++) await server.client.call('SET', `k${i}`, `v${i}`);
    pg = (await startPostgreSQL(PASSWORD))!;
    pg.sql('CREATE DATABASE shop');
    pg.sql("CREATE TABLE orders (id int PRIMARY KEY, what text); INSERT INTO orders SELECT g, 'order ' || g FROM generate_series(1, 500) g;", 'shop');
  });
  after(async () => {
    await server?.stop();
    await pg?.stop();
    sb?.cleanup();
  });

  test('redis: CONTAINER runs redis-cli through podman exec, the password through -e REDISCLI_AUTH, the snapshot streamed out', async () => {
    const podman = standInEngine(sb.dir, 'podman', log);
    conf('redis', `PORT=${server.port}\nPASSWORD=${PASSWORD}\nCONTAINER=cache\nCONTAINER_ENGINE=podman\n`);
    const r = await batt(['redis', '--path', sb.pattern], { home: sb.home, env: { PODMAN: podman } });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.equal(readText(log).trim(), `podman exec -e REDISCLI_AUTH cache redis-cli -h 127.0.0.1 -p ${server.port} --rdb /dev/stdout`);
    assert.equal(readText(`${log}.containers`).trim(), 'cache');
    const dump = backupsOf(sb).find((f) => f.endsWith('/redis/dump.rdb.zst'));
    assert.ok(dump);
    const raw = spawnSync('zstd', ['-dc', path.join(sb.root, dump)]).stdout;
    assert.equal(raw.subarray(0, 5).toString(), 'REDIS');
    fs.writeFileSync(path.join(sb.dir, 'check.rdb'), raw);
    const check = spawnSync('redis-check-rdb', [path.join(sb.dir, 'check.rdb')], { encoding: 'utf8' });
    assert.match(check.stdout, /100 keys read/);
  });

  test('redis: no CONTAINER_ENGINE takes podman when installed, else docker; a wrong one is refused', async () => {
    fs.rmSync(log, { force: true });
    const docker = standInEngine(sb.dir, 'docker', log);
    conf('redis', `PORT=${server.port}\nPASSWORD=${PASSWORD}\nCONTAINER=cache\n`);
    const r = await batt(['redis', '--path', sb.pattern], { home: sb.home, env: { PODMAN: path.join(sb.dir, 'no-podman'), DOCKER: docker } });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(readText(log), /^docker exec -e REDISCLI_AUTH cache redis-cli /);
    const before = backupsOf(sb);
    conf('redis', `PORT=${server.port}\nCONTAINER=cache\nCONTAINER_ENGINE=lxc\n`);
    const bad = await batt(['redis', '--path', sb.pattern], { home: sb.home, env: { DOCKER: docker } });
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /backup-redis: CONTAINER_ENGINE takes podman or docker, got 'lxc'\n/);
    assert.deepEqual(backupsOf(sb), before);
  });

  test('redis: a wrong password inside the container fails the backup with redis-cli\'s words; nothing is kept', async () => {
    const podman = standInEngine(sb.dir, 'podman', log);
    conf('redis', `PORT=${server.port}\nPASSWORD=wrong\nCONTAINER=cache\nCONTAINER_ENGINE=podman\n`);
    const before = backupsOf(sb);
    const r = await batt(['redis', '--path', sb.pattern], { home: sb.home, env: { PODMAN: podman } });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /backup-redis: redis-cli --rdb failed with exit code \d+ for 127\.0\.0\.1:\d+ in container cache .*(WRONGPASS|invalid|AUTH)/i);
    assert.deepEqual(backupsOf(sb), before);
  });

  test('postgresql: CONTAINER runs pg_dump and pg_restore through docker exec -i, the password through -e PGPASSWORD; a restore --to comes back equal', async () => {
    fs.rmSync(log, { force: true });
    const docker = standInEngine(sb.dir, 'docker', log);
    conf('postgresql', `HOST=127.0.0.1\nPORT=${pg.port}\nUSER=postgres\nPASSWORD=${PASSWORD}\nCONTAINER=pgbox\nCONTAINER_ENGINE=docker\n`);
    const env = { DOCKER: docker, PODMAN: path.join(sb.dir, 'no-podman') };
    const r = await batt(['postgresql', '--postgresql-db', 'shop', '--path', sb.pattern], { home: sb.home, env });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const calls = readText(log).trim().split('\n');
    const prefix = 'docker exec -i -e PGHOST -e PGPORT -e PGUSER -e PGCONNECT_TIMEOUT -e PGPASSWORD pgbox';
    assert.ok(calls.length >= 3 && calls.every((c) => c.startsWith(`${prefix} `)), calls.join('\n'));
    assert.ok(calls.some((c) => c.startsWith(`${prefix} pg_dump -Fc `)) && calls.some((c) => c === `${prefix} pg_restore --list`), calls.join('\n'));
    assert.ok(!readText(log).includes(PASSWORD));
    const rr = await batt(['restore', 'postgresql', '--postgresql-db', 'shop', '--to', 'shop_copy', '--path', sb.pattern], { home: sb.home, env });
    assert.equal(rr.code, 0, rr.stderr + rr.stdout);
    assert.match(readText(log), /^docker exec -i .* pgbox pg_restore --single-transaction /m);
    assert.deepEqual(pgTableSums(pg, 'shop_copy'), pgTableSums(pg, 'shop'));
  });

  test('postgresql COMPRESS=none: pg_dump -Z 0 and pg_dumpall write the plain files from the engine\'s stdout, with no zstd on the host; a restore --to (roles from globals.sql) comes back equal', async () => {
    fs.rmSync(log, { force: true });
    const docker = standInEngine(sb.dir, 'docker', log);
    conf('postgresql', `HOST=127.0.0.1\nPORT=${pg.port}\nUSER=postgres\nPASSWORD=${PASSWORD}\nCONTAINER=pgbox\nCONTAINER_ENGINE=docker\nCOMPRESS=none\n`);
    const env = { DOCKER: docker, PODMAN: path.join(sb.dir, 'no-podman'), ZSTD: path.join(sb.dir, 'no-zstd') };
    const path0 = sb.pattern.replace('%d', '%d-plain');
    const r = await batt(['postgresql', '--postgresql-db', 'shop', '--path', path0], { home: sb.home, env });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const prefix = 'docker exec -i -e PGHOST -e PGPORT -e PGUSER -e PGCONNECT_TIMEOUT -e PGPASSWORD pgbox';
    const calls = readText(log).trim().split('\n');
    assert.ok(calls.some((c) => c.startsWith(`${prefix} pg_dumpall --globals-only `)) && calls.some((c) => c.startsWith(`${prefix} pg_dump -Fc -Z 0 `)), calls.join('\n'));
    const globals = backupsOf(sb).find((f) => f.includes('-plain/') && f.endsWith('/postgresql/globals.sql')) ?? assert.fail(backupsOf(sb).join(', '));
    const folder = path.dirname(path.join(sb.root, globals));
    assert.match(readText(path.join(folder, 'globals.sql')), /-- PostgreSQL database cluster dump complete\n/);
    assert.ok(fs.readFileSync(path.join(folder, 'shop.dump')).includes(Buffer.from('order 42')), 'shop.dump is uncompressed');
    const rr = await batt(['restore', 'postgresql', path.relative(sb.root, folder), '--postgresql-db', 'shop', '--to', 'shop_plain', '--path', path0], { home: sb.home, env });
    assert.equal(rr.code, 0, rr.stderr + rr.stdout);
    assert.match(readText(path.join(sb.home, 'log', 'batt.log')), /restored missing roles and tablespaces from globals\.sql\n/);
    assert.match(readText(log), /^docker exec -i .* pgbox psql -X -q -w -v ON_ERROR_STOP=0 /m);
    assert.deepEqual(pgTableSums(pg, 'shop_plain'), pgTableSums(pg, 'shop'));
  });

  test('postgresql: with no password, the clients run as OS_USER inside the container (exec -u postgres), over its socket', { skip: process.getuid?.() !== 0 && 'needs root' }, async () => {
    fs.rmSync(log, { force: true });
    const podman = standInEngine(sb.dir, 'podman', log);
    conf('postgresql', `HOST=${pg.dir}\nPORT=${pg.port}\nCONTAINER=pgbox\nGLOBALS=no\n`);
    const r = await batt(['postgresql', '--postgresql-db', 'shop', '--path', sb.pattern], { home: sb.home, env: { PODMAN: podman } });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(readText(log), /^podman exec -i -u postgres -e PGHOST -e PGPORT -e PGCONNECT_TIMEOUT pgbox pg_dump -Fc /m);
  });
});

// MariaDB: a real throwaway server (test/helpers/servers.ts), its clients run on the host by the
// stand-in engine as if inside the container. Quotes, a backslash and spaces in the password: it
// must arrive whole through MYSQL_PWD, and never be in the engine's argv.
const MY_PASSWORD = `Ctr'My "pw" \\ S3cret-7e2a`;
const myMissing = mariadbTools() && findBinary('zstd') ? [] : ['mariadbd/mariadb-install-db/mariadb/mariadb-dump or zstd'];
const mySkip = myMissing.length && !REQUIRE_SERVERS ? `not installed: ${myMissing.join(', ')}` : false;

/** Row count and CHECKSUM TABLE of every table of a database, as one comparable map. */
function myTableSums(server: MariaDB, db: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const t of server.sql(`SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA='${db}' ORDER BY 1`).trim().split('\n').filter(Boolean)) {
    out.set(t, `${server.sql(`SELECT COUNT(*) FROM \`${db}\`.\`${t}\``).trim()}:${server.sql(`CHECKSUM TABLE \`${db}\`.\`${t}\``).trim().split('\t')[1]}`);
  }
  return out;
}

describe('mysql in a container: mariadb-dump and mariadb through the engine (a stand-in)', { skip: mySkip, concurrency: false }, () => {
  let sb: Sandbox;
  let my: MariaDB;
  let log: string;
  const conf = (lines: Record<string, string | number>) => writeServiceConf(sb.home, 'mysql', lines);
  // One engine command a line (a query's own newlines continue it on lines that are not commands).
  const calls = () => (fs.existsSync(log) ? readText(log).split('\n').filter((l) => /^(podman|docker) /.test(l)) : []);

  before(async () => {
    if (myMissing.length) throw new Error(`BATT_REQUIRE_SERVERS=1 but not installed: ${myMissing.join(', ')}`);
    sb = sandbox({ builtins: true });
    log = path.join(sb.dir, 'engine.log');
    my = (await startMariaDB())!;
    my.sql(`
      CREATE DATABASE shop CHARACTER SET utf8mb4;
      USE shop;
      CREATE TABLE shop.orders (id INT PRIMARY KEY, what VARCHAR(100)) ENGINE=InnoDB;
      INSERT INTO shop.orders SELECT seq, CONCAT('order ', seq, ' Grüße') FROM seq_1_to_500;
      CREATE USER 'batt'@'127.0.0.1' IDENTIFIED BY ${sqlString(MY_PASSWORD)};
      GRANT ALL ON *.* TO 'batt'@'127.0.0.1';
      CREATE USER 'narrow'@'127.0.0.1' IDENTIFIED BY ${sqlString(MY_PASSWORD)};
      GRANT SELECT ON shop.* TO 'narrow'@'127.0.0.1';
    `);
  });
  after(async () => {
    await my?.stop();
    sb?.cleanup();
  });

  test('backup and restore --to through podman exec -i NAME mariadb-dump / mariadb, the password as -e MYSQL_PWD, never argv; the copy comes back equal', async () => {
    fs.rmSync(log, { force: true });
    const podman = standInEngine(sb.dir, 'podman', log);
    conf({ HOST: '127.0.0.1', PORT: my.port, USER: 'batt', PASSWORD: MY_PASSWORD, CONTAINER: 'dbbox', CONTAINER_ENGINE: 'podman' });
    const env = { PODMAN: podman, DOCKER: path.join(sb.dir, 'no-docker') };
    const r = await batt(['mysql', '--mysql-db', 'shop', '--path', sb.pattern], { home: sb.home, env });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const prefix = `podman exec -i -e MYSQL_PWD dbbox`;
    const conn = `--host=127.0.0.1 --port=${my.port} --user=batt`;
    assert.ok(calls().length >= 2 && calls().every((c) => c.startsWith(`${prefix} mariadb`)), calls().join('\n'));
    assert.ok(calls().some((c) => c.startsWith(`${prefix} mariadb-dump ${conn} --single-transaction `) && c.endsWith(' -- shop')), calls().join('\n'));
    assert.ok(!readText(log).includes('S3cret'), 'the password is in the engine argv');
    assert.ok(!readText(path.join(sb.home, 'log', 'batt.log')).includes('S3cret'), 'the password is in batt.log');
    assert.deepEqual([...new Set(readText(`${log}.containers`).trim().split('\n'))], ['dbbox']);
    assert.ok(backupsOf(sb).some((f) => f.endsWith('/mysql/shop.sql.zst')));

    fs.rmSync(log, { force: true });
    const rr = await batt(['restore', 'mysql', '--mysql-db', 'shop', '--to', 'shop_copy', '--path', sb.pattern], { home: sb.home, env });
    assert.equal(rr.code, 0, rr.stderr + rr.stdout);
    assert.ok(calls().includes(`${prefix} mariadb ${conn} --default-character-set=utf8mb4 -- shop_copy`), calls().join('\n'));
    assert.ok(calls().every((c) => c.startsWith(`${prefix} mariadb `)), calls().join('\n'));
    assert.ok(!readText(log).includes('S3cret'));
    assert.deepEqual(myTableSums(my, 'shop_copy'), myTableSums(my, 'shop'));
    assert.equal(myTableSums(my, 'shop').size, 1);
  });

  test('--mysql-compress none through podman exec: the container\'s dump lands plain in <db>.sql, complete, and restores equal', async () => {
    fs.rmSync(log, { force: true });
    fs.rmSync(sb.root, { recursive: true, force: true });
    const podman = standInEngine(sb.dir, 'podman', log);
    conf({ HOST: '127.0.0.1', PORT: my.port, USER: 'batt', PASSWORD: MY_PASSWORD, CONTAINER: 'dbbox', CONTAINER_ENGINE: 'podman', COMPRESS: 'none' });
    const env = { PODMAN: podman, DOCKER: path.join(sb.dir, 'no-docker') };
    const r = await batt(['mysql', '--mysql-db', 'shop', '--path', sb.pattern], { home: sb.home, env });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.ok(calls().some((c) => c.startsWith('podman exec -i -e MYSQL_PWD dbbox mariadb-dump ') && c.endsWith(' -- shop')), calls().join('\n'));
    const dump = backupsOf(sb).find((f) => f.endsWith('/mysql/shop.sql')) ?? assert.fail(backupsOf(sb).join(', '));
    assert.match(readText(path.join(sb.root, dump)), /^-- batt-mysql: database shop [^\n]*\n[\s\S]*\n-- Dump completed on [^\n]*\n$/);
    assert.ok(!readText(log).includes('S3cret'));
    const rr = await batt(['restore', 'mysql', '--mysql-db', 'shop', '--to', 'shop_plain', '--path', sb.pattern], { home: sb.home, env });
    assert.equal(rr.code, 0, rr.stderr + rr.stdout);
    assert.deepEqual(myTableSums(my, 'shop_plain'), myTableSums(my, 'shop'));
  });

  test('no PASSWORD, no USER: docker exec -i NAME with no -e and no --host (the container\'s own socket, as the engine\'s user)', { skip: process.getuid?.() !== 0 && 'root over the socket needs root' }, async () => {
    fs.rmSync(log, { force: true });
    const docker = standInEngine(sb.dir, 'docker', log);
    // The host's client does not know the test server's socket: SOCKET says where it is, as a
    // socket inside the container would be named.
    conf({ SOCKET: my.socket, CONTAINER: 'dbbox' });
    const r = await batt(['mysql', '--mysql-db', 'shop', '--path', sb.pattern], { home: sb.home, env: { PODMAN: path.join(sb.dir, 'no-podman'), DOCKER: docker } });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.ok(calls().some((c) => c.startsWith(`docker exec -i dbbox mariadb-dump --socket=${my.socket} --single-transaction `)), calls().join('\n'));
  });

  test('a dump that fails inside the container fails the backup with one line ending in mariadb-dump\'s words; nothing is kept', async () => {
    fs.rmSync(log, { force: true });
    const podman = standInEngine(sb.dir, 'podman', log);
    // SELECT only: mariadb-dump --events is refused SHOW EVENTS.
    conf({ HOST: '127.0.0.1', PORT: my.port, USER: 'narrow', PASSWORD: MY_PASSWORD, CONTAINER: 'dbbox', CONTAINER_ENGINE: 'podman' });
    const before = backupsOf(sb);
    const r = await batt(['mysql', '--mysql-db', 'shop', '--path', sb.pattern], { home: sb.home, env: { PODMAN: podman } });
    assert.notEqual(r.code, 0, r.stdout);
    assert.match(r.stderr, /backup-mysql: dump of shop: mariadb-dump failed \(exit [1-9]\d*\): mariadb-dump: .*(denied|Couldn't)[^\n]*\n/);
    assert.ok(calls().some((c) => c.startsWith(`podman exec -i -e MYSQL_PWD dbbox mariadb-dump --host=127.0.0.1 --port=${my.port} --user=narrow `)), calls().join('\n'));
    assert.deepEqual(backupsOf(sb), before);
  });

  test('an unknown CONTAINER_ENGINE, a host DEFAULTS_FILE or METHOD=physical with CONTAINER is refused with one line; the engine never runs', async () => {
    fs.rmSync(log, { force: true });
    const podman = standInEngine(sb.dir, 'podman', log);
    const before = backupsOf(sb);
    const base = { HOST: '127.0.0.1', PORT: my.port, USER: 'batt', PASSWORD: MY_PASSWORD, CONTAINER: 'dbbox' };
    for (const [extra, line] of [
      [{ CONTAINER_ENGINE: 'lxc' }, "backup-mysql: CONTAINER_ENGINE takes podman or docker, got 'lxc'"],
      [{ DEFAULTS_FILE: '/etc/mysql/debian.cnf' }, 'backup-mysql: DEFAULTS_FILE is a file of this host, which the clients in container dbbox cannot read: set USER and PASSWORD instead'],
      [{ METHOD: 'physical' }, "backup-mysql: METHOD=physical does not run in a container (CONTAINER): mariadb-backup reads the server's data files; use METHOD=logical"],
    ] as const) {
      conf({ ...base, ...extra });
      const r = await batt(['mysql', '--path', sb.pattern], { home: sb.home, env: { PODMAN: podman } });
      assert.notEqual(r.code, 0, r.stdout);
      assert.ok(r.stderr.includes(`${line}\n`), r.stderr);
    }
    conf({ ...base, CONTAINER_ENGINE: 'lxc' });
    const rr = await batt(['restore', 'mysql', '--mysql-db', 'shop', '--to', 'shop_other', '--path', sb.pattern], { home: sb.home, env: { PODMAN: podman } });
    assert.notEqual(rr.code, 0, rr.stdout);
    assert.match(rr.stderr, /restore-mysql: CONTAINER_ENGINE takes podman or docker, got 'lxc'\n/);
    assert.deepEqual(calls(), []);
    assert.deepEqual(backupsOf(sb), before);
  });
});
