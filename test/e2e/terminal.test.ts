// batt on a terminal: the progress list where the terminal has a width, plain lines where it
// reports 0 columns (a serial or IPMI console, a pty nobody sized). script(1) makes the terminal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { BATT, sandbox, writeScript } from '../helpers/batt.js';

test('on a terminal that reports 0 columns (a serial console) a run prints plain lines, not one character per line', { skip: !fs.existsSync('/usr/bin/script') && 'no script(1)' }, () => {
  const sb = sandbox();
  try {
    writeScript(sb.home, 'alpha', 'echo data > out.txt');
    const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
    const cmd = `stty cols 0 rows 0; exec ${q(process.execPath)} ${q(BATT)} alpha --path ${q(sb.pattern)}`;
    const r = spawnSync('script', ['-qec', cmd, '/dev/null'], { env: { ...process.env, NO_COLOR: '1', BATT_HOME: sb.home }, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const lines = r.stdout.split(/\r?\n/).map((l) => l.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\r/g, ''));
    assert.ok(lines.some((l) => /^ok {2}alpha {2}.* 1 file /.test(l)), r.stdout);
    assert.ok(lines.some((l) => /^backup complete: 1 ok, 0 failed/.test(l)), r.stdout);
    const scraps = lines.filter((l) => l.trim().length > 0 && l.trim().length <= 2);
    assert.deepEqual(scraps, [], `no line of one or two characters:\n${r.stdout}`);
  } finally {
    sb.cleanup();
  }
});

test('on a terminal of normal width a run still shows the progress list', { skip: !fs.existsSync('/usr/bin/script') && 'no script(1)' }, () => {
  const sb = sandbox();
  try {
    writeScript(sb.home, 'alpha', 'echo data > out.txt');
    const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
    const cmd = `stty cols 100 rows 40; exec ${q(process.execPath)} ${q(BATT)} alpha --path ${q(sb.pattern)}`;
    const r = spawnSync('script', ['-qec', cmd, '/dev/null'], { env: { ...process.env, NO_COLOR: '1', BATT_HOME: sb.home }, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /alpha: 1 file, /, 'the progress list titles the finished task');
  } finally {
    sb.cleanup();
  }
});
