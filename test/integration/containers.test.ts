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

const PASSWORD = 'pw-Container-S3cret-41c9';
const missing = ['redis-server', 'redis-cli', 'zstd'].filter((b) => !which(b));
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
while [ $# -gt 0 ]; do
  case "$1" in
    -i) shift ;;
    -e) [[ "$2" != *=* ]] || { echo "stand-in ${name}: -e with a value puts it in argv" >&2; exit 125; }
        [ -z "\${!2+set}" ] || keep+=("$2=\${!2}"); shift 2 ;;
    -*) echo "stand-in ${name}: unknown option $1" >&2; exit 125 ;;
    *) break ;;
  esac
done
echo "$1" >>${JSON.stringify(log)}.containers
shift
exec env -i "\${keep[@]}" "$@"
`,
    { mode: 0o755 },
  );
  return f;
}

describe('databases in containers: the client runs through the engine (a stand-in)', { skip, concurrency: false }, () => {
  let sb: Sandbox;
  let server: RedisServer;
  let log: string;
  const conf = (service: string, body: string) => fs.writeFileSync(path.join(sb.home, 'conf', `${service}.conf`), body, { mode: 0o600 });

  before(async () => {
    if (missing.length) throw new Error(`BATT_REQUIRE_SERVERS=1 but not installed: ${missing.join(', ')}`);
    sb = sandbox({ builtins: true });
    log = path.join(sb.dir, 'engine.log');
    server = await startRedis({ password: PASSWORD });
    for (let i = 0; i < 100; i++) await server.client.call('SET', `k${i}`, `v${i}`);
  });
  after(async () => {
    await server?.stop();
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
});
