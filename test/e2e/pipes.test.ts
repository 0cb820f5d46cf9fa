// What a sysadmin's shell does with batt's output: `batt backups | head -1` closes the pipe while
// batt still writes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { BATT, sandbox, writeScript } from '../helpers/batt.js';

/** batt with its stdout (and stderr) pipes closed by the reader before batt writes a byte. */
function battIntoClosedPipe(args: string[], home: string, closeStderr = false): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BATT, ...args], { env: { ...process.env, NO_COLOR: '1', BATT_HOME: home }, stdio: ['ignore', 'pipe', 'pipe'] });
    // closed at once: node takes far longer to start than this takes, so every write meets EPIPE
    child.stdout.destroy();
    let stderr = '';
    if (closeStderr) child.stderr.destroy();
    else child.stderr.on('data', (c) => (stderr += c));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stderr }));
  });
}

test('a reader that closes the pipe (batt ... | head -1) gets no crash, and a backup still completes', async () => {
  const sb = sandbox();
  try {
    for (const s of ['alpha', 'beta', 'gamma']) writeScript(sb.home, s, 'echo data > out.txt');
    // list (the CommonJS bundle), backups (the ES module build), and a backup run
    const list = await battIntoClosedPipe(['list'], sb.home);
    assert.equal(list.code, 0, list.stderr);
    assert.doesNotMatch(list.stderr, /EPIPE|Unhandled|at /, list.stderr);
    const run = await battIntoClosedPipe(['alpha', 'beta', '--path', sb.pattern], sb.home);
    assert.equal(run.code, 0, run.stderr);
    assert.doesNotMatch(run.stderr, /EPIPE|Unhandled/, run.stderr);
    const backups = await battIntoClosedPipe(['backups', '--path', sb.pattern], sb.home);
    assert.equal(backups.code, 0, backups.stderr);
    assert.doesNotMatch(backups.stderr, /EPIPE|Unhandled/, backups.stderr);
    const day = fs.readdirSync(sb.root, { recursive: true }).map(String).filter((f) => f.endsWith('batt-manifest.json'));
    assert.equal(day.length, 2, `both backups sealed: ${day.join(',')}`);
    // stderr closed too (batt nosuch 2>&1 | head -0): still the exit code of the failure
    const bad = await battIntoClosedPipe(['nosuch'], sb.home, true);
    assert.equal(bad.code, 2);
  } finally {
    sb.cleanup();
  }
});
