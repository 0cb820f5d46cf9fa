// MariaDB through the built batt against real, throwaway servers (temp datadir, free port on
// 127.0.0.1, a user with a password): `batt mysql`, then `batt restore mysql` into a second
// fresh server, compared table by table; and the faults backup-mysql must survive
// (RELIABILITY 1, 2, 3, 13, 14).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { REQUIRE_SERVERS, batt, listFiles, sandbox, tempDirs, type Sandbox, backupsOf, readText, checkRefusals, type Refusal, writeServiceConf } from '../helpers/batt.js';
import { findBinary, mariadbTools, startMariaDB, type MariaDB, mariadbTableSums, runMariaHandBlock, sqlString } from '../helpers/servers.js';

// Quotes, a backslash, a hash and spaces: every layer that could mangle or leak it is crossed.
const PASSWORD = `My'Sql "pw" \\ #9f-Secret`;
const tools = mariadbTools();
const missing = tools && findBinary('zstd') ? [] : ['mariadbd/mariadb-install-db/mariadb/mariadb-dump or zstd'];
const skip = missing.length && !REQUIRE_SERVERS ? `not installed: ${missing.join(', ')}` : false;


const writeConf = (sb: Sandbox, lines: Record<string, string | number>) => writeServiceConf(sb.home, 'mysql', lines);

/** A MYSQLDUMP/MYSQL stand-in that records its argv and the mode of its option file, then runs the real tool. */
function recorder(sb: Sandbox, name: string, real: string): string {
  const file = path.join(sb.dir, `record-${name}`);
  fs.writeFileSync(
    file,
    `#!/usr/bin/env bash
{ printf 'ARGV'; printf ' %q' "$@"; printf '\\n'
  case "$1" in --defaults-file=*) f=\${1#--defaults-file=}; printf 'FILE %s %s\\n' "$f" "$(stat -c %a "$f")" ;; esac
} >>${JSON.stringify(path.join(sb.dir, 'argv.log'))}
exec ${JSON.stringify(real)} "$@"
`,
    { mode: 0o755 },
  );
  return file;
}

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
    INSERT INTO orders (customer, total, note, blob_col) SELECT 1 + seq % 2000, seq * 1.25, REPEAT('€', seq % 7), UNHEX(MD5(seq)) FROM seq_1_to_3000;
    CREATE TABLE counters (name VARCHAR(20) PRIMARY KEY, n INT) ENGINE=MyISAM;
    INSERT INTO counters VALUES ('a', 1), ('b', 2), ('ü', 3);
    CREATE PROCEDURE order_count(OUT n INT) SELECT COUNT(*) INTO n FROM orders;
    CREATE FUNCTION double_it(x INT) RETURNS INT DETERMINISTIC RETURN x * 2;
    CREATE EVENT nightly ON SCHEDULE EVERY 1 DAY DISABLE DO DELETE FROM audit WHERE id < 0;
    CREATE VIEW big_orders AS SELECT id, total FROM orders WHERE total > 3000;
    CREATE DATABASE blog CHARACTER SET latin1;
    CREATE TABLE blog.posts (id INT PRIMARY KEY, title VARCHAR(200)) ENGINE=InnoDB;
    INSERT INTO blog.posts VALUES (1, 'Hello'), (2, 'Café señor');
    CREATE DATABASE \`odd name-ü\`;
    CREATE TABLE \`odd name-ü\`.\`t 1\` (id INT PRIMARY KEY) ENGINE=InnoDB;
    INSERT INTO \`odd name-ü\`.\`t 1\` SELECT seq FROM seq_1_to_50;
    CREATE USER 'batt'@'127.0.0.1' IDENTIFIED BY ${sqlString(PASSWORD)};
    GRANT ALL ON *.* TO 'batt'@'127.0.0.1';
  `);
}

