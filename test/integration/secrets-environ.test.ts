// Secrets stay with the script (issue 15.4, RELIABILITY 13): during a real mysql + postgresql
// backup and restore and a redis backup with passwords in their confs, a sampler reads /proc/*/environ of every
// process every ~10 ms. The password may show only in the script's own shell (the environment
// a process was started with stays in /proc/PID/environ after `unset`, and a subshell forked
// from the script shares it), never in batt, a client, a dump, tee, zstd, sleep, rm, or the
// rsync of a target.
// Every tool is a wrapper that sleeps before it runs the real one, so each process lives long
// enough to be sampled.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { REQUIRE_SERVERS, batt, listFiles, sandbox, type Sandbox } from '../helpers/batt.js';
import { findBinary, mariadbTools, postgresBin, startMariaDB, startPostgreSQL, type MariaDB, type PostgreSQL } from '../helpers/servers.js';
import { startRedis, type RedisServer } from '../helpers/redis.js';

const MYSQL_PASSWORD = 'my-Env-Secret-71c3';
const PG_PASSWORD = 'pg-Env-Secret-4d2a';
const REDIS_PASSWORD = 'redis-Env-Secret-93be';
const tools = mariadbTools();
const pgBin = postgresBin();
const missing = tools && pgBin && findBinary('zstd') && findBinary('redis-server') && findBinary('redis-cli') ? [] : ['MariaDB, PostgreSQL, redis-server, redis-cli or zstd'];
const skip = missing.length && !REQUIRE_SERVERS ? `not installed: ${missing.join(', ')}` : false;

/** Reads every /proc/<pid>/environ in a loop; prints one JSON line per process holding a secret. */
const SAMPLER = `
const fs = require('node:fs');
const secrets = JSON.parse(process.argv[1]);
const seen = new Set();
let sweeps = 0;
const sweep = () => {
  sweeps++;
  for (const pid of fs.readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(pid)) continue;
    // cmdline before and after environ: a process that ends between two reads (a script's short
    // subshell) has none after; one in the middle of its exec has none yet before. Either way the
    // other read names it.
    const cmdline = () => { try { return fs.readFileSync('/proc/' + pid + '/cmdline', 'latin1').split('\\0').filter(Boolean); } catch { return []; } };
    let env, argv = cmdline();
    try { env = fs.readFileSync('/proc/' + pid + '/environ', 'latin1'); } catch { continue; }
    if (!argv.length && secrets.some((s) => env.includes(s))) argv = cmdline();
    for (const s of secrets) {
      if (!env.includes(s)) continue;
      const key = pid + ' ' + argv.join(' ');
      if (seen.has(key)) continue;
      seen.add(key);
      process.stdout.write(JSON.stringify({ pid, secret: s, argv }) + '\\n');
    }
  }
  setTimeout(sweep, 10);
};
process.on('SIGTERM', () => { process.stdout.write(JSON.stringify({ sweeps }) + '\\n'); process.exit(0); });
sweep();
`;

interface Hit {
  pid: string;
  secret: string;
  argv: string[];
}

function startSampler(secrets: string[]): { stop(): Promise<{ hits: Hit[]; sweeps: number }> } {
  const child: ChildProcess = spawn(process.execPath, ['-e', SAMPLER, JSON.stringify(secrets)], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  const exited = new Promise<void>((res) => child.once('exit', () => res()));
  return {
    async stop() {
      child.kill('SIGTERM');
      await exited;
      const lines = out.split('\n').filter(Boolean).map((l) => JSON.parse(l) as Hit & { sweeps?: number });
      return { hits: lines.filter((l) => l.pid) as Hit[], sweeps: lines.find((l) => l.sweeps)?.sweeps ?? 0 };
    },
  };
}

/** The script's own shell: bash (or the env of its #! line) running a built-in mysql/postgresql/redis script. */
function isScriptShell(argv: string[]): boolean {
  const prog = path.basename(argv[0] ?? '');
  return (prog === 'bash' || prog === 'env') && argv.some((a) => /\/(backup|restore)-(mysql|postgresql|redis)$/.test(a));
}

/**
 * redis-cli takes its password from REDISCLI_AUTH: the one tool allowed it. Here that is its slow
 * stand-in (`sh .../tools/redis-cli`), the stand-in's own `sleep 0.3` (it runs in redis-cli's place,
 * with its environment), then the real redis-cli. Not a process that merely names redis-cli in its
 * arguments, such as timeout(1).
 */
function isRedisCli(h: Hit): boolean {
  const [prog = '', first = '', ...rest] = h.argv;
  const me = path.basename(prog);
  return h.secret === REDIS_PASSWORD && (me === 'redis-cli' || (me === 'sh' && first.endsWith('/tools/redis-cli')) || (me === 'sleep' && first === '0.3' && !rest.length));
}

/** A tool that sleeps, then runs the real one: long-lived enough to be sampled, and so is its sleep. */
function slow(sb: Sandbox, name: string, real: string): string {
  const file = path.join(sb.dir, 'tools', name);
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `#!/bin/sh\nsleep 0.3\nexec ${JSON.stringify(real)} "$@"\n`, { mode: 0o755 });
  return file;
}

