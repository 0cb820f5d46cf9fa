// A careless drop-in (`dump | gzip > f`, no pipefail) whose dump fails: the compressor exits 0 on
// an empty stream, the script exits 0. It must fail the backup, not be sealed as ok (issue 15).
// And the softer signs of trouble in a script that exited 0 (stderr, a backup far smaller than
// the last one) give the status `warning`: kept, but shown, logged, and on stderr for cron.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { backupsOf, batt, sandbox, writeScript } from '../helpers/batt.js';

const COMPRESSORS = ['gzip', 'zstd -q', 'xz', 'bzip2', 'lz4 -q'];

test('a failed dump piped into any known compressor fails the backup, naming the file', async () => {
  const sb = sandbox();
  try {
    // what the blog one-liner does when mysqldump cannot log in: no pipefail, no set -e
    COMPRESSORS.forEach((c, i) =>
      writeScript(sb.home, `dump${i}`, `#!/bin/sh\nmysqldump_that_fails() { echo "Access denied" >&2; return 2; }\nmysqldump_that_fails | ${c} > "$BATT_DEST/all.sql.x"\n`),
    );
    writeScript(sb.home, 'good', `#!/bin/sh\nseq 1 1000 | gzip > "$BATT_DEST/ok.gz"\n`);
    const r = await batt([...COMPRESSORS.map((_, i) => `dump${i}`), 'good', '--path', sb.pattern], { home: sb.home });
    assert.equal(r.code, 1, r.stderr);
    for (const i of COMPRESSORS.keys()) {
      assert.match(r.stderr, new RegExp(`dump${i}: the script exited 0 but all.sql.x is an empty compressed stream`), r.stderr);
    }
    const sealed = backupsOf(sb).filter((f) => f.endsWith('batt-manifest.json'));
    assert.deepEqual(sealed.map((f) => f.split('/').at(-2)), ['good'], 'only the good one is sealed');
  } finally {
    sb.cleanup();
  }
});

test('a stream cut short fails, also when the script hashes ahead (append-only)', async () => {
  const sb = sandbox();
  try {
    // a compressor killed mid-write leaves a stream without its end; the seal must see it whether the
    // file was hashed after the script or while it grew
    const cut = (n: number) => `head -c 3000000 /dev/urandom | zstd -q | head -c ${n} > "$BATT_DEST/db.zst"`;
    writeScript(sb.home, 'cut', `#!/bin/sh\n${cut(1_000_000)}\n`);
    writeScript(sb.home, 'cutahead', `#!/bin/sh\n# batt: append-only\n${cut(2_000_000)}\nsleep 1.2\n`);
    const r = await batt(['cut', 'cutahead', '--path', sb.pattern], { home: sb.home });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /cut: the script exited 0 but db\.zst is a truncated zstd stream/, r.stderr);
    assert.match(r.stderr, /cutahead: the script exited 0 but db\.zst is a truncated zstd stream/, r.stderr);
    assert.deepEqual(backupsOf(sb).filter((f) => f.endsWith('batt-manifest.json')), []);
  } finally {
    sb.cleanup();
  }
});

