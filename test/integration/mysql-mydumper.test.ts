// METHOD=mydumper against real, throwaway MariaDB servers: `batt mysql --mysql-method mydumper`
// dumps each database with Debian's mydumper (tables in parallel) into <db>.mydumper/ of the
// backup, `batt restore mysql` loads it with myloader into a second server, compared table by
// table; --to renames and keeps the character set; a mydumper that stops short (exit 0, no
// "Finished dump at") or fails never makes a backup.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { REQUIRE_SERVERS, batt, sandbox, tempDirs, type Sandbox, backupsOf, writeServiceConf } from '../helpers/batt.js';
import { findBinary, mariadbTools, startMariaDB, type MariaDB, mariadbTableSums, runMariaHandBlock, sqlString } from '../helpers/servers.js';

const PASSWORD = `My'dumper "pw" \\ #3c`;
const tools = mariadbTools();
const missing = tools && findBinary('mydumper') && findBinary('myloader') ? [] : ['mariadbd/mariadb-install-db/mariadb/mariadb-dump, mydumper or myloader'];
const skip = missing.length && !REQUIRE_SERVERS ? `not installed: ${missing.join(', ')}` : false;


const writeConf = (sb: Sandbox, lines: Record<string, string | number>) => writeServiceConf(sb.home, 'mysql', lines);

const tableSums = mariadbTableSums;

function seed(server: MariaDB): void {
  server.sql(`
    CREATE DATABASE shop CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci;
    USE shop;
    CREATE TABLE customers (id INT PRIMARY KEY, name VARCHAR(100), city VARCHAR(50)) ENGINE=InnoDB;
    INSERT INTO customers SELECT seq, CONCAT('Kunde Grüße ', seq, ' 日本 ñ'), ELT(1 + seq % 3, 'Zürich', 'Kraków', 'Åre') FROM seq_1_to_2000;
    CREATE TABLE orders (id INT AUTO_INCREMENT PRIMARY KEY, customer INT, total DECIMAL(10,2), note TEXT, blob_col VARBINARY(16)) ENGINE=InnoDB;
    CREATE TABLE audit (id INT AUTO_INCREMENT PRIMARY KEY, order_id INT, at VARCHAR(20)) ENGINE=MyISAM;
    CREATE TRIGGER orders_audit AFTER INSERT ON orders FOR EACH ROW INSERT INTO audit (order_id, at) VALUES (NEW.id, 'insert');
    INSERT INTO orders (customer, total, note, blob_col) SELECT 1 + seq % 2000, seq * 1.25, REPEAT('€', seq % 7), UNHEX(MD5(seq)) FROM seq_1_to_30000;
    CREATE FUNCTION double_it(x INT) RETURNS INT DETERMINISTIC RETURN x * 2;
    CREATE VIEW big_orders AS SELECT id, total FROM orders WHERE total > 3000;
    CREATE DATABASE blog CHARACTER SET latin1;
    CREATE TABLE blog.posts (id INT PRIMARY KEY, title VARCHAR(200)) ENGINE=InnoDB;
    INSERT INTO blog.posts VALUES (1, 'Hello'), (2, 'Café señor');
    CREATE USER 'batt'@'127.0.0.1' IDENTIFIED BY ${sqlString(PASSWORD)};
    GRANT ALL ON *.* TO 'batt'@'127.0.0.1';
  `);
}

