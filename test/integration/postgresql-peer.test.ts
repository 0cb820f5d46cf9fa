// PostgreSQL set up the way Debian's package sets it up (pg_createcluster: initdb --auth-local=peer
// --auth-host=scram-sha-256, superuser postgres, pg_hba.conf as it ships it, the configuration
// outside the data directory, the server run by the OS user postgres), and
// batt installed with ./install and run as root as the README says: `batt enable postgresql &&
// batt`, with only HOST (the socket folder, since it is not the default one) and PORT in
// conf/postgresql.conf. The clients must run as the OS user postgres (OS_USER), with no access
// to batt's conf, TMPDIR or staging folder, and the dumps must still be 0600 files of root's.
// Also: a failing client's own last error line ends batt's one-line error (issue 14 item 3).
// And METHOD=physical the Debian way: pg_basebackup as postgres over the socket under Debian's
// own `local replication all peer`, restored with --force into the data directory of the
// stopped server, which is started again on its configuration and has the copied rows.
// And the field case of a filling disk: on ext4 with blocks reserved for root, pg_dump as
// postgres exits 0 with its dump's last block missing while root still writes the manifest;
// batt must fail such a run (exit 5) and never seal the cut dump.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO, REQUIRE_SERVERS, listFiles, readText } from '../helpers/batt.js';
import { findBinary, pgTableSums, postgresBin, startPostgreSQL, type PostgreSQL } from '../helpers/servers.js';

const bin = postgresBin();
const isRoot = process.getuid?.() === 0;
const missing = [...(bin && findBinary('zstd') ? [] : ['postgresql (initdb, pg_ctl, pg_dump...) or zstd']), ...(isRoot ? [] : ['root (batt runs as root, the server as postgres)'])];
const skip = missing.length && !REQUIRE_SERVERS ? `needs: ${missing.join(', ')}` : false;
// The full-disk test: an ext4 image with blocks reserved for root, on a loop device.
const ext4Missing = findBinary('mkfs.ext4') && findBinary('losetup') && fs.existsSync('/dev/loop-control') ? [] : ['mkfs.ext4 (e2fsprogs), losetup and loop devices'];
const ext4Skip = ext4Missing.length && !REQUIRE_SERVERS ? `needs: ${ext4Missing.join(', ')}` : false;

