// Paths in the built-in services' confs and options: a script runs in its staging folder
// (backup) or a scratch folder (restore), where a relative path names nothing. A relative path
// in a conf is refused before anything runs, with the words backup-file uses for PATHS, and
// `batt config check` reports the same keys; a relative path in an option (--mysql-socket,
// --redis-socket) is taken relative to the folder batt was run from, as --file is.
// The database tools are stand-ins (MYSQL, MYSQLDUMP, REDIS_CLI...): a refusal must not start any.
import { describe, test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { batt, backupsOf, readText, sandbox, type Sandbox } from '../helpers/batt.js';
import { mysqlStandIn, mysqldumpStandIn } from '../helpers/standins.js';
import { BUILTIN_SERVICE_KEYS, isPathKey } from '../../src/config/confkeys.js';

/** One conf key of a built-in service that names a path, and what refusing it looks like. */
interface Case {
  service: keyof typeof BUILTIN_SERVICE_KEYS;
  key: string;
  value: string;
  /** the relative word the script and the check name */
  bad: string;
  /** the scripts that read the key: each refuses it */
  scripts: ('backup' | 'restore')[];
  /** what config check says after "KEY " */
  check: string;
}
const cases: Case[] = [
  { service: 'mysql', key: 'SOCKET', value: 'run/mysqld.sock', bad: 'run/mysqld.sock', scripts: ['backup', 'restore'], check: 'must be an absolute path, got "run/mysqld.sock"' },
  { service: 'mysql', key: 'DATADIR', value: 'var/lib/mysql', bad: 'var/lib/mysql', scripts: ['backup', 'restore'], check: 'must be an absolute path, got "var/lib/mysql"' },
  { service: 'mysql', key: 'DEFAULTS_FILE', value: 'debian.cnf', bad: 'debian.cnf', scripts: ['backup', 'restore'], check: 'must be an absolute path, got "debian.cnf"' },
  { service: 'redis', key: 'SOCKET', value: './redis.sock', bad: './redis.sock', scripts: ['backup'], check: 'must be an absolute path, got "./redis.sock"' },
  { service: 'redis', key: 'RESTORE_DIR', value: 'data', bad: 'data', scripts: ['restore'], check: 'must be an absolute path, got "data"' },
  { service: 'file', key: 'PATHS', value: '/etc www', bad: 'www', scripts: ['backup'], check: 'must be absolute paths, got "www"' },
  { service: 'sqlite', key: 'DATABASES', value: '"/srv/a.db app.db"', bad: 'app.db', scripts: ['backup'], check: 'must be absolute paths, got "app.db"' },
  { service: 'system', key: 'DISKS', value: '"/dev/sda sdb"', bad: 'sdb', scripts: ['backup'], check: 'must be absolute paths, got "sdb"' },
];

describe('relative paths in the built-in services\' confs and options', { concurrency: false }, () => {
  let sb: Sandbox;
  let caller: string;
  /** tools that work (and record what they were given) */
  let working: Record<string, string>;
  /** every tool pointed at a stand-in that records that it ran and fails */
  let never: Record<string, string>;
  const ranLog = () => path.join(sb.dir, 'ran.log');
  const callsLog = () => path.join(sb.dir, 'calls.log');
  const confFile = (service: string) => path.join(sb.home, 'conf', `${service}.conf`);
  const writeConf = (service: string, text: string) => fs.writeFileSync(confFile(service), text, { mode: 0o600 });
  const tool = (name: string, body: string) => {
    const f = path.join(sb.dir, name);
    fs.writeFileSync(f, `#!/usr/bin/env bash\n${body}\n`, { mode: 0o755 });
    return f;
  };
  const run = (args: string[], env: Record<string, string>) => batt([...args, '--path', sb.pattern], { home: sb.home, env, cwd: caller });

  before(async () => {
    sb = sandbox({ builtins: true });
    caller = path.join(sb.dir, 'caller');
    fs.mkdirSync(path.join(caller, 'data'), { recursive: true });
    const calls = JSON.stringify(callsLog());
    // The mysql client and dump record the socket line of their option file (first argument).
    const socketLine = `cnf=\${1#--defaults-file=}; printf '%s %s\\n' "$(basename "$0")" "$(grep '^socket=' "$cnf" || echo socket=-)" >>${calls}`;
    working = {
      MYSQL: tool('mysql-ok', mysqlStandIn(socketLine)),
      MYSQLDUMP: tool('mysqldump-ok', mysqldumpStandIn(socketLine)),
      REDIS_CLI: tool(
        'redis-cli-ok',
        `printf 'redis-cli' >>${calls}; printf ' %s' "$@" >>${calls}; echo >>${calls}
prev=; for a in "$@"; do [ "$prev" = --rdb ] && printf 'REDIS0011 stand-in' >"$a"; prev=$a; done`,
      ),
      REDIS_CHECK_RDB: 'true',
    };
    const stop = tool('never', `echo "$0 $*" >>${JSON.stringify(ranLog())}\nexit 1`);
    never = Object.fromEntries(['MYSQL', 'MYSQLDUMP', 'REDIS_CLI', 'REDIS_CHECK_RDB', 'ZSTD', 'TAR', 'SQLITE3'].map((k) => [k, stop]));
    // One backup of each service a restore case needs, made with the working stand-ins.
    for (const service of ['mysql', 'redis']) {
      const r = await run([service], working);
      assert.equal(r.code, 0, r.stderr + r.stdout);
    }
    fs.rmSync(callsLog(), { force: true });
  });
  after(() => sb?.cleanup());
  // Each test starts without service confs, whatever a failed one left.
  beforeEach(() => {
    for (const f of fs.readdirSync(path.join(sb.home, 'conf'))) if (f.endsWith('.conf')) fs.rmSync(path.join(sb.home, 'conf', f));
  });

  test('every path key of a built-in service has a case here (OS_USER and the like are no paths)', () => {
    for (const [service, keys] of Object.entries(BUILTIN_SERVICE_KEYS)) {
      const paths = Object.entries(keys as Record<string, Parameters<typeof isPathKey>[0]>).filter(([, spec]) => isPathKey(spec)).map(([k]) => k);
      assert.deepEqual(cases.filter((c) => c.service === service).map((c) => c.key).sort(), paths.sort(), service);
    }
  });

  for (const c of cases) {
    for (const kind of c.scripts) {
      test(`${kind}-${c.service} refuses a relative ${c.key} in the conf before any tool runs; nothing is kept`, async () => {
        writeConf(c.service, `${c.key}=${c.value}\n`);
        const before = backupsOf(sb);
        fs.rmSync(ranLog(), { force: true });
        fs.rmSync(path.join(sb.home, 'log', 'batt.log'), { force: true });
        const r = await run(kind === 'backup' ? [c.service] : ['restore', c.service], never);
        assert.notEqual(r.code, 0, r.stdout);
        const line = `${kind}-${c.service}: '${c.bad}' in ${c.key} of ${confFile(c.service)} is not an absolute path (a conf has no folder to be relative to)`;
        assert.ok((r.stderr + r.stdout).includes(line), `${line}\nnot in:\n${r.stderr}${r.stdout}`);
        // one line on the script's stderr, as batt.log shows it ("! " marks stderr)
        const said = readText(path.join(sb.home, 'log', 'batt.log'))
          .split('\n')
          .filter((l) => l.includes(': ! '))
          .map((l) => l.replace(/^\S+ \[\d+\] /, ''));
        assert.deepEqual(said, [`${kind === 'backup' ? '' : 'restore '}${c.service}: ! ${line}`]);
        assert.equal(readText(ranLog()), '', 'no tool ran');
        assert.deepEqual(backupsOf(sb), before, 'no backup kept, none changed');
        assert.deepEqual(fs.readdirSync(path.join(caller, 'data')), [], 'nothing restored');
        fs.rmSync(confFile(c.service));
      });
    }
    test(`batt config check: ${c.service}.conf ${c.key} ${c.check}; an absolute one passes`, async () => {
      writeConf(c.service, `USER=x\n${c.key}=${c.value}\n`);
      const r = await batt(['config', 'check'], { home: sb.home });
      assert.equal(r.code, 3, r.stdout + r.stderr);
      assert.ok(r.stderr.includes(`${confFile(c.service)}:2: ${c.key} ${c.check}\n`), r.stderr);
      writeConf(c.service, `${c.key}=${c.value.replace(c.bad, `/abs/${c.bad}`)}\n`);
      const ok = await batt(['config', 'check'], { home: sb.home });
      assert.equal(ok.code, 0, ok.stdout + ok.stderr);
      fs.rmSync(confFile(c.service));
    });
  }

  test('a path key of another service is free: config check leaves a custom service\'s SOCKET alone', async () => {
    fs.writeFileSync(path.join(sb.home, 'scripts-available', 'backup-custom'), '#!/bin/sh\n', { mode: 0o755 });
    writeConf('custom', 'SOCKET=relative.sock\nDEFAULTS_FILE=x.cnf\n');
    const r = await batt(['config', 'check'], { home: sb.home });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    fs.rmSync(confFile('custom'));
    fs.rmSync(path.join(sb.home, 'scripts-available', 'backup-custom'));
  });

  test('a relative --mysql-socket is taken from the folder batt was run in (backup and restore); the conf\'s is not used', async () => {
    writeConf('mysql', 'SOCKET=/conf/mysqld.sock\n');
    const want = `socket="${path.join(caller, 'run/mysqld.sock')}"`;
    for (const [args, tools] of [
      [['mysql', '--mysql-socket', 'run/mysqld.sock'], ['mysql-ok', 'mysqldump-ok']],
      [['restore', 'mysql', '--mysql-socket', './run/mysqld.sock', '--force'], ['mysql-ok']],
    ] as const) {
      fs.rmSync(callsLog(), { force: true });
      const r = await run([...args], working);
      assert.equal(r.code, 0, r.stderr + r.stdout);
      const calls = readText(callsLog()).trim().split('\n');
      assert.deepEqual([...new Set(calls.map((l) => l.split(' ')[0]))].sort(), [...tools].sort(), calls.join('\n'));
      for (const l of calls) assert.equal(l.split(' ')[1], want, l);
    }
    fs.rmSync(confFile('mysql'));
  });

  test('a relative --redis-socket is taken from the folder batt was run in', async () => {
    fs.rmSync(callsLog(), { force: true });
    const r = await run(['redis', '--redis-socket', 'redis.sock'], working);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(readText(callsLog()), new RegExp(`^redis-cli -s ${path.join(caller, 'redis.sock')} --rdb `));
  });

  test('run by hand without BATT_CWD (or with batt\'s empty one: its folder was removed), a relative socket option is refused', () => {
    const dest = path.join(sb.dir, 'dest');
    fs.mkdirSync(dest, { recursive: true });
    const backup = path.dirname(path.join(sb.root, backupsOf(sb).find((f) => f.endsWith('/shop.sql.zst'))!));
    const scripts: [string, string, Record<string, string>][] = [
      ['backup-mysql', '--mysql-socket', { BATT_DEST: dest }],
      ['restore-mysql', '--mysql-socket', { BATT_BACKUP: backup }],
      ['backup-redis', '--redis-socket', { BATT_DEST: dest }],
    ];
    for (const [script, option, base] of scripts) {
      const sets = script.startsWith('restore') ? 'batt restore sets' : 'batt sets';
      const tries: [Record<string, string>, string][] = [
        [{}, `a relative one needs BATT_CWD, which ${sets}`],
        [{ BATT_CWD: 'caller' }, `a relative one needs BATT_CWD, which ${sets}`],
        [{ BATT_CWD: '' }, 'the folder batt was run from no longer exists'],
      ];
      for (const [env, why] of tries) {
        fs.rmSync(ranLog(), { force: true });
        const s = spawnSync(path.join(sb.home, 'scripts-available', script), [], {
          cwd: caller,
          env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...never, ...base, ...env, BATT_OPT_SOCKET: 'x.sock' },
          encoding: 'utf8',
        });
        assert.notEqual(s.status, 0, `${script} ${JSON.stringify(env)}`);
        assert.equal(s.stderr, `${script}: ${option} 'x.sock' is not an absolute path (${why})\n`);
        assert.equal(readText(ranLog()), '', 'no tool ran');
        assert.deepEqual(fs.readdirSync(dest), []);
      }
    }
  });
});