describe('mysql METHOD=mydumper: mydumper and myloader against real MariaDB servers', { skip, concurrency: false }, () => {
  let source: MariaDB;
  let target: MariaDB;
  let sb: Sandbox;
  let env: Record<string, string>;
  let tmp: string;

  before(async () => {
    if (missing.length) throw new Error(`BATT_REQUIRE_SERVERS=1 but not installed: ${missing.join(', ')}`);
    [source, target] = (await Promise.all([startMariaDB(), startMariaDB()])) as [MariaDB, MariaDB];
    seed(source);
    sb = sandbox({ builtins: true });
    tmp = path.join(sb.dir, 'tmp');
    fs.mkdirSync(tmp, { mode: 0o700 });
    env = { TMPDIR: tmp };
    writeConf(sb, { HOST: '127.0.0.1', PORT: source.port, USER: 'batt', PASSWORD, METHOD: 'mydumper' });
  });

  after(async () => {
    await Promise.all([source?.stop(), target?.stop()]);
    sb?.cleanup();
  });

  const run = (args: string[], extra: Record<string, string> = {}) =>
    batt([...args, '--path', sb.pattern], { home: sb.home, env: { ...env, ...extra } }).then((r) => {
      assert.doesNotMatch(r.stderr, /wrote to stderr/, r.stderr);
      return r;
    });

  test('dumps each database into <db>.mydumper/ with 2 threads, then myloader restores them into a second server unchanged', async () => {
    const r = await run(['mysql', '--mysql-jobs', '2']);
    assert.equal(r.code, 0, r.stderr);
    const files = backupsOf(sb);
    const meta = files.find((f) => f.endsWith('/shop.mydumper/metadata'));
    assert.ok(meta, files.join('\n'));
    const folder = meta.replace(/\/shop\.mydumper\/metadata$/, '');
    const mine = files.filter((f) => f.startsWith(`${folder}/`)).map((f) => f.slice(folder.length + 1));
    for (const f of ['blog.mydumper/metadata', 'shop.mydumper/shop.orders.sql.gz', 'shop.mydumper/shop.audit.sql.gz', 'shop.mydumper/shop-schema-create.sql.gz', 'batt-manifest.json']) {
      assert.ok(mine.includes(f), `${f} in ${mine.join(', ')}`);
    }
    assert.ok(!mine.some((f) => f.endsWith('.sql.zst')), 'no mariadb-dump dump');
    assert.equal(fs.statSync(path.join(sb.root, folder, 'shop.mydumper')).mode & 0o077, 0, 'the dump folder is private');
    assert.match(fs.readFileSync(path.join(sb.root, folder, 'shop.mydumper', 'metadata'), 'utf8'), /^Finished dump at/m);
    const manifest = JSON.parse(fs.readFileSync(path.join(sb.root, folder, 'batt-manifest.json'), 'utf8')) as { files: { path: string }[] };
    assert.ok(manifest.files.some((f) => f.path === 'shop.mydumper/shop.orders.sql.gz'), 'the table files are sealed');
    const log = fs.readFileSync(path.join(sb.home, 'log', 'batt.log'), 'utf8');
    assert.match(log, /dumped shop with mydumper \(2 threads\) -> shop\.mydumper\//);
    assert.match(log, /shop has non-transactional tables \(MyISAM\): dumped with --lock-tables/);
    assert.ok(!log.includes(PASSWORD));
    assert.deepEqual(tempDirs(tmp, 'batt-mysql'), []);

    writeConf(sb, { SOCKET: target.socket, USER: 'root', METHOD: 'mydumper' });
    const rr = await run(['restore', 'mysql', '--mysql-jobs', '2']);
    assert.equal(rr.code, 0, rr.stderr + rr.stdout);
    for (const db of ['shop', 'blog']) {
      const want = tableSums(source, db);
      assert.ok(want.size >= 1);
      assert.deepEqual(tableSums(target, db), want, `tables of ${db}`);
    }
    assert.equal(target.sql('SELECT COUNT(*) FROM shop.orders').trim(), '30000');
    assert.equal(target.sql("SELECT ENGINE FROM information_schema.TABLES WHERE TABLE_SCHEMA='shop' AND TABLE_NAME='audit'").trim(), 'MyISAM');
    assert.equal(target.sql('SELECT name FROM shop.customers WHERE id = 7').trim(), 'Kunde Grüße 7 日本 ñ');
    assert.ok(target.sql('SHOW CREATE DATABASE shop').includes('utf8mb4_unicode_ci'));
    assert.ok(target.sql('SHOW CREATE DATABASE blog').includes('latin1'));
    assert.equal(target.sql('SELECT shop.double_it(21)').trim(), '42');
    assert.equal(target.sql('SELECT COUNT(*) FROM shop.big_orders').trim(), source.sql('SELECT COUNT(*) FROM shop.big_orders').trim());
    target.sql('INSERT INTO shop.orders (customer, total) VALUES (1, 1)');
    assert.equal(target.sql('SELECT COUNT(*) FROM shop.audit').trim(), '30001', 'the trigger came back working');

    // The block of docs/restore-without-batt.md, run literally: blog again, by hand.
    target.sql('DROP DATABASE blog');
    const x = runMariaHandBlock('mysql-mydumper', target, sb.dir, path.join(sb.root, folder), 'blog');
    assert.equal(x.status, 0, String(x.stderr));
    assert.deepEqual(tableSums(target, 'blog'), tableSums(source, 'blog'));
    assert.ok(target.sql('SHOW CREATE DATABASE blog').includes('latin1'));
    writeConf(sb, { HOST: '127.0.0.1', PORT: source.port, USER: 'batt', PASSWORD, METHOD: 'mydumper' });
  });

  test('--to restores one database under a new name with its character set; an existing one is refused without --force', async () => {
    let r = await run(['restore', 'mysql', '--mysql-db', 'shop', '--to', 'shop_copy']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(tableSums(source, 'shop_copy'), tableSums(source, 'shop'));
    assert.ok(source.sql('SHOW CREATE DATABASE shop_copy').includes('utf8mb4_unicode_ci'));
    r = await run(['restore', 'mysql', '--mysql-db', 'shop', '--to', 'shop_copy']);
    assert.notEqual(r.code, 0, r.stderr);
    assert.match(r.stderr, /refusing to overwrite existing databases: shop_copy \(4 tables\) \(add --force/);
    source.sql('DELETE FROM shop_copy.customers WHERE id > 10');
    r = await run(['restore', 'mysql', '--mysql-db', 'shop', '--to', 'shop_copy', '--force']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(tableSums(source, 'shop_copy'), tableSums(source, 'shop'));
    source.sql('DROP DATABASE shop_copy');
  });

  test('a mydumper that stops short with exit 0 (no "Finished dump at"), or fails, leaves no backup', async () => {
    for (const [name, code] of [['short-exit0', 0], ['fail-exit1', 1]] as const) {
      fs.rmSync(sb.root, { recursive: true, force: true });
      const stand = path.join(sb.dir, name);
      // mydumper's layout without the last line of its metadata.
      fs.writeFileSync(
        stand,
        `#!/usr/bin/env bash\nfor a; do case $prev in --outputdir) out=$a ;; esac; prev=$a; done\nmkdir -p "$out"\nprintf 'Started dump at: 2026-01-01 00:00:00\\n' >"$out/metadata"\necho 'CREATE TABLE t (id INT);' | gzip >"$out/shop.t-schema.sql.gz"\n${code ? `echo '** (mydumper:1): CRITICAL **: Error dumping table (shop.t) data: lost connection' >&2\n` : ''}exit ${code}\n`,
        { mode: 0o755 },
      );
      const r = await run(['mysql', '--mysql-db', 'shop'], { MYDUMPER: stand });
      assert.notEqual(r.code, 0, `${name}: ${r.stdout}`);
      assert.deepEqual(backupsOf(sb), [], name);
      assert.match(
        r.stderr,
        code ? /mydumper of shop: fail-exit1 failed \(exit 1\): \*\* \(mydumper:1\): CRITICAL \*\*: Error dumping table/ : /the mydumper dump of shop is incomplete: its metadata has no 'Finished dump at' line/,
        name,
      );
    }
    assert.deepEqual(tempDirs(tmp, 'batt-mysql'), []);
  });

  test('check mode (doctor) says when mydumper is missing', async () => {
    await batt(['enable', 'mysql'], { home: sb.home });
    try {
      const r = await batt(['doctor'], { home: sb.home, env: { ...env, MYDUMPER: 'no-such-mydumper' } });
      assert.match(r.stdout, /^FAIL +mysql +backup-mysql: no-such-mydumper not found: install mydumper or set MYDUMPER$/m, r.stdout);
    } finally {
      await batt(['disable', 'mysql'], { home: sb.home });
    }
  });
});
