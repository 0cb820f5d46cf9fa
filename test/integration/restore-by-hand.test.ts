// "Restore without batt": the README's code blocks (`# by hand: NAME`) are run literally with
// bash -e, as root, against backups batt made of real throwaway servers, and the result is
// compared with the original data. Only the lines that set the reader's parameters (DB=, TO=,
// DIR=) get this test's values; `B` is the backup folder. The blocks are read from
// docs/restore-without-batt.md when it exists, else from README.md: the doc and the test cannot
// drift apart. MongoDB has no real server here and no block.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { REPO, REQUIRE_SERVERS, backupsOf, batt, listFiles, sandbox, type Sandbox } from '../helpers/batt.js';
import { findBinary, mariadbTools, pgTableSums, postgresBin, startMariaDB, startPostgreSQL, type MariaDB, type PostgreSQL } from '../helpers/servers.js';
import { startRedis, which, type RedisServer } from '../helpers/redis.js';

const docFile = fs.existsSync(path.join(REPO, 'docs', 'restore-without-batt.md')) ? path.join(REPO, 'docs', 'restore-without-batt.md') : path.join(REPO, 'README.md');
/** The doc's `# by hand: NAME` blocks, by NAME. */
function blocks(): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of fs.readFileSync(docFile, 'utf8').matchAll(/```sh\n# by hand: ([^\n]+)\n([\s\S]*?)```/g)) out.set(m[1]!, m[2]!);
  return out;
}

const isRoot = process.getuid?.() === 0;
const missing = [
  ...(isRoot ? [] : ['root']),
  ...(mariadbTools() ? [] : ['mariadb']),
  ...(postgresBin() ? [] : ['postgresql']),
  ...(which('redis-server') && which('redis-cli') ? [] : ['redis']),
  ...(findBinary('sqlite3') && findBinary('zstd') && findBinary('jq') ? [] : ['sqlite3, zstd or jq']),
];
const skip = missing.length && !REQUIRE_SERVERS ? `needs: ${missing.join(', ')}` : false;

