// Databases in containers (CONTAINER=NAME in a service's conf): the client runs through
// `ENGINE exec` inside the container and the dump streams out to batt's staging folder.
// The ENGINE here is a STAND-IN, not podman or docker: rootful podman cannot run in this sandbox
// (no cgroups, no overlay) and no image can be pulled (no internet). The stand-in takes
// `exec [-i] [-e VAR]... NAME CMD...`, records its argv, and runs CMD on the host against the
// test's real server with an environment of only PATH and the variables -e named, as an engine
// hands them into the container: a secret the script forgot to pass with -e does not arrive.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { REQUIRE_SERVERS, backupsOf, batt, readText, sandbox, type Sandbox } from '../helpers/batt.js';
import { startRedis, which, type RedisServer } from '../helpers/redis.js';
import { pgTableSums, postgresBin, startPostgreSQL, type PostgreSQL } from '../helpers/servers.js';

const PASSWORD = 'pw-Container-S3cret-41c9';
const missing = [...['redis-server', 'redis-cli', 'zstd', 'pg_dump'].filter((b) => !which(b)), ...(postgresBin() ? [] : ['postgresql'])];
const skip = missing.length && !REQUIRE_SERVERS ? `not installed: ${missing.join(', ')}` : false;

/** A stand-in container engine named NAME (podman or docker) in DIR, recording to LOG. */
function standInEngine(dir: string, name: string, log: string): string {
  const f = path.join(dir, name);
  fs.writeFileSync(
    f,
    `#!/usr/bin/env bash
# STAND-IN for ${name}: exec [-i] [-e VAR]... CONTAINER CMD... runs CMD here.
set -euo pipefail
echo "${name} $*" >>${JSON.stringify(log)}
[ "$1" = exec ] || { echo "stand-in ${name}: only exec" >&2; exit 125; }
shift
keep=(PATH="$PATH")
as=()
while [ $# -gt 0 ]; do
  case "$1" in
    -i) shift ;;
    -u) [ "$(id -u)" = 0 ] || { echo "stand-in ${name}: -u needs root" >&2; exit 125; }
        as=(setpriv --reuid="$2" --regid="$(id -g -- "$2")" --init-groups --); shift 2 ;;
    -e) [[ "$2" != *=* ]] || { echo "stand-in ${name}: -e with a value puts it in argv" >&2; exit 125; }
        [ -z "\${!2+set}" ] || keep+=("$2=\${!2}"); shift 2 ;;
    -*) echo "stand-in ${name}: unknown option $1" >&2; exit 125 ;;
    *) break ;;
  esac
done
echo "$1" >>${JSON.stringify(log)}.containers
shift
cd /
exec env -i "\${keep[@]}" "\${as[@]}" "$@"
`,
    { mode: 0o755 },
  );
  return f;
}