describe('postgresql with peer authentication: batt installed and run as root, clients as postgres', { skip, concurrency: false }, () => {
  let source: PostgreSQL;
  let target: PostgreSQL;
  let dir: string;
  let home: string;
  let batt: string;
  let root: string;
  /** world-readable folder of the recording stand-ins, and their log (written by postgres) */
  let shim: string;
  let seen: string;

  const confFile = () => path.join(home, 'conf', 'postgresql.conf');
  const writeConf = (server: PostgreSQL, extra = '') =>
    fs.writeFileSync(confFile(), `HOST=${server.dir}\nPORT=${server.port}\n${extra}`, { mode: 0o600 });
  /** The installed command, as root, with a cron-like environment (no BATT_* of the tests). */
  const run = (args: string[], env: Record<string, string> = {}) => {
    const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('BATT_') && !k.startsWith('PG')));
    const r = spawnSync(batt, args, { encoding: 'utf8', cwd: dir, env: { ...clean, NO_COLOR: '1', ...env } });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const backups = () => listFiles(root).filter((f) => f.includes('/postgresql'));

  before(async () => {
    if (missing.length) throw new Error(`BATT_REQUIRE_SERVERS=1 but missing: ${missing.join(', ')}`);
    [source, target] = (await Promise.all([startPostgreSQL('unused-Pw-1', { debian: true }), startPostgreSQL('unused-Pw-2', { debian: true })])) as [PostgreSQL, PostgreSQL];
    source.sql(`CREATE ROLE app LOGIN PASSWORD 'app-pw'; CREATE DATABASE shop OWNER app; CREATE DATABASE blog;`);
    source.sql(`SET ROLE app; CREATE TABLE customers (id int PRIMARY KEY, name text);
      INSERT INTO customers SELECT g, 'Kunde ' || g || ' Grüße' FROM generate_series(1, 500) g;`, 'shop');
    source.sql(`CREATE TABLE posts (id int, title text); INSERT INTO posts VALUES (1, 'Hello'), (2, 'Ωμέγα');`, 'blog');

    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'batt-pgpeer-'));
    home = path.join(dir, 'opt', 'batt');
    const binDir = path.join(dir, 'bin');
    root = path.join(dir, 'backup');
    const inst = spawnSync(path.join(REPO, 'install'), [], { encoding: 'utf8', env: { ...process.env, BATT_HOME: home, BIN_DIR: binDir } });
    assert.equal(inst.status, 0, inst.stderr);
    batt = path.join(binDir, 'batt');
    fs.writeFileSync(path.join(home, 'conf', 'batt.conf'), `DEST=${root}/%Y/%m/%d\n`, { mode: 0o600 });

    // Stand-ins that record who runs them and with what environment, then run the real tool;
    // in a folder the postgres user can read, logging to a file it can write.
    shim = fs.mkdtempSync(path.join(os.tmpdir(), 'batt-pgshim-'));
    fs.chmodSync(shim, 0o755);
    seen = path.join(shim, 'seen.log');
    fs.writeFileSync(seen, '');
    fs.chmodSync(seen, 0o666);
    for (const tool of ['pg_dump', 'pg_dumpall', 'psql', 'pg_restore', 'pg_basebackup']) {
      fs.writeFileSync(
        path.join(shim, tool),
        `#!/bin/sh
printf '%s user=%s cwd=%s env=%s\\n' ${tool} "$(id -un)" "$(pwd)" "$(env | cut -d= -f1 | grep -E '^(BATT_|TMPDIR$)' | tr '\\n' ,)" >>${seen}
exec ${path.join(bin!, tool)} "$@"
`,
        { mode: 0o755 },
      );
    }
  });

  after(async () => {
    await Promise.all([source?.stop(), target?.stop()]);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
    if (shim) fs.rmSync(shim, { recursive: true, force: true });
  });

  const shims = () => ({
    PG_DUMP: path.join(shim, 'pg_dump'),
    PG_DUMPALL: path.join(shim, 'pg_dumpall'),
    PSQL: path.join(shim, 'psql'),
    PG_RESTORE: path.join(shim, 'pg_restore'),
    PG_BASEBACKUP: path.join(shim, 'pg_basebackup'),
  });

  test('`batt enable postgresql && batt` as root backs up every database and the roles', () => {
    writeConf(source);
    const en = run(['enable', 'postgresql']);
    assert.equal(en.code, 0, en.stderr);
    const r = run([], shims());
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const files = backupsOf();
    assert.deepEqual(files.map((f) => path.basename(f)).sort(), ['batt-manifest.json', 'blog.dump', 'globals.sql.zst', 'postgres.dump', 'shop.dump']);
    for (const f of files) {
      const st = fs.statSync(f);
      assert.equal(st.uid, 0, `${f} is root's`);
      assert.equal(st.mode & 0o077, 0, `${f} mode ${(st.mode & 0o777).toString(8)}`);
    }
    const shop = files.find((f) => f.endsWith('/shop.dump'))!;
    assert.equal(fs.readFileSync(shop).subarray(0, 5).toString(), 'PGDMP');
    const list = spawnSync(path.join(bin!, 'pg_restore'), ['--list', shop], { encoding: 'utf8' });
    assert.equal(list.status, 0, list.stderr);
    assert.match(list.stdout, /TABLE DATA public customers app/);
    // Every server client ran as postgres, in /, without batt's variables or TMPDIR.
    const calls = readText(seen).trim().split('\n');
    assert.ok(calls.some((l) => l.startsWith('pg_dumpall ')) && calls.some((l) => l.startsWith('pg_dump ')), calls.join('\n'));
    // (pg_restore --list, the read-back of each dump, runs as root on the file: no server.)
    for (const l of calls.filter((c) => !c.startsWith('pg_restore '))) assert.match(l, /^\S+ user=postgres cwd=\/ env=$/, l);
  });

  test('`batt restore postgresql` as root puts roles and databases into a second peer server', () => {
    fs.writeFileSync(seen, '');
    writeConf(target);
    const r = run(['restore', 'postgresql'], shims());
    assert.equal(r.code, 0, r.stderr + r.stdout);
    for (const db of ['shop', 'blog']) assert.deepEqual(pgTableSums(target, db), pgTableSums(source, db), db);
    assert.equal(target.sql("SELECT tableowner FROM pg_tables WHERE tablename = 'customers'", 'shop').trim(), 'app');
    for (const l of readText(seen).trim().split('\n')) assert.match(l, /^\S+ user=postgres cwd=\/ env=$/, l);
  });

  test('FORMAT=directory: pg_dump -Fd -j 2 as postgres, the folder sealed as root\'s 0600 files, pg_restore -j 2 as postgres', () => {
    fs.writeFileSync(seen, '');
    writeConf(source, 'FORMAT=directory\nJOBS=2\nDATABASES=shop\nGLOBALS=no\n');
    const r = run(['postgresql'], shims());
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const folder = path.dirname(backupsOf().find((f) => f.endsWith('/shop.dir/toc.dat'))!);
    const files = backupsOf().filter((f) => f.startsWith(`${folder}/`));
    assert.ok(files.length >= 2, files.join('\n'));
    for (const f of [folder, ...files]) {
      const st = fs.statSync(f);
      assert.equal(st.uid, 0, `${f} is root's`);
      assert.equal(st.mode & 0o077, 0, `${f} mode ${(st.mode & 0o777).toString(8)}`);
    }
    const manifest = JSON.parse(readText(path.join(path.dirname(folder), 'batt-manifest.json'))) as { files: { path: string }[] };
    const sealed = manifest.files.map((f) => f.path).filter((p) => p.startsWith('shop.dir/')).sort();
    assert.deepEqual(sealed, files.map((f) => `shop.dir/${path.basename(f)}`).sort());
    const dumps = readText(seen).trim().split('\n').filter((l) => l.startsWith('pg_dump '));
    assert.ok(dumps.length >= 1, readText(seen));
    for (const l of dumps) assert.match(l, /^pg_dump user=postgres cwd=\/ env=$/, l);
    const v = run(['verify']);
    assert.equal(v.code, 0, v.stderr + v.stdout);

    fs.writeFileSync(seen, '');
    writeConf(target);
    const rr = run(['restore', 'postgresql', '--postgresql-db', 'shop', '--to', 'shop_dir', '--postgresql-jobs', '2'], shims());
    assert.equal(rr.code, 0, rr.stderr + rr.stdout);
    assert.deepEqual(pgTableSums(target, 'shop_dir'), pgTableSums(source, 'shop'));
    const restores = readText(seen).trim().split('\n').filter((l) => l.startsWith('pg_restore '));
    assert.ok(restores.length >= 1, readText(seen));
    for (const l of restores) assert.match(l, /^pg_restore user=postgres cwd=\/ env=$/, l);
  });

  test('OS_USER empty: the clients run as root, and the error line ends with the server\'s own words', () => {
    writeConf(source, 'OS_USER=\n');
    const before = backupsOf();
    const r = run(['postgresql']);
    assert.notEqual(r.code, 0);
    const line = r.stderr.trim().split('\n').find((l) => l.includes('backup-postgresql:')) ?? '';
    assert.match(line, /backup-postgresql: cannot list the databases \(exit 2\): psql: error: connection to server on socket "[^"]+" failed: FATAL: {2}role "root" does not exist$/, r.stderr);
    writeConf(source, 'OS_USER=\nDATABASES=shop\n');
    const g = run(['postgresql']);
    assert.match(g.stderr, /pg_dumpall --globals-only failed with exit code 1 \(GLOBALS=no skips it\): pg_dumpall: error: connection to server on socket "[^"]+" failed: FATAL: {2}role "root" does not exist\n/, g.stderr);
    writeConf(source, 'OS_USER=\nDATABASES=shop\nGLOBALS=no\n');
    const d = run(['postgresql']);
    assert.match(d.stderr, /pg_dump of shop failed with exit code 1: pg_dump: error: connection to server on socket "[^"]+" failed: FATAL: {2}role "root" does not exist\n/, d.stderr);
    writeConf(target, 'OS_USER=\n');
    const rr = run(['restore', 'postgresql', '--force']);
    assert.match(rr.stderr, /restore-postgresql: cannot query the server \(exit 2\): psql: error: connection to server on socket "[^"]+" failed: FATAL: {2}role "root" does not exist\n/, rr.stderr);
    assert.deepEqual(backupsOf(), before, 'no failed backup kept');
  });

  test('OS_USER naming a user this machine lacks is refused in one line', () => {
    writeConf(source, 'OS_USER=no-such-batt-user\n');
    const r = run(['postgresql']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /backup-postgresql: OS_USER 'no-such-batt-user' in \S+postgresql\.conf is not a user of this machine\n/, r.stderr);
  });

  test('METHOD=physical as root under Debian\'s pg_hba.conf: pg_basebackup as postgres, restored into the stopped server\'s data directory, which starts on its configuration with the same rows', async () => {
    // The cluster is as pg_createcluster makes it: nothing added for batt.
    const hba = readText(path.join(source.conf, 'pg_hba.conf')).split('\n').filter((l) => l && !l.startsWith('#'));
    assert.deepEqual(hba.map((l) => l.split(/\s+/).join(' ')), [
      'local all postgres peer',
      'local all all peer',
      'host all all 127.0.0.1/32 scram-sha-256',
      'host all all ::1/128 scram-sha-256',
      'local replication all peer',
      'host replication all 127.0.0.1/32 scram-sha-256',
      'host replication all ::1/128 scram-sha-256',
    ]);
    assert.ok(!fs.existsSync(path.join(source.data, 'pg_hba.conf')) && !fs.existsSync(path.join(source.data, 'postgresql.conf')), 'the configuration is outside the data directory');
    fs.writeFileSync(seen, '');
    writeConf(source, 'METHOD=physical\n');
    const r = run(['postgresql'], shims());
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const file = backupsOf().find((f) => /\/postgresql(\.\d+)?\/physical\.tar\.zst$/.test(f));
    assert.ok(file, backupsOf().join('\n'));
    const st = fs.statSync(file);
    assert.equal(st.uid, 0, 'root\'s file');
    assert.equal(st.mode & 0o077, 0);
    const calls = readText(seen).trim().split('\n').filter((l) => l.startsWith('pg_basebackup '));
    assert.equal(calls.length, 1, readText(seen));
    assert.match(calls[0]!, /^pg_basebackup user=postgres cwd=\/ env=$/);
    // Rows the copy must not have: the restore brings the cluster back as it was at the backup.
    source.sql('INSERT INTO customers VALUES (501, \'after the backup\')', 'shop');
    const want = { shop: pgTableSums(source, 'shop'), blog: pgTableSums(source, 'blog') };
    want.shop.set('public.customers', source.sql("SELECT count(*) || ':' || md5(string_agg(x::text, '|' ORDER BY x::text)) FROM customers x WHERE id <= 500", 'shop').trim());
    source.sql('DELETE FROM customers WHERE id = 501', 'shop');

    // As on Debian: the server must be stopped first (systemctl stop postgresql), then the copy
    // replaces its data directory (--force: the old contents are moved aside), then it starts
    // again with its own configuration from its conf folder.
    writeConf(target);
    const running = run(['restore', 'postgresql', '--to', target.data, '--force']);
    assert.notEqual(running.code, 0, running.stderr + running.stdout);
    assert.match(running.stderr, /restore-postgresql: a server is running on \S+ \(postmaster\.pid names process \d+\): stop it first\n/);
    target.halt();
    const rr = run(['restore', 'postgresql', '--to', target.data, '--force']);
    assert.equal(rr.code, 0, rr.stderr + rr.stdout);
    assert.equal(fs.statSync(target.data).uid, Number(spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).stdout.trim()), 'owned by postgres as before');
    assert.ok(!fs.existsSync(path.join(target.data, 'postgresql.conf')), 'the copy holds no configuration: Debian keeps it in its conf folder');
    await target.start();
    assert.equal(target.sql('SHOW hba_file').trim(), path.join(target.conf, 'pg_hba.conf'));
    for (const db of ['shop', 'blog'] as const) assert.deepEqual(pgTableSums(target, db), want[db], db);
    assert.equal(target.sql("SELECT tableowner FROM pg_tables WHERE tablename = 'customers'", 'shop').trim(), 'app');
  });

  test('COMPRESS=none as root: pg_dump -Z 0 and pg_dumpall as postgres into root\'s 0600 files, without zstd; batt restore as postgres, and the by-hand block, bring it back', () => {
    fs.writeFileSync(seen, '');
    // a role only this backup holds: the restore must take it from the plain globals.sql
    source.sql('CREATE ROLE plain_role NOLOGIN');
    const noZstd = { ...shims(), ZSTD: path.join(dir, 'no-zstd') };
    writeConf(source, 'COMPRESS=none\nDATABASES=shop\n');
    const before = new Set(backupsOf());
    const r = run(['postgresql'], noZstd);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const files = backupsOf().filter((f) => !before.has(f));
    assert.deepEqual(files.map((f) => path.basename(f)).sort(), ['batt-manifest.json', 'globals.sql', 'shop.dump']);
    for (const f of files) {
      const st = fs.statSync(f);
      assert.equal(st.uid, 0, `${f} is root's`);
      assert.equal(st.mode & 0o077, 0, `${f} mode ${(st.mode & 0o777).toString(8)}`);
    }
    const folder = path.dirname(files[0]!);
    assert.ok(fs.readFileSync(path.join(folder, 'shop.dump')).includes(Buffer.from('Kunde 7 Grüße')), 'shop.dump is uncompressed');
    assert.match(readText(path.join(folder, 'globals.sql')), /^CREATE ROLE plain_role;$/m);
    assert.match(readText(path.join(folder, 'globals.sql')), /-- PostgreSQL database cluster dump complete\n/);
    const calls = readText(seen).trim().split('\n');
    assert.ok(calls.some((l) => l.startsWith('pg_dumpall ')) && calls.some((l) => l.startsWith('pg_dump ')), calls.join('\n'));
    for (const l of calls.filter((c) => !c.startsWith('pg_restore '))) assert.match(l, /^\S+ user=postgres cwd=\/ env=$/, l);

    fs.writeFileSync(seen, '');
    writeConf(target);
    const rr = run(['restore', 'postgresql', '--postgresql-db', 'shop', '--to', 'shop_plain'], noZstd);
    assert.equal(rr.code, 0, rr.stderr + rr.stdout);
    assert.deepEqual(pgTableSums(target, 'shop_plain'), pgTableSums(source, 'shop'));
    assert.equal(target.sql("SELECT count(*) FROM pg_roles WHERE rolname = 'plain_role'").trim(), '1', 'plain_role came from globals.sql');
    assert.equal(target.sql("SELECT tableowner FROM pg_tables WHERE tablename = 'customers'", 'shop_plain').trim(), 'app');
    for (const l of readText(seen).trim().split('\n')) assert.match(l, /^\S+ user=postgres cwd=\/ env=$/, l);

    // The plain block of docs/restore-without-batt.md, run literally as root: shop again, by hand.
    target.sql('DROP DATABASE IF EXISTS shop');
    target.sql('DROP ROLE plain_role');
    const doc = readText(path.join(REPO, 'docs', 'restore-without-batt.md'));
    const block = /```sh\n# by hand: postgresql-plain\n([\s\S]*?)```/.exec(doc)?.[1] ?? assert.fail('no postgresql-plain block in docs/restore-without-batt.md');
    assert.match(block, /^DB=shop$/m);
    const x = spawnSync('bash', ['-e', '-o', 'pipefail', '-c', block], {
      encoding: 'utf8',
      cwd: dir,
      env: { ...process.env, B: folder, PGHOST: target.dir, PGPORT: String(target.port) },
    });
    assert.equal(x.status, 0, x.stderr);
    assert.deepEqual(pgTableSums(target, 'shop'), pgTableSums(source, 'shop'));
    assert.equal(target.sql("SELECT count(*) FROM pg_roles WHERE rolname = 'plain_role'").trim(), '1', 'plain_role came from globals.sql');
  });

  test('a full ext4 with blocks reserved for root: pg_dump as postgres exits 0 with the dump\'s tail missing, and batt never seals a cut dump (exit 5, nothing sealed)', { skip: ext4Skip }, (t) => {
    if (ext4Missing.length) throw new Error(`BATT_REQUIRE_SERVERS=1 but missing: ${ext4Missing.join(', ')}`);
    // The field case: pg_dump checks its writes but not the flush of its last stdio buffer, so when
    // the space for non-root writers ends inside the dump's last 4 KiB it exits 0 with the file
    // cut at a block boundary; pg_restore --list still reads the cut file, and root (batt, the
    // manifest) still writes into the reserved blocks.
    const BLOCK = 4096;
    const box = fs.mkdtempSync(path.join(os.tmpdir(), 'batt-pgfull-'));
    const img = path.join(box, 'e4.img');
    const mnt = path.join(box, 'mnt');
    const base = path.join(mnt, 'b');
    const pattern = `${base}/%Y/%m/%d`;
    const filler = path.join(mnt, 'filler');
    const logFile = path.join(home, 'log', 'batt.log');
    const must = (cmd: string, args: string[]) => {
      const r = spawnSync(cmd, args, { encoding: 'utf8' });
      assert.equal(r.status, 0, `${cmd} ${args.join(' ')}: ${r.stderr}${r.error ?? ''}`);
    };
    /** df's Avail: the bytes a non-root writer (pg_dump as postgres) may still allocate. */
    const avail = () => {
      const st = fs.statfsSync(mnt);
      return st.bavail * st.bsize;
    };
    /** A journal commit: blocks freed by an unlink or truncate can be allocated again only after it. */
    const settle = () => must('sync', ['-f', mnt]);
    /** Grows or shrinks root's filler file until exactly `want` bytes are available. */
    const fillTo = (want: number) => {
      for (let i = 0; i < 10; i++) {
        settle();
        const have = avail();
        if (have === want) return;
        const size = fs.existsSync(filler) ? fs.statSync(filler).size : 0;
        const next = size + have - want;
        assert.ok(next >= 0, `cannot bring the available space to ${want}: ${have} with no filler`);
        const fd = fs.openSync(filler, 'a', 0o600);
        try {
          if (next > size) fs.writeSync(fd, Buffer.alloc(next - size));
          else fs.ftruncateSync(fd, next);
          fs.fsyncSync(fd);
        } finally {
          fs.closeSync(fd);
        }
      }
      assert.fail(`could not bring the available space on ${mnt} to ${want} (it is ${avail()})`);
    };
    // A pg_dump stand-in (run as postgres by the script) that records who it runs as and the space
    // available on its stdout's filesystem, the dump file root opened, as it starts; then pg_dump.
    const starts = path.join(shim, 'pgfull-starts.log');
    fs.writeFileSync(starts, '');
    fs.chmodSync(starts, 0o666);
    const pgDump = path.join(shim, 'pgfull-pg_dump');
    fs.writeFileSync(pgDump, `#!/bin/sh
exec 3>&1
printf '%s %s\\n' "$(id -un)" "$(stat -f -c '%a %S' /proc/self/fd/3)" >>${starts}
exec 3>&- ${path.join(bin!, 'pg_dump')} "$@"
`, { mode: 0o755 });

    interface Level { target?: number; at?: number; user?: string; code: number | null; dumped?: number; sealed?: string; out: string }
    /** One `batt postgresql` as root, with what it did. */
    const attempt = (target?: number): Level => {
      const mark = fs.existsSync(logFile) ? fs.statSync(logFile).size : 0;
      const seenBefore = readText(starts).split('\n').length;
      const r = run(['postgresql', '--path', pattern], { ...shims(), PG_DUMP: pgDump });
      const all = fs.readFileSync(logFile);
      const log = (all.length >= mark ? all.subarray(mark) : all).toString('utf8'); // (rotated: all of it)
      // this run's line, if pg_dump started
      const [user, a, s] = (readText(starts).split('\n')[seenBefore - 1] ?? '').split(' ');
      const dumped = /> dumped edge -> edge\.dump \((\d+) bytes\)$/m.exec(log)?.[1];
      const sealed = listFiles(base).filter((f) => /(^|\/)postgresql(\.\d+)?\/edge\.dump$/.test(f));
      assert.ok(sealed.length <= 1, sealed.join('\n'));
      return {
        target,
        at: a && s ? Number(a) * Number(s) : undefined,
        user,
        code: r.code,
        dumped: dumped === undefined ? undefined : Number(dumped),
        sealed: sealed[0] && path.join(base, sealed[0]),
        out: `${r.stderr}${r.stdout}\n--- batt.log:\n${log}`,
      };
    };
    const removeBackups = () => {
      for (const f of listFiles(base).filter((x) => x.endsWith('/batt-manifest.json'))) fs.rmSync(path.dirname(path.join(base, f)), { recursive: true });
    };
    const restoresWhole = (file: string) => spawnSync(path.join(bin!, 'pg_restore'), ['-f', '/dev/null', file], { encoding: 'utf8' });

    try {
      fs.mkdirSync(mnt);
      fs.writeFileSync(img, '');
      fs.truncateSync(img, 16 << 20);
      // 16 MiB, half of it reserved for root: about 2.7 MiB available to others
      must('mkfs.ext4', ['-q', '-F', '-b', String(BLOCK), '-m', '50', img]);
      must('mount', ['-o', 'loop', img, mnt]);
      source.sql('CREATE DATABASE edge');
      source.sql(`CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'row ' || g || ' ' || md5(g::text) FROM generate_series(1, 300) g;`, 'edge');
      writeConf(source, 'DATABASES=edge\nGLOBALS=no\nCOMPRESS=none\n');

      // With room to spare: the dump's exact size D (the first run also makes the date folders).
      const first = attempt();
      assert.equal(first.code, 0, first.out);
      assert.ok(first.sealed, first.out);
      const D = fs.statSync(first.sealed).size;
      assert.equal(first.dumped, D, first.out);
      assert.equal(restoresWhole(first.sealed).status, 0, restoresWhole(first.sealed).stderr);
      assert.equal(first.user, 'postgres', 'pg_dump runs as postgres: the reserved blocks are not its');
      assert.ok(D > BLOCK && D < 64 * 1024, `the dump is ${D} bytes`);
      removeBackups();
      // What a whole run takes from the available space besides the dump (date folders exist now):
      // `pre` before pg_dump starts (lock file, staging folder), the rest after it (the manifest).
      settle();
      const before = avail();
      const second = attempt();
      assert.equal(second.code, 0, second.out);
      assert.equal(fs.statSync(second.sealed!).size, D, second.out);
      settle();
      let pre = before - second.at!;
      const whole = before - avail();
      assert.ok(pre >= 0 && pre <= 16 * BLOCK && whole >= Math.ceil(D / BLOCK) * BLOCK, `pre ${pre}, whole run ${whole}, dump ${D}`);
      removeBackups();

      // The edge: pg_dump starting with D rounded down to whole blocks available (the field case),
      // and a few blocks either side. The space is set so that pg_dump sees the target; when the
      // run took another amount before pg_dump, the level is tried again with that amount.
      const edge = Math.floor(D / BLOCK) * BLOCK;
      const levels: Level[] = [];
      for (const target of [-2, -1, 0, 1, 2].map((k) => edge + k * BLOCK)) {
        for (let tries = 0; tries < 3; tries++) {
          fillTo(target + pre);
          const l = attempt(target);
          levels.push(l);
          const where = `pg_dump started with ${l.at} bytes available (aimed at ${target}; the dump is ${D})`;
          assert.equal(l.user, 'postgres', `${where}: pg_dump did not start as postgres\n${l.out}`);
          // The invariant, at every level: a sealed dump is whole, or the run failed as "no space"
          // and sealed nothing.
          if (l.code === 0) {
            assert.ok(l.sealed, `${where}: exit 0 but no dump sealed\n${l.out}`);
            const size = fs.statSync(l.sealed).size;
            assert.equal(size, D, `${where}: batt sealed a cut dump: ${size} of ${D} bytes, exit 0\n${l.out}`);
            const back = restoresWhole(l.sealed);
            assert.equal(back.status, 0, `${where}: the sealed dump does not restore: ${back.stderr}`);
          } else {
            assert.equal(l.code, 5, `${where}: exit ${l.code}, not 5 (no space)\n${l.out}`);
            assert.match(l.out, /no space left on device while writing the backup/, where);
            assert.deepEqual(listFiles(base), [], `${where}: a failed run leaves nothing behind`);
          }
          removeBackups();
          if (l.at === target) break;
          pre += target - l.at!; // the run took that much more (or less) before pg_dump started
        }
      }
      const summary = levels.map((l) => `at ${l.at} (aimed ${l.target}): exit ${l.code}, pg_dump ${l.dumped === undefined ? 'failed' : `exited 0 with ${l.dumped} bytes`}`).join('\n');
      // The test proves what it claims: some level was the field case, pg_dump exiting 0 (the
      // script read its dump back with pg_restore --list and logged it) with a dump shorter than D.
      assert.ok(levels.some((l) => l.dumped !== undefined && l.dumped < D), `no level made pg_dump exit 0 with a cut dump (D = ${D}):\n${summary}`);
      // and the sweep crossed the edge: pg_dump failed outright below it and wrote it whole above
      assert.ok(levels.some((l) => l.dumped === undefined) && levels.some((l) => l.dumped === D), summary);
      t.diagnostic(`the dump is ${D} bytes; a run takes ${pre} before pg_dump starts, ${whole} in all`);
      for (const line of summary.split('\n')) t.diagnostic(line);
    } finally {
      if (spawnSync('mountpoint', ['-q', mnt]).status === 0 && spawnSync('umount', [mnt]).status !== 0) spawnSync('umount', ['-l', mnt]);
      fs.rmSync(box, { recursive: true, force: true });
      source.sql('DROP DATABASE IF EXISTS edge');
    }
  });

  function backupsOf(): string[] {
    return backups().map((f) => path.join(root, f));
  }
});
