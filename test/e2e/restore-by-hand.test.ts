// docs/restore-without-batt.md, step by step: a backup made by batt is checked and restored with
// plain tools (jq, sha256sum, tar, zstd, sqlite3, age) and with a restore script run by hand,
// with no batt command involved. The commands are the doc's; keep the two in step.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { HOST, REQUIRE_SERVERS, batt, listFiles, sandbox, writeTargetConf } from '../helpers/batt.js';

const have = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
// .ci/run installs them all; with BATT_REQUIRE_SERVERS=1 a missing one fails instead of skipping
const missing = REQUIRE_SERVERS ? [] : ['jq', 'sha256sum', 'tar', 'zstd', 'sqlite3', 'age', 'age-keygen'].filter((t) => !have(t));

/** bash -c with pipefail, in `cwd`; returns the result (status, stdout, stderr). */
function sh(script: string, cwd: string, env: Record<string, string> = {}) {
  return spawnSync('bash', ['-c', `set -euo pipefail\n${script}`], { cwd, env: { ...process.env, ...env }, encoding: 'utf8' });
}

const CHECK = `jq -r '.files[] | "\\(.sha256)  \\(.path)"' batt-manifest.json | sha256sum -c`;

test('a backup is checked and restored without batt, as docs/restore-without-batt.md says', { skip: missing.length ? `missing ${missing.join(', ')}` : false }, async () => {
  const sb = sandbox({ builtins: true });
  try {
    const src = path.join(sb.dir, 'src');
    fs.mkdirSync(path.join(src, 'sub'), { recursive: true });
    fs.writeFileSync(path.join(src, 'a.txt'), 'hello\n');
    fs.writeFileSync(path.join(src, 'sub', 'b.txt'), 'world\n', { mode: 0o640 });
    fs.chmodSync(path.join(src, 'sub', 'b.txt'), 0o640);
    const db = path.join(sb.dir, 'app.db');
    execFileSync('sqlite3', [db, 'CREATE TABLE t(x); INSERT INTO t VALUES (42);']);
    const identity = path.join(sb.dir, 'batt-age.key');
    execFileSync('age-keygen', ['-o', identity], { stdio: 'ignore' });
    const recipient = execFileSync('age-keygen', ['-y', identity], { encoding: 'utf8' }).trim();
    const remote = path.join(sb.dir, 'remote');
    writeTargetConf(sb.home, 'usb', `TYPE=local\nPATH=${remote}\nRECIPIENT=${recipient}\n`);

    const r = await batt(['--file', src, '--sqlite', db, '--path', sb.pattern], { home: sb.home });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const folder = (service: string) => {
      const m = listFiles(sb.root).find((f) => f.endsWith(`/${service}/batt-manifest.json`));
      assert.ok(m, `no ${service} backup`);
      return path.dirname(path.join(sb.root, m));
    };
    const fileDir = folder('file');
    const sqliteDir = folder('sqlite');

    // The manifest check passes on both backups, and fails on a flipped byte.
    for (const dir of [fileDir, sqliteDir]) {
      const c = sh(CHECK, dir);
      assert.equal(c.status, 0, c.stderr + c.stdout);
      assert.match(c.stdout, /: OK$/m);
    }
    const copy = path.join(sb.dir, 'flipped');
    fs.cpSync(fileDir, copy, { recursive: true });
    const archive = fs.readdirSync(copy).find((f) => f.endsWith('.tar.zst'))!;
    const bytes = fs.readFileSync(path.join(copy, archive));
    bytes[bytes.length >> 1] ^= 1;
    fs.writeFileSync(path.join(copy, archive), bytes);
    assert.notEqual(sh(CHECK, copy).status, 0, 'a flipped byte fails the check');

    // file: tar with restore-file's options
    const out = path.join(sb.dir, 'restore');
    const x = sh(
      `mkdir -p "$OUT"\ntar --zstd -xf "$ARCHIVE" -C "$OUT" --delay-directory-restore --preserve-permissions \\\n  --same-owner --numeric-owner --xattrs --xattrs-include='user.*' --xattrs-include='system.posix_acl_*'`,
      fileDir,
      { OUT: out, ARCHIVE: archive },
    );
    assert.equal(x.status, 0, x.stderr);
    const back = path.join(out, src.slice(1));
    assert.equal(fs.readFileSync(path.join(back, 'a.txt'), 'utf8'), 'hello\n');
    assert.equal(fs.readFileSync(path.join(back, 'sub', 'b.txt'), 'utf8'), 'world\n');
    assert.equal(fs.statSync(path.join(back, 'sub', 'b.txt')).mode & 0o777, 0o640);

    // sqlite: databases.tsv names it; zstd -d, integrity_check, the data
    const tsv = fs.readFileSync(path.join(sqliteDir, 'databases.tsv'), 'utf8');
    const stored = tsv.split('\n').find((l) => l.endsWith(`\t${db}`))?.split('\t')[0];
    assert.ok(stored, tsv);
    const q = sh(`zstd -q -d "$STORED" -o "$NEW"\nsqlite3 "$NEW" 'PRAGMA integrity_check;'\nsqlite3 "$NEW" 'SELECT x FROM t;'`, sqliteDir, {
      STORED: stored,
      NEW: path.join(sb.dir, 'app.db.new'),
    });
    assert.equal(q.status, 0, q.stderr);
    assert.equal(q.stdout, 'ok\n42\n');

    // the encrypted copy: <PATH>/<host>/<backup id>/NAME.age, opened with the age tool
    const id = path.relative(sb.root, fileDir);
    const remoteDir = path.join(remote, HOST, id);
    assert.ok(fs.existsSync(path.join(remoteDir, 'batt-remote.json')), 'the copy is complete');
    const plain = path.join(sb.dir, 'decrypted');
    fs.mkdirSync(plain);
    for (const f of fs.readdirSync(remoteDir).filter((n) => n.endsWith('.age'))) {
      const d = sh(`age -d -i "$KEY" -o "$OUT/$NAME" "$NAME.age"`, remoteDir, { KEY: identity, OUT: plain, NAME: f.slice(0, -4) });
      assert.equal(d.status, 0, d.stderr);
    }
    assert.deepEqual(fs.readFileSync(path.join(plain, 'batt-manifest.json')), fs.readFileSync(path.join(fileDir, 'batt-manifest.json')));
    const c = sh(CHECK, plain);
    assert.equal(c.status, 0, c.stderr + c.stdout);

    // restore-file run by hand: the backup folder in BATT_BACKUP, an absolute --to
    const byHand = path.join(sb.dir, 'by-hand');
    const s = spawnSync(path.join(sb.home, 'scripts-available', 'restore-file'), [], {
      cwd: sb.dir,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', BATT_BACKUP: fileDir, BATT_RESTORE_TO: byHand },
      encoding: 'utf8',
    });
    assert.equal(s.status, 0, s.stderr + s.stdout);
    assert.equal(fs.readFileSync(path.join(byHand, src.slice(1), 'sub', 'b.txt'), 'utf8'), 'world\n');
  } finally {
    sb.cleanup();
  }
});
