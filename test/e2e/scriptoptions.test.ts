// Options of the built-in scripts: `--<service>-<key>` reaches a script as BATT_OPT_<KEY>, and a
// key the script does not read would be ignored without a word (`--mysql-sokcet /run/x.sock`
// backs up whatever the default socket serves). Every built-in script refuses such an option
// before any tool starts, with one line naming the option as typed and the known ones: backup
// scripts exit 1, restore scripts 2 (bad input). The database tools are stand-ins that record
// their argv; the known lists are checked against what each script reads. Other bad input of the
// restore scripts (a port that is not a number, an ambiguous name, ...) exits 2 the same way.
// couchdb's good runs need a server that speaks CouchDB's HTTP API: pouchdb-server from npm
// (test/helpers/couchdb.ts; CouchDB is not packaged in Debian 12), with the real curl and jq.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { REPO, batt, backupsOf, readText, sandbox, type Sandbox } from '../helpers/batt.js';
import { mysqlStandIn, mysqldumpStandIn } from '../helpers/standins.js';
import { startCouch, type Couch } from '../helpers/couchdb.js';
import { execFileSync } from 'node:child_process';

const SERVICES = ['file', 'mysql', 'postgresql', 'redis', 'sqlite', 'mongodb', 'couchdb', 'system'] as const;
/** Built-in services without a restore script, on purpose (docs/services/system.md says why). */
const BACKUP_ONLY: readonly string[] = ['system'];
type Service = (typeof SERVICES)[number];
type Kind = 'backup' | 'restore';

/** One built-in script: a typo it refuses, the keys it knows, and a run with known options that works. */
interface Case {
  service: Service;
  kind: Kind;
  /** keys as the refusal lists them, in its order */
  known: string;
  /** a mistyped option and its value */
  typo: [string, string];
  /** arguments the typo is given with (a path, a target folder) */
  base: (w: World) => string[];
  /** a run with known options that must still work (all its arguments) */
  good: (w: World) => string[];
  /** what shows that the known options took effect */
  took: (w: World) => void;
}

interface World {
  caller: string;
  tree: string;
  db: string;
  calls: () => string;
  couch: Couch;
}