test('a script that exits 0 but wrote to stderr is sealed with the status warning: warn in the summary, --json, the log; exit 0', async () => {
  const sb = sandbox();
  try {
    writeScript(sb.home, 'noisy', `echo "CREATE TABLE t;" > "$BATT_DEST/dump.sql"\necho "mysqldump: [Warning] Using a password on the command line interface can be insecure." >&2\necho "mysqldump: Couldn't execute 'SHOW TRIGGERS'" >&2`);
    writeScript(sb.home, 'quiet', 'echo data > "$BATT_DEST/q.txt"');
    const r = await batt(['noisy', 'quiet', '--path', sb.pattern], { home: sb.home });
    assert.equal(r.code, 0, 'a warning keeps exit 0 (like backupninja); stderr is what cron mails');
    assert.match(r.stdout, /^warn\s+noisy\s/m);
    assert.match(r.stdout, /^ok\s+quiet\s/m);
    assert.match(r.stderr, /^batt: warning: noisy: the script exited 0 but wrote to stderr: mysqldump: Couldn't execute 'SHOW TRIGGERS'$/m);
    assert.doesNotMatch(r.stderr, /quiet/);
    assert.match(r.stdout, /backup complete: 1 ok, 1 warn, 0 failed/);
    const log = fs.readFileSync(path.join(sb.home, 'log', 'batt.log'), 'utf8');
    assert.match(log, /noisy: WARNING noisy: the script exited 0 but wrote to stderr/);
    assert.equal(backupsOf(sb).filter((f) => f.endsWith('batt-manifest.json')).length, 2, 'both sealed');
    const j = await batt(['noisy', '--json', '--path', sb.pattern], { home: sb.home });
    assert.equal(j.code, 0);
    const doc = JSON.parse(j.stdout);
    assert.equal(doc.ok, true);
    assert.equal(doc.services[0].status, 'warning');
    assert.match(doc.services[0].warning, /wrote to stderr: mysqldump: Couldn't execute/);
  } finally {
    sb.cleanup();
  }
});

test('the size check measures a full against the last full made the same way: a switch to zstd, or one database after all, is no warning', async () => {
  const sb = sandbox();
  try {
    // COMPRESS=none or zstd, as backup-mysql's conf switches it; --db-name narrows the dump
    writeScript(
      sb.home,
      'db',
      `name=\${BATT_OPT_NAME:-all}
if [ "\${COMPRESS:-}" = zstd ]; then head -c "$SIZE" /dev/zero | zstd -q > "$BATT_DEST/$name.sql.zst"; else head -c "$SIZE" /dev/zero > "$BATT_DEST/$name.sql"; fi`,
    );
    const run = (size: number, env: Record<string, string> = {}, args: string[] = []) => batt(['db', ...args, '--path', sb.pattern], { home: sb.home, env: { SIZE: String(size), ...env } });
    assert.equal((await run(1_000_000)).code, 0);
    const zstd = await run(1_000_000, { COMPRESS: 'zstd' }); // a few hundred bytes after a plain MB
    assert.match(zstd.stdout, /^ok\s+db\s/m, zstd.stderr);
    const log = fs.readFileSync(path.join(sb.home, 'log', 'batt.log'), 'utf8');
    assert.match(log, /size not compared with \S+\/db: its files are plain, these zst/);
    // the next zstd dump is measured against the zstd one, and a real drop still warns
    assert.match((await run(1_000_000, { COMPRESS: 'zstd' })).stdout, /^ok\s+db\s/m);
    assert.match((await run(300_000)).stdout, /^ok\s+db\s/m); // back to plain: not compared either
    const plain = await run(100_000);
    assert.match(plain.stdout, /^warn\s+db\s/m);
    assert.match(plain.stderr, /33% of the previous one's 293\.0 KiB \(300000 bytes, \S+\/db\.4\)/);
    // one database is not measured against the whole server's dump
    const one = await run(1000, {}, ['--db-name', 'shop']);
    assert.match(one.stdout, /^ok\s+db\s/m, one.stderr);
    assert.doesNotMatch(one.stderr, /warning/);
  } finally {
    sb.cleanup();
  }
});

test('a backup below MIN_SIZE_RATIO of the previous one of its service gets a warning with both sizes', async () => {
  const sb = sandbox();
  try {
    writeScript(sb.home, 'db', 'head -c "$SIZE" /dev/zero > "$BATT_DEST/dump.sql"');
    const run = (size: number) => batt(['db', '--path', sb.pattern], { home: sb.home, env: { SIZE: String(size) } });
    assert.equal((await run(100_000)).code, 0);
    const ok = await run(60_000); // 60% of the previous: above the default 0.5
    assert.match(ok.stdout, /^ok\s+db\s/m, ok.stderr);
    const drop = await run(20_000); // 33% of the previous (the 60 000 one)
    assert.equal(drop.code, 0);
    assert.match(drop.stdout, /^warn\s+db\s/m);
    assert.match(drop.stderr, /^batt: warning: db: the backup is 19\.5 KiB \(20000 bytes\), 33% of the previous one's 58\.6 KiB \(60000 bytes, .*\/db\.2\); MIN_SIZE_RATIO is 0\.5$/m);
    // the service's conf can lower or switch off the check (0), and batt.conf sets it for all
    fs.writeFileSync(path.join(sb.home, 'conf', 'db.conf'), 'MIN_SIZE_RATIO=0\n', { mode: 0o600 });
    assert.match((await run(10)).stdout, /^ok\s+db\s/m);
    fs.rmSync(path.join(sb.home, 'conf', 'db.conf'));
    fs.writeFileSync(path.join(sb.home, 'conf', 'batt.conf'), 'MIN_SIZE_RATIO=0.9\n', { mode: 0o600 });
    assert.match((await run(8)).stdout, /^warn\s+db\s/m);
    fs.writeFileSync(path.join(sb.home, 'conf', 'batt.conf'), 'MIN_SIZE_RATIO=2\n', { mode: 0o600 });
    const check = await batt(['config', 'check'], { home: sb.home });
    assert.notEqual(check.code, 0);
    assert.match(check.stderr, /batt\.conf:1: MIN_SIZE_RATIO must be a number from 0 to 1 \(0 = off\), got "2"/);
  } finally {
    sb.cleanup();
  }
});
