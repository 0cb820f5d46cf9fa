// PostgreSQL through the built batt against real, throwaway clusters (initdb in a temp folder
// owned by `postgres`, free port on 127.0.0.1, scram-sha-256 over TCP): `batt postgresql`, then
// `batt restore postgresql` into a second fresh cluster, compared table by table (md5 of the
// ordered rows); and the faults backup-postgresql must survive (RELIABILITY 1, 3, 13, 14).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { REQUIRE_SERVERS, batt, listFiles, sandbox, tempDirs, type Sandbox, backupsOf, readText, writeTargetConf, checkRefusals, type Refusal, writeServiceConf } from '../helpers/batt.js';
import { findBinary, pgTableSums, postgresBin, startPostgreSQL, type PostgreSQL } from '../helpers/servers.js';

// A colon and a backslash (PGPASSFILE escapes), quotes and a hash.
const PASSWORD = `pg:Pa\\ss'"#5e-Secret`;
const bin = postgresBin();
const missing = bin && findBinary('zstd') ? [] : ['postgresql (initdb, pg_ctl, pg_dump...) or zstd'];
const skip = missing.length && !REQUIRE_SERVERS ? `not installed: ${missing.join(', ')}` : false;


const writeConf = (sb: Sandbox, lines: Record<string, string | number>) => writeServiceConf(sb.home, 'postgresql', lines);

/** A stand-in for a PostgreSQL tool that records its argv and its PGPASSFILE's mode, then runs the real one. */
function recorder(sb: Sandbox, tool: string): string {
  const file = path.join(sb.dir, `record-${tool}`);
  fs.writeFileSync(
    file,
    `#!/usr/bin/env bash
{ printf 'ARGV %s' ${tool}; printf ' %q' "$@"; printf '\\n'
  printf 'ENV PGPASSWORD=%s PGPASSFILE=%s %s\\n' "\${PGPASSWORD:-}" "\${PGPASSFILE:-}" "$(stat -c %a "\${PGPASSFILE:-/nonexistent}" 2>/dev/null)"
} >>${JSON.stringify(path.join(sb.dir, 'argv.log'))}
exec ${JSON.stringify(path.join(bin!, tool))} "$@"
`,
    { mode: 0o755 },
  );
  return file;
}

function seed(server: PostgreSQL): void {
  server.sql(`
    CREATE ROLE app LOGIN PASSWORD 'app-pw';
    CREATE ROLE readers NOLOGIN;
    GRANT readers TO app;
    CREATE DATABASE shop OWNER app;
    CREATE DATABASE blog;
    CREATE DATABASE "odd name-ü";
  `);
  server.sql('CREATE TABLE "t 1" AS SELECT g AS id FROM generate_series(1, 50) g', 'odd name-ü');
  server.sql(`
    SET ROLE app;
    CREATE TABLE customers (id int PRIMARY KEY, name text NOT NULL, city text);
    INSERT INTO customers SELECT g, 'Kunde Grüße ' || g || ' 日本 ñ', (ARRAY['Zürich', 'Kraków', 'Åre'])[1 + g % 3] FROM generate_series(1, 2000) g;
    CREATE TABLE orders (id serial PRIMARY KEY, customer int REFERENCES customers, total numeric(10,2), data jsonb, raw bytea);
    CREATE TABLE audit (id serial PRIMARY KEY, order_id int, at text);
    CREATE FUNCTION audit_order() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN INSERT INTO audit (order_id, at) VALUES (NEW.id, 'insert'); RETURN NEW; END $$;
    CREATE TRIGGER orders_audit AFTER INSERT ON orders FOR EACH ROW EXECUTE FUNCTION audit_order();
    INSERT INTO orders (customer, total, data, raw)
      SELECT 1 + g % 2000, g * 1.25, jsonb_build_object('n', g, 'note', repeat('€', g % 7)), decode(md5(g::text), 'hex') FROM generate_series(1, 3000) g;
    CREATE FUNCTION double_it(x int) RETURNS int LANGUAGE sql IMMUTABLE AS 'SELECT x * 2';
    CREATE VIEW big_orders AS SELECT id, total FROM orders WHERE total > 3000;
    GRANT SELECT ON customers TO readers;
  `, 'shop');
  server.sql(`CREATE TABLE posts (id int PRIMARY KEY, title text); INSERT INTO posts VALUES (1, 'Hello'), (2, 'Ωμέγα');`, 'blog');
}

