// Acceptance, MariaDB the way Debian's package sets it up (issue 14 items 2 and 4, RELIABILITY
// 20): root@localhost over unix_socket (mariadb-install-db's default), batt installed with
// ./install into temp folders and run as root the README's way (`batt enable mysql`, `batt`,
// `batt restore mysql`), with a HOME whose ~/.my.cnf is stale ([client] user=wrong). Never
// /root/.my.cnf: the batt process gets a temp HOME. The server is a throwaway one on its own
// socket (never /run/mysqld), so each conf names SOCKET: a connection key, not a credential.
// The same again with METHOD=mydumper: mydumper and myloader must log in as mariadb-dump and
// mariadb do (the same --defaults-file), for the backup and the restore.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO, REQUIRE_SERVERS, listFiles } from '../helpers/batt.js';
import { findBinary, mariadbTableSums, mariadbTools, startMariaDB, type MariaDB } from '../helpers/servers.js';

const PASSWORD = 'backup-Pw-3e8b';
const missing = mariadbTools() && findBinary('zstd') ? [] : ['mariadbd/mariadb-install-db/mariadb/mariadb-dump or zstd'];
const notRoot = process.getuid?.() !== 0;
const skip = notRoot ? 'root over unix_socket needs the tests to run as root' : missing.length && !REQUIRE_SERVERS ? `not installed: ${missing.join(', ')}` : false;
const noMydumper = findBinary('mydumper') && findBinary('myloader') ? '' : 'mydumper or myloader';
const skipMydumper = noMydumper && !REQUIRE_SERVERS ? `not installed: ${noMydumper}` : false;

