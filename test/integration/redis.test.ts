// Redis through the built batt against real, throwaway redis-server instances (temp folder,
// free port on 127.0.0.1, requirepass): `batt redis` then `batt restore redis` into a fresh
// server's folder, and the faults backup-redis must survive (RELIABILITY 3, 13, 16).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { REQUIRE_SERVERS, batt, sandbox, type Sandbox, backupsOf } from '../helpers/batt.js';
import { startRedis, which, type RedisServer, type RespClient, type Reply } from '../helpers/redis.js';
import { checkWorkFiles, killedRestore, plantWorkFiles, thenSleep } from '../helpers/workfiles.js';

const PASSWORD = 'pw-Redis-S3cret-7a1f';
const missing = ['redis-server', 'redis-cli', 'zstd'].filter((b) => !which(b));
const skip = missing.length && !REQUIRE_SERVERS ? `not installed: ${missing.join(', ')}` : false;

function writeConf(sb: Sandbox, body: string): void {
  fs.writeFileSync(path.join(sb.home, 'conf', 'redis.conf'), body, { mode: 0o600 });
}

function logText(sb: Sandbox): string {
  const f = path.join(sb.home, 'log', 'batt.log');
  return fs.existsSync(f) ? fs.readFileSync(f, 'utf8') : '';
}

const b = (r: Reply): Buffer => {
  if (!Buffer.isBuffer(r)) throw new Error(`expected a bulk reply, got ${String(r)}`);
  return r;
};

/** Every key with its type and value, binary-safe, as one comparable map. */
async function snapshot(c: RespClient): Promise<Map<string, string>> {
  const keys = ((await c.call('KEYS', '*')) as Reply[]).map((k) => b(k).toString('latin1'));
  const types = await Promise.all(keys.map((k) => c.call('TYPE', Buffer.from(k, 'latin1'))));
  const values = await Promise.all(
    keys.map((k, i) => {
      const key = Buffer.from(k, 'latin1');
      switch (types[i]) {
        case 'string': return c.call('GET', key);
        case 'hash': return c.call('HGETALL', key);
        case 'list': return c.call('LRANGE', key, 0, -1);
        case 'set': return c.call('SMEMBERS', key);
        case 'zset': return c.call('ZRANGE', key, 0, -1, 'WITHSCORES');
        default: throw new Error(`unexpected type ${String(types[i])} of ${k}`);
      }
    }),
  );
  const out = new Map<string, string>();
  keys.forEach((k, i) => {
    const v = values[i]!;
    let items = Array.isArray(v) ? v.map((x) => b(x).toString('hex')) : [b(v).toString('hex')];
    if (types[i] === 'set') items = items.sort();
    if (types[i] === 'hash') {
      const pairs: string[] = [];
      for (let j = 0; j < items.length; j += 2) pairs.push(`${items[j]}=${items[j + 1]}`);
      items = pairs.sort();
    }
    out.set(k, `${String(types[i])}:${items.join(',')}`);
  });
  return out;
}