describe('postgresql: batt backup and restore against real PostgreSQL clusters', { skip, concurrency: false }, () => {
  let source: PostgreSQL;
  let target: PostgreSQL;
  let sb: Sandbox;
  let env: Record<string, string>;
  let tmp: string;
  let fullId = '';

  before(async () => {
    if (missing.length) throw new Error(`BATT_REQUIRE_SERVERS=1 but not installed: ${missing.join(', ')}`);
    [source, target] = (await Promise.all([startPostgreSQL(PASSWORD), startPostgreSQL('other-Target-pw')])) as [PostgreSQL, PostgreSQL];
    seed(source);
    sb = sandbox({ builtins: true });
    tmp = path.join(sb.dir, 'tmp');
    fs.mkdirSync(tmp, { mode: 0o700 });
    env = {
      TMPDIR: tmp,
      PG_DUMP: recorder(sb, 'pg_dump'),
      PG_DUMPALL: recorder(sb, 'pg_dumpall'),
      PG_RESTORE: recorder(sb, 'pg_restore'),
      PSQL: recorder(sb, 'psql'),
      PGPASSWORD: '',
    };
    writeConf(sb, { HOST: '127.0.0.1', PORT: source.port, USER: 'postgres', PASSWORD });
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

  test('backs up every database and the roles, then restores them into a second cluster unchanged', async () => {
    const r = await run(['postgresql', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const files = backupsOf(sb);
    const folder = files.find((f) => f.endsWith('/postgresql/shop.dump'))?.replace(/\/shop\.dump$/, '');
    assert.ok(folder, `no shop dump in ${files.join(', ')}`);
    fullId = folder;
    assert.deepEqual(
      files.filter((f) => f.startsWith(`${folder}/`)).map((f) => f.slice(folder.length + 1)),
      ['batt-manifest.json', 'blog.dump', 'globals.sql.zst', 'odd name-ü.dump', 'postgres.dump', 'shop.dump'],
      'one dump per database (templates left out) and the globals',
    );
    assert.equal(fs.readFileSync(path.join(sb.root, folder, 'shop.dump')).subarray(0, 5).toString(), 'PGDMP', 'custom format');
    for (const f of ['shop.dump', 'globals.sql.zst']) {
      const mode: number = fs.statSync(path.join(sb.root, folder, f)).mode & 0o777;
      assert.equal(mode & 0o077, 0, `${f} mode ${mode.toString(8)}`);
    }

    writeConf(sb, { HOST: '127.0.0.1', PORT: target.port, USER: 'postgres', PASSWORD: target.password });
    const rr = await run(['restore', 'postgresql']);
    assert.equal(rr.code, 0, rr.stderr + rr.stdout);
    for (const db of ['shop', 'blog', 'odd name-ü']) {
      const want = pgTableSums(source, db);
      assert.ok(want.size >= 1);
      assert.deepEqual(pgTableSums(target, db), want, `tables of ${db}`);
    }
    assert.equal(target.sql('SELECT count(*) FROM orders', 'shop').trim(), '3000');
    assert.equal(target.sql('SELECT name FROM customers WHERE id = 7', 'shop').trim(), 'Kunde Grüße 7 日本 ñ');
    assert.equal(target.sql("SELECT rolcanlogin FROM pg_roles WHERE rolname = 'app'").trim(), 't', 'role app restored');
    assert.equal(target.sql("SELECT tableowner FROM pg_tables WHERE tablename = 'customers'", 'shop').trim(), 'app');
    assert.equal(target.sql("SELECT has_table_privilege('readers', 'customers', 'SELECT')", 'shop').trim(), 't');
    assert.equal(target.sql('SELECT double_it(21)', 'shop').trim(), '42');
    target.sql('INSERT INTO orders (customer, total) VALUES (1, 1)', 'shop');
    assert.equal(target.sql('SELECT count(*) FROM audit', 'shop').trim(), '3001', 'the trigger works');
    // The target's own superuser was left alone: its password still works (the next runs use it).
  });

  test('the password is never in any argv, the environment, the log, the manifest or --json output', async () => {
    const argv = readText(path.join(sb.dir, 'argv.log'));
    const calls = argv.split('\n').filter((l) => l.startsWith('ARGV'));
    for (const tool of ['pg_dump', 'pg_dumpall', 'pg_restore', 'psql']) {
      assert.ok(calls.some((c) => c.startsWith(`ARGV ${tool} `)), `${tool} was called`);
    }
    const envs = argv.split('\n').filter((l) => l.startsWith('ENV'));
    for (const l of envs) {
      const m = /^ENV PGPASSWORD= PGPASSFILE=(\S+) (\d+)$/.exec(l);
      assert.ok(m, `PGPASSFILE set, 0600, no PGPASSWORD: ${l}`);
      assert.equal(m[2], '600');
      assert.equal(fs.existsSync(m[1]!), false, `${m[1]} was left behind`);
    }
    const json = await run(['postgresql', '--postgresql-db', 'blog', '--json']);
    assert.equal(json.code, 0, json.stderr);
    const log = readText(path.join(sb.home, 'log', 'batt.log'));
    const manifests = listFiles(sb.root).filter((f) => f.endsWith('batt-manifest.json')).map((f) => readText(path.join(sb.root, f)));
    assert.ok(log.length > 0 && manifests.length >= 2);
    for (const [where, text] of [['argv', readText(path.join(sb.dir, 'argv.log'))], ['log', log], ['manifest', manifests.join('\n')], ['json', json.stdout + json.stderr]] as const) {
      for (const secret of [PASSWORD, target.password, '#5e-Secret']) {
        assert.equal(text.includes(secret), false, `password found in ${where}`);
      }
    }
    assert.deepEqual(tempDirs(tmp, 'batt-postgresql'), [], 'private temp folders removed');
  });

  test('--to restores one database under a new name; an existing target is refused without --force', async () => {
    writeConf(sb, { HOST: '127.0.0.1', PORT: source.port, USER: 'postgres', PASSWORD });
    const copy = await run(['restore', 'postgresql', fullId, '--postgresql-db', 'shop', '--to', 'shop copy']);
    assert.equal(copy.code, 0, copy.stderr);
    assert.deepEqual(pgTableSums(source, 'shop copy'), pgTableSums(source, 'shop'));

    source.sql('DELETE FROM audit WHERE id > 10', 'shop copy');
    const again = await run(['restore', 'postgresql', fullId, '--postgresql-db', 'shop', '--to', 'shop copy']);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /refus/i);
    assert.match(again.stderr, /--force/);
    const all = await run(['restore', 'postgresql', fullId]);
    assert.notEqual(all.code, 0, 'shop and blog exist on the source cluster');
    assert.match(all.stderr, /refus/i);
    assert.equal(source.sql('SELECT count(*) FROM audit', 'shop copy').trim(), '10', 'a refusal changes nothing');

    const forced = await run(['restore', 'postgresql', fullId, '--postgresql-db', 'shop', '--to', 'shop copy', '--force']);
    assert.equal(forced.code, 0, forced.stderr);
    assert.deepEqual(pgTableSums(source, 'shop copy'), pgTableSums(source, 'shop'));
  });

  test('a wrong password fails the run and leaves no folder and no password file behind', async () => {
    fs.rmSync(sb.root, { recursive: true, force: true });
    writeConf(sb, { HOST: '127.0.0.1', PORT: source.port, USER: 'postgres', PASSWORD: 'not-the-password-y2' });
    const r = await run(['postgresql']);
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /cannot list the databases/);
    writeConf(sb, { HOST: '127.0.0.1', PORT: source.port, USER: 'postgres', PASSWORD });
    const none = await run(['postgresql', '--postgresql-db', 'no_such_db', '--postgresql-globals', 'no']);
    assert.equal(none.code, 1);
    assert.match(none.stderr, /pg_dump of no_such_db failed/);
    assert.deepEqual(backupsOf(sb), []);
    assert.deepEqual(backupsOf(sb), []);
    assert.deepEqual(tempDirs(tmp, 'batt-postgresql'), []);
    assert.equal(readText(path.join(sb.home, 'log', 'batt.log')).includes('not-the-password-y2'), false);
    writeConf(sb, { HOST: '127.0.0.1', PORT: source.port, USER: 'postgres', PASSWORD });
  });

  test('check mode: doctor says what the next run would fail on (credentials, a missing database, no superuser for the roles)', async () => {
    assert.equal((await batt(['enable', 'postgresql'], { home: sb.home, env })).code, 0);
    const doctor = () => batt(['doctor', '--path', sb.pattern], { home: sb.home, env });
    try {
      writeConf(sb, { HOST: '127.0.0.1', PORT: source.port, USER: 'postgres', PASSWORD: 'not-the-password-y2' });
      let d = await doctor();
      assert.equal(d.code, 1);
      assert.match(d.stdout, /^FAIL +postgresql +backup-postgresql: cannot list the databases/m);
      writeConf(sb, { HOST: '127.0.0.1', PORT: source.port, USER: 'postgres', PASSWORD, DATABASES: 'shop no_such_db' });
      d = await doctor();
      assert.match(d.stdout, /^FAIL +postgresql +backup-postgresql: cannot connect to database no_such_db/m);
      writeConf(sb, { HOST: '127.0.0.1', PORT: source.port, USER: 'app', PASSWORD: 'app-pw', DATABASES: 'shop' });
      d = await doctor();
      assert.match(d.stdout, /^FAIL +postgresql +backup-postgresql: the roles dump .* needs a superuser; GLOBALS=no skips it$/m);
      writeConf(sb, { HOST: '127.0.0.1', PORT: source.port, USER: 'app', PASSWORD: 'app-pw', DATABASES: 'shop', GLOBALS: 'no' });
      d = await doctor();
      assert.match(d.stdout, /^ok +postgresql +check mode: ok$/m);
      // COMPRESS as a run reads it: a wrong value fails; none needs no zstd, the default does.
      writeConf(sb, { HOST: '127.0.0.1', PORT: source.port, USER: 'postgres', PASSWORD, DATABASES: 'shop', COMPRESS: 'lz4' });
      d = await doctor();
      assert.match(d.stdout, /^FAIL +postgresql +backup-postgresql: unknown compression 'lz4' \(zstd or none\)$/m, d.stdout);
      const noZstd = { ...env, ZSTD: path.join(sb.dir, 'no-zstd') };
      writeConf(sb, { HOST: '127.0.0.1', PORT: source.port, USER: 'postgres', PASSWORD, DATABASES: 'shop', COMPRESS: 'none' });
      d = await batt(['doctor', '--path', sb.pattern], { home: sb.home, env: noZstd });
      assert.match(d.stdout, /^ok +postgresql +check mode: ok$/m, d.stdout);
      writeConf(sb, { HOST: '127.0.0.1', PORT: source.port, USER: 'postgres', PASSWORD, DATABASES: 'shop' });
      d = await batt(['doctor', '--path', sb.pattern], { home: sb.home, env: noZstd });
      assert.match(d.stdout, /^FAIL +postgresql +backup-postgresql: \S*no-zstd not found: install zstd or set ZSTD$/m, d.stdout);
      assert.deepEqual(tempDirs(tmp, 'batt-postgresql'), []);
    } finally {
      await batt(['disable', 'postgresql'], { home: sb.home });
      writeConf(sb, { HOST: '127.0.0.1', PORT: source.port, USER: 'postgres', PASSWORD });
    }
  });

  test('a pg_dump that writes half a file and exits 2, or writes garbage and exits 0, fails the run with no folder', async () => {
    for (const [name, code] of [['half-exit2', 2], ['garbage-exit0', 0]] as const) {
      fs.rmSync(sb.root, { recursive: true, force: true });
      const stand = path.join(sb.dir, name);
      // Writes to its stdout like pg_dump without -f (the script opens the file).
      fs.writeFileSync(
        stand,
        `#!/usr/bin/env bash\nprintf 'PGDMP-not-really'\nexit ${code}\n`,
        { mode: 0o755 },
      );
      const r = await run(['postgresql', '--postgresql-db', 'shop'], { PG_DUMP: stand });
      assert.notEqual(r.code, 0, `${name}: ${r.stdout}`);
      assert.deepEqual(backupsOf(sb), [], name);
      assert.match(r.stderr, code ? /exit code 2/ : /pg_restore --list/, name);
    }
  });

  test('a pg_dumpall --globals-only that fails behind a compressor that exits 0 fails the run with no folder', async () => {
    // The real globals first, then the exit code: zstd compresses a whole-looking dump and exits 0,
    // and even the completion line is there. Only pg_dumpall's own status can tell.
    const stand = path.join(sb.dir, 'pg_dumpall-fails');
    fs.writeFileSync(stand, `#!/usr/bin/env bash\npg_dumpall "$@"\nexit 1\n`, { mode: 0o755 });
    for (const [what, env, code] of [['fails', { PG_DUMPALL: stand }, 1], ['real', {}, 0]] as const) {
      fs.rmSync(sb.root, { recursive: true, force: true });
      const r = await run(['postgresql', '--postgresql-db', 'shop'], env);
      assert.equal(r.code, code, `${what}: ${r.stderr}`);
      if (code) {
        assert.match(r.stderr, /pg_dumpall --globals-only failed with exit code 1/, what);
        assert.deepEqual(backupsOf(sb), [], what);
      } else {
        assert.ok(backupsOf(sb).some((f) => f.endsWith('globals.sql.zst')), `${what}: ${backupsOf(sb).join(',')}`);
      }
    }
  });
  test('FORMAT=directory: pg_dump -Fd -j 2 into shop.dir/, sealed file by file, restored with pg_restore -j 2', async () => {
    fs.rmSync(sb.root, { recursive: true, force: true });
    fs.writeFileSync(path.join(sb.dir, 'argv.log'), '');
    writeConf(sb, { HOST: '127.0.0.1', PORT: source.port, USER: 'postgres', PASSWORD, FORMAT: 'directory', JOBS: 2 });
    // An encrypted off-site copy of the folder too: the sub-folder's files go up one by one.
    const pass = path.join(sb.dir, 'usb.pass');
    fs.writeFileSync(pass, 'usb-Passphrase-7\n', { mode: 0o600 });
    writeTargetConf(sb.home, 'usb', `TYPE=local\nPATH=${path.join(sb.dir, 'usb')}\nPASSPHRASE_FILE=${pass}\n`);
    const r = await run(['postgresql', '--postgresql-db', 'shop', '--postgresql-globals', 'no']);
    fs.rmSync(path.join(sb.home, 'conf', 'targets', 'usb.conf'));
    assert.equal(r.code, 0, r.stderr);
    const files = backupsOf(sb);
    const toc = files.find((f) => f.endsWith('/postgresql/shop.dir/toc.dat'));
    assert.ok(toc, files.join(', '));
    const folder = toc.replace(/\/shop\.dir\/toc\.dat$/, '');
    const inDir = files.filter((f) => f.startsWith(`${folder}/shop.dir/`));
    assert.ok(inDir.some((f) => f.endsWith('.dat.gz')), inDir.join(', '));
    for (const f of [`${folder}/shop.dir`, ...inDir]) {
      const mode = fs.statSync(path.join(sb.root, f)).mode & 0o777;
      assert.equal(mode & 0o077, 0, `${f} mode ${mode.toString(8)}`);
    }
    const manifest = JSON.parse(readText(path.join(sb.root, folder, 'batt-manifest.json'))) as { files: { path: string }[] };
    assert.deepEqual(manifest.files.map((f) => f.path).sort(), inDir.map((f) => f.slice(folder.length + 1)).sort());
    assert.match(readText(path.join(sb.dir, 'argv.log')), /^ARGV pg_dump -Fd -j 2 -w -f /m);
    const listed = await run(['backups', 'postgresql']);
    assert.equal(listed.code, 0, listed.stderr);
    const v = await run(['verify']);
    assert.equal(v.code, 0, v.stderr + v.stdout);
    // batt drill takes the folder the way the restore does (pg_restore -j of the folder).
    const drill = await run(['drill', 'postgresql']);
    assert.equal(drill.code, 0, drill.stderr + drill.stdout);
    assert.match(drill.stdout, /^drill ok +postgresql /m);
    assert.match(readText(path.join(sb.home, 'log', 'batt.log')), /drill: shop restored into a scratch database/);

    writeConf(sb, { HOST: '127.0.0.1', PORT: target.port, USER: 'postgres', PASSWORD: target.password });
    const rr = await run(['restore', 'postgresql', folder, '--postgresql-db', 'shop', '--to', 'shop dir', '--postgresql-jobs', '2']);
    assert.equal(rr.code, 0, rr.stderr + rr.stdout);
    assert.deepEqual(pgTableSums(target, 'shop dir'), pgTableSums(source, 'shop'));
    assert.match(readText(path.join(sb.dir, 'argv.log')), /^ARGV pg_restore -j 2 --exit-on-error -w -d /m);
    writeTargetConf(sb.home, 'usb', `TYPE=local\nPATH=${path.join(sb.dir, 'usb')}\nPASSPHRASE_FILE=${pass}\n`);
    const fromUsb = await run(['restore', 'postgresql', folder, '--from', 'usb', '--postgresql-db', 'shop', '--to', 'shop usb']);
    fs.rmSync(path.join(sb.home, 'conf', 'targets', 'usb.conf'));
    assert.equal(fromUsb.code, 0, fromUsb.stderr + fromUsb.stdout);
    assert.deepEqual(pgTableSums(target, 'shop usb'), pgTableSums(source, 'shop'));
    // Into an existing database (--force): one transaction, so a failure would leave it as it was.
    target.sql('DELETE FROM orders WHERE id > 10', 'shop dir');
    const forced = await run(['restore', 'postgresql', folder, '--postgresql-db', 'shop', '--to', 'shop dir', '--force']);
    assert.equal(forced.code, 0, forced.stderr);
    assert.deepEqual(pgTableSums(target, 'shop dir'), pgTableSums(source, 'shop'));

    // A pg_restore that fails in a database it was given a fresh one for: that database is dropped.
    const fails = path.join(sb.dir, 'pg_restore-fails');
    fs.writeFileSync(fails, `#!/usr/bin/env bash\n${JSON.stringify(path.join(bin!, 'pg_restore'))} "$@"\necho 'pg_restore: error: stand-in failure' >&2\nexit 1\n`, { mode: 0o755 });
    const bad = await run(['restore', 'postgresql', folder, '--postgresql-db', 'shop', '--to', 'shop half'], { PG_RESTORE: fails });
    assert.equal(bad.code, 1, bad.stderr);
    assert.match(bad.stderr, /pg_restore of shop into shop half failed \(exit 1\): pg_restore: error: stand-in failure\n/);
    assert.equal(target.sql("SELECT count(*) FROM pg_database WHERE datname = 'shop half'").trim(), '0', 'the half-restored database is dropped');
  });

  test('FORMAT=directory: a pg_dump that fails after writing part of the folder, or a bad FORMAT/JOBS, leaves no backup', async () => {
    fs.rmSync(sb.root, { recursive: true, force: true });
    writeConf(sb, { HOST: '127.0.0.1', PORT: source.port, USER: 'postgres', PASSWORD, FORMAT: 'directory' });
    const stand = path.join(sb.dir, 'pg_dump-dir-fails');
    fs.writeFileSync(stand, `#!/usr/bin/env bash\n${JSON.stringify(path.join(bin!, 'pg_dump'))} "$@"\nexit 1\n`, { mode: 0o755 });
    const r = await run(['postgresql', '--postgresql-db', 'shop', '--postgresql-globals', 'no'], { PG_DUMP: stand });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /pg_dump of shop failed with exit code 1/);
    assert.deepEqual(backupsOf(sb), []);
    // One that plants a symbolic link in its folder: never followed (chmod, chown), no backup.
    const links = path.join(sb.dir, 'pg_dump-dir-link');
    fs.writeFileSync(links, `#!/usr/bin/env bash\n${JSON.stringify(path.join(bin!, 'pg_dump'))} "$@" || exit\nwhile [ $# -gt 0 ]; do if [ "$1" = -f ]; then ln -s /etc/hostname "$2/9999.dat.gz"; fi; shift; done\n`, { mode: 0o755 });
    const l = await run(['postgresql', '--postgresql-db', 'shop', '--postgresql-globals', 'no'], { PG_DUMP: links });
    assert.equal(l.code, 1, l.stderr);
    assert.match(l.stderr, /pg_dump of shop left something other than files in its folder/);
    assert.deepEqual(backupsOf(sb), []);
    for (const [opt, value, msg] of [['format', 'tar', /format must be custom or directory, got 'tar'/], ['jobs', '0', /jobs must be a number from 1, got '0'/]] as const) {
      const b = await run(['postgresql', `--postgresql-${opt}`, value]);
      assert.equal(b.code, 1, b.stderr);
      assert.match(b.stderr, msg);
      assert.deepEqual(backupsOf(sb), [], opt);
    }
    writeConf(sb, { HOST: '127.0.0.1', PORT: source.port, USER: 'postgres', PASSWORD });
  });

  test('--postgresql-compress none: pg_dump -Z 0 (<db>.dump uncompressed) and a plain globals.sql ending with its completion line, 0600, without zstd', async () => {
    fs.rmSync(sb.root, { recursive: true, force: true });
    fs.writeFileSync(path.join(sb.dir, 'argv.log'), '');
    // zstd is not needed: one that ran would fail the backup.
    const dbs = ['shop', 'blog', 'odd name-ü'];
    const r = await run(['postgresql', ...dbs.flatMap((d) => ['--postgresql-db', d]), '--postgresql-compress', 'none'], { ZSTD: path.join(sb.dir, 'no-zstd') });
    assert.equal(r.code, 0, r.stderr);
    const files = backupsOf(sb);
    const folder = path.dirname(files.find((f) => f.endsWith('/postgresql/shop.dump')) ?? assert.fail(`no shop.dump in ${files.join(', ')}`));
    assert.deepEqual(files.map((f) => path.relative(folder, f)), ['batt-manifest.json', 'blog.dump', 'globals.sql', 'odd name-ü.dump', 'shop.dump']);
    for (const f of ['shop.dump', 'globals.sql']) {
      const mode = fs.statSync(path.join(sb.root, folder, f)).mode & 0o777;
      assert.equal(mode & 0o077, 0, `${f} mode ${mode.toString(8)}`);
    }
    const shop = fs.readFileSync(path.join(sb.root, folder, 'shop.dump'));
    assert.equal(shop.subarray(0, 5).toString(), 'PGDMP', 'custom format');
    // uncompressed: the rows are in the file as COPY wrote them
    assert.ok(shop.includes(Buffer.from('Kunde Grüße 7 日本 ñ\tKraków')), 'the rows are plain in shop.dump');
    const list = spawnSync(path.join(bin!, 'pg_restore'), ['--list', path.join(sb.root, folder, 'shop.dump')], { encoding: 'utf8' });
    assert.match(list.stdout, /^; +Compression: (0|none)$/m, list.stdout);
    const globals = readText(path.join(sb.root, folder, 'globals.sql'));
    assert.match(globals, /^CREATE ROLE app;$/m);
    assert.match(globals, /-- PostgreSQL database cluster dump complete\n/);
    const calls = readText(path.join(sb.dir, 'argv.log')).split('\n').filter((l) => l.startsWith('ARGV pg_dump '));
    assert.equal(calls.length, 3, calls.join('\n'));
    for (const c of calls) assert.match(c, /^ARGV pg_dump -Fc -Z 0 -w -d /, c);
    assert.match(readText(path.join(sb.home, 'log', 'batt.log')), /dumped roles and tablespaces -> globals\.sql\n/);
    assert.deepEqual(tempDirs(tmp, 'batt-postgresql'), []);
  });

  test('COMPRESS=none: batt restores the -Z 0 dumps and the plain globals.sql (roles first) into a fresh cluster, drills them and verifies; FORMAT=directory too', async () => {
    const fresh = (await startPostgreSQL('third-Pw-3'))!;
    const ZSTD = path.join(sb.dir, 'no-zstd'); // no zstd anywhere: nothing of the backup is compressed
    try {
      fs.rmSync(sb.root, { recursive: true, force: true });
      writeConf(sb, { HOST: '127.0.0.1', PORT: source.port, USER: 'postgres', PASSWORD, COMPRESS: 'none' });
      const dbs = ['shop', 'blog', 'odd name-ü'];
      const r = await run(['postgresql', ...dbs.flatMap((d) => ['--postgresql-db', d])], { ZSTD });
      assert.equal(r.code, 0, r.stderr);
      const folder = path.dirname(backupsOf(sb).find((f) => f.endsWith('/postgresql/globals.sql')) ?? assert.fail(backupsOf(sb).join(', ')));

      // the roles come from globals.sql: without them pg_restore of shop (owner app) would fail
      assert.equal(fresh.sql("SELECT count(*) FROM pg_roles WHERE rolname IN ('app', 'readers')").trim(), '0');
      writeConf(sb, { HOST: '127.0.0.1', PORT: fresh.port, USER: 'postgres', PASSWORD: fresh.password });
      const rr = await run(['restore', 'postgresql', folder], { ZSTD });
      assert.equal(rr.code, 0, rr.stderr + rr.stdout);
      for (const db of dbs) assert.deepEqual(pgTableSums(fresh, db), pgTableSums(source, db), `tables of ${db}`);
      assert.equal(fresh.sql("SELECT rolcanlogin FROM pg_roles WHERE rolname = 'app'").trim(), 't', 'role app restored');
      assert.equal(fresh.sql("SELECT tableowner FROM pg_tables WHERE tablename = 'customers'", 'shop').trim(), 'app');
      assert.equal(fresh.sql("SELECT has_table_privilege('readers', 'customers', 'SELECT')", 'shop').trim(), 't');
      assert.equal(fresh.sql('SELECT double_it(21)', 'shop').trim(), '42');
      assert.match(readText(path.join(sb.home, 'log', 'batt.log')), /restored missing roles and tablespaces from globals\.sql\n/);

      const d = await run(['drill', 'postgresql'], { ZSTD });
      assert.equal(d.code, 0, d.stderr + d.stdout);
      assert.match(d.stdout, /^drill ok +postgresql /m);
      assert.match(readText(path.join(sb.home, 'log', 'batt.log')), /drill: shop restored into a scratch database: \d+ object/);
      const v = await run(['verify']);
      assert.equal(v.code, 0, v.stderr + v.stdout);

      // FORMAT=directory: pg_dump -Fd -Z 0 writes <n>.dat files; pg_restore -j reads them.
      writeConf(sb, { HOST: '127.0.0.1', PORT: source.port, USER: 'postgres', PASSWORD, COMPRESS: 'none', FORMAT: 'directory', JOBS: 2 });
      const dr = await run(['postgresql', '--postgresql-db', 'shop', '--postgresql-globals', 'no'], { ZSTD });
      assert.equal(dr.code, 0, dr.stderr);
      const toc = backupsOf(sb).find((f) => f.endsWith('/shop.dir/toc.dat')) ?? assert.fail(backupsOf(sb).join(', '));
      const dirFolder = toc.replace(/\/shop\.dir\/toc\.dat$/, '');
      const inDir = backupsOf(sb).filter((f) => f.startsWith(`${dirFolder}/shop.dir/`)).map((f) => path.basename(f));
      assert.ok(inDir.some((f) => /^\d+\.dat$/.test(f)) && !inDir.some((f) => f.endsWith('.gz')), inDir.join(', '));
      for (const f of inDir) assert.equal(fs.statSync(path.join(sb.root, dirFolder, 'shop.dir', f)).mode & 0o077, 0, f);
      writeConf(sb, { HOST: '127.0.0.1', PORT: fresh.port, USER: 'postgres', PASSWORD: fresh.password });
      const rd = await run(['restore', 'postgresql', dirFolder, '--postgresql-db', 'shop', '--to', 'shop dir', '--postgresql-jobs', '2'], { ZSTD });
      assert.equal(rd.code, 0, rd.stderr + rd.stdout);
      assert.deepEqual(pgTableSums(fresh, 'shop dir'), pgTableSums(source, 'shop'));
      const dd = await run(['drill', dirFolder], { ZSTD });
      assert.equal(dd.code, 0, dd.stderr + dd.stdout);
      assert.match(dd.stdout, /^drill ok +postgresql /m);
      assert.equal(fresh.sql("SELECT count(*) FROM pg_database WHERE datname LIKE 'batt\\_drill\\_%'").trim(), '0');
    } finally {
      await fresh.stop();
      writeConf(sb, { HOST: '127.0.0.1', PORT: source.port, USER: 'postgres', PASSWORD });
    }
  });

  test('COMPRESS=none: an unknown value, a LEVEL with none, and none with METHOD=physical each fail before any client, with one line, and keep nothing', async () => {
    const cases: Refusal[] = [
      [['--postgresql-compress', 'gzip'], {}, /^backup-postgresql: unknown compression 'gzip' \(zstd or none\)$/],
      [[], { COMPRESS: 'xz' }, /^backup-postgresql: unknown compression 'xz' \(zstd or none\)$/],
      [['--postgresql-compress', 'none', '--postgresql-level', '9'], {}, /^backup-postgresql: --postgresql-level \(LEVEL\) does not apply to --postgresql-compress none \(COMPRESS=none\)$/],
      [[], { COMPRESS: 'none', LEVEL: 5 }, /^backup-postgresql: --postgresql-level \(LEVEL\) does not apply to --postgresql-compress none \(COMPRESS=none\)$/],
      [['--postgresql-compress', 'none', '--postgresql-method', 'physical'], {}, /^backup-postgresql: --postgresql-compress none \(COMPRESS=none\) is for the logical dumps only: METHOD=physical is always compressed$/],
      [[], { COMPRESS: 'none', METHOD: 'physical' }, /^backup-postgresql: --postgresql-compress none \(COMPRESS=none\) is for the logical dumps only: METHOD=physical is always compressed$/],
    ];
    try {
      await checkRefusals(
        sb,
        cases,
        (conf) => writeConf(sb, { HOST: '127.0.0.1', PORT: source.port, USER: 'postgres', PASSWORD, ...conf }),
        // (METHOD=physical would run pg_basebackup: a recording stand-in that ran would fail the check)
        (args) => run(['postgresql', ...args], { PG_BASEBACKUP: recorder(sb, 'pg_basebackup') }),
        path.join(sb.dir, 'argv.log'),
      );
    } finally {
      writeConf(sb, { HOST: '127.0.0.1', PORT: source.port, USER: 'postgres', PASSWORD });
    }
  });

  test('COMPRESS=none: a pg_dump (custom or directory) or pg_dumpall that fails, stops short or writes garbage fails the run with no folder', async () => {
    const real = (tool: string) => JSON.stringify(path.join(bin!, tool));
    const seen = path.join(sb.dir, 'stand-in.log');
    // Each stand-in records its argv (so the test knows it ran, with -Z 0), then misbehaves.
    const stand = (name: string, body: string) => {
      const f = path.join(sb.dir, name);
      fs.writeFileSync(f, `#!/usr/bin/env bash\nprintf '%s\\n' "${name} $*" >>${JSON.stringify(seen)}\n${body}\n`, { mode: 0o755 });
      return f;
    };
    const cases: [string, Record<string, string>, Record<string, string>, RegExp][] = [
      // the first 4 KiB of a real uncompressed dump (the table of contents and the first rows), then exit 2
      ['pg_dump-half-exit2', { PG_DUMP: stand('pg_dump-half-exit2', `${real('pg_dump')} "$@" | head -c 4096\nexit 2`) }, {}, /pg_dump of shop failed with exit code 2/],
      ['pg_dump-garbage-exit0', { PG_DUMP: stand('pg_dump-garbage-exit0', `printf 'PGDMP-not-really'`) }, {}, /the dump of shop does not read back with pg_restore --list/],
      ['pg_dump-dir-fails', { PG_DUMP: stand('pg_dump-dir-fails', `${real('pg_dump')} "$@"\nexit 1`) }, { FORMAT: 'directory' }, /pg_dump of shop failed with exit code 1/],
      // the whole globals, then exit 1: only the status tells
      ['pg_dumpall-exit1', { PG_DUMPALL: stand('pg_dumpall-exit1', `${real('pg_dumpall')} "$@"\nexit 1`) }, {}, /pg_dumpall --globals-only failed with exit code 1 \(GLOBALS=no skips it\)/],
      // what pg_dumpall does when its stdout fills the disk: part of the globals, then exit 0
      ['pg_dumpall-short-exit0', { PG_DUMPALL: stand('pg_dumpall-short-exit0', `${real('pg_dumpall')} "$@" | head -n 12`) }, {}, /the globals dump is incomplete: no 'dump complete' line/],
    ];
    try {
      for (const [name, tools, conf, want] of cases) {
        fs.rmSync(sb.root, { recursive: true, force: true });
        fs.writeFileSync(seen, '');
        writeConf(sb, { HOST: '127.0.0.1', PORT: source.port, USER: 'postgres', PASSWORD, COMPRESS: 'none', ...conf });
        const r = await run(['postgresql', '--postgresql-db', 'shop'], tools);
        assert.equal(r.code, 1, `${name}: ${r.stdout}${r.stderr}`);
        assert.match(r.stderr, want, name);
        assert.match(readText(seen), new RegExp(`^${name} `, 'm'), `${name} ran`);
        if (name.startsWith('pg_dump-')) assert.match(readText(seen), / -Z 0 /, `${name}: with -Z 0`);
        assert.deepEqual(backupsOf(sb), [], name);
      }
      assert.deepEqual(tempDirs(tmp, 'batt-postgresql'), []);
    } finally {
      writeConf(sb, { HOST: '127.0.0.1', PORT: source.port, USER: 'postgres', PASSWORD });
    }
  });
});
