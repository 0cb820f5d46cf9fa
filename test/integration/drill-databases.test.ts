// `batt drill` against real, throwaway MariaDB and PostgreSQL servers: a healthy backup loads into
// a scratch database batt_drill_<unique>_<n> and passes the checks; a dump with a broken statement
// (manifest rewritten, so verify passes) fails; the scratch databases are gone after success,
// failure and SIGTERM, and after a SIGKILL the next run drops them, and only them. The live
// databases are never touched (compared before and after).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { REQUIRE_SERVERS, batt, listFiles, resealManifest, sandbox, type Sandbox, writeServiceConf } from '../helpers/batt.js';
import { findBinary, mariadbTools, postgresBin, startMariaDB, startPostgreSQL, type MariaDB, type PostgreSQL } from '../helpers/servers.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const writeConf = (sb: Sandbox, service: string, lines: Record<string, string | number>) => writeServiceConf(sb.home, service, lines);

/** A stand-in for a tool that runs the real one, then, when $STATE/hang exists and the arguments
 *  match, says so in $STATE/loaded and sleeps: a drill caught in the middle. */
function hanger(sb: Sandbox, name: string, real: string, match: string): string {
  const file = path.join(sb.dir, `hang-${name}`);
  fs.writeFileSync(file, `#!/usr/bin/env bash
"${real}" "$@"
st=$?
if [ -e "$STATE/hang" ] && [[ " $* " == *"${match}"* ]]; then touch "$STATE/loaded"; sleep 20; fi
exit $st
`, { mode: 0o755 });
  return file;
}

/** A file of the backup, decompressed, edited, recompressed; then the manifest rewritten to match. */
function editDump(dir: string, file: string, edit: (text: string) => string): void {
  const text = execFileSync('zstd', ['-dc', path.join(dir, file)], { encoding: 'utf8', maxBuffer: 1 << 28 });
  const changed = edit(text);
  assert.notEqual(changed, text, 'the edit changed the dump');
  fs.writeFileSync(path.join(dir, file), execFileSync('zstd', ['-q', '-c'], { input: changed, maxBuffer: 1 << 28 }));
  resealManifest(dir);
}

async function waitFile(file: string): Promise<void> {
  for (let i = 0; i < 400 && !fs.existsSync(file); i++) await sleep(50);
  assert.ok(fs.existsSync(file), `${file} appeared`);
}

const mysqlTools = mariadbTools();
const mysqlMissing = mysqlTools && findBinary('zstd') ? [] : ['mariadbd/mariadb-install-db/mariadb/mariadb-dump or zstd'];
const mysqlSkip = mysqlMissing.length && !REQUIRE_SERVERS ? `not installed: ${mysqlMissing.join(', ')}` : false;