describe('mysql: batt backup and restore against real MariaDB servers', { skip, concurrency: false }, () => {
  let source: MariaDB;
  let target: MariaDB;
  let sb: Sandbox;
  let env: Record<string, string>;
  let tmp: string;
  /** The backup of shop and blog made by the first test, as `batt backups` names it. */
  let fullId = '';

  before(async () => {
    if (missing.length) throw new Error(`BATT_REQUIRE_SERVERS=1 but not installed: ${missing.join(', ')}`);
    [source, target] = (await Promise.all([startMariaDB(), startMariaDB()])) as [MariaDB, MariaDB];
    seed(source);
    sb = sandbox({ builtins: true });
    tmp = path.join(sb.dir, 'tmp');
    fs.mkdirSync(tmp, { mode: 0o700 });
    env = {
      TMPDIR: tmp,
      MYSQLDUMP: recorder(sb, 'dump', tools!.dump),
      MYSQL: recorder(sb, 'client', tools!.client),
    };
    writeConf(sb, { HOST: '127.0.0.1', PORT: source.port, USER: 'batt', PASSWORD });
  });

  after(async () => {
    await Promise.all([source?.stop(), target?.stop()]);
    sb?.cleanup();
  });

  // A built-in script prints nothing on stderr when all is well (it would be a warning).
  const run = (args: string[], extra: Record<string, string> = {}) =>
    batt([...args, '--path', sb.pattern], { home: sb.home, env: { ...env, ...extra } }).then((r) => {
      assert.doesNotMatch(r.stderr, /wrote to stderr/, r.stderr);
      return r;
    });

  test('backs up every user database, then restores them into a second server unchanged', async () => {
    const r = await run(['mysql', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const files = backupsOf(sb);
    const folder = files.find((f) => f.endsWith('/mysql/shop.sql.zst'))?.replace(/\/shop\.sql\.zst$/, '');
    assert.ok(folder, `no shop dump in ${files.join(', ')}`);
    fullId = folder;
    assert.deepEqual(
      files.filter((f) => f.startsWith(`${folder}/`)).map((f) => f.slice(folder.length + 1)),
      ['batt-manifest.json', 'blog.sql.zst', 'odd name-ü.sql.zst', 'shop.sql.zst'],
      'one dump per user database; mysql, sys and the schemas are left out',
    );
    const mode = fs.statSync(path.join(sb.root, folder, 'shop.sql.zst')).mode & 0o777;
    assert.equal(mode & 0o077, 0, `dump mode ${mode.toString(8)}`);

    // Restore into an empty second server reached over its socket as root.
    writeConf(sb, { SOCKET: target.socket, USER: 'root' });
    const rr = await run(['restore', 'mysql']);
    assert.equal(rr.code, 0, rr.stderr + rr.stdout);
    for (const db of ['shop', 'blog', 'odd name-ü']) {
      const want = tableSums(source, db);
      assert.ok(want.size >= 1);
      assert.deepEqual(tableSums(target, db), want, `tables of ${db}`);
    }
    assert.equal(target.sql('SELECT COUNT(*) FROM shop.orders').trim(), '3000');
    assert.equal(target.sql("SELECT ENGINE FROM information_schema.TABLES WHERE TABLE_SCHEMA='shop' AND TABLE_NAME='audit'").trim(), 'MyISAM');
    assert.equal(target.sql("SELECT name FROM shop.customers WHERE id = 7").trim(), 'Kunde Grüße 7 日本 ñ');
    assert.equal(target.sql('SHOW CREATE DATABASE shop').includes('utf8mb4_unicode_ci'), true);
    const routines = target.sql("SELECT ROUTINE_NAME FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA='shop' ORDER BY 1").trim();
    assert.equal(routines, 'double_it\norder_count');
    assert.equal(target.sql('SELECT shop.double_it(21)').trim(), '42');
    assert.equal(target.sql("SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA='shop'").trim(), 'orders_audit');
    assert.equal(target.sql("SELECT EVENT_NAME FROM information_schema.EVENTS WHERE EVENT_SCHEMA='shop'").trim(), 'nightly');
    assert.equal(target.sql('SELECT COUNT(*) FROM shop.big_orders').trim(), source.sql('SELECT COUNT(*) FROM shop.big_orders').trim());
    // The trigger came back working.
    target.sql("INSERT INTO shop.orders (customer, total) VALUES (1, 1)");
    assert.equal(target.sql('SELECT COUNT(*) FROM shop.audit').trim(), '3001');
  });

  test('the password is never in any argv, the log, the manifest or --json output; option files are 0600 and removed', async () => {
    const argv = readText(path.join(sb.dir, 'argv.log'));
    const calls = argv.split('\n').filter((l) => l.startsWith('ARGV'));
    assert.ok(calls.length >= 3, `recorded calls:\n${argv}`);
    for (const c of calls) assert.match(c, /^ARGV --defaults-file=\S+/, 'the option file is the first argument');
    const optionFiles = argv.split('\n').filter((l) => l.startsWith('FILE '));
    assert.ok(optionFiles.length >= 3);
    for (const l of optionFiles) {
      const [, file, mode] = l.split(' ');
      assert.equal(mode, '600', l);
      assert.equal(fs.existsSync(file!), false, `${file} was left behind`);
    }
    const log = readText(path.join(sb.home, 'log', 'batt.log'));
    assert.ok(log.length > 0);
    const manifests = listFiles(sb.root).filter((f) => f.endsWith('batt-manifest.json')).map((f) => readText(path.join(sb.root, f)));
    assert.ok(manifests.length >= 1);
    const json = await run(['mysql', '--mysql-db', 'blog', '--json']);
    assert.equal(json.code, 0, json.stderr);
    for (const [where, text] of [['argv', readText(path.join(sb.dir, 'argv.log'))], ['log', log], ['manifest', manifests.join('\n')], ['json', json.stdout + json.stderr]] as const) {
      assert.equal(text.includes(PASSWORD), false, `password found in ${where}`);
      assert.equal(text.includes('#9f-Secret'), false, `part of the password found in ${where}`);
    }
    assert.deepEqual(tempDirs(tmp, 'batt-mysql'), [], 'private temp folders removed');
  });

  test('--to restores one database under a new name; an existing target is refused without --force', async () => {
    writeConf(sb, { HOST: '127.0.0.1', PORT: source.port, USER: 'batt', PASSWORD });
    const copy = await run(['restore', 'mysql', fullId, '--mysql-db', 'shop', '--to', 'shop_copy']);
    assert.equal(copy.code, 0, copy.stderr);
    assert.deepEqual(tableSums(source, 'shop_copy'), tableSums(source, 'shop'));

    const again = await run(['restore', 'mysql', fullId, '--mysql-db', 'shop', '--to', 'shop_copy']);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /refus/i);
    assert.match(again.stderr, /--force/);

    source.sql('DELETE FROM shop_copy.customers WHERE id > 10');
    const all = await run(['restore', 'mysql', fullId]);
    assert.notEqual(all.code, 0, 'shop and blog exist on the source server');
    assert.match(all.stderr, /refus/i);
    assert.equal(source.sql('SELECT COUNT(*) FROM shop_copy.customers').trim(), '10', 'a refusal changes nothing');

    const forced = await run(['restore', 'mysql', fullId, '--mysql-db', 'shop', '--to', 'shop_copy', '--force']);
    assert.equal(forced.code, 0, forced.stderr);
    assert.deepEqual(tableSums(source, 'shop_copy'), tableSums(source, 'shop'));
    assert.equal(readText(path.join(sb.home, 'log', 'batt.log')).includes('#9f-Secret'), false);
  });

  test('--mysql-compress none: one plain <db>.sql per database, ending with its completion line, without zstd or perl; batt restores and drills it, and so does the by-hand block', async () => {
    fs.rmSync(sb.root, { recursive: true, force: true });
    fs.writeFileSync(path.join(sb.dir, 'argv.log'), '');
    const dbs = ['shop', 'blog', 'odd name-ü'];
    // Neither tool is needed for a plain dump: a ZSTD or PERL that ran would fail the backup.
    const r = await run(['mysql', ...dbs.flatMap((d) => ['--mysql-db', d]), '--mysql-compress', 'none'], { ZSTD: path.join(sb.dir, 'no-zstd'), PERL: '' });
    assert.equal(r.code, 0, r.stderr);
    const files = backupsOf(sb);
    const folder = path.dirname(files.find((f) => f.endsWith('/mysql/shop.sql')) ?? assert.fail(`no shop.sql in ${files.join(', ')}`));
    assert.deepEqual(files.map((f) => path.relative(folder, f)), ['batt-manifest.json', 'blog.sql', 'odd name-ü.sql', 'shop.sql']);
    const shop = path.join(sb.root, folder, 'shop.sql');
    assert.equal(fs.statSync(shop).mode & 0o077, 0, 'the dump is private');
    const text = fs.readFileSync(shop, 'utf8');
    assert.match(text, /^-- batt-mysql: database shop CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci\n/);
    assert.match(text, /^CREATE TABLE `customers`/m);
    assert.match(text, /\n-- Dump completed on [^\n]*\n$/);
    assert.match(readText(path.join(sb.home, 'log', 'batt.log')), /dumped shop -> shop\.sql \(\d+ bytes\)/);
    // The credentials reach the dump as they do for a .zst: the 0600 option file, first.
    const dumps = readText(path.join(sb.dir, 'argv.log')).split('\n').filter((l) => l.startsWith('ARGV') && l.includes('--routines'));
    assert.equal(dumps.length, 3, readText(path.join(sb.dir, 'argv.log')));
    for (const l of dumps) assert.match(l, /^ARGV --defaults-file=\S+ /);
    assert.ok(!readText(path.join(sb.dir, 'argv.log')).includes('#9f-Secret'));
    assert.deepEqual(tempDirs(tmp, 'batt-mysql'), []);

    // batt restore: every dump of the backup into the second server, where they are dropped first.
    writeConf(sb, { SOCKET: target.socket, USER: 'root' });
    try {
      target.sql('DROP DATABASE IF EXISTS shop; DROP DATABASE IF EXISTS blog; DROP DATABASE IF EXISTS `odd name-ü`;');
      const rr = await run(['restore', 'mysql']);
      assert.equal(rr.code, 0, rr.stderr + rr.stdout);
      for (const db of dbs) assert.deepEqual(tableSums(target, db), tableSums(source, db), `tables of ${db}`);
      assert.ok(target.sql('SHOW CREATE DATABASE shop').includes('utf8mb4_unicode_ci'));
      assert.equal(target.sql('SELECT shop.double_it(21)').trim(), '42');

      // batt drill: each plain dump into a scratch database, checked, dropped.
      const d = await run(['drill', 'mysql']);
      assert.equal(d.code, 0, d.stderr + d.stdout);
      assert.match(readText(path.join(sb.home, 'log', 'batt.log')), /drill: shop loaded into a scratch database: 4 table\(s\) pass CHECK TABLE/);
      assert.equal(target.sql("SHOW DATABASES LIKE 'batt\\_drill\\_%'").trim(), '');

      // The plain block of docs/restore-without-batt.md, run literally: blog again, by hand.
      target.sql('DROP DATABASE blog');
      const x = runMariaHandBlock('mysql-plain', target, sb.dir, path.join(sb.root, folder), 'blog');
      assert.equal(x.status, 0, String(x.stderr));
      assert.deepEqual(tableSums(target, 'blog'), tableSums(source, 'blog'));
      assert.ok(target.sql('SHOW CREATE DATABASE blog').includes('latin1'));
    } finally {
      writeConf(sb, { HOST: '127.0.0.1', PORT: source.port, USER: 'batt', PASSWORD });
    }
  });

  test('COMPRESS: an unknown value, a LEVEL with none, and none with METHOD=physical or mydumper each fail before any dump, with one line, and keep nothing', async () => {
    const cases: Refusal[] = [
      [['--mysql-compress', 'gzip'], {}, /^backup-mysql: unknown compression 'gzip' \(zstd or none\)$/],
      [[], { COMPRESS: 'xz' }, /^backup-mysql: unknown compression 'xz' \(zstd or none\)$/],
      [['--mysql-compress', 'none', '--mysql-level', '9'], {}, /^backup-mysql: --mysql-level \(LEVEL\) does not apply to --mysql-compress none \(COMPRESS=none\)$/],
      [[], { COMPRESS: 'none', LEVEL: 5 }, /^backup-mysql: --mysql-level \(LEVEL\) does not apply to --mysql-compress none \(COMPRESS=none\)$/],
      [['--mysql-compress', 'none', '--mysql-method', 'physical'], {}, /^backup-mysql: --mysql-compress none \(COMPRESS=none\) is for the logical dumps only: METHOD=physical is always compressed$/],
      [[], { COMPRESS: 'none', METHOD: 'mydumper' }, /^backup-mysql: --mysql-compress none \(COMPRESS=none\) is for the logical dumps only: METHOD=mydumper is always compressed$/],
    ];
    try {
      await checkRefusals(
        sb,
        cases,
        (conf) => writeConf(sb, { HOST: '127.0.0.1', PORT: source.port, USER: 'batt', PASSWORD, ...conf }),
        (args) => run(['mysql', '--mysql-db', 'shop', ...args]),
        path.join(sb.dir, 'argv.log'),
      );
    } finally {
      writeConf(sb, { HOST: '127.0.0.1', PORT: source.port, USER: 'batt', PASSWORD });
    }
  });

  test('--mysql-lock all-tables (database given positionally as --mysql shop) dumps MyISAM with --lock-all-tables instead of --single-transaction', async () => {
    fs.writeFileSync(path.join(sb.dir, 'argv.log'), '');
    fs.rmSync(sb.root, { recursive: true, force: true });
    const r = await run(['--mysql', 'shop', '--mysql-lock', 'all-tables']);
    assert.equal(r.code, 0, r.stderr);
    const dumps = readText(path.join(sb.dir, 'argv.log')).split('\n').filter((l) => l.startsWith('ARGV') && l.includes('--routines'));
    assert.equal(dumps.length, 1, readText(path.join(sb.dir, 'argv.log')));
    assert.match(dumps[0]!, / --lock-all-tables /);
    assert.doesNotMatch(dumps[0]!, /--single-transaction/);
    assert.match(dumps[0]!, / --events /);
    assert.match(dumps[0]!, / --triggers /);
    assert.deepEqual(backupsOf(sb).map((f) => path.basename(f)), ['batt-manifest.json', 'shop.sql.zst']);
    const bad = await run(['--mysql-db', 'shop', '--mysql-lock', 'sometimes']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /unknown lock mode/);
  });

  test('LOCK=auto (the default): a database with MyISAM tables is dumped under --lock-tables and the log says so; an InnoDB-only one in a single transaction', async () => {
    fs.writeFileSync(path.join(sb.dir, 'argv.log'), '');
    fs.rmSync(sb.root, { recursive: true, force: true });
    const r = await run(['--mysql-db', 'shop', '--mysql-db', 'blog']);
    assert.equal(r.code, 0, r.stderr);
    const dumps = readText(path.join(sb.dir, 'argv.log')).split('\n').filter((l) => l.startsWith('ARGV') && l.includes('--routines'));
    const of = (db: string) => dumps.find((l) => l.endsWith(` -- ${db}`)) ?? assert.fail(`no dump of ${db}: ${dumps.join('\n')}`);
    assert.match(of('shop'), / --lock-tables /);
    assert.doesNotMatch(of('shop'), /--single-transaction/);
    assert.match(of('blog'), / --single-transaction /);
    assert.doesNotMatch(of('blog'), /--lock-tables/);
    assert.match(readText(path.join(sb.home, 'log', 'batt.log')), /shop has non-transactional tables \(MyISAM\): dumped with --lock-tables \(LOCK=auto\)/);
    assert.doesNotMatch(readText(path.join(sb.home, 'log', 'batt.log')), /blog has non-transactional/);
  });

  test('a wrong password fails the run and leaves no folder and no credentials behind', async () => {
    fs.rmSync(sb.root, { recursive: true, force: true });
    writeConf(sb, { HOST: '127.0.0.1', PORT: source.port, USER: 'batt', PASSWORD: 'not-the-password-x1' });
    const r = await run(['mysql']);
    assert.equal(r.code, 1, r.stderr);
    // The one-line error ends with the client's own words: the real cause, not a guess.
    assert.match(r.stderr, /cannot list the databases: record-client failed \(exit 1\): ERROR 1045 \(28000\): Access denied for user 'batt'@'127\.0\.0\.1' \(using password: YES\)$/m);
    writeConf(sb, { HOST: '127.0.0.1', PORT: source.port, USER: 'batt', PASSWORD });
    const none = await run(['mysql', '--mysql-db', 'no_such_db']);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /database no_such_db does not exist/);
    assert.deepEqual(backupsOf(sb), []);
    assert.deepEqual(backupsOf(sb), []);
    assert.deepEqual(tempDirs(tmp, 'batt-mysql'), []);
    assert.equal(readText(path.join(sb.home, 'log', 'batt.log')).includes('not-the-password-x1'), false);
    writeConf(sb, { HOST: '127.0.0.1', PORT: source.port, USER: 'batt', PASSWORD });
  });

  test('check mode: doctor says what the next run would fail on (credentials, a missing database), in the script\'s words', async () => {
    const enable = await batt(['enable', 'mysql'], { home: sb.home, env });
    assert.equal(enable.code, 0, enable.stderr);
    const doctor = () => batt(['doctor', '--path', sb.pattern], { home: sb.home, env });
    try {
      writeConf(sb, { HOST: '127.0.0.1', PORT: source.port, USER: 'batt', PASSWORD: 'not-the-password-x1' });
      let d = await doctor();
      assert.equal(d.code, 1);
      assert.match(d.stdout, /^FAIL +mysql +backup-mysql: cannot list the databases/m);
      writeConf(sb, { HOST: '127.0.0.1', PORT: source.port, USER: 'batt', PASSWORD, DATABASES: 'shop no_such_db' });
      d = await doctor();
      assert.match(d.stdout, /^FAIL +mysql +backup-mysql: database no_such_db does not exist$/m);
      writeConf(sb, { HOST: '127.0.0.1', PORT: source.port, USER: 'batt', PASSWORD, DATABASES: 'shop' });
      d = await doctor();
      assert.match(d.stdout, /^ok +mysql +check mode: ok$/m);
      // COMPRESS as a run reads it: a wrong value fails; none needs no zstd.
      writeConf(sb, { HOST: '127.0.0.1', PORT: source.port, USER: 'batt', PASSWORD, DATABASES: 'shop', COMPRESS: 'lz4' });
      d = await doctor();
      assert.match(d.stdout, /^FAIL +mysql +backup-mysql: unknown compression 'lz4' \(zstd or none\)$/m);
      writeConf(sb, { HOST: '127.0.0.1', PORT: source.port, USER: 'batt', PASSWORD, DATABASES: 'shop', COMPRESS: 'none' });
      const noZstd = { ...env, ZSTD: path.join(sb.dir, 'no-zstd') };
      d = await batt(['doctor', '--path', sb.pattern], { home: sb.home, env: noZstd });
      assert.match(d.stdout, /^ok +mysql +check mode: ok$/m, d.stdout);
      writeConf(sb, { HOST: '127.0.0.1', PORT: source.port, USER: 'batt', PASSWORD, DATABASES: 'shop' });
      d = await batt(['doctor', '--path', sb.pattern], { home: sb.home, env: noZstd });
      assert.match(d.stdout, /^FAIL +mysql +backup-mysql: \S*no-zstd not found: install zstd or set ZSTD$/m, d.stdout);
      assert.ok(!readText(path.join(sb.home, 'log', 'batt.log')).includes('not-the-password-x1'));
      assert.deepEqual(tempDirs(tmp, 'batt-mysql'), []);
    } finally {
      await batt(['disable', 'mysql'], { home: sb.home });
      writeConf(sb, { HOST: '127.0.0.1', PORT: source.port, USER: 'batt', PASSWORD });
    }
  });

  // The end of the plain stream is read by the perl pass-through (tee(2)/splice(2)), or, with
  // PERL empty, by tee into a fifo read by tail, or, with COMPRESS=none, from the end of the
  // plain file: each must see a dump that stops short.
  for (const [how, extra, args] of [
    ['perl', {}, []],
    ['tee and tail (PERL empty)', { PERL: '' }, []],
    ['--mysql-compress none', {}, ['--mysql-compress', 'none']],
  ] as const) {
    const plainFile = args.length > 0;
    test(`${how}: a dump that writes half a file and exits 2, or stops short with exit 0, fails the run with no folder; a whole one passes`, async () => {
      for (const [name, code] of [['half-exit2', 2], ['half-exit0', 0]] as const) {
        fs.rmSync(sb.root, { recursive: true, force: true });
        const stand = path.join(sb.dir, name);
        fs.writeFileSync(
          stand,
          `#!/usr/bin/env bash\nprintf -- '-- MariaDB dump\\nCREATE TABLE t (id INT);\\nINSERT INTO t VALUES (1),(2)'\nexit ${code}\n`,
          { mode: 0o755 },
        );
        const r = await run(['mysql', '--mysql-db', 'shop', ...args], { MYSQLDUMP: stand, ...extra });
        assert.notEqual(r.code, 0, `${name}: ${r.stdout}`);
        assert.deepEqual(backupsOf(sb), [], name);
        assert.match(r.stderr, code ? /dump of shop: half-exit2 failed \(exit 2\)/ : /the dump of shop is incomplete: it does not end with '-- Dump completed'/, name);
      }
      fs.rmSync(sb.root, { recursive: true, force: true });
      const r = await run(['mysql', '--mysql-db', 'shop', ...args], extra);
      assert.equal(r.code, 0, r.stderr);
      const dump = backupsOf(sb).find((f) => f.endsWith(plainFile ? '/shop.sql' : '/shop.sql.zst'));
      assert.ok(dump, backupsOf(sb).join(', '));
      const plain = plainFile
        ? fs.readFileSync(path.join(sb.root, dump), 'utf8')
        : execFileSync('zstd', ['-dcq', path.join(sb.root, dump)], { maxBuffer: 1 << 28 }).toString('utf8');
      assert.match(plain, /^-- batt-mysql: database shop CHARACTER SET utf8mb4/);
      assert.match(plain, /\n-- Dump completed on [^\n]*\n$/);
      assert.deepEqual(tempDirs(tmp, 'batt-mysql'), []);
    });
  }

  test('a pass-through that exits non-zero fails the run, though it passed every byte on', async () => {
    fs.rmSync(sb.root, { recursive: true, force: true });
    const stand = path.join(sb.dir, 'perl-exit3');
    fs.writeFileSync(stand, `#!/usr/bin/env bash\ncat\necho 'no space for the tail' >&2\nexit 3\n`, { mode: 0o755 });
    const r = await run(['mysql', '--mysql-db', 'shop'], { PERL: stand });
    assert.notEqual(r.code, 0, r.stdout);
    assert.match(r.stderr, /passing on the dump of shop: perl-exit3 failed \(exit 3\): no space for the tail$/m);
    assert.deepEqual(backupsOf(sb), []);
  });

  test("a dump that fails on its own ends the one-line error with mariadb-dump's own last error line", async () => {
    fs.rmSync(sb.root, { recursive: true, force: true });
    // The real dump, given an option file with an account that does not exist.
    const wrong = path.join(sb.dir, 'wrong.cnf');
    fs.writeFileSync(wrong, `[client]\nhost=127.0.0.1\nport=${source.port}\nuser=wrong\npassword=wrong\n`, { mode: 0o600 });
    const stand = path.join(sb.dir, 'mariadb-dump');
    fs.writeFileSync(stand, `#!/usr/bin/env bash\nshift\nexec ${JSON.stringify(tools!.dump)} --defaults-file=${JSON.stringify(wrong)} "$@"\n`, { mode: 0o755 });
    const r = await run(['mysql', '--mysql-db', 'shop'], { MYSQLDUMP: stand });
    assert.equal(r.code, 1, r.stderr);
    assert.match(
      r.stderr,
      /: backup-mysql: dump of shop: mariadb-dump failed \(exit 2\): mariadb-dump: Got error: 1045: "Access denied for user 'wrong'@'127\.0\.0\.1' \(using password: YES\)" when trying to connect$/m,
    );
    assert.deepEqual(backupsOf(sb), []);
  });

  test('a compressor that fails (disk full) fails the run, says so, and leaves no folder', async () => {
    fs.rmSync(sb.root, { recursive: true, force: true });
    const stand = path.join(sb.dir, 'zstd-full');
    fs.writeFileSync(stand, `#!/usr/bin/env bash\nhead -c 1000 >/dev/null\necho 'zstd: error 70 : Write error : No space left on device' >&2\nexit 1\n`, { mode: 0o755 });
    const r = await run(['mysql', '--mysql-db', 'shop'], { ZSTD: stand });
    assert.notEqual(r.code, 0, r.stderr);
    assert.match(r.stderr, /no space left/i);
    assert.match(r.stderr, /compressing shop: zstd-full failed \(exit 1\): zstd: error 70 : Write error : No space left on device$/m, 'the root cause, not the SIGPIPE of the dump');
    assert.deepEqual(backupsOf(sb), []);
    assert.deepEqual(tempDirs(tmp, 'batt-mysql'), []);
  });

  test('SIGTERM during a dump stops it, removes the staging folder and the credentials folder', async () => {
    fs.rmSync(sb.root, { recursive: true, force: true });
    const marker = path.join(sb.dir, 'dump-started');
    const stand = path.join(sb.dir, 'slow-dump');
    fs.writeFileSync(stand, `#!/usr/bin/env bash\nprintf -- '-- partial\\n'\ntouch ${JSON.stringify(marker)}\nsleep 60\n`, { mode: 0o755 });
    let child: import('node:child_process').ChildProcess | undefined;
    const pending = batt(['mysql', '--mysql-db', 'shop', '--path', sb.pattern], {
      home: sb.home,
      env: { ...env, MYSQLDUMP: stand },
      onSpawn: (c) => (child = c),
    });
    let ended = false;
    void pending.then(() => (ended = true));
    const until = Date.now() + 60_000;
    while (!fs.existsSync(marker) && !ended && Date.now() < until) await new Promise((res) => setTimeout(res, 100));
    if (!fs.existsSync(marker)) {
      child?.kill('SIGKILL');
      const r = await pending;
      assert.fail(`the dump never started: ${r.stderr}`);
    }
    assert.equal(tempDirs(tmp, 'batt-mysql').length, 1, 'credentials folder exists while dumping');
    child!.kill('SIGTERM');
    const r = await pending;
    assert.notEqual(r.code, 0);
    assert.deepEqual(listFiles(sb.root).filter((f) => !f.startsWith('.batt.lock')), []);
    assert.deepEqual(tempDirs(tmp, 'batt-mysql'), [], 'the trap removed the credentials');
  });

  test('a relative --mysql-socket is taken from the folder batt was run in; a relative SOCKET in the conf is refused before any client runs', async () => {
    fs.rmSync(sb.root, { recursive: true, force: true });
    const caller = path.dirname(target.socket);
    const sock = `./${path.basename(target.socket)}`;
    const there = (args: string[]) => batt([...args, '--path', sb.pattern], { home: sb.home, env, cwd: caller });
    writeConf(sb, { USER: 'root' });
    const r = await there(['mysql', '--mysql-db', 'shop', '--mysql-socket', sock]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.deepEqual(backupsOf(sb).map((f) => path.basename(f)), ['batt-manifest.json', 'shop.sql.zst']);
    const rr = await there(['restore', 'mysql', '--mysql-db', 'shop', '--to', 'shop_by_socket', '--mysql-socket', sock]);
    assert.equal(rr.code, 0, rr.stderr + rr.stdout);
    assert.deepEqual(tableSums(target, 'shop_by_socket'), tableSums(target, 'shop'));

    fs.writeFileSync(path.join(sb.dir, 'argv.log'), '');
    writeConf(sb, { SOCKET: sock, USER: 'root' });
    const conf = path.join(sb.home, 'conf', 'mysql.conf');
    const refused = await there(['mysql', '--mysql-db', 'shop']);
    assert.equal(refused.code, 1);
    assert.ok(refused.stderr.includes(`backup-mysql: '${sock}' in SOCKET of ${conf} is not an absolute path (a conf has no folder to be relative to)`), refused.stderr);
    const back = await there(['restore', 'mysql', '--mysql-db', 'shop', '--to', 'shop_refused']);
    assert.notEqual(back.code, 0);
    assert.ok(back.stderr.includes(`restore-mysql: '${sock}' in SOCKET of ${conf} is not an absolute path (a conf has no folder to be relative to)`), back.stderr);
    assert.equal(readText(path.join(sb.dir, 'argv.log')), '', 'no client ran');
    assert.equal(target.sql("SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME='shop_refused'").trim(), '0');
    assert.deepEqual(backupsOf(sb).map((f) => path.basename(f)), ['batt-manifest.json', 'shop.sql.zst'], 'no second backup kept');
    writeConf(sb, { HOST: '127.0.0.1', PORT: source.port, USER: 'batt', PASSWORD });
  });
});