describe('redis: batt backup and restore against a real redis-server', { skip }, () => {
  let server: RedisServer;
  const binary = Buffer.from(Array.from({ length: 512 }, (_, i) => (i * 7) % 256));

  before(async () => {
    if (missing.length) throw new Error(`BATT_REQUIRE_SERVERS=1 but not installed: ${missing.join(', ')}`);
    server = await startRedis({ password: PASSWORD });
    const c = server.client;
    const pending: Promise<Reply>[] = [];
    for (let i = 0; i < 3000; i++) pending.push(c.send('SET', `key:${i}`, `value-${i}-${'x'.repeat(i % 50)}`));
    for (let i = 0; i < 50; i++) {
      pending.push(c.send('HSET', `hash:${i}`, 'name', `n${i}`, 'count', i, 'empty', ''));
      pending.push(c.send('RPUSH', `list:${i}`, 'a', 'b', String(i), 'a'));
      pending.push(c.send('SADD', `set:${i}`, 'x', 'y', `z${i}`));
      pending.push(c.send('ZADD', `zset:${i}`, 1, 'one', 2.5, 'two', i, 'n'));
    }
    pending.push(c.send('SET', Buffer.from([0, 1, 2, 255, 254]), binary));
    pending.push(c.send('SET', 'binary', binary));
    const replies = await Promise.all(pending);
    assert.ok(!replies.some((r) => r instanceof Error), 'test data loaded');
    assert.equal(await c.call('DBSIZE'), 3202);
  });

  after(async () => {
    await server?.stop();
  });

  test('batt redis takes a snapshot, batt restore redis --to puts it back; a fresh server loads the same data', async () => {
    const sb = sandbox({ builtins: true });
    const target = fs.mkdtempSync(path.join(os.tmpdir(), 'batt-redis-restore-'));
    let restored: RedisServer | undefined;
    try {
      writeConf(sb, `HOST=127.0.0.1\nPORT=${server.port}\nPASSWORD=${PASSWORD}\n`);
      const r = await batt(['redis', '--path', sb.pattern, '--json'], { home: sb.home });
      assert.equal(r.code, 0, r.stderr + r.stdout);
      assert.equal(JSON.parse(r.stdout).services[0].status, 'ok', 'nothing on stderr (it would be a warning)');
      const files = backupsOf(sb);
      const dump = files.find((f) => f.endsWith('/redis/dump.rdb.zst'));
      assert.ok(dump, `dump.rdb.zst in ${files.join(' ')}`);
      const manifest = files.find((f) => f.endsWith('/redis/batt-manifest.json'))!;
      assert.ok(manifest);
      // The password is nowhere batt writes or prints.
      assert.ok(!r.stdout.includes(PASSWORD) && !r.stderr.includes(PASSWORD), 'password in --json output');
      assert.ok(!fs.readFileSync(path.join(sb.root, manifest), 'utf8').includes(PASSWORD), 'password in manifest');
      assert.ok(!logText(sb).includes(PASSWORD), 'password in batt.log');
      // What was stored is a real RDB file.
      const raw = spawnSync('zstd', ['-dc', path.join(sb.root, dump)]).stdout;
      assert.equal(raw.subarray(0, 5).toString(), 'REDIS');

      const rr = await batt(['restore', 'redis', '--to', target, '--path', sb.pattern], { home: sb.home });
      assert.equal(rr.code, 0, rr.stderr + rr.stdout);
      assert.deepEqual(fs.readdirSync(target), ['dump.rdb']);
      assert.ok(fs.readFileSync(path.join(target, 'dump.rdb')).equals(raw), 'restored file = snapshot');

      // A second restore into the same folder refuses (exit 3 from the script), file untouched.
      fs.appendFileSync(path.join(target, 'dump.rdb'), 'MARK');
      const again = await batt(['restore', 'redis', '--to', target, '--path', sb.pattern], { home: sb.home });
      assert.notEqual(again.code, 0);
      assert.match(again.stderr, /refused|--force/);
      assert.ok(fs.readFileSync(path.join(target, 'dump.rdb')).subarray(-4).equals(Buffer.from('MARK')));
      const forced = await batt(['restore', 'redis', '--to', target, '--force', '--path', sb.pattern], { home: sb.home });
      assert.equal(forced.code, 0, forced.stderr);
      assert.ok(fs.readFileSync(path.join(target, 'dump.rdb')).equals(raw), 'forced restore replaced the file');

      // Run as root, the restored file gets the data folder's owner (redis:redis on Debian).
      if (process.getuid?.() === 0) {
        const owned = fs.mkdtempSync(path.join(os.tmpdir(), 'batt-redis-owned-'));
        try {
          fs.chownSync(owned, 65534, 65534);
          const o = await batt(['restore', 'redis', '--to', owned, '--path', sb.pattern], { home: sb.home });
          assert.equal(o.code, 0, o.stderr);
          const st = fs.statSync(path.join(owned, 'dump.rdb'));
          assert.deepEqual([st.uid, st.gid, st.mode & 0o777], [65534, 65534, 0o660]);
          assert.deepEqual(fs.readdirSync(owned), ['dump.rdb'], 'no temp file left');
        } finally {
          fs.rmSync(owned, { recursive: true, force: true });
        }
      }

      // Into the folder of a running server: refused even with --force, nothing written.
      const live = await batt(['restore', 'redis', '--to', server.dir, '--force', '--path', sb.pattern], { home: sb.home });
      assert.notEqual(live.code, 0);
      assert.match(live.stderr, /is running in/);
      assert.ok(!fs.existsSync(path.join(server.dir, 'dump.rdb')), 'nothing restored under a live server');

      restored = await startRedis({ dir: target });
      const [want, got] = await Promise.all([snapshot(server.client), snapshot(restored.client)]);
      assert.equal(got.size, 3202);
      assert.deepEqual(got, want);
      assert.ok(b(await restored.client.call('GET', 'binary')).equals(binary), 'binary value intact');
    } finally {
      await restored?.stop();
      fs.rmSync(target, { recursive: true, force: true });
      sb.cleanup();
    }
  });

  describe('the file a restore decompresses beside dump.rdb (.batt-restore-redis.PID-START.XXXXXX)', () => {
    let sb: Sandbox;
    let raw: Buffer;
    const targets: string[] = [];
    const fresh = () => {
      const d = fs.mkdtempSync(path.join(os.tmpdir(), 'batt-redis-killed-'));
      targets.push(d);
      return d;
    };
    before(async () => {
      sb = sandbox({ builtins: true });
      writeConf(sb, `HOST=127.0.0.1\nPORT=${server.port}\nPASSWORD=${PASSWORD}\n`);
      const r = await batt(['redis', '--path', sb.pattern], { home: sb.home });
      assert.equal(r.code, 0, r.stderr + r.stdout);
      raw = spawnSync('zstd', ['-dc', path.join(sb.root, backupsOf(sb).find((f) => f.endsWith('/redis/dump.rdb.zst'))!)]).stdout;
    });
    after(() => {
      for (const d of targets) fs.rmSync(d, { recursive: true, force: true });
      sb?.cleanup();
    });

    // Killed while each tool works on the file: it is left whole, and the next restore removes it.
    const cases: [string, 'ZSTD' | 'REDIS_CHECK_RDB', string][] = [
      ['while decompressing', 'ZSTD', 'zstd'],
      ['while redis-check-rdb reads it', 'REDIS_CHECK_RDB', 'redis-check-rdb'],
    ];
    for (const [when, variable, tool] of cases) {
      test(`SIGKILL of batt's process group ${when}: the file is left; the next restore removes it, says so, and succeeds`, async () => {
        const target = fresh();
        const pidFile = path.join(sb.dir, `${tool}.pid`);
        const left = await killedRestore(['restore', 'redis', '--to', target, '--path', sb.pattern], {
          home: sb.home,
          env: { [variable]: thenSleep(sb.dir, `slow-${tool}`, tool, pidFile) },
          dir: target,
          kind: 'redis',
          ready: () => fs.existsSync(pidFile),
        });
        assert.equal(left.length, 1, `what the killed restore left: ${fs.readdirSync(target).join(' ')}`);
        assert.deepEqual(fs.readdirSync(target), left, 'no dump.rdb: the restore never got that far');
        assert.ok(fs.readFileSync(path.join(target, left[0]!)).equals(raw), 'a whole copy of the data is left');
        const r = await batt(['restore', 'redis', '--to', target, '--path', sb.pattern], { home: sb.home });
        assert.equal(r.code, 0, r.stderr + r.stdout);
        assert.ok((r.stdout + r.stderr + logText(sb)).includes(`removed ${path.join(target, left[0]!)}, left by a restore that was killed`), r.stdout + r.stderr);
        assert.deepEqual(fs.readdirSync(target), ['dump.rdb']);
        assert.ok(fs.readFileSync(path.join(target, 'dump.rdb')).equals(raw), 'restored file = snapshot');
      });
    }

    test('only the files of dead restores are removed: not a live restore\'s, a symlink, a folder, the old .batt-restore-XXXXXX or a near miss', async () => {
      const target = fresh();
      const planted = plantWorkFiles(target, 'redis');
      const r = await batt(['restore', 'redis', '--to', target, '--path', sb.pattern], { home: sb.home });
      assert.equal(r.code, 0, r.stderr + r.stdout);
      checkWorkFiles(planted, r.stdout + r.stderr + logText(sb));
      assert.deepEqual(fs.readdirSync(target), ['dump.rdb']);
    });
  });

  test('a relative --to is taken from the folder batt was run in, not the script\'s scratch folder', async (t) => {
    const sb = sandbox({ builtins: true });
    try {
      writeConf(sb, `HOST=127.0.0.1\nPORT=${server.port}\nPASSWORD=${PASSWORD}\n`);
      const r = await batt(['redis', '--path', sb.pattern], { home: sb.home });
      assert.equal(r.code, 0, r.stderr + r.stdout);
      const dump = backupsOf(sb).find((f) => f.endsWith('/redis/dump.rdb.zst'))!;
      assert.ok(dump);
      const raw = spawnSync('zstd', ['-dc', path.join(sb.root, dump)]).stdout;
      const caller = path.join(sb.dir, 'caller');
      fs.mkdirSync(path.join(caller, 'data'), { recursive: true });
      fs.mkdirSync(path.join(sb.dir, 'up'));
      const restore = (to: string, extra: string[] = []) =>
        // A stray BATT_CWD of the caller must not count: batt sets its own.
        batt(['restore', 'redis', '--to', to, ...extra, '--path', sb.pattern], {
          home: sb.home,
          cwd: caller,
          env: { BATT_CWD: path.join(sb.dir, 'elsewhere') },
        });
      const cases: [string, string, string][] = [
        ['a folder name', 'data', path.join(caller, 'data')],
        ['./ and a trailing /', './data/', path.join(caller, 'data')],
        ['. (the folder itself)', '.', caller],
        ['.. out of the caller folder', '../up', path.join(sb.dir, 'up')],
      ];
      for (const [name, to, lands] of cases) {
        await t.test(name, async () => {
          const rr = await restore(to);
          assert.equal(rr.code, 0, rr.stderr + rr.stdout);
          assert.deepEqual(fs.readdirSync(lands).filter((f) => f !== 'data'), ['dump.rdb']);
          assert.ok(fs.readFileSync(path.join(lands, 'dump.rdb')).equals(raw), 'restored file = snapshot');
          fs.rmSync(path.join(lands, 'dump.rdb'));
        });
      }
      assert.deepEqual(fs.readdirSync(caller), ['data'], 'nothing but the targets was written');
      assert.deepEqual(fs.readdirSync(path.join(caller, 'data')), []);
      assert.ok(!fs.existsSync(path.join(sb.dir, 'elsewhere')));

      await t.test('the checks apply to the resolved path', async () => {
        const target = path.join(caller, 'data', 'dump.rdb');
        fs.writeFileSync(target, 'keep me');
        const refused = await restore('data');
        assert.notEqual(refused.code, 0);
        assert.ok(refused.stderr.includes(`${target} exists`), refused.stderr);
        assert.equal(fs.readFileSync(target, 'utf8'), 'keep me');
        const forced = await restore('data', ['--force']);
        assert.equal(forced.code, 0, forced.stderr);
        assert.ok(fs.readFileSync(target).equals(raw));
        const notDir = await restore('nope');
        assert.notEqual(notDir.code, 0);
        assert.ok(notDir.stderr.includes(`${path.join(caller, 'nope')} is not a folder`), notDir.stderr);
        // The folder of a running server, named relative to the caller: refused even with --force.
        const live = await restore(path.relative(caller, server.dir), ['--force']);
        assert.notEqual(live.code, 0);
        assert.match(live.stderr, /is running in/);
        assert.ok(!fs.existsSync(path.join(server.dir, 'dump.rdb')), 'nothing restored under a live server');
      });

      await t.test('RESTORE_DIR in the conf must be absolute; an absolute one is used without --to', async () => {
        fs.rmSync(path.join(caller, 'data', 'dump.rdb'), { force: true });
        writeConf(sb, 'RESTORE_DIR=data\n');
        const rel = await batt(['restore', 'redis', '--path', sb.pattern], { home: sb.home, cwd: caller });
        assert.notEqual(rel.code, 0);
        const conf = path.join(sb.home, 'conf', 'redis.conf');
        assert.ok(rel.stderr.includes(`restore-redis: 'data' in RESTORE_DIR of ${conf} is not an absolute path (a conf has no folder to be relative to)`), rel.stderr);
        assert.deepEqual(fs.readdirSync(path.join(caller, 'data')), []);
        writeConf(sb, `RESTORE_DIR=${path.join(caller, 'data')}\n`);
        const abs = await batt(['restore', 'redis', '--path', sb.pattern], { home: sb.home, cwd: sb.dir });
        assert.equal(abs.code, 0, abs.stderr);
        assert.ok(fs.readFileSync(path.join(caller, 'data', 'dump.rdb')).equals(raw));
        fs.rmSync(path.join(caller, 'data', 'dump.rdb'));
      });

      await t.test('run without batt (no BATT_CWD), the script refuses a relative --to and writes nothing', () => {
        const script = path.join(sb.home, 'scripts-available', 'restore-redis');
        const base = { PATH: process.env.PATH ?? '/usr/bin:/bin', BATT_BACKUP: path.dirname(path.join(sb.root, dump)), BATT_RESTORE_TO: 'data' };
        for (const env of [base, { ...base, BATT_CWD: '' }, { ...base, BATT_CWD: 'caller' }]) {
          const s = spawnSync(script, [], { cwd: caller, env, encoding: 'utf8' });
          assert.equal(s.status, 2, s.stderr);
          assert.match(s.stderr, /^restore-redis: --to must be an absolute path, got 'data' \(a relative one needs BATT_CWD, which batt restore sets\)\n$/);
          assert.deepEqual(fs.readdirSync(path.join(caller, 'data')), []);
        }
      });
    } finally {
      sb.cleanup();
    }
  });

  test('a wrong password fails the backup: non-zero exit, no folder, no password in log or output', async () => {
    const sb = sandbox({ builtins: true });
    try {
      const wrong = 'not-the-Password-9c2e';
      writeConf(sb, `PORT=${server.port}\nPASSWORD=${wrong}\n`);
      // An old snapshot in the server's folder must not be taken for a new one.
      fs.writeFileSync(path.join(server.dir, 'dump.rdb'), 'REDIS0010 an old snapshot');
      const r = await batt(['redis', '--path', sb.pattern, '--json'], { home: sb.home });
      assert.notEqual(r.code, 0);
      assert.deepEqual(backupsOf(sb), []);
      assert.ok(!(r.stdout + r.stderr).includes(wrong), 'password in output');
      const log = logText(sb);
      assert.match(log, /redis-cli --rdb failed/);
      assert.ok(!log.includes(wrong), 'password in batt.log');
      const json = JSON.parse(r.stdout) as { ok: boolean };
      assert.equal(json.ok, false);
    } finally {
      fs.rmSync(path.join(server.dir, 'dump.rdb'), { force: true });
      sb.cleanup();
    }
  });

  test('check mode: doctor PINGs the server with the conf\'s password and says what is wrong', async () => {
    const sb = sandbox({ builtins: true });
    try {
      const wrong = 'not-the-Password-9c2e';
      assert.equal((await batt(['enable', 'redis'], { home: sb.home })).code, 0);
      writeConf(sb, `PORT=${server.port}\nPASSWORD=${wrong}\n`);
      let d = await batt(['doctor', '--path', sb.pattern], { home: sb.home });
      assert.equal(d.code, 1);
      assert.match(d.stdout, /^FAIL +redis +backup-redis: 127\.0\.0\.1:\d+ does not answer PING: .*(WRONGPASS|invalid)/m);
      assert.ok(!(d.stdout + d.stderr).includes(wrong));
      writeConf(sb, `PORT=${server.port}\nPASSWORD=${PASSWORD}\n`);
      d = await batt(['doctor', '--path', sb.pattern], { home: sb.home });
      assert.match(d.stdout, /^ok +redis +check mode: ok$/m);
      assert.deepEqual(backupsOf(sb), []);
    } finally {
      sb.cleanup();
    }
  });

  test('the password reaches redis-cli only through REDISCLI_AUTH, never its argv', async () => {
    const sb = sandbox({ builtins: true });
    try {
      const seen = path.join(sb.dir, 'seen');
      // A wrapper around the real redis-cli that records what it was given.
      const wrapper = path.join(sb.dir, 'redis-cli-wrapper');
      fs.writeFileSync(
        wrapper,
        `#!/usr/bin/env bash\nprintf '%s\\n' "$@" >"${seen}.argv"\nprintf '%s' "\${REDISCLI_AUTH:-}" >"${seen}.env"\nexec redis-cli "$@"\n`,
        { mode: 0o755 },
      );
      writeConf(sb, `PORT=${server.port}\nPASSWORD=${PASSWORD}\n`);
      const r = await batt(['redis', '--path', sb.pattern], { home: sb.home, env: { REDIS_CLI: wrapper } });
      assert.equal(r.code, 0, r.stderr);
      assert.ok(!fs.readFileSync(`${seen}.argv`, 'utf8').includes(PASSWORD), 'password in argv');
      assert.match(fs.readFileSync(`${seen}.argv`, 'utf8'), /--rdb/);
      assert.equal(fs.readFileSync(`${seen}.env`, 'utf8'), PASSWORD);
    } finally {
      sb.cleanup();
    }
  });

  test('--redis-socket with PASSWORD from conf: snapshot over a unix socket; the password is absent from manifest, log and --json; --redis-password is refused', async () => {
    const sb = sandbox({ builtins: true });
    const pw = 'Sock-Pass-4d8e';
    let sockServer: RedisServer | undefined;
    try {
      const socket = path.join(sb.dir, 'redis.sock');
      sockServer = await startRedis({ password: pw, socket });
      await sockServer.client.call('SET', 'via', 'socket');
      // A password on batt's command line would be visible in ps: batt refuses it before running anything.
      const refused = await batt(['redis', '--path', sb.pattern, '--redis-socket', socket, '--redis-password', pw], { home: sb.home });
      assert.equal(refused.code, 2, refused.stderr);
      assert.match(refused.stderr, /refusing --redis-password: a secret on the command line/);
      assert.equal(backupsOf(sb).length, 0, 'nothing ran');
      fs.writeFileSync(path.join(sb.home, 'conf', 'redis.conf'), `PASSWORD='${pw}'\n`, { mode: 0o600 });
      const r = await batt(['redis', '--path', sb.pattern, '--redis-socket', socket, '--json'], { home: sb.home });
      assert.equal(r.code, 0, r.stderr + r.stdout);
      const files = backupsOf(sb);
      const dump = files.find((f) => f.endsWith('/redis/dump.rdb.zst'))!;
      assert.ok(dump, files.join(' '));
      const raw = spawnSync('zstd', ['-dc', path.join(sb.root, dump)]).stdout;
      assert.ok(raw.includes(Buffer.from('socket')), 'the snapshot holds the key written over the socket');
      assert.ok(!r.stdout.includes(pw) && !r.stderr.includes(pw), 'password in --json output');
      assert.ok(!logText(sb).includes(pw), 'password in batt.log');
      for (const m of files.filter((f) => f.endsWith('batt-manifest.json'))) {
        assert.ok(!fs.readFileSync(path.join(sb.root, m), 'utf8').includes(pw), 'password in the manifest');
      }
      // A relative --redis-socket is taken from the folder batt was run in, not the staging folder.
      fs.rmSync(sb.root, { recursive: true, force: true });
      const rel = await batt(['redis', '--path', sb.pattern, '--redis-socket', 'redis.sock'], { home: sb.home, cwd: sb.dir });
      assert.equal(rel.code, 0, rel.stderr + rel.stdout);
      assert.ok(backupsOf(sb).some((f) => f.endsWith('/redis/dump.rdb.zst')), backupsOf(sb).join(' '));
      // A relative SOCKET in the conf has no folder to be relative to: refused, nothing kept.
      fs.rmSync(sb.root, { recursive: true, force: true });
      const conf = path.join(sb.home, 'conf', 'redis.conf');
      fs.writeFileSync(conf, `PASSWORD='${pw}'\nSOCKET=redis.sock\n`, { mode: 0o600 });
      const relConf = await batt(['redis', '--path', sb.pattern], { home: sb.home, cwd: sb.dir });
      assert.equal(relConf.code, 1);
      assert.ok(relConf.stderr.includes(`backup-redis: 'redis.sock' in SOCKET of ${conf} is not an absolute path (a conf has no folder to be relative to)`), relConf.stderr);
      assert.deepEqual(backupsOf(sb), []);
      fs.writeFileSync(conf, `PASSWORD='${pw}'\n`, { mode: 0o600 });
      // Socket and host together are refused.
      const both = await batt(['redis', '--path', sb.pattern, '--redis-socket', socket, '--redis-port', '1'], { home: sb.home });
      assert.notEqual(both.code, 0);
      assert.match(logText(sb), /either a socket or a host\/port/);
    } finally {
      await sockServer?.stop();
      sb.cleanup();
    }
  });

  test('a server that dies mid-transfer, or never finishes the snapshot, fails the backup and leaves nothing', async () => {
    // A stand-in server on 127.0.0.1 that speaks just enough of the replication protocol to
    // announce a 100000-byte snapshot, sends 5000 bytes of it, then drops the connection.
    let connections = 0;
    const stalled: net.Socket[] = [];
    const fake = net.createServer((s) => {
      let buf = '';
      s.on('error', () => {});
      s.on('data', (d) => {
        buf += d.toString('latin1');
        for (;;) {
          const m = /^(\*\d+\r\n(?:\$\d+\r\n[^\r]*\r\n)+?(?=\*|$)|[A-Za-z][^\r\n]*\r\n)/.exec(buf);
          if (!m) break;
          buf = buf.slice(m[0].length);
          if (/^SYNC\r\n/i.test(m[0]) || /\$4\r\nSYNC\r\n/i.test(m[0])) {
            s.write(`$100000\r\nREDIS0010${'x'.repeat(5000)}`);
            // First connection: drop it (a server that dies); later ones: stall forever.
            if (connections++ === 0) setTimeout(() => s.destroy(), 100);
            else stalled.push(s);
          } else s.write('+OK\r\n');
        }
      });
    });
    await new Promise<void>((resolve) => fake.listen(0, '127.0.0.1', resolve));
    const port = (fake.address() as net.AddressInfo).port;
    const sb = sandbox({ builtins: true });
    try {
      const r = await batt(['redis', '--path', sb.pattern, '--redis-port', String(port)], { home: sb.home });
      assert.notEqual(r.code, 0);
      assert.deepEqual(backupsOf(sb), []);
      assert.match(logText(sb), /redis-cli --rdb failed/);
      // A snapshot that never finishes: stopped after --redis-timeout, the backup fails.
      const slow = await batt(['redis', '--path', sb.pattern, '--redis-port', String(port), '--redis-timeout', '2'], { home: sb.home });
      assert.notEqual(slow.code, 0);
      assert.deepEqual(backupsOf(sb), []);
      assert.match(logText(sb), /did not finish within 2s/);
    } finally {
      for (const s of stalled) s.destroy();
      fake.close();
      sb.cleanup();
    }
  });

  test('a redis-cli that exits 0 without a valid snapshot fails the backup', async () => {
    const sb = sandbox({ builtins: true });
    try {
      const cases: [string, RegExp][] = [
        ['exit 0', /wrote no snapshot/],
        [': >.dump.rdb.partial', /snapshot is empty/],
        ['echo "not a redis file" >.dump.rdb.partial', /REDIS magic/],
        ['printf "REDIS0010 cut short" >.dump.rdb.partial', /redis-check-rdb rejects/],
        ['printf "REDIS0099 from the future" >.dump.rdb.partial', /newer than .* --redis-check no/],
      ];
      for (const [i, [body, why]] of cases.entries()) {
        const fakeCli = path.join(sb.dir, `fake-redis-cli-${i}`);
        fs.writeFileSync(fakeCli, `#!/usr/bin/env bash\n${body}\n`, { mode: 0o755 });
        const r = await batt(['redis', '--path', sb.pattern, '--redis-port', '1'], { home: sb.home, env: { REDIS_CLI: fakeCli } });
        assert.notEqual(r.code, 0, body);
        assert.deepEqual(backupsOf(sb), [], body);
        assert.match(logText(sb), why, `${body}: ${r.stderr}`);
      }
      // --redis-check no: a snapshot redis-check-rdb cannot read is kept on its magic alone.
      const future = path.join(sb.dir, 'fake-redis-cli-future');
      fs.writeFileSync(future, '#!/usr/bin/env bash\nprintf "REDIS0099 from the future" >.dump.rdb.partial\n', { mode: 0o755 });
      const r = await batt(['redis', '--path', sb.pattern, '--redis-port', '1', '--redis-check', 'no'], { home: sb.home, env: { REDIS_CLI: future } });
      assert.equal(r.code, 0, r.stderr);
      assert.ok(backupsOf(sb).some((f) => f.endsWith('/redis/dump.rdb.zst')));
    } finally {
      sb.cleanup();
    }
  });
});