describe('mysql on a Debian-style MariaDB: root over unix_socket, a stale ~/.my.cnf, batt installed and run as root', { skip, concurrency: false }, () => {
  let server: MariaDB;
  let dir: string;
  let batt: string;
  let bhome: string;
  let root: string;
  /** HOME of the batt process: one with the stale ~/.my.cnf, one whose ~/.my.cnf names another server, one with none. */
  let staleHome: string;
  let otherHome: string;
  let cleanHome: string;

  before(async () => {
    if (missing.length) throw new Error(`BATT_REQUIRE_SERVERS=1 but not installed: ${missing.join(', ')}`);
    server = (await startMariaDB({ rootAuth: 'unix_socket' }))!;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'batt-debian-mysql-'));
    const rootUser = server.sql("SHOW CREATE USER 'root'@'localhost'");
    assert.match(rootUser, /IDENTIFIED VIA mysql_native_password USING 'invalid' OR unix_socket/, 'root@localhost logs in over unix_socket only, as on Debian');
    server.sql(`
      CREATE DATABASE shop CHARACTER SET utf8mb4;
      USE shop;
      CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(50));
      INSERT INTO t SELECT seq, CONCAT('row ', seq) FROM seq_1_to_500;
      CREATE USER 'backup'@'localhost' IDENTIFIED BY '${PASSWORD}';
      GRANT ALL ON *.* TO 'backup'@'localhost';
    `);
    staleHome = path.join(dir, 'root-home');
    otherHome = path.join(dir, 'other-home');
    cleanHome = path.join(dir, 'clean-home');
    for (const h of [staleHome, otherHome, cleanHome]) fs.mkdirSync(h, { mode: 0o700 });
    fs.writeFileSync(path.join(staleHome, '.my.cnf'), '[client]\nuser=wrong\npassword=wrong\n', { mode: 0o600 });
    // Left from an old setup: another server (nothing listens on port 1), another account.
    fs.writeFileSync(path.join(otherHome, '.my.cnf'), '[client]\nhost=127.0.0.1\nport=1\nuser=wrong\npassword=wrong\n', { mode: 0o600 });

    // sudo ./install, into temp folders.
    bhome = path.join(dir, 'opt-batt');
    const bin = path.join(dir, 'bin');
    const inst = spawnSync(path.join(REPO, 'install'), [], { env: { ...process.env, BATT_HOME: bhome, BIN_DIR: bin }, encoding: 'utf8' });
    assert.equal(inst.status, 0, inst.stderr);
    batt = path.join(bin, 'batt');
    root = path.join(dir, 'backup');
    fs.writeFileSync(path.join(bhome, 'conf', 'batt.conf'), `DEST=${root}/%Y/%m/%d\n`, { mode: 0o600 });
    const enable = run(['enable', 'mysql'], staleHome);
    assert.equal(enable.status, 0, enable.stderr);
  });

  after(async () => {
    await server?.stop();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  /** The installed batt, as root, with HOME and nothing of the test's BATT_ settings. */
  function run(args: string[], home: string) {
    const env: Record<string, string> = {};
    for (const [k, v] of Object.entries(process.env)) if (v !== undefined && !k.startsWith('BATT_') && !k.startsWith('MYSQL')) env[k] = v;
    return spawnSync(batt, args, { env: { ...env, HOME: home }, encoding: 'utf8', cwd: dir });
  }
  function conf(lines: string): void {
    fs.writeFileSync(path.join(bhome, 'conf', 'mysql.conf'), `SOCKET=${server.socket}\n${lines}`, { mode: 0o600 });
  }
  const dumps = () => listFiles(root).filter((f) => f.endsWith('/mysql/shop.sql.zst'));

  test('USER/PASSWORD of conf/mysql.conf win over a stale ~/.my.cnf, for the backup and the restore', () => {
    conf(`USER=backup\nPASSWORD=${PASSWORD}\nDATABASES=shop\n`);
    const r = run([], staleHome);
    assert.equal(r.status, 0, r.stderr + r.stdout);
    assert.equal(dumps().length, 1, listFiles(root).join(', '));
    const rr = run(['restore', 'mysql', '--mysql-db', 'shop', '--to', 'shop_by_backup'], staleHome);
    assert.equal(rr.status, 0, rr.stderr + rr.stdout);
    assert.equal(server.sql('SELECT COUNT(*) FROM shop_by_backup.t').trim(), '500');
    // DEFAULTS_FILE names credentials too: an option file of the admin's wins the same way.
    const creds = path.join(dir, 'backup.cnf');
    fs.writeFileSync(creds, `[client]\nuser=backup\npassword=${PASSWORD}\n`, { mode: 0o600 });
    conf(`DEFAULTS_FILE=${creds}\n`);
    const rd = run(['restore', 'mysql', '--mysql-db', 'shop', '--to', 'shop_by_defaults_file'], staleHome);
    assert.equal(rd.status, 0, rd.stderr + rd.stdout);
    assert.equal(server.sql('SELECT COUNT(*) FROM shop_by_defaults_file.t').trim(), '500');
  });

  test('USER=root alone names credentials too: a ~/.my.cnf of another server is not read at all, root logs in over unix_socket', () => {
    fs.rmSync(root, { recursive: true, force: true });
    conf('USER=root\nDATABASES=shop\n');
    const r = run([], otherHome);
    assert.equal(r.status, 0, r.stderr + r.stdout);
    assert.equal(dumps().length, 1, listFiles(root).join(', '));
  });

  test('no credentials configured: root over unix_socket, as `mariadb` run by root, for the backup and the restore', () => {
    fs.rmSync(root, { recursive: true, force: true });
    conf('');
    const r = run([], cleanHome);
    assert.equal(r.status, 0, r.stderr + r.stdout);
    assert.equal(dumps().length, 1, listFiles(root).join(', '));
    const rr = run(['restore', 'mysql', '--mysql-db', 'shop', '--to', 'shop_by_root'], cleanHome);
    assert.equal(rr.status, 0, rr.stderr + rr.stdout);
    assert.equal(server.sql('SELECT COUNT(*) FROM shop_by_root.t').trim(), '500');
  });

  test('no credentials configured: ~/.my.cnf is read as the client reads it, and a stale one is named in the error line', () => {
    fs.rmSync(root, { recursive: true, force: true });
    conf('');
    const good = path.join(dir, 'good-home');
    fs.mkdirSync(good, { mode: 0o700 });
    fs.writeFileSync(path.join(good, '.my.cnf'), `[client]\nuser=backup\npassword=${PASSWORD}\n`, { mode: 0o600 });
    const r = run([], good);
    assert.equal(r.status, 0, r.stderr + r.stdout);
    assert.equal(dumps().length, 1);

    const bad = run([], staleHome);
    assert.equal(bad.status, 1, bad.stdout);
    assert.match(bad.stderr, /backup-mysql: cannot list the databases: mariadb failed \(exit 1\): ERROR 1045 \(28000\): Access denied for user 'wrong'@'localhost' \(using password: YES\)$/m);
  });

  // COMPRESS=none: mariadb-dump writes the plain <db>.sql itself, through the same option file.
  test('COMPRESS=none: a plain shop.sql, dumped and restored as root over unix_socket, and with USER/PASSWORD over a stale ~/.my.cnf', () => {
    const plain = () => listFiles(root).filter((f) => f.endsWith('/mysql/shop.sql'));
    const cases: [string, string, string][] = [
      ['DATABASES=shop\nCOMPRESS=none\n', cleanHome, 'shop_plain_by_root'],
      [`USER=backup\nPASSWORD=${PASSWORD}\nDATABASES=shop\nCOMPRESS=none\n`, staleHome, 'shop_plain_by_backup'],
      ['USER=root\nDATABASES=shop\nCOMPRESS=none\n', otherHome, 'shop_plain_by_user_root'],
    ];
    for (const [lines, home, to] of cases) {
      fs.rmSync(root, { recursive: true, force: true });
      conf(lines);
      const r = run([], home);
      assert.equal(r.status, 0, `${to}: ${r.stderr}${r.stdout}`);
      assert.equal(plain().length, 1, `${to}: ${listFiles(root).join(', ')}`);
      assert.deepEqual(dumps(), [], `${to}: no zstd dump`);
      assert.match(fs.readFileSync(path.join(root, plain()[0]!), 'utf8').slice(-200), /-- Dump completed on /);
      const rr = run(['restore', 'mysql', '--mysql-db', 'shop', '--to', to], home);
      assert.equal(rr.status, 0, `${to}: ${rr.stderr}${rr.stdout}`);
      assert.deepEqual(mariadbTableSums(server, to), mariadbTableSums(server, 'shop'), to);
    }
  });

  // METHOD=mydumper, the three ways of logging in above. batt's own client queries (the database
  // list, the character set) pass in each case, so a mydumper or myloader that logged in any other
  // way (the stale ~/.my.cnf's account, its other server, no socket) fails the run here.
  /** `batt ARGS` as root with HOME, then `batt restore mysql --mysql-db shop --to TO`; shop and TO hold the same rows. */
  function mydumperRoundTrip(args: string[], home: string, to: string): void {
    if (noMydumper) throw new Error(`BATT_REQUIRE_SERVERS=1 but not installed: ${noMydumper}`);
    fs.rmSync(root, { recursive: true, force: true });
    const log = path.join(bhome, 'log', 'batt.log');
    const logged = fs.existsSync(log) ? fs.statSync(log).size : 0;
    const r = run(args, home);
    assert.equal(r.status, 0, r.stderr + r.stdout);
    const meta = listFiles(root).filter((f) => f.endsWith('/mysql/shop.mydumper/metadata'));
    assert.equal(meta.length, 1, listFiles(root).join(', '));
    assert.deepEqual(dumps(), [], 'no mariadb-dump dump');
    assert.match(fs.readFileSync(path.join(root, meta[0]!), 'utf8'), /^Finished dump at/m);
    assert.match(fs.readFileSync(log, 'utf8').slice(logged), /dumped shop with mydumper \(\d+ threads\) -> shop\.mydumper\//);
    const rr = run(['restore', 'mysql', '--mysql-db', 'shop', '--to', to], home);
    assert.equal(rr.status, 0, rr.stderr + rr.stdout);
    assert.match(rr.stdout + fs.readFileSync(log, 'utf8').slice(logged), new RegExp(`restored shop as ${to} \\(myloader, `));
    const want = mariadbTableSums(server, 'shop');
    assert.equal(want.get('t'), `500:${server.sql('CHECKSUM TABLE shop.t').trim().split('\t')[1]}`);
    assert.deepEqual(mariadbTableSums(server, to), want);
  }

  test('METHOD=mydumper, no credentials configured: mydumper and myloader log in as root over unix_socket', { skip: skipMydumper }, () => {
    conf('DATABASES=shop\n');
    mydumperRoundTrip(['mysql', '--mysql-method', 'mydumper'], cleanHome, 'shop_md_by_root');
  });

  test('METHOD=mydumper: USER/PASSWORD of conf/mysql.conf win over a stale ~/.my.cnf for mydumper and myloader', { skip: skipMydumper }, () => {
    conf(`USER=backup\nPASSWORD=${PASSWORD}\nDATABASES=shop\nMETHOD=mydumper\n`);
    mydumperRoundTrip([], staleHome, 'shop_md_by_backup');
  });

  test('METHOD=mydumper: with USER=root, a ~/.my.cnf of another server is not read by mydumper or myloader', { skip: skipMydumper }, () => {
    conf('USER=root\nDATABASES=shop\nMETHOD=mydumper\n');
    mydumperRoundTrip([], otherHome, 'shop_md_by_user_root');
  });
});
