// MongoDB through the built batt, with STAND-IN mongodump and mongorestore.
//
// No MongoDB server or database tools can be installed on this machine (they are not Debian
// packages), so these tests do NOT talk to MongoDB. They replace mongodump/mongorestore (through
// the MONGODUMP / MONGORESTORE variables) with small bash scripts written below, which check the
// arguments and the --config file batt's scripts give them, record them, and write/read a fake
// archive that starts with mongodump's magic number. What is tested for real: batt's scripts and
// batt itself (argv without secrets, the 0600 config file and its removal, archive checks, failure
// handling, refusal without --force, --drop / --nsFrom / --nsTo). What is not: a real dump.
import { after, afterEach, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { batt, sandbox, type Sandbox, backupsOf } from '../helpers/batt.js';
import { standInEngine } from '../helpers/standins.js';

const PASSWORD = "Mongo-S3cret-'quoted'-77";

/** mongodump stand-in: records argv and the --config file, writes a fake archive. */
const MONGODUMP = `#!/usr/bin/env bash
set -euo pipefail
state=\${STANDIN_STATE:?}
n=$(ls "$state" | grep -c '^dump-argv' || true)
printf '%s\\n' "$@" >"$state/dump-argv-$n"
config= archive= db= gzip=0
for a in "$@"; do
  case "$a" in
    --config=*) config=\${a#--config=} ;;
    --archive=*) archive=\${a#--archive=} ;;
    --archive) archive=- ;;
    --db=*) db=\${a#--db=} ;;
    --gzip) gzip=1 ;;
  esac
done
[ -n "$config" ] && [ -r "$config" ] || { echo "stand-in mongodump: no --config file" >&2; exit 2; }
[ "$gzip" = 1 ] || { echo "stand-in mongodump: no --gzip" >&2; exit 2; }
[ -n "$archive" ] || { echo "stand-in mongodump: no --archive=FILE" >&2; exit 2; }
# --archive with no file: the archive on stdout (written to a file first, sent at the end)
if [ "$archive" = - ]; then archive=$state/stdout-archive; rm -f "$archive"; trap 'cat "$state/stdout-archive" 2>/dev/null || :' EXIT; fi
stat -c %a "$config" >"$state/config-mode"
stat -c %a "$(dirname "$config")" >"$state/config-dir-mode"
cp "$config" "$state/config-content"
echo "$config" >"$state/config-path"
case "\${STANDIN_FAIL:-}" in
  partial) printf 'half an archive' >"$archive"; echo "stand-in mongodump: connection lost" >&2; exit 1 ;;
  garbage) echo "not an archive" >"$archive"; exit 0 ;;
  nothing) exit 0 ;;
esac
printf '\\x6d\\xe2\\x99\\x81\\n' >"$archive"
printf 'db=%s\\n' "\${db:-ALL}" >>"$archive"
echo "stand-in mongodump: done dumping \${db:-all databases}" >&2
`;

/** mongorestore stand-in: a "server" is a folder with one file per restored database. */
const MONGORESTORE = `#!/usr/bin/env bash
set -euo pipefail
state=\${STANDIN_STATE:?}
n=$(ls "$state" | grep -c '^restore-argv' || true)
printf '%s\\n' "$@" >"$state/restore-argv-$n"
config= archive= nsto= drop=0
for a in "$@"; do
  case "$a" in
    --config=*) config=\${a#--config=} ;;
    --archive=*) archive=\${a#--archive=} ;;
    --archive) archive=$state/stdin-archive; cat >"$archive" ;;
    --nsTo=*) nsto=\${a#--nsTo=} ;;
    --drop) drop=1 ;;
  esac
done
[ -n "$config" ] && [ -r "$config" ] || { echo "stand-in mongorestore: no --config file" >&2; exit 2; }
cp "$config" "$state/restore-config-content"
[ "$(od -An -tx1 -N4 -- "$archive" | tr -d ' \\n')" = 6de29981 ] || { echo "stand-in mongorestore: bad archive" >&2; exit 2; }
db=$(sed -n 's/^db=//p' "$archive")
target=\${nsto%.*}
target=\${target:-$db}
[ -n "$target" ] || { echo "stand-in mongorestore: no database in the archive" >&2; exit 2; }
mkdir -p "$state/server"
if [ -e "$state/server/$target" ] && [ "$drop" = 0 ]; then
  echo "continuing through error: E11000 duplicate key error collection: $target.items index: _id_"
  echo "0 document(s) restored successfully. 3 document(s) failed to restore."
  exit 1
fi
cp "$archive" "$state/server/$target"
echo "3 document(s) restored successfully. 0 document(s) failed to restore."
`;

interface Env {
  sb: Sandbox;
  state: string;
  env: Record<string, string>;
}

function setup(conf: string): Env {
  const sb = sandbox({ builtins: true });
  const state = path.join(sb.dir, 'standin-state');
  fs.mkdirSync(state);
  const dump = path.join(sb.dir, 'mongodump-standin');
  const restore = path.join(sb.dir, 'mongorestore-standin');
  fs.writeFileSync(dump, MONGODUMP, { mode: 0o755 });
  fs.writeFileSync(restore, MONGORESTORE, { mode: 0o755 });
  fs.writeFileSync(path.join(sb.home, 'conf', 'mongodb.conf'), conf, { mode: 0o600 });
  return { sb, state, env: { MONGODUMP: dump, MONGORESTORE: restore, STANDIN_STATE: state } };
}

const read = (f: string) => fs.readFileSync(f, 'utf8');
const logOf = (sb: Sandbox) => {
  const f = path.join(sb.home, 'log', 'batt.log');
  return fs.existsSync(f) ? read(f) : '';
};

describe('mongodb with STAND-IN mongodump/mongorestore (no MongoDB server here)', () => {
  let t: Env;
  beforeEach(() => {
    t = setup(`HOST=127.0.0.1\nPORT=27999\nUSER=backup\nPASSWORD="${PASSWORD}"\nAUTH_DB=admin\n`);
  });
  afterEach(() => (process.env.KEEP ? console.log(t.sb.dir) : t.sb.cleanup()));

  test('STAND-IN: one archive per --mongodb-db; password only in the 0600 --config file, never argv, log, manifest or --json', async () => {
    const r = await batt(['mongodb', '--mongodb-db', 'app', '--mongodb', 'shop', '--path', t.sb.pattern, '--json'], {
      home: t.sb.home,
      env: t.env,
    });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const files = backupsOf(t.sb);
    assert.ok(files.some((f) => f.endsWith('/mongodb/db-app.archive.gz')), files.join(' '));
    assert.ok(files.some((f) => f.endsWith('/mongodb/db-shop.archive.gz')), files.join(' '));
    const argvs = fs.readdirSync(t.state).filter((f) => f.startsWith('dump-argv')).map((f) => read(path.join(t.state, f)));
    assert.equal(argvs.length, 2);
    for (const argv of argvs) {
      assert.ok(!argv.includes(PASSWORD) && !argv.includes('S3cret'), `password in the stand-in's argv: ${argv}`);
      assert.match(argv, /^--username=backup$/m);
      assert.match(argv, /^--authenticationDatabase=admin$/m);
      assert.match(argv, /^--host=127\.0\.0\.1$/m);
      assert.match(argv, /^--gzip$/m);
    }
    assert.match(argvs.join('\n'), /^--db=app$/m);
    assert.match(argvs.join('\n'), /^--db=shop$/m);
    // The config file: 0600 in a 0700 folder, YAML-quoted password, removed after the run.
    assert.equal(read(path.join(t.state, 'config-mode')).trim(), '600');
    assert.equal(read(path.join(t.state, 'config-dir-mode')).trim(), '700');
    assert.equal(read(path.join(t.state, 'config-content')), `password: '${PASSWORD.replaceAll("'", "''")}'\n`);
    assert.ok(!fs.existsSync(read(path.join(t.state, 'config-path')).trim()), 'the --config file was removed');
    assert.ok(!fs.existsSync(path.dirname(read(path.join(t.state, 'config-path')).trim())), 'its folder was removed');
    // Nowhere batt writes or prints.
    assert.ok(!(r.stdout + r.stderr).includes('S3cret'), 'password in --json output');
    assert.ok(!logOf(t.sb).includes('S3cret'), 'password in batt.log');
    for (const m of files.filter((f) => f.endsWith('batt-manifest.json'))) {
      assert.ok(!read(path.join(t.sb.root, m)).includes('S3cret'), 'password in the manifest');
    }
  });

  test('STAND-IN: no database named dumps all databases into one archive', async () => {
    const r = await batt(['mongodb', '--path', t.sb.pattern], { home: t.sb.home, env: t.env });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(backupsOf(t.sb).some((f) => f.endsWith('/mongodb/all.archive.gz')));
    assert.doesNotMatch(read(path.join(t.state, 'dump-argv-0')), /^--db/m);
  });

  for (const [mode, why] of [
    ['partial', /mongodump failed with exit code 1/],
    ['garbage', /not a mongodump archive/],
    ['nothing', /wrote no archive/],
  ] as const) {
    test(`STAND-IN: a mongodump that ${mode === 'partial' ? 'fails midway' : `exits 0 with ${mode}`} fails the backup, no folder, config removed`, async () => {
      const r = await batt(['mongodb', '--mongodb-db', 'app', '--path', t.sb.pattern], {
        home: t.sb.home,
        env: { ...t.env, STANDIN_FAIL: mode },
      });
      assert.notEqual(r.code, 0);
      assert.deepEqual(backupsOf(t.sb), []);
      assert.match(logOf(t.sb), why);
      assert.ok(!fs.existsSync(read(path.join(t.state, 'config-path')).trim()), 'the --config file was removed on failure');
      assert.ok(!logOf(t.sb).includes('S3cret'));
    });
  }

  test('STAND-IN: batt restore mongodb --to renames with --nsFrom/--nsTo, refuses existing data without --force, --force adds --drop', async () => {
    const r = await batt(['mongodb', '--mongodb-db', 'app', '--mongodb-db', 'shop', '--path', t.sb.pattern], { home: t.sb.home, env: t.env });
    assert.equal(r.code, 0, r.stderr);
    const restore = (extra: string[]) =>
      batt(['restore', 'mongodb', '--path', t.sb.pattern, ...extra], { home: t.sb.home, env: t.env });
    const argv = (n: number) => read(path.join(t.state, `restore-argv-${n}`));

    const first = await restore(['--mongodb', 'app', '--to', 'app_copy']);
    assert.equal(first.code, 0, first.stderr + first.stdout);
    assert.match(argv(0), /^--nsFrom=app\.\*$/m);
    assert.match(argv(0), /^--nsTo=app_copy\.\*$/m);
    assert.match(argv(0), /^--gzip$/m);
    assert.match(argv(0), /^--archive=.*db-app\.archive\.gz$/m);
    assert.doesNotMatch(argv(0), /^--drop$/m);
    assert.ok(!argv(0).includes('S3cret'), 'password in mongorestore argv');
    assert.match(read(path.join(t.state, 'restore-config-content')), /^password: /m);
    assert.ok(fs.existsSync(path.join(t.state, 'server', 'app_copy')));

    const again = await restore(['--mongodb', 'app', '--to', 'app_copy']);
    assert.notEqual(again.code, 0, 'existing documents without --force');
    assert.match(again.stderr, /refused|--force/);
    assert.doesNotMatch(argv(1), /^--drop$/m);

    const forced = await restore(['--mongodb', 'app', '--to', 'app_copy', '--force']);
    assert.equal(forced.code, 0, forced.stderr);
    assert.match(argv(2), /^--drop$/m);

    const all = await restore([]);
    assert.equal(all.code, 0, all.stderr);
    assert.ok(fs.existsSync(path.join(t.state, 'server', 'app')) && fs.existsSync(path.join(t.state, 'server', 'shop')));

    const ambiguous = await restore(['--to', 'x']);
    assert.notEqual(ambiguous.code, 0, '--to with two databases');
    assert.ok(!logOf(t.sb).includes('S3cret'), 'password in batt.log');
  });
});

// Bad input is exit 2 for every restore script (docs/script-contract.md; restore-mysql,
// restore-postgresql, restore-redis), before any tool runs; 3 stays for "would overwrite data".
describe('restore-mongodb: bad input exits 2 before mongorestore runs (STAND-IN tools)', () => {
  let t: Env;
  before(async () => {
    t = setup(`HOST=127.0.0.1\nPORT=27999\nUSER=backup\nPASSWORD="${PASSWORD}"\nAUTH_DB=admin\n`);
    const r = await batt(['mongodb', '--mongodb-db', 'app', '--mongodb-db', 'shop', '--path', t.sb.pattern], { home: t.sb.home, env: t.env });
    assert.equal(r.code, 0, r.stderr);
  });
  after(() => (process.env.KEEP ? console.log(t.sb.dir) : t.sb.cleanup()));

  const cases: Array<[string, string[], string, Record<string, string>?]> = [
    ['an invalid database name', ['--mongodb', 'a.b'], "'a.b' is not a valid MongoDB database name"],
    ['an invalid --mongodb-db name', ['--mongodb-db', 'x$y'], "'x$y' is not a valid MongoDB database name"],
    ['an invalid --to name', ['--mongodb', 'app', '--to', 'a/b'], "--to takes a database name, got 'a/b'"],
    ['--to without a database', ['--to', 'copy'], '--to renames one database: name it with --mongodb DB (this backup holds 2 archive(s))'],
    ['--to with two databases', ['--mongodb', 'app', '--mongodb', 'shop', '--to', 'copy'], '--to renames one database: name it with --mongodb DB (this backup holds 2 archive(s))'],
    ['a port that is not a number', ['--mongodb', 'app', '--mongodb-port', '27x'], "port must be a number, got '27x'"],
    ['a URI besides HOST/PORT', ['--mongodb', 'app', '--mongodb-uri', 'mongodb://db.example:27017'], 'give either URI or HOST/PORT, not both'],
    ['an invalid name while mongorestore is missing', ['--mongodb', 'a.b'], "'a.b' is not a valid MongoDB database name", { MONGORESTORE: '/nonexistent/mongorestore' }],
  ];
  for (const [what, args, line, env] of cases) {
    test(`STAND-IN: ${what} exits 2 with its message; mongorestore does not run`, async () => {
      const ran = () => fs.readdirSync(t.state).filter((f) => f.startsWith('restore-argv'));
      const before = ran();
      const r = await batt(['restore', 'mongodb', '--path', t.sb.pattern, ...args], { home: t.sb.home, env: { ...t.env, ...env } });
      assert.notEqual(r.code, 0, r.stdout);
      assert.ok(r.stderr.includes(`restore script exited with code 2: restore-mongodb: ${line}`), r.stderr + r.stdout);
      assert.deepEqual(ran(), before, 'the mongorestore stand-in ran');
      assert.ok(!fs.existsSync(path.join(t.state, 'server')), 'something was restored');
    });
  }
});

// MongoDB in a container (CONTAINER=NAME): mongodump and mongorestore through `ENGINE exec -i`.
// Both the engine and the tools are STAND-INS: the engine (test/helpers/standins.ts) runs the
// command here with only PATH, the -e variables and its own, and the tools are the stand-ins above,
// found on PATH under their real names as in the container. No MongoDB server runs here.
describe('mongodb in a container: STAND-IN engine running the STAND-IN mongodump/mongorestore', () => {
  let t: Env;
  let log: string;
  let env: Record<string, string>;
  const calls = () => (fs.existsSync(log) ? read(log).split('\n').filter((l) => /^(podman|docker) /.test(l)) : []);
  beforeEach(() => {
    t = setup(`HOST=127.0.0.1\nPORT=27999\nUSER=backup\nPASSWORD="${PASSWORD}"\nAUTH_DB=admin\nCONTAINER=mongobox\nCONTAINER_ENGINE=docker\n`);
    const bin = path.join(t.sb.dir, 'bin');
    fs.mkdirSync(bin);
    fs.copyFileSync(t.env.MONGODUMP, path.join(bin, 'mongodump'));
    fs.copyFileSync(t.env.MONGORESTORE, path.join(bin, 'mongorestore'));
    log = path.join(t.sb.dir, 'engine.log');
    const docker = standInEngine(t.sb.dir, 'docker', log, { STANDIN_STATE: t.state });
    env = { PATH: `${bin}:${process.env.PATH}`, DOCKER: docker, PODMAN: path.join(t.sb.dir, 'no-podman') };
  });
  afterEach(() => (process.env.KEEP ? console.log(t.sb.dir) : t.sb.cleanup()));

  test('STAND-IN: backup through docker exec -i NAME mongodump --config=/dev/stdin, the archive on stdout; restore --to through mongorestore with the config on fd 3; no password in argv', async () => {
    const r = await batt(['mongodb', '--mongodb-db', 'app', '--path', t.sb.pattern], { home: t.sb.home, env });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.deepEqual(calls(), ['docker exec -i mongobox mongodump --config=/dev/stdin --host=127.0.0.1 --port=27999 --username=backup --authenticationDatabase=admin --db=app --archive --gzip']);
    assert.equal(read(path.join(t.state, 'config-content')), `password: '${PASSWORD.replaceAll("'", "''")}'\n`, 'the config came on stdin');
    const archive = backupsOf(t.sb).find((f) => f.endsWith('/mongodb/db-app.archive.gz'));
    assert.ok(archive, backupsOf(t.sb).join(' '));
    const bytes = fs.readFileSync(path.join(t.sb.root, archive));
    assert.equal(bytes.subarray(0, 4).toString('hex'), '6de29981');
    assert.match(bytes.toString(), /^db=app$/m);
    assert.equal(fs.statSync(path.join(t.sb.root, archive)).mode & 0o077, 0);

    const rr = await batt(['restore', 'mongodb', '--mongodb', 'app', '--to', 'app_copy', '--path', t.sb.pattern], { home: t.sb.home, env });
    assert.equal(rr.code, 0, rr.stderr + rr.stdout);
    const restore = calls()[1];
    assert.ok(restore?.startsWith('docker exec -i -e BATT_MONGODB_CONFIG mongobox sh -c exec 3<<EOF'), calls().join('\n'));
    assert.match(read(log), /^exec "\$@" sh mongorestore --config=\/dev\/fd\/3 --host=127\.0\.0\.1 .* --stopOnError --nsInclude=app\.\* --nsFrom=app\.\* --nsTo=app_copy\.\* --archive --gzip$/m);
    assert.equal(read(path.join(t.state, 'restore-config-content')), `password: '${PASSWORD.replaceAll("'", "''")}'\n`, 'the config came on fd 3');
    assert.match(read(path.join(t.state, 'server', 'app_copy')), /^db=app$/m);
    assert.ok(!read(log).includes('S3cret'), 'the password is in the engine argv');
  });

  test('STAND-IN: a mongodump that fails inside the container fails the backup with its last words; nothing kept', async () => {
    env.DOCKER = standInEngine(t.sb.dir, 'docker', log, { STANDIN_STATE: t.state, STANDIN_FAIL: 'partial' });
    const r = await batt(['mongodb', '--mongodb-db', 'app', '--path', t.sb.pattern], { home: t.sb.home, env });
    assert.notEqual(r.code, 0, r.stdout);
    assert.match(r.stderr, /backup-mongodb: mongodump failed with exit code 1 for database app: stand-in mongodump: connection lost\n/);
    assert.equal(calls().length, 1);
    assert.deepEqual(backupsOf(t.sb), []);
  });

  test('STAND-IN: an unknown CONTAINER_ENGINE is refused by the backup and the restore; the engine never runs', async () => {
    const ok = await batt(['mongodb', '--mongodb-db', 'app', '--path', t.sb.pattern], { home: t.sb.home, env });
    assert.equal(ok.code, 0, ok.stderr);
    const backups = backupsOf(t.sb);
    fs.rmSync(log);
    fs.writeFileSync(path.join(t.sb.home, 'conf', 'mongodb.conf'), 'CONTAINER=mongobox\nCONTAINER_ENGINE=lxc\n', { mode: 0o600 });
    const r = await batt(['mongodb', '--path', t.sb.pattern], { home: t.sb.home, env });
    assert.notEqual(r.code, 0, r.stdout);
    assert.match(r.stderr, /backup-mongodb: CONTAINER_ENGINE takes podman or docker, got 'lxc'\n/);
    const rr = await batt(['restore', 'mongodb', '--mongodb', 'app', '--to', 'app_copy', '--path', t.sb.pattern], { home: t.sb.home, env });
    assert.notEqual(rr.code, 0, rr.stdout);
    assert.match(rr.stderr, /restore-mongodb: CONTAINER_ENGINE takes podman or docker, got 'lxc'\n/);
    assert.deepEqual(calls(), []);
    assert.deepEqual(backupsOf(t.sb), backups);
    assert.ok(!fs.existsSync(path.join(t.state, 'server')), 'something was restored');
  });
});