describe('drill mysql: a real MariaDB', { skip: mysqlSkip, concurrency: false }, () => {
  let server: MariaDB;
  let sb: Sandbox;
  let env: Record<string, string>;
  let tmp: string;
  let state: string;
  let backup = '';
  const scratchDbs = () => server.sql("SHOW DATABASES LIKE 'batt\\_drill\\_%'").trim();
  /** Every table of the live databases with its CHECKSUM: what a drill must never change. */
  const live = () => server.sql("SELECT CONCAT(TABLE_SCHEMA, '.', TABLE_NAME) FROM information_schema.TABLES WHERE TABLE_SCHEMA IN ('shop', 'blog') ORDER BY 1").trim().split('\n').map((t) => server.sql(`CHECKSUM TABLE ${t}`).trim()).join('\n');

  before(async () => {
    if (mysqlMissing.length) throw new Error(`BATT_REQUIRE_SERVERS=1 but not installed: ${mysqlMissing.join(', ')}`);
    server = (await startMariaDB())!;
    server.sql(`
      CREATE DATABASE shop; USE shop;
      CREATE TABLE customers (id INT PRIMARY KEY, name VARCHAR(100)) ENGINE=InnoDB;
      INSERT INTO customers SELECT seq, CONCAT('Kunde ', seq, ' ñ') FROM seq_1_to_3000;
      CREATE TABLE orders (id INT AUTO_INCREMENT PRIMARY KEY, customer INT, total INT) ENGINE=InnoDB;
      CREATE TABLE audit (id INT AUTO_INCREMENT PRIMARY KEY, order_id INT) ENGINE=MyISAM;
      CREATE TRIGGER orders_audit AFTER INSERT ON orders FOR EACH ROW INSERT INTO audit (order_id) VALUES (NEW.id);
      INSERT INTO orders (customer, total) SELECT seq, seq * 3 FROM seq_1_to_2000;
      CREATE PROCEDURE order_count(OUT n INT) SELECT COUNT(*) INTO n FROM orders;
      CREATE FUNCTION double_it(x INT) RETURNS INT DETERMINISTIC RETURN x * 2;
      CREATE VIEW big_orders AS SELECT id, total FROM orders WHERE total > 3000;
      CREATE DATABASE blog;
      CREATE TABLE blog.posts (id INT PRIMARY KEY, title VARCHAR(200)) ENGINE=InnoDB;
      INSERT INTO blog.posts VALUES (1, 'Hello'), (2, 'Café');
    `);
    sb = sandbox({ builtins: true });
    tmp = path.join(sb.dir, 'tmp');
    state = path.join(sb.dir, 'state');
    fs.mkdirSync(tmp, { mode: 0o700 });
    fs.mkdirSync(state);
    env = { TMPDIR: tmp, STATE: state, MYSQL: hanger(sb, 'mysql', mysqlTools!.client, '--one-database') };
    writeConf(sb, 'mysql', { SOCKET: server.socket, USER: 'root' });
    const r = await batt(['mysql', '--path', sb.pattern, '--no-drill'], { home: sb.home, env });
    assert.equal(r.code, 0, r.stderr);
    backup = path.dirname(listFiles(sb.root).find((f) => f.endsWith('mysql/shop.sql.zst'))!);
  });

  after(async () => {
    await server?.stop();
    sb?.cleanup();
  });

  const drill = (args: string[] = [], extra: Record<string, string> = {}, onSpawn?: (c: ChildProcess) => void) =>
    batt(['drill', ...args, '--path', sb.pattern], { home: sb.home, env: { ...env, ...extra }, onSpawn });
  const record = (id = backup) => JSON.parse(fs.readFileSync(path.join(sb.root, id, 'batt-drill.json'), 'utf8')) as { ok: boolean; durationMs: number; error?: string };

  test('a healthy backup drills ok: every dump loaded into a scratch database, checked, dropped', async () => {
    const before = live();
    const r = await drill(['mysql']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^drill ok\s+mysql\s+\S+\/mysql\s+restored in /m);
    const log = fs.readFileSync(path.join(sb.home, 'log', 'batt.log'), 'utf8');
    // shop: customers, orders, audit pass CHECK TABLE; with the view, two routines and the trigger, 7 objects
    assert.match(log, /drill: shop loaded into a scratch database: 3 table\(s\) pass CHECK TABLE, 7 object\(s\) present/);
    assert.match(log, /drill: blog loaded into a scratch database: 1 table\(s\) pass CHECK TABLE, 1 object\(s\) present/);
    assert.equal(record().ok, true);
    assert.equal(scratchDbs(), '', 'no scratch database left');
    assert.equal(live(), before, 'the live databases are as they were');
    assert.deepEqual(fs.readdirSync(tmp), []);
  });

  test('a dump with a broken statement in the middle passes verify but fails the drill; the scratch database is dropped', async () => {
    const id = backup.replace(/mysql$/, 'mysql-broken');
    fs.cpSync(path.join(sb.root, backup), path.join(sb.root, id), { recursive: true });
    try {
      editDump(path.join(sb.root, id), 'shop.sql.zst', (t) => t.replace(/^CREATE TABLE `orders`/m, "INSERT INTO `customers` VALUES (1, 'broken';\nCREATE TABLE `orders`"));
      assert.equal((await batt(['verify', id, '--path', sb.pattern], { home: sb.home })).code, 0);
      const before = live();
      const r = await drill([id]);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stderr, /drill FAILED\s+mysql\s+\S+mysql-broken\s+drill of mysql failed: restore script exited with code 1: restore-mysql: drill: loading shop failed/);
      assert.equal(record(id).ok, false);
      assert.equal(scratchDbs(), '');
      assert.equal(live(), before);
    } finally {
      fs.rmSync(path.join(sb.root, id), { recursive: true });
    }
  });

  test('a dump that switches to another database midway: nothing reaches it (--one-database), and what was skipped fails the drill', async () => {
    const id = backup.replace(/mysql$/, 'mysql-use');
    fs.cpSync(path.join(sb.root, backup), path.join(sb.root, id), { recursive: true });
    try {
      editDump(path.join(sb.root, id), 'shop.sql.zst', (t) => t.replace(/^DROP TABLE IF EXISTS `orders`;/m, 'USE `blog`;\nDROP TABLE IF EXISTS `orders`;'));
      const before = live();
      const r = await drill([id]);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stderr, /drill: shop loaded without: .*table orders/);
      assert.equal(server.sql("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'blog'").trim(), '1', 'blog got no table');
      assert.equal(scratchDbs(), '');
      assert.equal(live(), before);
    } finally {
      fs.rmSync(path.join(sb.root, id), { recursive: true });
    }
  });

  test('SIGTERM in the middle of a drill: exit 143, the scratch database dropped, the scratch folder removed', async () => {
    fs.writeFileSync(path.join(state, 'hang'), '');
    try {
      let child: ChildProcess | undefined;
      const run = drill(['mysql'], {}, (c) => (child = c));
      await waitFile(path.join(state, 'loaded'));
      assert.match(scratchDbs(), /^batt_drill_\d+_\d+_[0-9a-f]{8}_1$/, 'the drill is loading into its scratch database');
      child!.kill('SIGTERM');
      const r = await run;
      assert.equal(r.code, 143, r.stderr);
      assert.equal(scratchDbs(), '');
      assert.deepEqual(fs.readdirSync(tmp), []);
    } finally {
      fs.rmSync(path.join(state, 'hang'), { force: true });
      fs.rmSync(path.join(state, 'loaded'), { force: true });
    }
  });

  test('DRILL_HOST/DRILL_PORT: the scratch database is made on that server, the configured one is not used', async () => {
    const other = (await startMariaDB())!;
    try {
      other.sql("CREATE USER 'driller'@'127.0.0.1' IDENTIFIED BY 'drill-pw-1'; GRANT ALL ON *.* TO 'driller'@'127.0.0.1';");
      const creates = (m: MariaDB) => Number(m.sql("SHOW GLOBAL STATUS LIKE 'Com_create_db'").trim().split('\t')[1]);
      const [serverBefore, otherBefore] = [creates(server), creates(other)];
      writeConf(sb, 'mysql', { SOCKET: server.socket, USER: 'driller', PASSWORD: 'drill-pw-1', DRILL_HOST: '127.0.0.1', DRILL_PORT: other.port });
      const r = await drill(['mysql'], { MYSQL: mysqlTools!.client });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(creates(other) - otherBefore, 2, 'the two scratch databases were made on DRILL_HOST');
      assert.equal(creates(server), serverBefore, 'and none on the configured server');
      assert.equal(other.sql("SHOW DATABASES LIKE 'batt\\_drill\\_%'").trim(), '');
    } finally {
      writeConf(sb, 'mysql', { SOCKET: server.socket, USER: 'root' });
      await other.stop();
    }
  });
});