describe('databases in containers: the client runs through the engine (a stand-in)', { skip, concurrency: false }, () => {
  let sb: Sandbox;
  let server: RedisServer;
  let pg: PostgreSQL;
  let log: string;
  const conf = (service: string, body: string) => fs.writeFileSync(path.join(sb.home, 'conf', `${service}.conf`), body, { mode: 0o600 });

  before(async () => {
    if (missing.length) throw new Error(`BATT_REQUIRE_SERVERS=1 but not installed: ${missing.join(', ')}`);
    sb = sandbox({ builtins: true });
    log = path.join(sb.dir, 'engine.log');
    server = await startRedis({ password: PASSWORD });
    for (let i = 0; i < 100; i++) await server.client.call('SET', `k${i}`, `v${i}`);
    pg = (await startPostgreSQL(PASSWORD))!;
    pg.sql('CREATE DATABASE shop');
    pg.sql("CREATE TABLE orders (id int PRIMARY KEY, what text); INSERT INTO orders SELECT g, 'order ' || g FROM generate_series(1, 500) g;", 'shop');
  });
  after(async () => {
    await server?.stop();
    await pg?.stop();
    sb?.cleanup();
  });

  test('redis: CONTAINER runs redis-cli through podman exec, the password through -e REDISCLI_AUTH, the snapshot streamed out', async () => {
    const podman = standInEngine(sb.dir, 'podman', log);
    conf('redis', `PORT=${server.port}\nPASSWORD=${PASSWORD}\nCONTAINER=cache\nCONTAINER_ENGINE=podman\n`);
    const r = await batt(['redis', '--path', sb.pattern], { home: sb.home, env: { PODMAN: podman } });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.equal(readText(log).trim(), `podman exec -e REDISCLI_AUTH cache redis-cli -h 127.0.0.1 -p ${server.port} --rdb /dev/stdout`);
    assert.equal(readText(`${log}.containers`).trim(), 'cache');
    const dump = backupsOf(sb).find((f) => f.endsWith('/redis/dump.rdb.zst'));
    assert.ok(dump);
    const raw = spawnSync('zstd', ['-dc', path.join(sb.root, dump)]).stdout;
    assert.equal(raw.subarray(0, 5).toString(), 'REDIS');
    fs.writeFileSync(path.join(sb.dir, 'check.rdb'), raw);
    const check = spawnSync('redis-check-rdb', [path.join(sb.dir, 'check.rdb')], { encoding: 'utf8' });
    assert.match(check.stdout, /100 keys read/);
  });

  test('redis: no CONTAINER_ENGINE takes podman when installed, else docker; a wrong one is refused', async () => {
    fs.rmSync(log, { force: true });
    const docker = standInEngine(sb.dir, 'docker', log);
    conf('redis', `PORT=${server.port}\nPASSWORD=${PASSWORD}\nCONTAINER=cache\n`);
    const r = await batt(['redis', '--path', sb.pattern], { home: sb.home, env: { PODMAN: path.join(sb.dir, 'no-podman'), DOCKER: docker } });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(readText(log), /^docker exec -e REDISCLI_AUTH cache redis-cli /);
    const before = backupsOf(sb);
    conf('redis', `PORT=${server.port}\nCONTAINER=cache\nCONTAINER_ENGINE=lxc\n`);
    const bad = await batt(['redis', '--path', sb.pattern], { home: sb.home, env: { DOCKER: docker } });
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /backup-redis: CONTAINER_ENGINE takes podman or docker, got 'lxc'\n/);
    assert.deepEqual(backupsOf(sb), before);
  });

  test('redis: a wrong password inside the container fails the backup with redis-cli\'s words; nothing is kept', async () => {
    const podman = standInEngine(sb.dir, 'podman', log);
    conf('redis', `PORT=${server.port}\nPASSWORD=wrong\nCONTAINER=cache\nCONTAINER_ENGINE=podman\n`);
    const before = backupsOf(sb);
    const r = await batt(['redis', '--path', sb.pattern], { home: sb.home, env: { PODMAN: podman } });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /backup-redis: redis-cli --rdb failed with exit code \d+ for 127\.0\.0\.1:\d+ in container cache .*(WRONGPASS|invalid|AUTH)/i);
    assert.deepEqual(backupsOf(sb), before);
  });

  test('postgresql: CONTAINER runs pg_dump and pg_restore through docker exec -i, the password through -e PGPASSWORD; a restore --to comes back equal', async () => {
    fs.rmSync(log, { force: true });
    const docker = standInEngine(sb.dir, 'docker', log);
    conf('postgresql', `HOST=127.0.0.1\nPORT=${pg.port}\nUSER=postgres\nPASSWORD=${PASSWORD}\nCONTAINER=pgbox\nCONTAINER_ENGINE=docker\n`);
    const env = { DOCKER: docker, PODMAN: path.join(sb.dir, 'no-podman') };
    const r = await batt(['postgresql', '--postgresql-db', 'shop', '--path', sb.pattern], { home: sb.home, env });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const calls = readText(log).trim().split('\n');
    const prefix = 'docker exec -i -e PGHOST -e PGPORT -e PGUSER -e PGCONNECT_TIMEOUT -e PGPASSWORD pgbox';
    assert.ok(calls.length >= 3 && calls.every((c) => c.startsWith(`${prefix} `)), calls.join('\n'));
    assert.ok(calls.some((c) => c.startsWith(`${prefix} pg_dump -Fc `)) && calls.some((c) => c === `${prefix} pg_restore --list`), calls.join('\n'));
    assert.ok(!readText(log).includes(PASSWORD));
    const rr = await batt(['restore', 'postgresql', '--postgresql-db', 'shop', '--to', 'shop_copy', '--path', sb.pattern], { home: sb.home, env });
    assert.equal(rr.code, 0, rr.stderr + rr.stdout);
    assert.match(readText(log), /^docker exec -i .* pgbox pg_restore --single-transaction /m);
    assert.deepEqual(pgTableSums(pg, 'shop_copy'), pgTableSums(pg, 'shop'));
  });

  test('postgresql: with no password, the clients run as OS_USER inside the container (exec -u postgres), over its socket', { skip: process.getuid?.() !== 0 && 'needs root' }, async () => {
    fs.rmSync(log, { force: true });
    const podman = standInEngine(sb.dir, 'podman', log);
    conf('postgresql', `HOST=${pg.dir}\nPORT=${pg.port}\nCONTAINER=pgbox\nGLOBALS=no\n`);
    const r = await batt(['postgresql', '--postgresql-db', 'shop', '--path', sb.pattern], { home: sb.home, env: { PODMAN: podman } });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(readText(log), /^podman exec -i -u postgres -e PGHOST -e PGPORT -e PGCONNECT_TIMEOUT pgbox pg_dump -Fc /m);
  });
});
