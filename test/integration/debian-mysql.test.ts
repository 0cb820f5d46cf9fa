// Acceptance, MariaDB the way Debian's package sets it up (issue 14 items 2 and 4, RELIABILITY
// 20): root@localhost over unix_socket (mariadb-install-db's default), batt installed with
// ./install into temp folders and run as root the README's way (`batt enable mysql`, `batt`,
// `batt restore mysql`), with a HOME whose ~/.my.cnf is stale ([client] user=wrong). Never
// /root/.my.cnf: the batt process gets a temp HOME. The server is a throwaway one on its own
// socket (never /run/mysqld), so each conf names SOCKET: a connection key, not a credential.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO, REQUIRE_SERVERS, listFiles } from '../helpers/batt.js';
import { findBinary, mariadbTools, startMariaDB, type MariaDB } from '../helpers/servers.js';

const PASSWORD = 'backup-Pw-3e8b';
const missing = mariadbTools() && findBinary('zstd') ? [] : ['mariadbd/mariadb-install-db/mariadb/mariadb-dump or zstd'];
const notRoot = process.getuid?.() !== 0;
const skip = notRoot ? 'root over unix_socket needs the tests to run as root' : missing.length && !REQUIRE_SERVERS ? `not installed: ${missing.join(', ')}` : false;

describe('mysql on a Debian-style MariaDB: root over unix_socket, a stale ~/.my.cnf, batt installed and run as root', { skip, concurrency: false }, () => {
  let server: MariaDB;
  let dir: string;
  let batt: string;
  let bhome: string;
  let root: string;
  /** HOME of the batt process: one with the stale ~/.my.cnf, one with none. */
  let staleHome: string;
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
    cleanHome = path.join(dir, 'clean-home');
    fs.mkdirSync(staleHome, { mode: 0o700 });
    fs.mkdirSync(cleanHome, { mode: 0o700 });
    fs.writeFileSync(path.join(staleHome, '.my.cnf'), '[client]\nuser=wrong\npassword=wrong\n', { mode: 0o600 });

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
    // Left from an old setup: another server (nothing listens on port 1), another account.
    const other = path.join(dir, 'other-home');
    fs.mkdirSync(other, { mode: 0o700 });
    fs.writeFileSync(path.join(other, '.my.cnf'), '[client]\nhost=127.0.0.1\nport=1\nuser=wrong\npassword=wrong\n', { mode: 0o600 });
    conf('USER=root\nDATABASES=shop\n');
    const r = run([], other);
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
});