const cases: Case[] = [
  {
    service: 'file', kind: 'backup', known: 'compress, level, exclude, one-file-system, full-every, snapshot, snapshot-size',
    typo: ['--file-exlude', '*.log'],
    base: (w) => ['--file', w.tree],
    good: (w) => ['--file', w.tree, '--file-exclude', '*.log', '--file-level', '5'],
    took: () => {},
  },
  {
    service: 'file', kind: 'restore', known: 'owners, devices',
    typo: ['--file-owner', 'keep'],
    base: () => ['--to', 'data'],
    good: () => ['--to', 'known-file', '--file-owners', 'no'],
    took: (w) => assert.ok(fs.existsSync(path.join(w.caller, 'known-file', w.tree.slice(1), 'f.txt'))),
  },
  {
    service: 'mysql', kind: 'backup', known: 'db, exclude, system-db, lock, compress, level, host, port, socket, user, method, datadir, jobs',
    typo: ['--mysql-sokcet', '/run/x.sock'],
    base: () => [],
    good: () => ['--mysql-db', 'shop', '--mysql-socket', '/run/good.sock', '--mysql-lock', 'none'],
    took: (w) => assert.match(w.calls(), /^mysqldump socket="\/run\/good.sock" .*--skip-lock-tables/m),
  },
  {
    service: 'mysql', kind: 'backup', known: 'db, exclude, system-db, lock, compress, level, host, port, socket, user, method, datadir, jobs',
    typo: ['--mysql-defaults-file', '/etc/mysql/debian.cnf'],
    base: () => [],
    good: () => ['--mysql', 'shop', '--mysql-port', '3307'],
    took: (w) => assert.match(w.calls(), /^mysqldump port=3307 /m),
  },
  {
    service: 'mysql', kind: 'restore', known: 'db, host, port, socket, user, jobs',
    typo: ['--mysql-sokcet', '/run/x.sock'],
    base: () => [],
    good: () => ['--mysql-db', 'shop', '--mysql-socket', '/run/good.sock'],
    took: (w) => assert.match(w.calls(), /^mysql socket="\/run\/good.sock" .*-- shop$/m),
  },
  {
    service: 'postgresql', kind: 'backup', known: 'db, exclude, globals, compress, level, host, port, user, format, jobs, method',
    typo: ['--postgresql-hots', 'db.example'],
    base: () => [],
    good: () => ['--postgresql-db', 'shop', '--postgresql-host', '/run/pg', '--postgresql-user', 'app', '--postgresql-globals', 'no'],
    took: (w) => assert.match(w.calls(), /^pg_dump PGHOST=\/run\/pg -Fc /m),
  },
  {
    service: 'postgresql', kind: 'restore', known: 'db, globals, host, port, user, jobs',
    typo: ['--postgresql-globls', 'no'],
    base: () => [],
    good: () => ['--postgresql-db', 'shop', '--postgresql-host', '/run/pg2', '--postgresql-user', 'app', '--postgresql-globals', 'no'],
    took: (w) => assert.match(w.calls(), /^pg_restore PGHOST=\/run\/pg2 --single-transaction /m),
  },
  {
    service: 'redis', kind: 'backup', known: 'host, port, socket, user, level, timeout, check',
    typo: ['--redis-sokcet', '/run/r.sock'],
    base: () => [],
    good: () => ['--redis-socket', '/run/good.sock', '--redis-level', '5'],
    took: (w) => assert.match(w.calls(), /^redis-cli -s \/run\/good.sock --rdb /m),
  },
  {
    service: 'redis', kind: 'restore', known: 'dbfilename',
    typo: ['--redis-dbfilname', 'x.rdb'],
    base: () => ['--to', 'data'],
    good: () => ['--to', 'known-redis', '--redis-dbfilename', 'restored.rdb'],
    took: (w) => assert.deepEqual(fs.readdirSync(path.join(w.caller, 'known-redis')), ['restored.rdb']),
  },
  {
    service: 'sqlite', kind: 'backup', known: 'db, level, timeout',
    typo: ['--sqlite-levle', '9'],
    base: (w) => ['--sqlite', w.db],
    good: (w) => ['--sqlite-db', w.db, '--sqlite-timeout', '5'],
    took: (w) => assert.match(w.calls(), /^sqlite3 -bail -batch \S+\/app\.db\n\.timeout 5000$/m),
  },
  {
    service: 'sqlite', kind: 'restore', known: 'db',
    typo: ['--sqlite-bd', 'app.db'],
    base: () => ['--to', 'data/'],
    good: () => ['--to', 'known-sqlite/', '--sqlite-db', 'app.db'],
    took: (w) => assert.deepEqual(fs.readdirSync(path.join(w.caller, 'known-sqlite')), ['app.db']),
  },
  {
    service: 'mongodb', kind: 'backup', known: 'db, uri, host, port, user, auth-db, oplog',
    typo: ['--mongodb-auth-dbb', 'admin'],
    base: () => [],
    good: () => ['--mongodb-db', 'app', '--mongodb-host', 'good.example', '--mongodb-auth-db', 'admin'],
    took: (w) => assert.match(w.calls(), /^mongodump .*--host=good\.example --authenticationDatabase=admin --db=app /m),
  },
  {
    service: 'mongodb', kind: 'restore', known: 'db, uri, host, port, user, auth-db',
    typo: ['--mongodb-ur', 'mongodb://elsewhere'],
    base: () => [],
    good: () => ['--mongodb-db', 'app', '--mongodb-host', 'good2.example'],
    took: (w) => assert.match(w.calls(), /^mongorestore .*--host=good2\.example .*--nsInclude=app\.\* /m),
  },
  {
    service: 'couchdb', kind: 'backup', known: 'db, exclude, url, user, batch, level',
    typo: ['--couchdb-exlude', 'scratch'],
    base: () => [],
    good: (w) => ['--couchdb-db', 'app', '--couchdb-url', w.couch.url, '--couchdb-user', w.couch.user, '--couchdb-batch', '5', '--couchdb-level', '9'],
    took: () => {},
  },
  {
    service: 'couchdb', kind: 'restore', known: 'db, url, user, batch',
    typo: ['--couchdb-levle', '9'],
    base: () => [],
    good: (w) => ['--couchdb-db', 'app', '--to', 'app_copy', '--couchdb-url', w.couch.url, '--couchdb-user', w.couch.user, '--couchdb-batch', '2'],
    took: (w) => {
      const info = execFileSync('curl', ['-sS', '-u', `${w.couch.user}:${w.couch.password}`, `${w.couch.url}/app_copy`], { encoding: 'utf8' });
      assert.equal(JSON.parse(info).doc_count, 3);
    },
  },
  {
    service: 'system', kind: 'backup', known: 'disks',
    typo: ['--system-disk', '/dev/sda'],
    base: () => [],
    // a blank 1 MiB image as the disk: no partition table is a fact, not a failure (real dpkg, lsblk...)
    good: (w) => {
      const img = path.join(w.caller, 'blank.img');
      fs.writeFileSync(img, '');
      fs.truncateSync(img, 1 << 20);
      return ['--system-disks', img];
    },
    took: () => {},
  },
];

