// SQLite through the built batt with the real sqlite3 shell: online copies of databases that
// another process keeps writing to, restored with `batt restore sqlite` and compared by row
// counts and checksums; a file that is not a database fails the backup.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { REQUIRE_SERVERS, batt, sandbox, type Sandbox, backupsOf } from '../helpers/batt.js';
import { which } from '../helpers/redis.js';
import { checkWorkFiles, killedRestore, plantWorkFiles, thenSleep, workFileName } from '../helpers/workfiles.js';

const missing = ['sqlite3', 'zstd'].filter((b) => !which(b));
const skip = missing.length && !REQUIRE_SERVERS ? `not installed: ${missing.join(', ')}` : false;

function sql(db: string, text: string): string {
  const r = spawnSync('sqlite3', ['-bail', '-batch', db], { input: `.timeout 20000\n${text}\n`, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`sqlite3 ${db}: ${r.stderr}`);
  return r.stdout.trim();
}

/** A database whose totals row is updated in the same transaction as every insert. */
function createDb(db: string, journal: 'wal' | 'delete'): void {
  sql(db, `PRAGMA journal_mode=${journal};
CREATE TABLE t(id INTEGER PRIMARY KEY, payload TEXT NOT NULL);
CREATE TABLE totals(n INTEGER NOT NULL, s INTEGER NOT NULL);
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 2000)
  INSERT INTO t(id, payload) SELECT i, hex(randomblob(32)) FROM c;
INSERT INTO totals SELECT count(*), sum(id) FROM t;
CREATE INDEX t_payload ON t(payload);`);
}

/** Row count, and whether the copy is one transactionally consistent state. */
function consistency(db: string): { rows: number; consistent: boolean } {
  const [rows, sum, n, s] = sql(db, 'SELECT (SELECT count(*) FROM t), (SELECT sum(id) FROM t), n, s FROM totals;').split('|').map(Number);
  return { rows: rows!, consistent: rows === n && sum === s };
}

function checksum(db: string): string {
  return createHash('sha256').update(sql(db, 'SELECT id, payload FROM t ORDER BY id; SELECT * FROM totals;')).digest('hex');
}

/** Another process committing one transaction after another until stopped. */
function startWriter(db: string): { child: ChildProcess; stop: () => Promise<void> } {
  const child = spawn('sqlite3', ['-batch', db], { stdio: ['pipe', 'ignore', 'ignore'] });
  child.stdin!.write('.timeout 20000\n');
  child.stdin!.on('error', () => {});
  const timer = setInterval(() => {
    child.stdin!.write(
      'BEGIN IMMEDIATE; INSERT INTO t(payload) VALUES (hex(randomblob(32))); ' +
        'UPDATE totals SET n = n + 1, s = s + last_insert_rowid(); COMMIT;\n',
    );
  }, 5);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    child,
    stop: async () => {
      clearInterval(timer);
      child.stdin!.end();
      await exited;
    },
  };
}


