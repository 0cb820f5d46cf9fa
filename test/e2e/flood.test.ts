// One run cannot flood batt.log (issue 15, RELIABILITY 19): a script printing 50 MB leaves no log
// file over the documented bound (10 MiB a file, 5 rotated files kept).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { batt, sandbox, writeScript } from '../helpers/batt.js';

test('a script printing 50 MB: every log file stays within 10 MiB, and the run is logged to its end', async () => {
  const sb = sandbox();
  try {
    // 50 MB on stdout, 1 MB on stderr: what `tar -v` of a big tree or a debugging echo does
    writeScript(sb.home, 'chatty', `#!/bin/sh\nyes "a line of output $(printf '%0480d' 0)" | head -c 50000000\nyes 'warning' | head -c 1000000 >&2\necho data > out.txt`);
    const r = await batt(['chatty', '--path', sb.pattern], { home: sb.home });
    assert.equal(r.code, 0, r.stderr);
    const dir = path.join(sb.home, 'log');
    const files = fs.readdirSync(dir).filter((f) => f.startsWith('batt.log')).sort(); // state.json lives there too
    assert.ok(files.length <= 6 && files.includes('batt.log.5'), files.join(' '));
    for (const f of files) {
      const size = fs.statSync(path.join(dir, f)).size;
      assert.ok(size <= 10 * 1024 * 1024, `${f} is ${size} bytes`);
    }
    // its stderr makes it a warning; the log ends with the run's last line (not quoted: 10 MB)
    const last = fs.readFileSync(path.join(dir, 'batt.log'), 'utf8').trimEnd().split('\n').at(-1)!;
    assert.match(last, /done: 0 ok, 1 warn, 0 failed$/);
  } finally {
    sb.cleanup();
  }
});