describe('secrets stay with the script: /proc/*/environ sampled during a mysql + postgresql + redis run', { skip, concurrency: false }, () => {
  let my: MariaDB;
  let pg: PostgreSQL;
  let redis: RedisServer;
  let sb: Sandbox;
  let env: Record<string, string>;

  before(async () => {
    if (missing.length) throw new Error(`BATT_REQUIRE_SERVERS=1 but not installed: ${missing.join(', ')}`);
    [my, pg, redis] = (await Promise.all([startMariaDB(), startPostgreSQL(PG_PASSWORD), startRedis({ password: REDIS_PASSWORD })])) as [MariaDB, PostgreSQL, RedisServer];
    my.sql(`
      CREATE DATABASE shop;
      USE shop;
      CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(50));
      INSERT INTO t SELECT seq, CONCAT('row ', seq) FROM seq_1_to_2000;
      CREATE USER 'batt'@'127.0.0.1' IDENTIFIED BY '${MYSQL_PASSWORD}';
      GRANT ALL ON *.* TO 'batt'@'127.0.0.1';
    `);
    pg.sql('CREATE DATABASE shop');
    pg.sql("CREATE TABLE t (id int PRIMARY KEY, v text); INSERT INTO t SELECT g, 'row ' || g FROM generate_series(1, 2000) g;", 'shop');
    sb = sandbox({ builtins: true });
    const zstd = findBinary('zstd')!;
    env = {
      MYSQL: slow(sb, 'mariadb', tools!.client),
      MYSQLDUMP: slow(sb, 'mariadb-dump', tools!.dump),
      ZSTD: slow(sb, 'zstd', zstd),
      REDIS_CLI: slow(sb, 'redis-cli', findBinary('redis-cli')!),
      ...Object.fromEntries(['pg_dump', 'pg_dumpall', 'pg_restore', 'psql'].map((t) => [t.toUpperCase(), slow(sb, t, path.join(pgBin!, t))])),
    };
    fs.writeFileSync(path.join(sb.home, 'conf', 'mysql.conf'), `HOST=127.0.0.1\nPORT=${my.port}\nUSER=batt\nPASSWORD=${MYSQL_PASSWORD}\nDATABASES=shop\n`, { mode: 0o600 });
    // A target: the rsync that batt runs itself must not get a script's conf either.
    fs.mkdirSync(path.join(sb.home, 'conf', 'targets'), { mode: 0o700 });
    fs.writeFileSync(path.join(sb.home, 'conf', 'targets', 'copy.conf'), `TYPE=rsync\nPATH=${path.join(sb.dir, 'copies')}\n`, { mode: 0o600 });
    fs.writeFileSync(path.join(sb.home, 'conf', 'redis.conf'), `HOST=127.0.0.1\nPORT=${redis.port}\nPASSWORD=${REDIS_PASSWORD}\n`, { mode: 0o600 });
    fs.writeFileSync(path.join(sb.home, 'conf', 'postgresql.conf'), `HOST=127.0.0.1\nPORT=${pg.port}\nUSER=postgres\nPASSWORD=${PG_PASSWORD}\nDATABASES=shop\n`, { mode: 0o600 });
  });

  after(async () => {
    await Promise.all([my?.stop(), pg?.stop(), redis?.stop()]);
    sb?.cleanup();
  });

  test('a backup of the three, then a restore of mysql and postgresql: only the scripts\' own shells (and redis-cli) hold a password', async () => {
    const sampler = startSampler([MYSQL_PASSWORD, PG_PASSWORD, REDIS_PASSWORD]);
    try {
      const r = await batt(['mysql', 'postgresql', 'redis', '--path', sb.pattern], { home: sb.home, env });
      assert.equal(r.code, 0, r.stderr + r.stdout);
      assert.ok(listFiles(path.join(sb.dir, 'copies')).some((f) => f.endsWith('/mysql/shop.sql.zst')), 'copied by rsync');
      const m = await batt(['restore', 'mysql', '--mysql-db', 'shop', '--to', 'shop_copy', '--path', sb.pattern], { home: sb.home, env });
      assert.equal(m.code, 0, m.stderr + m.stdout);
      const p = await batt(['restore', 'postgresql', '--postgresql-db', 'shop', '--to', 'shop_copy', '--path', sb.pattern], { home: sb.home, env });
      assert.equal(p.code, 0, p.stderr + p.stdout);
    } finally {
      const { hits, sweeps } = await sampler.stop();
      // The sampler works: it saw the scripts' shells (which keep the environment they started with).
      assert.ok(sweeps > 50, `only ${sweeps} sweeps of /proc`);
      assert.ok(hits.some((h) => h.secret === MYSQL_PASSWORD && isScriptShell(h.argv)), `the mysql script was never seen: ${JSON.stringify(hits)}`);
      assert.ok(hits.some((h) => h.secret === PG_PASSWORD && isScriptShell(h.argv)), `the postgresql script was never seen: ${JSON.stringify(hits)}`);
      assert.ok(hits.some(isRedisCli), `redis-cli was never seen with its password: ${JSON.stringify(hits)}`);
      const name = (h: Hit) => (h.secret === MYSQL_PASSWORD ? 'mysql' : h.secret === PG_PASSWORD ? 'postgresql' : 'redis');
      const leaks = hits.filter((h) => !isScriptShell(h.argv) && !isRedisCli(h)).map((h) => `${name(h)} password in ${h.argv.join(' ')}`);
      assert.deepEqual(leaks, [], 'a password in the environment of a process other than its script');
    }
    assert.equal(my.sql('SELECT COUNT(*) FROM shop_copy.t').trim(), '2000');
    assert.equal(pg.sql('SELECT COUNT(*) FROM t', 'shop_copy').trim(), '2000');
  });
});
