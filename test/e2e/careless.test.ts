// A careless drop-in (`dump | gzip > f`, no pipefail) whose dump fails: the compressor exits 0 on
// an empty stream, the script exits 0. It must fail the backup, not be sealed as ok (issue 15).
import { test } from 'node:test';
import assert from 'node:assert/strict';
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
