// The one-line error of a failed built-in script carries the real cause: when a tool fails, the
// script's last stderr line (which batt prints as the error) ends with the tool's own last error
// line, not only a guess (issue 14 item 3). Every built-in script except mysql's (its own suite),
// each tool pointed in turn at a stand-in that fails with a known last line. Backups to restore
// from are made first with tools that work (real tar, zstd, sqlite3; stand-ins for the servers).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { batt, sandbox, type Sandbox } from '../helpers/batt.js';

const CAUSE = 'failtool: error: connection refused by the real cause (42)';

describe('a failing tool\'s own last error line ends the summary line of every built-in script', { concurrency: false }, () => {
  let sb: Sandbox;
  let tree: string;
  let db: string;
  let fail: string;
  let working: Record<string, string>;
  const tool = (name: string, body: string) => {
    const f = path.join(sb.dir, name);
    fs.writeFileSync(f, `#!/usr/bin/env bash\n${body}\n`, { mode: 0o755 });
    return f;
  };
  const run = (args: string[], env: Record<string, string>) => batt([...args, '--path', sb.pattern], { home: sb.home, env });
  const fresh = (name: string) => {
    const d = path.join(sb.dir, 'restore', name);
    fs.rmSync(d, { recursive: true, force: true });
    fs.mkdirSync(d, { recursive: true });
    return d;
  };

  before(async () => {
    sb = sandbox({ builtins: true });
    tree = path.join(sb.dir, 'tree');
    fs.mkdirSync(tree);
    fs.writeFileSync(path.join(tree, 'a.txt'), 'hello\n');
    // Larger than a pipe: when tar fails, the decompressor feeding it always dies of SIGPIPE.
    fs.writeFileSync(path.join(tree, 'big.bin'), crypto.randomBytes(1 << 20));
    db = path.join(sb.dir, 'app.db');
    execFileSync('sqlite3', [db, 'CREATE TABLE t (x); INSERT INTO t VALUES (1);']);
    // Progress first, the error last, then a blank line (skipped): as real tools write.
    fail = tool('failtool', `echo "failtool: reading things" >&2\necho "${CAUSE}" >&2\necho >&2\nexit 3`);
    working = {
      // A user of its own: the peer switch (OS_USER) stays off, the stand-ins stay root's.
      // (to -f FILE too, and stdin maybe closed: the same stand-ins run the scripts of before this test)
      PG_DUMP: tool('pg_dump', `out=/dev/stdout; prev=; for a in "$@"; do [ "$prev" = -f ] && out=$a; prev=$a; done\nprintf 'PGDMP stand-in' >"$out"`),
      PG_RESTORE: tool('pg_restore', 'cat >/dev/null 2>&1; exit 0'),
      PSQL: tool('psql', `q=; prev=; for a in "$@"; do [ "$prev" = -c ] && q=$a; prev=$a; done\n[ -n "$q" ] || q=$(cat)\ncase "$q" in *'count(*)'*) echo 0 ;; esac`),
      REDIS_CLI: tool('redis-cli', `prev=; for a in "$@"; do [ "$prev" = --rdb ] && printf 'REDIS0011 stand-in' >"$a"; prev=$a; done`),
      REDIS_CHECK_RDB: 'true',
      MONGODUMP: tool('mongodump', `for a in "$@"; do case "$a" in --archive=*) printf '\\x6d\\xe2\\x99\\x81stand-in' >"\${a#--archive=}" ;; esac; done`),
      MONGORESTORE: tool('mongorestore', 'exit 0'),
    };
    fs.writeFileSync(path.join(sb.home, 'conf', 'postgresql.conf'), 'USER=app\nDATABASES=shop\nGLOBALS=no\n', { mode: 0o600 });
    for (const args of [['file', '--file', tree], ['sqlite', '--sqlite', db], ['redis'], ['postgresql'], ['mongodb']]) {
      const r = await run(args, working);
      assert.equal(r.code, 0, `${args.join(' ')}: ${r.stderr}`);
    }
  });
  after(() => sb?.cleanup());

  const cases: { what: string; args: () => string[]; env: () => Record<string, string>; conf?: string; says: RegExp }[] = [
    { what: 'backup-file: tar', args: () => ['file', '--file', tree], env: () => ({ TAR: fail }), says: /backup-file: tar failed with exit code 3 for \S+/ },
    { what: 'backup-file: zstd', args: () => ['file', '--file', tree], env: () => ({ ZSTD: fail }), says: /backup-file: zstd failed with exit code 3 for \S+/ },
    { what: 'restore-file: zstd', args: () => ['restore', 'file', '--to', fresh('f1')], env: () => ({ ZSTD: fail }), says: /restore-file: cannot read \S+: zstd exited with code 3/ },
    { what: 'restore-file: tar', args: () => ['restore', 'file', '--to', fresh('f2')], env: () => ({ TAR: fail }), says: /restore-file: cannot list \S+: tar exited with code 3/ },
    { what: 'backup-postgresql: pg_dump', args: () => ['postgresql'], env: () => ({ PG_DUMP: fail }), says: /backup-postgresql: pg_dump of shop failed with exit code 3/ },
    { what: 'backup-postgresql: psql', args: () => ['postgresql'], conf: 'USER=app\nGLOBALS=no\n', env: () => ({ PSQL: fail }), says: /backup-postgresql: cannot list the databases \(exit 3\)/ },
    { what: 'backup-postgresql: pg_dumpall', args: () => ['postgresql'], conf: 'USER=app\nDATABASES=shop\n', env: () => ({ PG_DUMPALL: fail }), says: /backup-postgresql: pg_dumpall --globals-only failed with exit code 3 \(GLOBALS=no skips it\)/ },
    { what: 'restore-postgresql: psql', args: () => ['restore', 'postgresql', '--postgresql-globals', 'no'], env: () => ({ PSQL: fail }), says: /restore-postgresql: cannot query the server \(exit 3\)/ },
    { what: 'restore-postgresql: pg_restore', args: () => ['restore', 'postgresql', '--postgresql-globals', 'no'], env: () => ({ PG_RESTORE: fail }), says: /restore-postgresql: pg_restore of shop into shop failed \(exit 3\)/ },
    { what: 'backup-redis: redis-cli', args: () => ['redis'], env: () => ({ REDIS_CLI: fail }), says: /backup-redis: redis-cli --rdb failed with exit code 3 for 127\.0\.0\.1:6379 \([^)]*\)/ },
    { what: 'backup-redis: zstd', args: () => ['redis'], env: () => ({ ZSTD: fail }), says: /backup-redis: zstd failed while compressing the snapshot/ },
    { what: 'restore-redis: zstd', args: () => ['restore', 'redis', '--to', fresh('r')], env: () => ({ ZSTD: fail }), says: /restore-redis: cannot decompress \S+/ },
    { what: 'backup-sqlite: sqlite3', args: () => ['sqlite', '--sqlite', db], env: () => ({ SQLITE3: fail }), says: /backup-sqlite: cannot copy \S+ \(not an SQLite database, or locked for more than 60s\)/ },
    { what: 'backup-sqlite: zstd', args: () => ['sqlite', '--sqlite', db], env: () => ({ ZSTD: fail }), says: /backup-sqlite: zstd failed for \S+/ },
    { what: 'restore-sqlite: zstd', args: () => ['restore', 'sqlite', '--to', `${fresh('s')}/`], env: () => ({ ZSTD: fail }), says: /restore-sqlite: cannot decompress \S+/ },
    { what: 'backup-mongodb: mongodump', args: () => ['mongodb'], env: () => ({ MONGODUMP: fail }), says: /backup-mongodb: mongodump failed with exit code 3 for all databases/ },
    { what: 'restore-mongodb: mongorestore', args: () => ['restore', 'mongodb'], env: () => ({ MONGORESTORE: fail }), says: /restore-mongodb: mongorestore failed with exit code 3 for all databases/ },
  ];

  for (const c of cases) {
    test(c.what, async () => {
      const conf = path.join(sb.home, 'conf', 'postgresql.conf');
      const saved = fs.readFileSync(conf, 'utf8');
      if (c.conf) fs.writeFileSync(conf, c.conf, { mode: 0o600 });
      try {
        const r = await run(c.args(), { ...working, ...c.env() });
        assert.notEqual(r.code, 0, r.stdout);
        const kind = c.args()[0] === 'restore' ? 'restore' : 'backup';
        const line = r.stderr.split('\n').find((l) => l.includes(`${kind} script exited with code`)) ?? '';
        assert.match(line, new RegExp(`${c.says.source}: ${CAUSE.replace(/[()]/g, '\\$&')}$`), r.stderr);
      } finally {
        fs.writeFileSync(conf, saved, { mode: 0o600 });
      }
    });
  }
});