const pgBin = postgresBin();
const pgMissing = pgBin && findBinary('zstd') ? [] : ['postgresql (initdb, pg_ctl, pg_dump...) or zstd'];
const pgSkip = pgMissing.length && !REQUIRE_SERVERS ? `not installed: ${pgMissing.join(', ')}` : false;

describe('drill postgresql: a real PostgreSQL', { skip: pgSkip, concurrency: false }, () => {
  let server: PostgreSQL;
  let sb: Sandbox;
  let env: Record<string, string>;
  let tmp: string;
  let state: string;
  let backup = '';
  const scratchDbs = () => server.sql("SELECT datname FROM pg_database WHERE datname LIKE 'batt\\_drill\\_%' ORDER BY 1").trim();
  const live = () => server.sql("SELECT md5(string_agg(o::text, ',' ORDER BY id)) FROM sales.orders o", 'shop').trim() + server.sql('SELECT count(*) FROM pg_database').trim();

  before(async () => {
    if (pgMissing.length) throw new Error(`BATT_REQUIRE_SERVERS=1 but not installed: ${pgMissing.join(', ')}`);
    server = (await startPostgreSQL())!;
    server.sql('CREATE DATABASE shop; CREATE DATABASE blog;');
    server.sql(`CREATE ROLE app LOGIN;
      CREATE SCHEMA sales AUTHORIZATION app;
      CREATE TABLE sales.orders (id serial PRIMARY KEY, total int, note text);
      ALTER TABLE sales.orders OWNER TO app;
      CREATE INDEX orders_total ON sales.orders (total);
      CREATE VIEW sales.big AS SELECT * FROM sales.orders WHERE total > 10;
      CREATE MATERIALIZED VIEW sales.mv AS SELECT count(*) FROM sales.orders;
      CREATE FUNCTION public.dbl(x integer, y text) RETURNS integer LANGUAGE sql AS 'SELECT x * 2';
      CREATE TYPE mood AS ENUM ('a', 'b');
      CREATE DOMAIN posint AS integer CHECK (VALUE > 0);
      CREATE TABLE "Odd Name" (id int);
      GRANT SELECT ON sales.orders TO PUBLIC;
      INSERT INTO sales.orders (total, note) SELECT g, 'n' || g FROM generate_series(1, 5000) g;`, 'shop');
    server.sql('CREATE TABLE posts (id int PRIMARY KEY, title text); INSERT INTO posts VALUES (1, $$Café$$);', 'blog');
    sb = sandbox({ builtins: true });
    tmp = path.join(sb.dir, 'tmp');
    state = path.join(sb.dir, 'state');
    fs.mkdirSync(tmp, { mode: 0o700 });
    fs.mkdirSync(state);
    env = { TMPDIR: tmp, STATE: state, PGPASSWORD: '', PG_RESTORE: hanger(sb, 'pg_restore', path.join(pgBin!, 'pg_restore'), '--single-transaction') };
    writeConf(sb, 'postgresql', { HOST: '127.0.0.1', PORT: server.port, USER: 'postgres', PASSWORD: server.password });
    const r = await batt(['postgresql', '--path', sb.pattern, '--no-drill'], { home: sb.home, env });
    assert.equal(r.code, 0, r.stderr);
    backup = path.dirname(listFiles(sb.root).find((f) => f.endsWith('postgresql/shop.dump'))!);
  });

  after(async () => {
    await server?.stop();
    sb?.cleanup();
  });

  const drill = (args: string[] = [], extra: Record<string, string> = {}, onSpawn?: (c: ChildProcess) => void) =>
    batt(['drill', ...args, '--path', sb.pattern], { home: sb.home, env: { ...env, ...extra }, onSpawn });
  const record = (id = backup) => JSON.parse(fs.readFileSync(path.join(sb.root, id, 'batt-drill.json'), 'utf8')) as { ok: boolean; durationMs: number; error?: string };

  test('a healthy backup drills ok: every object of pg_restore -l is in the scratch database, which is then dropped', async () => {
    const before = live();
    const r = await drill(['postgresql']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^drill ok\s+postgresql\s+\S+\/postgresql\s+restored in /m);
    const log = fs.readFileSync(path.join(sb.home, 'log', 'batt.log'), 'utf8');
    // shop: schema sales, 2 tables, view, matview, sequence, index, function, type, domain = 10
    assert.match(log, /drill: shop restored into a scratch database: 10 object\(s\) of pg_restore -l present/);
    assert.match(log, /drill: blog restored into a scratch database: 1 object\(s\) of pg_restore -l present/);
    assert.equal(record().ok, true);
    assert.equal(scratchDbs(), '');
    assert.equal(live(), before);
    assert.deepEqual(fs.readdirSync(tmp), []);
  });

  test('a dump cut short passes verify (manifest rewritten) but fails the drill; nothing is left', async () => {
    const id = backup.replace(/postgresql$/, 'postgresql-cut');
    fs.cpSync(path.join(sb.root, backup), path.join(sb.root, id), { recursive: true });
    try {
      const f = path.join(sb.root, id, 'shop.dump');
      fs.truncateSync(f, Math.floor(fs.statSync(f).size * 0.6));
      resealManifest(path.join(sb.root, id));
      assert.equal((await batt(['verify', id, '--path', sb.pattern], { home: sb.home })).code, 0);
      const r = await drill([id]);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stderr, /drill FAILED\s+postgresql\s+\S+postgresql-cut\s+.*restore-postgresql: drill: (pg_restore of shop failed|pg_restore cannot list)/);
      assert.equal(record(id).ok, false);
      assert.equal(scratchDbs(), '');
    } finally {
      fs.rmSync(path.join(sb.root, id), { recursive: true });
    }
  });

  test('a pg_restore that silently leaves out an object: the comparison with pg_restore -l fails the drill', async () => {
    // restores everything but the index, and exits 0
    const skipper = path.join(sb.dir, 'pg_restore-skips-index');
    const real = path.join(pgBin!, 'pg_restore');
    fs.writeFileSync(skipper, `#!/usr/bin/env bash
if [[ " $* " == *" --single-transaction "* ]]; then
  cat >"$STATE/dump"
  "${real}" -l -- "$STATE/dump" | grep -v ' INDEX sales orders_total ' >"$STATE/list"
  exec "${real}" -L "$STATE/list" "$@" <"$STATE/dump"
fi
exec "${real}" "$@"
`, { mode: 0o755 });
    const r = await drill(['postgresql'], { PG_RESTORE: skipper });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /drill: shop restored without: INDEX sales orders_total/);
    assert.equal(record().ok, false);
    assert.equal(scratchDbs(), '');
  });

  test('SIGTERM during a drill drops the scratch database; after a SIGKILL the next run drops it, and nothing else', async () => {
    fs.writeFileSync(path.join(state, 'hang'), '');
    try {
      let child: ChildProcess | undefined;
      let run = drill(['postgresql'], {}, (c) => (child = c));
      await waitFile(path.join(state, 'loaded'));
      assert.match(scratchDbs(), /^batt_drill_\d+_\d+_[0-9a-f]{8}_1$/);
      child!.kill('SIGTERM');
      assert.equal((await run).code, 143);
      assert.equal(scratchDbs(), '');
      assert.deepEqual(fs.readdirSync(tmp), []);

      // SIGKILL: batt cannot clean up; the record in its scratch folder lets the next run do it
      fs.rmSync(path.join(state, 'loaded'));
      server.sql('CREATE DATABASE batt_drill_1_2_cafebabe_1'); // looks like a drill's, but no record names it
      run = drill(['postgresql'], {}, (c) => (child = c));
      await waitFile(path.join(state, 'loaded'));
      const scratch = scratchDbs().split('\n').find((d) => d.startsWith(`batt_drill_${child!.pid}_`));
      assert.ok(scratch, scratchDbs());
      child!.kill('SIGKILL');
      await run;
      await sleep(300);
      assert.equal(fs.readdirSync(tmp).length, 1, 'the killed drill left its scratch folder');
      fs.rmSync(path.join(state, 'hang'));
      const r = await drill(['postgresql']);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, new RegExp(`and the scratch databases batt_drill_${child!.pid}_\\S+, left by a killed drill of postgresql`));
      assert.equal(scratchDbs(), 'batt_drill_1_2_cafebabe_1', 'only the dead drill\'s database was dropped');
      assert.deepEqual(fs.readdirSync(tmp), []);
    } finally {
      fs.rmSync(path.join(state, 'hang'), { force: true });
      server.sql('DROP DATABASE IF EXISTS batt_drill_1_2_cafebabe_1');
    }
  });
});