const TOOLS = ['TAR', 'ZSTD', 'GZIP_CMD', 'XZ', 'MYSQL', 'MYSQLDUMP', 'PG_DUMP', 'PG_DUMPALL', 'PG_RESTORE', 'PSQL',
  'REDIS_CLI', 'REDIS_CHECK_RDB', 'SQLITE3', 'MONGODUMP', 'MONGORESTORE', 'CURL', 'JQ'];

describe('built-in scripts refuse an option they do not read', { concurrency: false }, () => {
  let sb: Sandbox;
  let w: World;
  /** stand-ins that work and record their argv in calls.log */
  let working: Record<string, string>;
  /** every tool pointed at a stand-in that records that it ran and fails */
  let never: Record<string, string>;
  const ranLog = () => path.join(sb.dir, 'ran.log');
  const callsLog = () => path.join(sb.dir, 'calls.log');
  const tool = (name: string, body: string) => {
    const f = path.join(sb.dir, name);
    fs.writeFileSync(f, `#!/usr/bin/env bash\n${body}\n`, { mode: 0o755 });
    return f;
  };
  const run = (args: string[], env: Record<string, string>) =>
    batt([...args, '--path', sb.pattern], { home: sb.home, env, cwd: w.caller });
  const command = (c: Case, args: string[]) => (c.kind === 'backup' ? [c.service, ...args] : ['restore', c.service, ...args]);

  before(async () => {
    sb = sandbox({ builtins: true });
    const caller = path.join(sb.dir, 'caller');
    for (const d of ['data', 'known-redis', 'known-sqlite']) fs.mkdirSync(path.join(caller, d), { recursive: true });
    const tree = path.join(sb.dir, 'tree');
    fs.mkdirSync(tree);
    fs.writeFileSync(path.join(tree, 'f.txt'), 'x\n');
    const db = path.join(sb.dir, 'app.db');
    fs.writeFileSync(db, 'SQLite format 3\0stand-in');
    const couch = await startCouch();
    await couch.call('PUT', '/app');
    await couch.call('POST', '/app/_bulk_docs', { docs: [{ _id: 'a' }, { _id: 'b' }, { _id: 'c' }] });
    // the password only in the conf; the rest as options
    fs.writeFileSync(path.join(sb.home, 'conf', 'couchdb.conf'), `PASSWORD=${couch.password}\n`, { mode: 0o600 });
    w = { caller, tree, db, calls: () => readText(callsLog()), couch };
    const calls = JSON.stringify(callsLog());
    // mysql: the first argument is --defaults-file=<cnf>; record its socket/port lines.
    const cnfLine = `cnf=\${1#--defaults-file=}; printf '%s %s %s\\n' "$(basename "$0")" "$(grep -E '^(socket|port)=' "$cnf" | tr '\\n' ' ' | sed 's/ $//')" "$*" >>${calls}`;
    const record = (name: string) => `printf '%s' ${name} >>${calls}; printf ' %s' "$@" >>${calls}; echo >>${calls}`;
    const recordPg = (name: string) => `printf '%s PGHOST=%s' ${name} "\${PGHOST:-}" >>${calls}; printf ' %s' "$@" >>${calls}; echo >>${calls}`;
    working = {
      ZSTD: 'zstd',
      MYSQL: tool('mysql', mysqlStandIn(cnfLine)),
      MYSQLDUMP: tool('mysqldump', mysqldumpStandIn(cnfLine)),
      PSQL: tool(
        'psql',
        `${recordPg('psql')}
q=; prev=; for a in "$@"; do [ "$prev" = -c ] && q=$a; prev=$a; done
[ -n "$q" ] || q=$(cat)
case "$q" in *'count(*) FROM pg_database'*) echo 0 ;; esac`,
      ),
      PG_DUMP: tool('pg_dump', `${recordPg('pg_dump')}\nprintf 'PGDMP stand-in'`),
      PG_DUMPALL: tool('pg_dumpall', `${recordPg('pg_dumpall')}\nexit 1`),
      PG_RESTORE: tool('pg_restore', recordPg('pg_restore')),
      REDIS_CLI: tool(
        'redis-cli',
        `${record('redis-cli')}\nprev=; for a in "$@"; do [ "$prev" = --rdb ] && printf 'REDIS0011 stand-in' >"$a"; prev=$a; done`,
      ),
      REDIS_CHECK_RDB: 'true',
      // sqlite3 -bail -batch DB [SQL]: the backup's commands come on stdin (recorded too).
      SQLITE3: tool(
        'sqlite3',
        `${record('sqlite3')}
if [ $# -ge 4 ]; then [ "$4" = 'PRAGMA integrity_check;' ] && echo ok; exit 0; fi
while IFS= read -r l; do
  echo "$l" >>${calls}
  case "$l" in ".backup main '"*) f=\${l#".backup main '"}; printf 'SQLite format 3\\0copy' >"\${f%"'"}" ;; esac
done`,
      ),
      MONGODUMP: tool(
        'mongodump',
        `${record('mongodump')}\nfor a in "$@"; do case "$a" in --archive=*) printf '\\x6d\\xe2\\x99\\x81stand-in' >"\${a#--archive=}" ;; esac; done`,
      ),
      MONGORESTORE: tool('mongorestore', record('mongorestore')),
    };
    const stop = tool('never', `echo "$0 $*" >>${JSON.stringify(ranLog())}\nexit 1`);
    never = Object.fromEntries(TOOLS.map((k) => [k, stop]));
    // One backup of each service for the restores, made with known options: they must work.
    for (const c of cases.filter((x) => x.kind === 'backup')) {
      fs.rmSync(callsLog(), { force: true });
      const r = await run(command(c, c.good(w)), working);
      assert.equal(r.code, 0, `${c.good(w).join(' ')}\n${r.stderr}${r.stdout}`);
      c.took(w);
    }
  });
  after(async () => {
    await w?.couch.stop();
    sb?.cleanup();
  });

  for (const c of cases) {
    const script = `${c.kind}-${c.service}`;
    const code = c.kind === 'backup' ? 1 : 2;
    test(`${script} refuses ${c.typo[0]} (exit ${code}) before any tool runs; nothing is kept or restored`, async () => {
      const before = backupsOf(sb);
      fs.rmSync(ranLog(), { force: true });
      fs.rmSync(path.join(sb.home, 'log', 'batt.log'), { force: true });
      const r = await run(command(c, [...c.base(w), ...c.typo]), never);
      assert.notEqual(r.code, 0, r.stdout);
      const line = `${script}: unknown ${c.kind === 'restore' ? 'restore ' : ''}option ${c.typo[0]} (known: ${c.known})`;
      assert.ok(r.stderr.includes(`${c.kind === 'backup' ? 'backup' : 'restore'} script exited with code ${code}: ${line}`), r.stderr + r.stdout);
      // one line on the script's stderr, as batt.log shows it ("! " marks stderr)
      const said = readText(path.join(sb.home, 'log', 'batt.log'))
        .split('\n')
        .filter((l) => l.includes(': ! '))
        .map((l) => l.replace(/^\S+ \[\d+\] /, ''));
      assert.deepEqual(said, [`${c.kind === 'backup' ? '' : 'restore '}${c.service}: ! ${line}`]);
      assert.equal(readText(ranLog()), '', 'no tool ran');
      assert.deepEqual(backupsOf(sb), before, 'no backup kept, none changed');
      assert.deepEqual(fs.readdirSync(path.join(w.caller, 'data')), [], 'nothing restored');
    });
    if (c.kind === 'restore') {
      test(`${script} still works with known options`, async () => {
        fs.rmSync(callsLog(), { force: true });
        const r = await run(command(c, c.good(w)), working);
        assert.equal(r.code, 0, r.stderr + r.stdout);
        c.took(w);
      });
    }
  }

  // Bad input a restore script refuses (what was typed or what its conf holds, before anything is
  // touched) exits 2 like an unknown option, through its usage/bad_input function: the message is
  // batt's error line, and no tool runs. A tool or the backup failing stays exit 1.
  const badInput: { service: Service; args: (w: World) => string[]; conf?: string; line: (w: World) => string; twoDbs?: true }[] = [
    { service: 'mysql', args: () => ['--mysql-port', '33o6'], line: () => "port must be a number, got '33o6'" },
    { service: 'mysql', args: () => [], conf: 'PORT=x\n', line: () => "port must be a number, got 'x'" },
    { service: 'postgresql', args: () => ['--postgresql-port', '54x'], line: () => "port must be a number, got '54x'" },
    { service: 'postgresql', args: () => ['--postgresql-globals', 'maybe'], line: () => "globals must be yes or no, got 'maybe'" },
    { service: 'postgresql', args: () => [], conf: 'RESTORE_GLOBALS=some\n', line: () => "globals must be yes or no, got 'some'" },
    { service: 'postgresql', args: () => ['--postgresql-jobs', '0'], line: () => "jobs must be a number from 1, got '0'" },
    { service: 'redis', args: () => ['--to', 'data', '--redis-dbfilename', '../x.rdb'], line: () => "dbfilename must be a plain file name, got '../x.rdb'" },
    { service: 'redis', args: () => ['--to', 'data'], conf: 'DBFILENAME=..\n', line: () => "dbfilename must be a plain file name, got '..'" },
    // the name is input: checked before the folder is looked at
    { service: 'redis', args: () => ['--to', 'nowhere', '--redis-dbfilename', 'a/b'], line: () => "dbfilename must be a plain file name, got 'a/b'" },
    {
      service: 'redis', args: () => [],
      line: () => "where to? use --to DIR with the redis data folder (its 'dir' setting, e.g. /var/lib/redis)",
    },
    { service: 'sqlite', twoDbs: true, args: () => ['--sqlite', 'app.db', '--to', 'data/'], line: () => "'app.db' matches several databases; give the full original path" },
    {
      service: 'sqlite', twoDbs: true, args: () => ['--to', 'data/one.db'],
      line: (w) => `--to ${w.caller}/data/one.db is a file path, but 2 databases are chosen: name one with --sqlite DB, or give a folder`,
    },
    {
      service: 'sqlite', twoDbs: true, args: () => ['--to', 'data/'],
      line: (w) => `two databases would be restored to ${w.caller}/data/app.db; restore them one at a time`,
    },
  ];
  let twoDbs = false;
  for (const c of badInput) {
    const shown = [...c.args({ caller: 'CALLER' } as World), ...(c.conf ? [`(conf ${c.conf.trim()})`] : [])].join(' ') || '(nothing)';
    test(`restore-${c.service} refuses bad input with exit 2 before any tool runs: ${shown}`, async () => {
      if (c.twoDbs && !twoDbs) {
        // Two databases named app.db in different folders: the newest sqlite backup from now on.
        const other = path.join(sb.dir, 'other', 'app.db');
        fs.mkdirSync(path.dirname(other), { recursive: true });
        fs.writeFileSync(other, 'SQLite format 3\0stand-in');
        const r = await run(['sqlite', '--sqlite', w.db, '--sqlite', other], working);
        assert.equal(r.code, 0, r.stderr + r.stdout);
        twoDbs = true;
      }
      const conf = path.join(sb.home, 'conf', `${c.service}.conf`);
      if (c.conf) fs.writeFileSync(conf, c.conf, { mode: 0o600 });
      try {
        const before = backupsOf(sb);
        fs.rmSync(ranLog(), { force: true });
        const r = await run(['restore', c.service, ...c.args(w)], never);
        assert.ok(r.stderr.includes(`restore script exited with code 2: restore-${c.service}: ${c.line(w)}\n`), r.stderr + r.stdout);
        assert.equal(readText(ranLog()), '', 'no tool ran');
        assert.deepEqual(backupsOf(sb), before, 'the backup is unchanged');
        assert.deepEqual(fs.readdirSync(path.join(w.caller, 'data')), [], 'nothing restored');
      } finally {
        fs.rmSync(conf, { force: true });
      }
    });
  }

  test('every built-in script has cases for backup and restore, and its known list is exactly what it reads', () => {
    const scripts = fs.readdirSync(path.join(REPO, 'scripts-available')).sort();
    assert.deepEqual(scripts, SERVICES.flatMap((s) => (BACKUP_ONLY.includes(s) ? [`backup-${s}`] : [`backup-${s}`, `restore-${s}`])).sort());
    for (const script of scripts) {
      const c = cases.find((x) => `${x.kind}-${x.service}` === script);
      assert.ok(c, `no case for ${script}`);
      const lines = fs.readFileSync(path.join(REPO, 'scripts-available', script), 'utf8').split('\n');
      // The refusal loop: `for v in $(compgen -v BATT_OPT_ ...)`, the case of known names, the message.
      const loop = lines.findIndex((l) => /^for v in \$\(compgen -v BATT_OPT_ \|\| true\); do$/.test(l));
      assert.ok(loop >= 0, `${script}: no compgen -v BATT_OPT_ loop`);
      assert.equal(lines.filter((l) => l.includes('compgen -v BATT_OPT_')).length, 1, script);
      const caseLine = lines[loop + 2]!;
      const m = /^\s+((?:BATT_OPT_[A-Z0-9_]+)(?: \| BATT_OPT_[A-Z0-9_]+)*)\) ;;$/.exec(caseLine);
      assert.ok(m, `${script}: the line after the loop's case is not the known names: ${caseLine}`);
      const inCase = m[1]!.split(' | ');
      const keys = c.known.split(', ');
      assert.deepEqual(inCase, keys.map((k) => `BATT_OPT_${k.toUpperCase().replace(/-/g, '_')}`), `${script}: case vs the message`);
      assert.ok(lines[loop + 4]!.includes(`(known: ${c.known})"`), `${script}: message ${lines[loop + 4]}`);
      // What the script reads: every BATT_OPT_ name in its code (comments and the loop aside).
      const read = new Map<string, number>();
      lines.forEach((l, i) => {
        if (/^\s*#/.test(l) || (i >= loop && i <= loop + 6)) return;
        for (const [name] of l.matchAll(/BATT_OPT_[A-Z0-9_]+/g)) if (!read.has(name)) read.set(name, i);
      });
      assert.deepEqual([...read.keys()].sort(), [...inCase].sort(), `${script}: known list vs the BATT_OPT_ names it reads`);
      // The loop runs before the script reads any option.
      for (const [name, i] of read) assert.ok(i > loop, `${script}: ${name} read on line ${i + 1}, before the loop`);
    }
  });
});
