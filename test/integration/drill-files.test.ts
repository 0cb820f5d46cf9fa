// `batt drill` of the services whose restore writes files: redis (a real redis-server's snapshot,
// redis-check-rdb), sqlite (the real sqlite3, PRAGMA integrity_check) and mongodb (mongorestore
// --dryRun; a stand-in, as in mongodb.test.ts: no MongoDB server can be installed from Debian).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { REQUIRE_SERVERS, batt, listFiles, resealManifest, sandbox, type Sandbox } from '../helpers/batt.js';
import { startRedis, which, type RedisServer } from '../helpers/redis.js';

/** A sandbox with a private TMPDIR, to see that a drill leaves nothing there. */
function setup(): Sandbox & { tmp: string } {
  const sb = sandbox({ builtins: true });
  const tmp = path.join(sb.dir, 'tmp');
  fs.mkdirSync(tmp, { mode: 0o700 });
  return { ...sb, tmp };
}

const drillRecord = (sb: Sandbox, service: string) => {
  const f = listFiles(sb.root).find((x) => x.endsWith(`${service}/batt-drill.json`));
  assert.ok(f, `a batt-drill.json beside the ${service} backup`);
  return JSON.parse(fs.readFileSync(path.join(sb.root, f), 'utf8')) as { ok: boolean; durationMs: number };
};
const log = (sb: Sandbox) => fs.readFileSync(path.join(sb.home, 'log', 'batt.log'), 'utf8');

const redisMissing = ['redis-server', 'redis-cli', 'redis-check-rdb', 'zstd'].filter((b) => !which(b));
describe('drill redis: a real redis-server snapshot', { skip: redisMissing.length && !REQUIRE_SERVERS ? `not installed: ${redisMissing.join(', ')}` : false }, () => {
  let server: RedisServer;
  before(async () => {
    if (redisMissing.length) throw new Error(`BATT_REQUIRE_SERVERS=1 but not installed: ${redisMissing.join(', ')}`);
    server = await startRedis({ password: 'pw-Drill-9' });
    for (let i = 0; i < 500; i++) await server.client.call('SET', `key:${i}`, `v${i}`);
  });
  after(async () => {
    await server?.stop();
  });

  test('a healthy snapshot drills ok (redis-check-rdb, its key count); a damaged one fails; nothing left', async () => {
    const sb = setup();
    try {
      fs.writeFileSync(path.join(sb.home, 'conf', 'redis.conf'), `HOST=127.0.0.1\nPORT=${server.port}\nPASSWORD=pw-Drill-9\n`, { mode: 0o600 });
      assert.equal((await batt(['redis', '--path', sb.pattern, '--no-drill'], { home: sb.home })).code, 0);
      const rdbLive = fs.statSync(path.join(server.dir)).mtimeMs;
      const r = await batt(['drill', 'redis', '--path', sb.pattern], { home: sb.home, env: { TMPDIR: sb.tmp } });
      assert.equal(r.code, 0, r.stderr);
      assert.match(log(sb), /drill: redis-check-rdb accepts the snapshot \(500 keys read\)/);
      assert.equal(drillRecord(sb, 'redis').ok, true);
      assert.deepEqual(fs.readdirSync(sb.tmp), []);
      assert.equal(fs.statSync(server.dir).mtimeMs, rdbLive, 'the live data folder is untouched');

      // bytes flipped inside the snapshot (recompressed, manifest rewritten): verify passes, the drill does not
      const dir = path.dirname(path.join(sb.root, listFiles(sb.root).find((f) => f.endsWith('redis/dump.rdb.zst'))!));
      const rdb = spawnSync('zstd', ['-dc', path.join(dir, 'dump.rdb.zst')]).stdout;
      rdb.fill(0x41, 200, 400);
      fs.writeFileSync(path.join(dir, 'dump.rdb.zst'), spawnSync('zstd', ['-q', '-c'], { input: rdb }).stdout);
      resealManifest(dir);
      assert.equal((await batt(['verify', '--path', sb.pattern], { home: sb.home })).code, 0);
      const bad = await batt(['drill', 'redis', '--path', sb.pattern], { home: sb.home, env: { TMPDIR: sb.tmp } });
      assert.equal(bad.code, 1, bad.stdout);
      assert.match(bad.stderr, /redis-check-rdb rejects the snapshot/);
      assert.equal(drillRecord(sb, 'redis').ok, false);
      assert.deepEqual(fs.readdirSync(sb.tmp), []);
    } finally {
      sb.cleanup();
    }
  });
});