describe('drill postgresql under peer authentication (Debian\'s way: a cluster as pg_createcluster makes it, batt as root, clients as the OS user postgres)', { skip: pgSkip || (process.getuid?.() !== 0 ? 'needs root' : false) }, () => {
  test('a conf with no user or password drills ok over the socket, and leaves no scratch database', async () => {
    const server = (await startPostgreSQL('unused-Pw-9', { debian: true }))!;
    const sb = sandbox({ builtins: true });
    try {
      server.sql('CREATE DATABASE shop;');
      server.sql('CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 2000) g;', 'shop');
      fs.writeFileSync(path.join(sb.home, 'conf', 'postgresql.conf'), `HOST=${server.dir}\nPORT=${server.port}\n`, { mode: 0o600 });
      const tools = { PG_DUMP: path.join(pgBin!, 'pg_dump'), PG_DUMPALL: path.join(pgBin!, 'pg_dumpall'), PSQL: path.join(pgBin!, 'psql'), PG_RESTORE: path.join(pgBin!, 'pg_restore'), PGPASSWORD: undefined, PGUSER: undefined, PGHOST: undefined };
      const b = await batt(['postgresql', '--path', sb.pattern, '--no-drill'], { home: sb.home, env: tools });
      assert.equal(b.code, 0, b.stderr);
      const r = await batt(['drill', 'postgresql', '--path', sb.pattern], { home: sb.home, env: tools });
      assert.equal(r.code, 0, r.stderr);
      assert.match(fs.readFileSync(path.join(sb.home, 'log', 'batt.log'), 'utf8'), /drill: shop restored into a scratch database: 1 object\(s\) of pg_restore -l present/); // TABLE public t
      assert.equal(server.sql("SELECT count(*) FROM pg_database WHERE datname LIKE 'batt\\_drill\\_%'").trim(), '0');
    } finally {
      await server.stop();
      sb.cleanup();
    }
  });
});