describe('sqlite: batt backup and restore with the real sqlite3', { skip }, () => {
  let sb: Sandbox;
  let dataDir: string;

  before(() => {
    if (missing.length) throw new Error(`BATT_REQUIRE_SERVERS=1 but not installed: ${missing.join(', ')}`);
    sb = sandbox({ builtins: true });
    dataDir = path.join(sb.dir, 'data');
    fs.mkdirSync(dataDir);
  });

  after(() => sb?.cleanup());

  test('online copies while a writer commits are consistent; restore round trip matches row counts and checksums', async () => {
    const wal = path.join(dataDir, 'app-wal.db');
    const rollback = path.join(dataDir, 'app-rollback.db');
    createDb(wal, 'wal');
    createDb(rollback, 'delete');
    const writers = [startWriter(wal), startWriter(rollback)];
    let r;
    try {
      // Let the writers get going, then back up while they commit.
      while (consistency(wal).rows < 2020 || consistency(rollback).rows < 2020) await new Promise((res) => setTimeout(res, 20));
      r = await batt(['sqlite', '--sqlite', wal, '--sqlite-db', rollback, '--path', sb.pattern], { home: sb.home });
    } finally {
      for (const w of writers) await w.stop();
    }
    assert.match(r.stdout, /^ok\s+sqlite\s/m, `nothing on stderr (it would be a warning): ${r.stderr}`);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const files = backupsOf(sb);
    assert.ok(files.some((f) => f.endsWith(`/sqlite/${wal.slice(1).replaceAll('/', '_')}.sqlite.zst`)), files.join(' '));
    assert.ok(files.some((f) => f.endsWith(`/sqlite/${rollback.slice(1).replaceAll('/', '_')}.sqlite.zst`)), files.join(' '));

    // The copies taken under load: each one transactionally consistent.
    const mid = path.join(sb.dir, 'mid');
    fs.mkdirSync(mid);
    const rr = await batt(['restore', 'sqlite', '--to', mid, '--path', sb.pattern], { home: sb.home });
    assert.equal(rr.code, 0, rr.stderr + rr.stdout);
    for (const name of ['app-wal.db', 'app-rollback.db']) {
      const c = consistency(path.join(mid, name));
      assert.ok(c.consistent, `${name}: copy taken under load is consistent`);
      assert.ok(c.rows >= 2020, `${name}: copy has the rows committed before the backup (${c.rows})`);
      assert.equal(sql(path.join(mid, name), 'PRAGMA integrity_check;'), 'ok');
    }

    // With the writers stopped: a second backup restores to exactly the same data.
    const second = await batt(['sqlite', '--sqlite', wal, '--sqlite', rollback, '--path', sb.pattern, '--json'], { home: sb.home });
    assert.equal(second.code, 0, second.stderr);
    const id = (JSON.parse(second.stdout) as { services: { dest: string }[] }).services[0]!.dest;
    const before = checksum(path.join(mid, 'app-wal.db'));
    const refused = await batt(['restore', 'sqlite', '--to', mid, '--path', sb.pattern], { home: sb.home });
    assert.notEqual(refused.code, 0, 'restore over existing files without --force');
    assert.match(refused.stderr, /refused|--force/);
    assert.equal(checksum(path.join(mid, 'app-wal.db')), before, 'a refused restore leaves the old file');
    const forced = await batt(['restore', 'sqlite', path.relative(sb.root, id), '--to', mid, '--force', '--path', sb.pattern], {
      home: sb.home,
    });
    assert.equal(forced.code, 0, forced.stderr + forced.stdout);
    for (const [src, name] of [[wal, 'app-wal.db'], [rollback, 'app-rollback.db']] as const) {
      const out = path.join(mid, name);
      assert.equal(consistency(out).rows, consistency(src).rows, `${name}: row count`);
      assert.equal(checksum(out), checksum(src), `${name}: checksum`);
    }

    // One database to a file path, chosen by its original path.
    const one = path.join(sb.dir, 'one.db');
    const single = await batt(['restore', 'sqlite', '--sqlite', rollback, '--to', one, '--path', sb.pattern], { home: sb.home });
    assert.equal(single.code, 0, single.stderr);
    assert.equal(checksum(one), checksum(rollback));
  });

  test('check mode: doctor opens each database read-only and names one that is not SQLite', async () => {
    const box = sandbox({ builtins: true });
    try {
      const good = path.join(box.dir, 'good.db');
      const bad = path.join(box.dir, 'bad.db');
      spawnSync('sqlite3', [good, 'CREATE TABLE t (x); INSERT INTO t VALUES (1);']);
      fs.writeFileSync(bad, 'this is not a database, just text '.repeat(40));
      assert.equal((await batt(['enable', 'sqlite'], { home: box.home })).code, 0);
      fs.writeFileSync(path.join(box.home, 'conf', 'sqlite.conf'), `DATABASES=${good} ${bad}\n`, { mode: 0o600 });
      let d = await batt(['doctor', '--path', box.pattern], { home: box.home });
      assert.equal(d.code, 1);
      assert.match(d.stdout, new RegExp(`^FAIL +sqlite +backup-sqlite: ${bad} is not an SQLite database batt can read$`, 'm'));
      fs.writeFileSync(path.join(box.home, 'conf', 'sqlite.conf'), `DATABASES=${good}\n`, { mode: 0o600 });
      d = await batt(['doctor', '--path', box.pattern], { home: box.home });
      assert.match(d.stdout, /^ok +sqlite +check mode: ok$/m);
      assert.deepEqual(backupsOf(box), []);
      assert.deepEqual(fs.readdirSync(box.dir).sort(), ['bad.db', 'good.db', 'home']); // nothing new beside them
    } finally {
      box.cleanup();
    }
  });

  test('a relative --to is taken from the folder batt was run in, not the script\'s scratch folder', async (t) => {
    const box = sandbox({ builtins: true });
    try {
      const db = path.join(box.dir, 'src.db');
      createDb(db, 'delete');
      const r = await batt(['sqlite', '--sqlite', db, '--path', box.pattern], { home: box.home });
      assert.equal(r.code, 0, r.stderr);
      const caller = path.join(box.dir, 'caller');
      fs.mkdirSync(path.join(caller, 'sub'), { recursive: true });
      const restore = (to: string, extra: string[] = []) =>
        // A stray BATT_CWD of the caller must not count: batt sets its own.
        batt(['restore', 'sqlite', '--to', to, ...extra, '--path', box.pattern], {
          home: box.home,
          cwd: caller,
          env: { BATT_CWD: path.join(box.dir, 'elsewhere') },
        });
      const cases: [string, string, string][] = [
        ['a file name', 'app.db', path.join(caller, 'app.db')],
        ['./ and a file in a folder', './sub/app.db', path.join(caller, 'sub', 'app.db')],
        ['a folder ending in /', 'sub/', path.join(caller, 'sub', 'src.db')],
        ['an existing folder', 'sub', path.join(caller, 'sub', 'src.db')],
        ['. (the folder itself)', '.', path.join(caller, 'src.db')],
        ['.. out of the caller folder', '../up.db', path.join(box.dir, 'up.db')],
      ];
      for (const [name, to, lands] of cases) {
        await t.test(name, async () => {
          const rr = await restore(to);
          assert.equal(rr.code, 0, rr.stderr + rr.stdout);
          // Checked first: sqlite3 would create a missing file.
          assert.ok(fs.existsSync(lands), `restored to ${lands}`);
          assert.equal(checksum(lands), checksum(db));
          fs.rmSync(lands);
        });
      }
      assert.deepEqual(fs.readdirSync(caller), ['sub'], 'nothing but the targets was written');
      assert.deepEqual(fs.readdirSync(path.join(caller, 'sub')), []);
      assert.ok(!fs.existsSync(path.join(box.dir, 'elsewhere')));

      await t.test('the checks apply to the resolved path: an existing file needs --force', async () => {
        const target = path.join(caller, 'app.db');
        fs.writeFileSync(target, 'keep me');
        const refused = await restore('app.db');
        assert.notEqual(refused.code, 0);
        assert.ok(refused.stderr.includes(`${target} exists`), refused.stderr);
        assert.equal(fs.readFileSync(target, 'utf8'), 'keep me');
        const missingDir = await restore('nope/app.db');
        assert.notEqual(missingDir.code, 0);
        assert.ok(missingDir.stderr.includes(`folder ${path.join(caller, 'nope')} does not exist`), missingDir.stderr);
        const dotted = await restore('../caller/sub/../nope/app.db'); // named clean, not as typed
        assert.notEqual(dotted.code, 0);
        assert.ok(dotted.stderr.includes(`folder ${path.join(caller, 'nope')} does not exist`), dotted.stderr);
        const forced = await restore('app.db', ['--force']);
        assert.equal(forced.code, 0, forced.stderr);
        assert.equal(checksum(target), checksum(db));
      });

      await t.test('run without batt (no BATT_CWD), the script refuses a relative --to and writes nothing', () => {
        const tsv = backupsOf(box).find((f) => f.endsWith('/sqlite/databases.tsv'))!;
        assert.ok(tsv);
        const script = path.join(box.home, 'scripts-available', 'restore-sqlite');
        const base = { PATH: process.env.PATH ?? '/usr/bin:/bin', BATT_BACKUP: path.dirname(path.join(box.root, tsv)), BATT_RESTORE_TO: 'hand.db' };
        for (const env of [base, { ...base, BATT_CWD: '' }, { ...base, BATT_CWD: 'caller' }]) {
          const s = spawnSync(script, [], { cwd: caller, env, encoding: 'utf8' });
          assert.equal(s.status, 2, s.stderr);
          assert.match(s.stderr, /^restore-sqlite: --to must be an absolute path, got 'hand\.db' \(a relative one needs BATT_CWD, which batt restore sets\)\n$/);
          assert.ok(!fs.existsSync(path.join(caller, 'hand.db')));
        }
      });
    } finally {
      box.cleanup();
    }
  });

  test('a relative --sqlite is taken from the folder batt was run in; the round trip restores it', async (t) => {
    const box = sandbox({ builtins: true });
    try {
      const caller = path.join(box.dir, 'caller');
      fs.mkdirSync(path.join(caller, 'sub'), { recursive: true });
      const app = path.join(caller, 'app.db');
      const other = path.join(caller, 'sub', 'other.db');
      createDb(app, 'wal');
      createDb(other, 'delete');
      // Found only if a caller's own BATT_CWD won over batt's.
      const elsewhere = path.join(box.dir, 'elsewhere');
      fs.mkdirSync(elsewhere);
      createDb(path.join(elsewhere, 'app.db'), 'delete');
      const sums = [checksum(app), checksum(other)];
      assert.notEqual(checksum(path.join(elsewhere, 'app.db')), sums[0]);
      const r = await batt(['sqlite', '--sqlite', 'app.db', '--sqlite-db', './sub/../sub/other.db', '--path', box.pattern], {
        home: box.home,
        cwd: caller,
        env: { BATT_CWD: elsewhere },
      });
      assert.equal(r.code, 0, r.stderr + r.stdout);
      // Stored names and databases.tsv hold the absolute paths.
      const stored = (p: string) => `${p.slice(1).replaceAll('/', '_')}.sqlite.zst`;
      const files = backupsOf(box);
      const tsv = files.find((f) => f.endsWith('/sqlite/databases.tsv'))!;
      assert.ok(tsv, files.join(' '));
      assert.deepEqual(
        files.filter((f) => f.endsWith('.sqlite.zst')).map((f) => path.basename(f)).sort(),
        [stored(app), stored(other)].sort(),
      );
      assert.equal(fs.readFileSync(path.join(box.root, tsv), 'utf8'), `${stored(app)}\t${app}\n${stored(other)}\t${other}\n`);
      const log = fs.readFileSync(path.join(box.home, 'log', 'batt.log'), 'utf8');
      assert.ok(log.includes(`app.db is ${app} (relative to ${caller}, where batt was run)`), log);
      assert.ok(log.includes(`./sub/../sub/other.db is ${other} (relative to ${caller}, where batt was run)`), log);

      await t.test('restored to the original (absolute) paths', async () => {
        for (const f of [app, other]) fs.rmSync(f);
        fs.rmSync(`${app}-wal`, { force: true });
        fs.rmSync(`${app}-shm`, { force: true });
        const rr = await batt(['restore', 'sqlite', '--path', box.pattern], { home: box.home, cwd: box.dir });
        assert.equal(rr.code, 0, rr.stderr + rr.stdout);
        assert.deepEqual([checksum(app), checksum(other)], sums);
      });

      await t.test('a relative path in DATABASES of conf/sqlite.conf is refused (a conf has no folder)', async () => {
        const conf = path.join(box.home, 'conf', 'sqlite.conf');
        fs.writeFileSync(conf, `DATABASES="${other} app.db"\n`, { mode: 0o600 });
        const before = backupsOf(box);
        const rc = await batt(['sqlite', '--path', box.pattern], { home: box.home, cwd: caller });
        assert.notEqual(rc.code, 0);
        assert.match(rc.stderr + rc.stdout, /'app\.db' in DATABASES of \S+sqlite\.conf is not an absolute path \(a conf has no folder to be relative to\)/);
        assert.deepEqual(backupsOf(box), before);
        fs.rmSync(conf);
      });

      await t.test('run without batt (no BATT_CWD), the script refuses a relative path and writes nothing', () => {
        const dest = path.join(box.dir, 'dest');
        fs.mkdirSync(dest);
        const script = path.join(box.home, 'scripts-available', 'backup-sqlite');
        const base = { PATH: process.env.PATH ?? '/usr/bin:/bin', BATT_DEST: dest };
        const needs = "backup-sqlite: give databases as absolute paths, got 'app.db' (a relative one needs BATT_CWD, which batt sets)\n";
        const gone = "backup-sqlite: give databases as absolute paths, got 'app.db' (the folder batt was run from no longer exists)\n";
        const tries: [Record<string, string>, string[], string][] = [
          [base, ['app.db'], needs],
          [{ ...base, BATT_CWD: 'caller' }, ['app.db'], needs],
          [{ ...base, BATT_OPT_DB: 'app.db' }, [], needs],
          [{ ...base, BATT_CWD: '' }, ['app.db'], gone], // what batt passes when its folder was removed
        ];
        for (const [env, args, said] of tries) {
          const s = spawnSync(script, args, { cwd: caller, env, encoding: 'utf8' });
          assert.equal(s.status, 1, s.stderr);
          assert.equal(s.stderr, said);
          assert.deepEqual(fs.readdirSync(dest), []);
        }
        // The same with BATT_CWD works: the refusal was about the relative path alone.
        const ok = spawnSync(script, ['app.db'], { cwd: dest, env: { ...base, BATT_CWD: caller }, encoding: 'utf8' });
        assert.equal(ok.status, 0, ok.stderr);
        assert.deepEqual(fs.readdirSync(dest).sort(), ['databases.tsv', stored(app)]);
      });
    } finally {
      box.cleanup();
    }
  });

  test('.. in an absolute --sqlite, DATABASES entry or --to: through a symlink, .. is its target\'s parent, and the log says that path', async () => {
    const box = sandbox({ builtins: true });
    try {
      // caller/jump -> real/sub: caller/jump/../app.db is real/app.db for the kernel, not caller/app.db.
      const caller = path.join(box.dir, 'caller');
      const real = path.join(box.dir, 'real');
      fs.mkdirSync(path.join(real, 'sub'), { recursive: true });
      fs.mkdirSync(path.join(real, 'out'));
      fs.mkdirSync(path.join(caller, 'out'), { recursive: true });
      fs.symlinkSync(path.join(real, 'sub'), path.join(caller, 'jump'));
      const app = path.join(real, 'app.db');
      createDb(app, 'delete');
      createDb(path.join(caller, 'app.db'), 'delete'); // the decoy the lexical path names
      const typed = `${caller}/jump/../app.db`;
      const r = await batt(['sqlite', '--sqlite', typed, '--path', box.pattern], { home: box.home, cwd: box.dir });
      assert.equal(r.code, 0, r.stderr + r.stdout);
      let log = fs.readFileSync(path.join(box.home, 'log', 'batt.log'), 'utf8');
      assert.ok(log.includes(`sqlite: > ${typed} is ${app}\n`), log);
      assert.match(log, new RegExp(`sqlite: > copied ${app} \\(`));

      fs.writeFileSync(path.join(box.home, 'conf', 'sqlite.conf'), `DATABASES=${real}/./sub/../app.db\n`, { mode: 0o600 });
      fs.rmSync(path.join(box.home, 'log', 'batt.log'));
      const rc = await batt(['sqlite', '--path', box.pattern], { home: box.home, cwd: box.dir });
      assert.equal(rc.code, 0, rc.stderr + rc.stdout);
      log = fs.readFileSync(path.join(box.home, 'log', 'batt.log'), 'utf8');
      assert.ok(log.includes(`sqlite: > ${real}/./sub/../app.db is ${app}\n`), log);

      // Restored by that path, into caller/jump/../out/: real/out, and the log says so.
      const rr = await batt(['restore', 'sqlite', '--sqlite', typed, '--to', `${caller}/jump/../out/`, '--path', box.pattern], { home: box.home, cwd: box.dir });
      assert.equal(rr.code, 0, rr.stderr + rr.stdout);
      assert.equal(checksum(path.join(real, 'out', 'app.db')), checksum(app));
      assert.deepEqual(fs.readdirSync(path.join(caller, 'out')), []);
      log = fs.readFileSync(path.join(box.home, 'log', 'batt.log'), 'utf8');
      assert.ok(log.includes(`restore sqlite: > restored ${app} -> ${path.join(real, 'out', 'app.db')}\n`), log);
    } finally {
      box.cleanup();
    }
  });

  test('restore --sqlite: a relative path with a folder is taken from the folder batt was run in; a bare name matches as before', async (t) => {
    const box = sandbox({ builtins: true });
    try {
      const caller = path.join(box.dir, 'caller');
      const sub = path.join(caller, 'sub', 'app.db');
      const other = path.join(caller, 'other', 'app.db');
      fs.mkdirSync(path.dirname(sub), { recursive: true });
      fs.mkdirSync(path.dirname(other), { recursive: true });
      createDb(sub, 'delete');
      createDb(other, 'delete');
      const sums = { sub: checksum(sub), other: checksum(other) };
      assert.notEqual(sums.sub, sums.other);
      const r = await batt(['sqlite', '--sqlite', sub, '--sqlite', other, '--path', box.pattern], { home: box.home });
      assert.equal(r.code, 0, r.stderr + r.stdout);
      const out = path.join(box.dir, 'out.db');
      const restore = (db: string[], cwd: string) =>
        // A stray BATT_CWD of the caller must not count: batt sets its own.
        batt(['restore', 'sqlite', ...db, '--to', out, '--path', box.pattern], {
          home: box.home,
          cwd,
          env: { BATT_CWD: path.join(box.dir, 'elsewhere') },
        });
      const found: [string, string[], string, keyof typeof sums][] = [
        ['./ and a folder', ['--sqlite', './sub/app.db'], caller, 'sub'],
        ['a folder without ./ (--sqlite-db)', ['--sqlite-db', 'sub/app.db'], caller, 'sub'],
        ['.. out of the folder batt was run in', ['--sqlite', '../other/app.db'], path.join(caller, 'sub'), 'other'],
        ['the stored name, from any folder', ['--sqlite', `${other.slice(1).replaceAll('/', '_')}.sqlite.zst`], box.dir, 'other'],
      ];
      for (const [name, db, cwd, which] of found) {
        await t.test(name, async () => {
          const rr = await restore(db, cwd);
          assert.equal(rr.code, 0, rr.stderr + rr.stdout);
          assert.ok(fs.existsSync(out), 'restored');
          assert.equal(checksum(out), sums[which]);
          fs.rmSync(out);
        });
      }

      await t.test('a relative path that matches nothing names the path it was taken as', async () => {
        const rr = await restore(['--sqlite', './other/app.db'], path.join(caller, 'sub'));
        assert.notEqual(rr.code, 0);
        assert.ok(
          rr.stderr.includes(`no database './other/app.db' (${path.join(caller, 'sub', 'other', 'app.db')}, relative to where batt was run) in this backup`),
          rr.stderr,
        );
        assert.ok(!fs.existsSync(out));
      });

      await t.test('a bare name is a file name wherever batt is run: two app.db are ambiguous, as before', async () => {
        const rr = await restore(['--sqlite', 'app.db'], path.join(caller, 'sub'));
        assert.notEqual(rr.code, 0);
        assert.ok(rr.stderr.includes("'app.db' matches several databases; give the full original path"), rr.stderr);
        assert.ok(!fs.existsSync(out));
      });

      await t.test('run without batt (no BATT_CWD), the script refuses a relative path with a folder and writes nothing', () => {
        const tsv = backupsOf(box).find((f) => f.endsWith('/sqlite/databases.tsv'))!;
        assert.ok(tsv);
        const script = path.join(box.home, 'scripts-available', 'restore-sqlite');
        const base = { PATH: process.env.PATH ?? '/usr/bin:/bin', BATT_BACKUP: path.dirname(path.join(box.root, tsv)), BATT_RESTORE_TO: out };
        const needs = "restore-sqlite: './sub/app.db' is not an absolute path (a relative one needs BATT_CWD, which batt restore sets)\n";
        const gone = "restore-sqlite: './sub/app.db' is not an absolute path (the folder batt was run from no longer exists)\n";
        const tries: [Record<string, string>, string[], string][] = [
          [base, ['./sub/app.db'], needs],
          [{ ...base, BATT_CWD: 'caller' }, ['./sub/app.db'], needs],
          [{ ...base, BATT_OPT_DB: './sub/app.db' }, [], needs],
          [{ ...base, BATT_CWD: '' }, ['./sub/app.db'], gone], // what batt passes when its folder was removed
        ];
        for (const [env, args, said] of tries) {
          const s = spawnSync(script, args, { cwd: caller, env, encoding: 'utf8' });
          assert.equal(s.status, 2, s.stderr);
          assert.equal(s.stderr, said);
          assert.ok(!fs.existsSync(out));
        }
        // An absolute path needs no BATT_CWD.
        const ok = spawnSync(script, [sub], { cwd: caller, env: base, encoding: 'utf8' });
        assert.equal(ok.status, 0, ok.stderr);
        assert.equal(checksum(out), sums.sub);
        fs.rmSync(out);
      });
    } finally {
      box.cleanup();
    }
  });

  describe('the file a restore decompresses beside its target (.batt-restore-sqlite.PID-START.XXXXXX)', () => {
    let box: Sandbox;
    let db: string;
    const fresh = () => fs.mkdtempSync(path.join(box.dir, 'to-'));
    before(async () => {
      box = sandbox({ builtins: true });
      db = path.join(box.dir, 'app.db');
      createDb(db, 'wal'); // its copy is in WAL mode too: sqlite3 opening it makes -wal and -shm
      const r = await batt(['sqlite', '--sqlite', db, '--path', box.pattern], { home: box.home });
      assert.equal(r.code, 0, r.stderr + r.stdout);
    });
    after(() => box?.cleanup());
    const log = () => {
      const f = path.join(box.home, 'log', 'batt.log');
      return fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : '';
    };

    /** An sqlite3 that runs the check, then keeps the database open (its -wal and -shm beside it) until killed. */
    const holdingSqlite3 = () => {
      const f = path.join(box.dir, 'holding-sqlite3');
      fs.writeFileSync(f, '#!/usr/bin/env bash\nset -euo pipefail\n{ printf \'%s\\n\' "${@: -1}"; exec sleep 300; } | sqlite3 "${@:1:$#-1}"\n', { mode: 0o755 });
      return f;
    };
    /** The work file in DIR once it has all of these companions beside it. */
    const withCompanions = (dir: string, companions: string[]) => () =>
      fs.readdirSync(dir).some((n) => workFileName('sqlite').test(n) && companions.every((c) => fs.existsSync(path.join(dir, n + c))));

    const cases: [string, (dir: string) => { env: Record<string, string>; ready: () => boolean }, string[]][] = [
      ['while decompressing', () => {
        const pidFile = path.join(box.dir, 'zstd.pid');
        return { env: { ZSTD: thenSleep(box.dir, 'slow-zstd', 'zstd', pidFile) }, ready: () => fs.existsSync(pidFile) };
      }, []],
      ['while sqlite3 checks it, its -wal and -shm beside it', (dir) => ({ env: { SQLITE3: holdingSqlite3() }, ready: withCompanions(dir, ['-wal', '-shm']) }), ['-wal', '-shm']],
    ];
    for (const [when, how, companions] of cases) {
      test(`SIGKILL of batt's process group ${when}: left; the next restore removes it, says so, and succeeds`, async () => {
        const to = fresh();
        const left = await killedRestore(['restore', 'sqlite', '--to', to, '--path', box.pattern], { home: box.home, dir: to, kind: 'sqlite', ...how(to) });
        assert.equal(left.length, 1, `what the killed restore left: ${fs.readdirSync(to).join(' ')}`);
        const file = path.join(to, left[0]!);
        assert.deepEqual(fs.readdirSync(to).sort(), [left[0]!, ...companions.map((c) => left[0]! + c)].sort());
        // read through a copy: sqlite3 closing the file itself would remove its -wal and -shm
        const copy = path.join(box.dir, 'left-copy.db');
        fs.copyFileSync(file, copy);
        assert.equal(checksum(copy), checksum(db), 'a whole copy of the database is left');
        fs.rmSync(copy);
        assert.deepEqual(fs.readdirSync(to).sort(), [left[0]!, ...companions.map((c) => left[0]! + c)].sort(), 'still there for the next restore');
        const r = await batt(['restore', 'sqlite', '--to', to, '--path', box.pattern], { home: box.home });
        assert.equal(r.code, 0, r.stderr + r.stdout);
        assert.ok((r.stdout + r.stderr + log()).includes(`removed ${file}, left by a restore that was killed`), r.stdout + r.stderr);
        assert.deepEqual(fs.readdirSync(to), ['app.db'], 'the file and its companions are gone');
        assert.equal(checksum(path.join(to, 'app.db')), checksum(db));
      });
    }

    test('only the files of dead restores (and their -journal, -wal, -shm) are removed: not a live restore\'s, a symlink, a folder, the old .batt-restore-XXXXXX or a near miss', async () => {
      const to = fresh();
      const planted = plantWorkFiles(to, 'sqlite');
      const r = await batt(['restore', 'sqlite', '--to', to, '--path', box.pattern], { home: box.home });
      assert.equal(r.code, 0, r.stderr + r.stdout);
      checkWorkFiles(planted, r.stdout + r.stderr + log());
      assert.deepEqual(fs.readdirSync(to), ['app.db']);
    });
  });

  test('a refused restore writes nothing, even for the databases that were free', async () => {
    const db = path.join(dataDir, 'small.db');
    const other = path.join(dataDir, 'other.db');
    createDb(db, 'delete');
    createDb(other, 'delete');
    const r = await batt(['sqlite', '--sqlite', db, '--sqlite', other, '--path', sb.pattern], { home: sb.home });
    assert.equal(r.code, 0, r.stderr);
    const to = path.join(sb.dir, 'partial');
    fs.mkdirSync(to);
    fs.writeFileSync(path.join(to, 'other.db'), 'keep me');
    const rr = await batt(['restore', 'sqlite', '--to', to, '--path', sb.pattern], { home: sb.home });
    assert.notEqual(rr.code, 0);
    assert.deepEqual(fs.readdirSync(to), ['other.db']);
    assert.equal(fs.readFileSync(path.join(to, 'other.db'), 'utf8'), 'keep me');
  });

  test('a writer holding its transaction open: WAL copy has only committed rows; rollback journal waits, then fails after --sqlite-timeout', async () => {
    const box = sandbox({ builtins: true });
    const holders: ChildProcess[] = [];
    /** Starts a transaction in another sqlite3 process and keeps it open. */
    const hold = async (db: string, sqlText: string) => {
      const child = spawn('sqlite3', ['-batch', db], { stdio: ['pipe', 'pipe', 'ignore'] });
      holders.push(child);
      let out = '';
      child.stdout!.on('data', (d) => (out += d));
      child.stdin!.write(`${sqlText}\nSELECT 'holding';\n`);
      while (!out.includes('holding')) await new Promise((r) => setTimeout(r, 20));
    };
    try {
      const wal = path.join(box.dir, 'held-wal.db');
      createDb(wal, 'wal');
      await hold(wal, 'BEGIN IMMEDIATE; INSERT INTO t(payload) VALUES (\'uncommitted\'); UPDATE totals SET n = n + 1;');
      const r = await batt(['sqlite', '--sqlite', wal, '--path', box.pattern], { home: box.home });
      assert.equal(r.code, 0, r.stderr);
      const back = path.join(box.dir, 'back.db');
      const rr = await batt(['restore', 'sqlite', '--to', back, '--path', box.pattern], { home: box.home });
      assert.equal(rr.code, 0, rr.stderr);
      assert.deepEqual(consistency(back), { rows: 2000, consistent: true });

      const rollback = path.join(box.dir, 'held-rollback.db');
      createDb(rollback, 'delete');
      await hold(rollback, 'BEGIN EXCLUSIVE; INSERT INTO t(payload) VALUES (\'uncommitted\');');
      const locked = await batt(['sqlite', '--sqlite', rollback, '--sqlite-timeout', '1', '--path', box.pattern], { home: box.home });
      assert.notEqual(locked.code, 0);
      assert.match(fs.readFileSync(path.join(box.home, 'log', 'batt.log'), 'utf8'), /locked for more than 1s/);
      assert.equal(backupsOf(box).filter((f) => f.includes('/sqlite.2/')).length, 0, 'no second backup folder');
    } finally {
      for (const h of holders) h.kill('SIGKILL');
      box.cleanup();
    }
  });

  test('a file that is not a database fails the backup and leaves no folder', async () => {
    const box = sandbox({ builtins: true });
    try {
      const bogus = path.join(box.dir, 'not-a.db');
      fs.writeFileSync(bogus, 'this is not an SQLite database, just text\n'.repeat(200));
      const good = path.join(box.dir, 'good.db');
      createDb(good, 'delete');
      const r = await batt(['sqlite', '--sqlite', good, '--sqlite', bogus, '--path', box.pattern], { home: box.home });
      assert.notEqual(r.code, 0);
      assert.deepEqual(backupsOf(box), []);
      const log = fs.readFileSync(path.join(box.home, 'log', 'batt.log'), 'utf8');
      assert.match(log, /not a database/);
      const missingDb = await batt(['sqlite', '--sqlite', path.join(box.dir, 'nope.db'), '--path', box.pattern], { home: box.home });
      assert.notEqual(missingDb.code, 0);
      assert.ok(!fs.existsSync(path.join(box.dir, 'nope.db')), 'sqlite3 must not create a missing database');
      assert.deepEqual(backupsOf(box), []);
    } finally {
      box.cleanup();
    }
  });

  test('DATABASES in conf/sqlite.conf is used when no database is named', async () => {
    const box = sandbox({ builtins: true });
    try {
      const a = path.join(box.dir, 'a.db');
      createDb(a, 'wal');
      fs.writeFileSync(path.join(box.home, 'conf', 'sqlite.conf'), `DATABASES="${a}"\n`, { mode: 0o600 });
      const r = await batt(['sqlite', '--path', box.pattern], { home: box.home });
      assert.equal(r.code, 0, r.stderr);
      const files = backupsOf(box);
      assert.ok(files.some((f) => f.endsWith('.sqlite.zst')), files.join(' '));
      const back = path.join(box.dir, 'back.db');
      const rr = await batt(['restore', 'sqlite', '--to', back, '--path', box.pattern], { home: box.home });
      assert.equal(rr.code, 0, rr.stderr);
      assert.equal(checksum(back), checksum(a));
    } finally {
      box.cleanup();
    }
  });
});
