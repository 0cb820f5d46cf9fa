// batt.log keeps its bound (10 MiB a file, 5 rotated files kept) while it is written, not only
// when it is opened: one run with a chatty script cannot grow it without end (issue 15).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { openLog } from '../../src/core/log.js';

const MAX = 10 * 1024 * 1024;

test('60 MB written through one logger: no file over 10 MiB', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'batt-log-'));
  try {
    const log = openLog(dir);
    for (let i = 0; i < 60_000; i++) log.write('svc', 'y'.repeat(i % 2000));
    const files = fs.readdirSync(dir).sort();
    assert.equal(files.length, 6, files.join(' '));
    for (const f of files) assert.ok(fs.statSync(path.join(dir, f)).size <= MAX, `${f}: ${fs.statSync(path.join(dir, f)).size} bytes`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('60 MB written through two loggers of the same file: 5 generations kept, none past the bound by more than 64 KiB', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'batt-log-'));
  try {
    // two loggers: two batt processes (a nested root's run) writing the one log, rotating under each other
    const a = openLog(dir);
    const b = openLog(dir);
    const line = 'x'.repeat(1000);
    for (let i = 0; i < 30_000; i++) {
      a.write('svc', line);
      b.write('other', line);
    }
    a.write('svc', 'the last line');
    const files = fs.readdirSync(dir).sort();
    assert.deepEqual(files, ['batt.log', 'batt.log.1', 'batt.log.2', 'batt.log.3', 'batt.log.4', 'batt.log.5']);
    // beside another writer, a file may pass the bound by what that one wrote since this one looked (64 KiB)
    for (const f of files) assert.ok(fs.statSync(path.join(dir, f)).size <= MAX + 64 * 1024, `${f}: ${fs.statSync(path.join(dir, f)).size} bytes`);
    assert.match(fs.readFileSync(path.join(dir, 'batt.log'), 'utf8'), /svc: the last line\n$/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