describe('restore without batt: the README\'s commands, run literally', { skip, concurrency: false }, () => {
  let sb: Sandbox;
  const doc = blocks();
  /** Runs block NAME with bash -e (and -o pipefail when the doc says to run it so) in folder cwd, B=folder, parameters replaced. */
  const byHand = (name: string, b: string, params: Record<string, string> = {}, env: Record<string, string> = {}, pipefail = false) => {
    let text = doc.get(name);
    assert.ok(text, `no '# by hand: ${name}' block in ${docFile}`);
    for (const [k, v] of Object.entries(params)) {
      assert.match(text, new RegExp(`^${k}=`, 'm'), `${name}: no ${k}= line`);
      text = text.replace(new RegExp(`^${k}=.*$`, 'm'), `${k}=${JSON.stringify(v)}`);
    }
    return spawnSync('bash', ['-e', ...(pipefail ? ['-o', 'pipefail'] : []), '-c', text], { encoding: 'utf8', cwd: sb.dir, env: { ...process.env, ...env, B: b } });
  };
  const folderOf = (service: string) => {
    const f = backupsOf(sb).filter((x) => x.endsWith(`/${service}/batt-manifest.json`)).pop();
    assert.ok(f, `no ${service} backup`);
    return path.join(sb.root, path.dirname(f));
  };

  before(() => {
    if (missing.length) throw new Error(`BATT_REQUIRE_SERVERS=1 but missing: ${missing.join(', ')}`);
    sb = sandbox({ builtins: true });
  });
  after(() => sb?.cleanup());

  test('every block the test runs is in the doc', () => {
    // 'restic' is run by targets-restic.test.ts, against a real repository; couchdb's by
    // test/integration/couchdb.test.ts, against its pouchdb-server; the `copy ...` blocks
    // (off-site copies) by targets-by-hand.test.ts; 'mysql-physical' by
    // mysql-physical.test.ts, against the server it backs up; 'mysql-mydumper' by
    // mysql-mydumper.test.ts; 'mysql-plain' (COMPRESS=none) by mysql.test.ts; 'postgresql-plain'
    // (COMPRESS=none) by postgresql-peer.test.ts, as root against a peer cluster
    assert.deepEqual([...doc.keys()].filter((k) => !k.startsWith('copy ')).sort(), ['couchdb', 'file', 'file chain', 'manifest', 'manifest with jq', 'mysql', 'mysql-mydumper', 'mysql-physical', 'mysql-plain', 'postgresql', 'postgresql directory', 'postgresql-physical', 'postgresql-plain', 'redis', 'restic', 'sqlite']);
  });

  test('file: tar extracts the archives; the manifest checks pass, and fail on a flipped byte', async () => {
    const tree = path.join(sb.dir, 'tree');
    fs.mkdirSync(path.join(tree, 'sub'), { recursive: true });
    fs.writeFileSync(path.join(tree, 'a.txt'), 'hello\n');
    fs.writeFileSync(path.join(tree, 'sub', 'b.bin'), Buffer.from([0, 1, 2, 255]), { mode: 0o640 });
    const r = await batt(['--file', tree, '--path', sb.pattern], { home: sb.home });
    assert.equal(r.code, 0, r.stderr);
    const b = folderOf('file');
    for (const m of ['manifest', 'manifest with jq']) {
      const c = byHand(m, b);
      assert.equal(c.status, 0, c.stderr + c.stdout);
      assert.match(c.stdout, /\.tar\.zst: OK/);
    }
    const to = path.join(sb.dir, 'restored');
    const x = byHand('file', b, { TO: to });
    assert.equal(x.status, 0, x.stderr);
    const back = path.join(to, tree.slice(1));
    assert.equal(fs.readFileSync(path.join(back, 'a.txt'), 'utf8'), 'hello\n');
    assert.deepEqual(fs.readFileSync(path.join(back, 'sub', 'b.bin')), Buffer.from([0, 1, 2, 255]));
    assert.equal(fs.statSync(path.join(back, 'sub', 'b.bin')).mode & 0o777, 0o640);
    // A damaged copy of the backup fails the check.
    const bad = path.join(sb.dir, 'damaged');
    fs.cpSync(b, bad, { recursive: true });
    const archive = fs.readdirSync(bad).find((f) => f.endsWith('.tar.zst'))!;
    const buf = fs.readFileSync(path.join(bad, archive));
    buf[buf.length >> 1]! ^= 1;
    fs.writeFileSync(path.join(bad, archive), buf);
    for (const m of ['manifest', 'manifest with jq']) assert.notEqual(byHand(m, bad).status, 0, m);
  });

  test('file chain: tar --listed-incremental=/dev/null of each level in order, full first, deletions applied', async () => {
    const tree = path.join(sb.dir, 'chain-tree');
    fs.mkdirSync(path.join(tree, 'old'), { recursive: true });
    fs.writeFileSync(path.join(tree, 'a.txt'), 'v1\n');
    fs.writeFileSync(path.join(tree, 'old', 'gone.txt'), 'soon gone\n');
    // one simulated day a --path pattern: <root>/%Y/cN
    const run = async (n: number) => {
      const r = await batt(['--file', tree, '--file-full-every', '7', '--path', `${sb.root}/%Y/c${n}`], { home: sb.home });
      assert.equal(r.code, 0, r.stderr);
      return path.join(sb.root, String(new Date().getFullYear()), `c${n}`, 'file');
    };
    await run(1);
    fs.writeFileSync(path.join(tree, 'a.txt'), 'v2\n');
    fs.writeFileSync(path.join(tree, 'new.txt'), 'day 2\n');
    await run(2);
    fs.rmSync(path.join(tree, 'old'), { recursive: true });
    fs.rmSync(path.join(tree, 'new.txt'));
    fs.writeFileSync(path.join(tree, 'c.txt'), 'day 3\n');
    const b = await run(3);
    assert.ok(JSON.parse(fs.readFileSync(path.join(b, 'batt-manifest.json'), 'utf8')).base, 'day 3 is an incremental');
    const to = path.join(sb.dir, 'chain-restored');
    const x = byHand('file chain', b, { TO: to });
    assert.equal(x.status, 0, x.stderr);
    assert.equal(x.stdout.match(/^level: /gm)?.length, 3, x.stdout);
    const back = path.join(to, tree.slice(1));
    assert.deepEqual(fs.readdirSync(back).sort(), ['a.txt', 'c.txt']);
    assert.equal(fs.readFileSync(path.join(back, 'a.txt'), 'utf8'), 'v2\n');
  });

  test('sqlite: zstd puts each database back, identical', async () => {
    const db = path.join(sb.dir, 'app.db');
    execFileSync('sqlite3', [db, "CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO t (v) VALUES ('Grüße'), ('日本');"]);
    const r = await batt(['--sqlite', db, '--path', sb.pattern], { home: sb.home });
    assert.equal(r.code, 0, r.stderr);
    const to = path.join(sb.dir, 'sqlite-to');
    fs.mkdirSync(to);
    const x = byHand('sqlite', folderOf('sqlite'), { TO: to });
    assert.equal(x.status, 0, x.stderr);
    const dump = (f: string) => execFileSync('sqlite3', [f, '.dump'], { encoding: 'utf8' });
    assert.equal(dump(path.join(to, 'app.db')), dump(db));
  });

  test('redis: the RDB file in a data folder loads into a fresh server', async () => {
    let src: RedisServer | undefined;
    let dst: RedisServer | undefined;
    try {
      src = await startRedis();
      for (let i = 0; i < 100; i++) await src.client.call('SET', `k${i}`, `v${i} ü`);
      await src.client.call('HSET', 'h', 'f', 'x');
      fs.writeFileSync(path.join(sb.home, 'conf', 'redis.conf'), `PORT=${src.port}\n`, { mode: 0o600 });
      const r = await batt(['redis', '--path', sb.pattern], { home: sb.home });
      assert.equal(r.code, 0, r.stderr);
      const dir = fs.mkdtempSync(path.join(sb.dir, 'redis-data-'));
      const x = byHand('redis', folderOf('redis'), { DIR: dir });
      assert.equal(x.status, 0, x.stderr);
      dst = await startRedis({ dir });
      assert.equal(await dst.client.call('DBSIZE'), 101);
      assert.equal(String(await dst.client.call('GET', 'k42')), 'v42 ü');
      assert.equal(String(await dst.client.call('HGET', 'h', 'f')), 'x');
    } finally {
      await dst?.stop();
      await src?.stop();
    }
  });

  test('mysql: the database comes back with its recorded character set and its rows', async () => {
    let server: MariaDB | undefined;
    try {
      server = (await startMariaDB())!;
      server.sql("CREATE DATABASE shop CHARACTER SET latin1 COLLATE latin1_german1_ci; CREATE TABLE shop.t (id int PRIMARY KEY, v varchar(50)); INSERT INTO shop.t VALUES (1, 'Grüße'), (2, 'Straße');");
      const sums = () => server!.sql("SELECT CONCAT(DEFAULT_CHARACTER_SET_NAME, ' ', DEFAULT_COLLATION_NAME) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = 'shop'; SELECT id, v, HEX(v) FROM shop.t ORDER BY id;");
      const want = sums();
      fs.writeFileSync(path.join(sb.home, 'conf', 'mysql.conf'), `SOCKET=${server.socket}\nUSER=root\n`, { mode: 0o600 });
      const r = await batt(['--mysql-db', 'shop', '--path', sb.pattern], { home: sb.home });
      assert.equal(r.code, 0, r.stderr);
      server.sql('DROP DATABASE shop');
      // As root with ~/.my.cnf naming the server's socket (it is not the default one).
      const home = fs.mkdtempSync(path.join(sb.dir, 'root-home-'));
      fs.writeFileSync(path.join(home, '.my.cnf'), `[client]\nsocket=${server.socket}\nuser=root\n`, { mode: 0o600 });
      const x = byHand('mysql', folderOf('mysql'), { DB: 'shop' }, { HOME: home });
      assert.equal(x.status, 0, x.stderr);
      assert.equal(sums(), want);
      assert.match(want, /^latin1 latin1_german1_ci\n/);
    } finally {
      await server?.stop();
    }
  });

  test('postgresql (peer authentication, clusters laid out as Debian\'s pg_createcluster lays them out): roles, then the database, into a second cluster', async () => {
    let source: PostgreSQL | undefined;
    let target: PostgreSQL | undefined;
    try {
      [source, target] = (await Promise.all([startPostgreSQL('unused-1', { debian: true }), startPostgreSQL('unused-2', { debian: true })])) as [PostgreSQL, PostgreSQL];
      source.sql("CREATE ROLE app LOGIN; CREATE DATABASE shop OWNER app;");
      source.sql("CREATE TABLE customers (id int PRIMARY KEY, name text); INSERT INTO customers SELECT g, 'Kunde ' || g || ' Grüße' FROM generate_series(1, 300) g;", 'shop');
      fs.writeFileSync(path.join(sb.home, 'conf', 'postgresql.conf'), `HOST=${source.dir}\nPORT=${source.port}\n`, { mode: 0o600 });
      const r = await batt(['--postgresql-db', 'shop', '--path', sb.pattern], { home: sb.home });
      assert.equal(r.code, 0, r.stderr);
      const x = byHand('postgresql', folderOf('postgresql'), { DB: 'shop' }, { PGHOST: target.dir, PGPORT: String(target.port) });
      assert.equal(x.status, 0, x.stderr);
      assert.deepEqual(pgTableSums(target, 'shop'), pgTableSums(source, 'shop'));
      assert.equal(target.sql("SELECT count(*) FROM pg_roles WHERE rolname = 'app'").trim(), '1', 'the role came from globals');
      // FORMAT=directory: the folder copied for postgres, pg_restore -j 2 of it.
      fs.writeFileSync(path.join(sb.home, 'conf', 'postgresql.conf'), `HOST=${source.dir}\nPORT=${source.port}\nFORMAT=directory\n`, { mode: 0o600 });
      const d = await batt(['--postgresql-db', 'shop', '--path', path.join(sb.root, 'directory')], { home: sb.home });
      assert.equal(d.code, 0, d.stderr);
      const dirFolder = path.join(sb.root, 'directory', 'postgresql');
      assert.ok(fs.existsSync(path.join(dirFolder, 'shop.dir', 'toc.dat')), listFiles(sb.root).join(', '));
      target.sql('DROP DATABASE shop');
      const y = byHand('postgresql directory', dirFolder, { DB: 'shop' }, { PGHOST: target.dir, PGPORT: String(target.port) });
      assert.equal(y.status, 0, y.stderr);
      assert.deepEqual(pgTableSums(target, 'shop'), pgTableSums(source, 'shop'));
    } finally {
      await Promise.all([source?.stop(), target?.stop()]);
    }
  });

  test('postgresql-physical (Debian): the stopped cluster\'s data directory replaced by the copy, by hand; started on its own configuration it has the rows and roles of the backup', async () => {
    let source: PostgreSQL | undefined;
    let target: PostgreSQL | undefined;
    try {
      // Two clusters as pg_createcluster makes them: the copy of one goes into the other's data
      // directory (a new Debian server, or the same one after a disaster), which keeps its own
      // configuration in its conf folder (/etc/postgresql/<v>/main).
      [source, target] = (await Promise.all([startPostgreSQL('unused-3', { debian: true }), startPostgreSQL('unused-4', { debian: true })])) as [PostgreSQL, PostgreSQL];
      source.sql("CREATE ROLE app LOGIN; CREATE DATABASE shop OWNER app; CREATE DATABASE blog;");
      source.sql("SET ROLE app; CREATE TABLE customers (id int PRIMARY KEY, name text); INSERT INTO customers SELECT g, 'Kunde ' || g || ' Grüße' FROM generate_series(1, 300) g;", 'shop');
      source.sql("CREATE TABLE posts (id int PRIMARY KEY, title text); INSERT INTO posts VALUES (1, 'Hello'), (2, 'Café');", 'blog');
      fs.writeFileSync(path.join(sb.home, 'conf', 'postgresql.conf'), `HOST=${source.dir}\nPORT=${source.port}\nMETHOD=physical\n`, { mode: 0o600 });
      const r = await batt(['postgresql', '--path', path.join(sb.root, 'physical')], { home: sb.home });
      assert.equal(r.code, 0, r.stderr);
      const folder = path.join(sb.root, 'physical', 'postgresql');
      assert.ok(fs.existsSync(path.join(folder, 'physical.tar.zst')), listFiles(sb.root).join(', '));
      // What the restore must bring back, and what it must take away: a row after the backup,
      // and the target's own database.
      const want = { shop: pgTableSums(source, 'shop'), blog: pgTableSums(source, 'blog') };
      source.sql("INSERT INTO customers VALUES (301, 'after the backup')", 'shop');
      target.sql('CREATE DATABASE only_on_target');

      target.halt(); // systemctl stop postgresql
      const x = byHand('postgresql-physical', folder, { PGDATA: target.data }, {}, true);
      assert.equal(x.status, 0, x.stderr + x.stdout);
      assert.ok(!fs.existsSync(path.join(target.data, 'postgresql.conf')), 'the copy holds no configuration: it stays in the conf folder');
      await target.start(); // systemctl start postgresql: -c config_file= of its conf folder
      assert.equal(target.sql('SHOW hba_file').trim(), path.join(target.conf, 'pg_hba.conf'));
      assert.equal(target.sql('SHOW data_directory').trim(), target.data);
      for (const db of ['shop', 'blog'] as const) assert.deepEqual(pgTableSums(target, db), want[db], db);
      assert.equal(target.sql("SELECT tableowner FROM pg_tables WHERE tablename = 'customers'", 'shop').trim(), 'app', 'roles and owners came with the copy');
      assert.equal(target.sql("SELECT count(*) FROM pg_database WHERE datname = 'only_on_target'").trim(), '0', 'the former cluster is gone');
    } finally {
      await Promise.all([source?.stop(), target?.stop()]);
    }
  });
});