const sqliteMissing = ['sqlite3', 'zstd'].filter((b) => !which(b));
describe('drill sqlite: the real sqlite3', { skip: sqliteMissing.length && !REQUIRE_SERVERS ? `not installed: ${sqliteMissing.join(', ')}` : false }, () => {
  test('a healthy copy drills ok (PRAGMA integrity_check); one damaged inside fails; the live file is untouched', async () => {
    if (sqliteMissing.length) throw new Error(`BATT_REQUIRE_SERVERS=1 but not installed: ${sqliteMissing.join(', ')}`);
    const sb = setup();
    try {
      const db = path.join(sb.dir, 'app.db');
      const made = spawnSync('sqlite3', [db], { input: 'CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT); CREATE INDEX tv ON t (v);\nWITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 20000) INSERT INTO t SELECT i, hex(randomblob(20)) FROM c;\n' });
      assert.equal(made.status, 0, String(made.stderr));
      assert.equal((await batt(['sqlite', '--sqlite', db, '--path', sb.pattern, '--no-drill'], { home: sb.home })).code, 0);
      const liveBefore = fs.readFileSync(db);
      const r = await batt(['drill', 'sqlite', '--path', sb.pattern], { home: sb.home, env: { TMPDIR: sb.tmp } });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(drillRecord(sb, 'sqlite').ok, true);
      assert.deepEqual(fs.readdirSync(sb.tmp), []);
      assert.ok(fs.readFileSync(db).equals(liveBefore), 'the live database is untouched');

      // a page of the copy overwritten (recompressed, manifest rewritten): integrity_check fails
      const dir = path.dirname(path.join(sb.root, listFiles(sb.root).find((f) => f.endsWith('sqlite/databases.tsv'))!));
      const stored = fs.readdirSync(dir).find((f) => f.endsWith('.zst'))!;
      const data = spawnSync('zstd', ['-dc', path.join(dir, stored)]).stdout;
      data.fill(0x55, 4096 * 3, 4096 * 6);
      fs.writeFileSync(path.join(dir, stored), spawnSync('zstd', ['-q', '-c'], { input: data }).stdout);
      resealManifest(dir);
      const bad = await batt(['drill', 'sqlite', '--path', sb.pattern], { home: sb.home, env: { TMPDIR: sb.tmp } });
      assert.equal(bad.code, 1, bad.stdout);
      assert.match(bad.stderr, /integrity|malformed/i);
      assert.equal(drillRecord(sb, 'sqlite').ok, false);
      assert.deepEqual(fs.readdirSync(sb.tmp), []);
    } finally {
      sb.cleanup();
    }
  });
});

// mongorestore stand-in: reads the archive whole (checks its magic); refuses to run without
// --dryRun when STANDIN_WRITES_REFUSED is set, so a drill that would write fails the test.
const MONGORESTORE = `#!/usr/bin/env bash
set -euo pipefail
dry=0 archive=
for a in "$@"; do
  case "$a" in
    --dryRun) dry=1 ;;
    --archive=*) archive=\${a#--archive=} ;;
  esac
done
printf '%s\\n' "$@" >>"$STANDIN_STATE/restore-argv"
[ "$dry" = 1 ] || { echo "stand-in mongorestore: a write to the server" >&2; exit 9; }
[ "$(head -c 4 -- "$archive" | od -An -tx1 | tr -d ' \\n')" = 6de29981 ] || { echo "stand-in mongorestore: bad archive" >&2; exit 2; }
echo "0 document(s) restored successfully. 0 document(s) failed to restore."
`;
const MONGODUMP = `#!/usr/bin/env bash
for a in "$@"; do case "$a" in --archive=*) f=\${a#--archive=} ;; esac; done
printf '\\x6d\\xe2\\x99\\x81\\ndata\\n' >"$f"
`;

describe('drill mongodb: mongorestore --dryRun (a stand-in: no MongoDB server in Debian)', () => {
  test('the drill reads every archive through mongorestore --dryRun and writes nothing', async () => {
    const sb = setup();
    try {
      const state = path.join(sb.dir, 'state');
      fs.mkdirSync(state);
      fs.writeFileSync(path.join(sb.dir, 'mongorestore'), MONGORESTORE, { mode: 0o755 });
      fs.writeFileSync(path.join(sb.dir, 'mongodump'), MONGODUMP, { mode: 0o755 });
      const env = { TMPDIR: sb.tmp, STANDIN_STATE: state, MONGODUMP: path.join(sb.dir, 'mongodump'), MONGORESTORE: path.join(sb.dir, 'mongorestore') };
      fs.writeFileSync(path.join(sb.home, 'conf', 'mongodb.conf'), 'HOST=127.0.0.1\n', { mode: 0o600 });
      const b = await batt(['mongodb', '--path', sb.pattern, '--no-drill'], { home: sb.home, env });
      assert.equal(b.code, 0, b.stderr);
      const r = await batt(['drill', 'mongodb', '--path', sb.pattern], { home: sb.home, env });
      assert.equal(r.code, 0, r.stderr);
      assert.match(fs.readFileSync(path.join(state, 'restore-argv'), 'utf8'), /^--dryRun$/m);
      assert.equal(drillRecord(sb, 'mongodb').ok, true);
      assert.deepEqual(fs.readdirSync(sb.tmp), []);
    } finally {
      sb.cleanup();
    }
  });
});
