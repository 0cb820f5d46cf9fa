import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { acquireLock, isAlive, LOCK_FILE } from '../../src/run/lock.js';
import { LockedError } from '../../src/core/errors.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'batt-lock-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A pid that surely belongs to no running process: one that just exited. */
function deadPid(): number {
  const r = spawnSync('sh', ['-c', 'echo $$']);
  return Number(String(r.stdout).trim());
}

test('a second acquire fails with LockedError; release frees the lock', async () => {
  const root = fs.mkdtempSync(path.join(dir, 'r'));
  const lock = await acquireLock(root);
  assert.equal(lock.staleRemoved, false);
  const info = JSON.parse(fs.readFileSync(path.join(root, LOCK_FILE), 'utf8'));
  assert.equal(info.pid, process.pid);
  assert.equal(fs.statSync(path.join(root, LOCK_FILE)).mode & 0o777, 0o600);
  await assert.rejects(acquireLock(root), (e: unknown) => e instanceof LockedError && e.exitCode === 11 && /another batt run/.test(e.message));
  await lock.release();
  assert.ok(!fs.existsSync(path.join(root, LOCK_FILE)));
  const again = await acquireLock(root);
  await again.release();
});

test('waiting acquires the lock once it is released', async () => {
  const root = fs.mkdtempSync(path.join(dir, 'w'));
  const first = await acquireLock(root);
  setTimeout(() => void first.release(), 300);
  const second = await acquireLock(root, { waitMs: 20_000 });
  assert.equal(second.staleRemoved, false);
  await second.release();
});

test('stale locks are taken over: dead pid, recycled pid, empty file', async () => {
  const host = os.hostname();
  const cases: [string, string][] = [
    ['dead pid', JSON.stringify({ pid: deadPid(), host, procStart: '1', since: 'x' })],
    ['recycled pid (start time differs)', JSON.stringify({ pid: process.pid, host, procStart: '1', since: 'x' })],
    ['old empty file (writer died)', ''],
    ['old garbage', 'not json'],
  ];
  for (const [name, content] of cases) {
    const root = fs.mkdtempSync(path.join(dir, 's'));
    fs.writeFileSync(path.join(root, LOCK_FILE), content);
    const old = new Date(Date.now() - 60_000);
    fs.utimesSync(path.join(root, LOCK_FILE), old, old);
    const lock = await acquireLock(root);
    assert.equal(lock.staleRemoved, true, name);
    assert.equal(JSON.parse(fs.readFileSync(lock.file, 'utf8')).pid, process.pid, name);
    await lock.release();
  }
});

test('isAlive: a lock of another host or of a live process is respected', () => {
  assert.equal(isAlive({ pid: deadPid(), host: 'another-host', procStart: '', since: '' }), true);
  assert.equal(isAlive({ pid: process.pid, host: os.hostname(), procStart: '', since: '' }), true);
  assert.equal(isAlive({ pid: deadPid(), host: os.hostname(), procStart: '', since: '' }), false);
});

test('a lock held by another host is not taken over', async () => {
  const root = fs.mkdtempSync(path.join(dir, 'h'));
  fs.writeFileSync(path.join(root, LOCK_FILE), JSON.stringify({ pid: 1, host: 'elsewhere', procStart: '', since: 'x' }));
  await assert.rejects(acquireLock(root), LockedError);
  assert.equal(JSON.parse(fs.readFileSync(path.join(root, LOCK_FILE), 'utf8')).host, 'elsewhere');
});

test('release does not remove a lock that another process took over', async () => {
  const root = fs.mkdtempSync(path.join(dir, 't'));
  const lock = await acquireLock(root);
  fs.writeFileSync(lock.file, JSON.stringify({ pid: 1, host: os.hostname(), procStart: '', since: 'x' }));
  await lock.release();
  assert.ok(fs.existsSync(lock.file));
});

test('a young unreadable lock may be one being written: it counts as held', async () => {
  const root = fs.mkdtempSync(path.join(dir, 'y'));
  fs.writeFileSync(path.join(root, LOCK_FILE), '');
  await assert.rejects(acquireLock(root), (e: unknown) => e instanceof LockedError && /another batt run \(starting\)/.test(e.message));
});

test('two runs starting at the same moment never both get the lock', async () => {
  // Before the lock was written whole (temp file + link), a reader could see it empty, call it
  // stale and remove it: both runs then held the lock (about 1 in 100 here).
  let both = 0;
  for (let i = 0; i < 100; i++) {
    const root = fs.mkdtempSync(path.join(dir, 'c'));
    const r = await Promise.allSettled([acquireLock(root), acquireLock(root)]);
    if (r.every((x) => x.status === 'fulfilled')) both++;
    for (const x of r) if (x.status === 'rejected') assert.ok(x.reason instanceof LockedError, String(x.reason));
    assert.deepEqual(fs.readdirSync(root), [LOCK_FILE], 'no temp file left');
  }
  assert.equal(both, 0);
});

test('temp files left by runs killed while locking are removed; live ones are kept', async () => {
  const root = fs.mkdtempSync(path.join(dir, 'k'));
  const dead = path.join(root, `${LOCK_FILE}.${deadPid()}.0a1b2c3d.tmp`);
  const live = path.join(root, `${LOCK_FILE}.1.0a1b2c3d.tmp`); // pid 1 always runs
  const other = path.join(root, 'unrelated.tmp');
  for (const f of [dead, live, other]) fs.writeFileSync(f, '{}');
  const lock = await acquireLock(root);
  assert.ok(!fs.existsSync(dead));
  assert.ok(fs.existsSync(live) && fs.existsSync(other));
  await lock.release();
});

test('without hard links (vfat, some network filesystems) the lock falls back to an exclusive create', async () => {
  const fsp = (await import('node:fs/promises')).default;
  const link = fsp.link;
  let calls = 0;
  fsp.link = async () => {
    calls++;
    throw Object.assign(new Error('EPERM: operation not permitted, link'), { code: 'EPERM' });
  };
  try {
    const root = fs.mkdtempSync(path.join(dir, 'v'));
    const lock = await acquireLock(root);
    assert.equal(JSON.parse(fs.readFileSync(lock.file, 'utf8')).pid, process.pid);
    await assert.rejects(acquireLock(root), LockedError);
    assert.deepEqual(fs.readdirSync(root), [LOCK_FILE], 'no temp file left');
    await lock.release();
    assert.deepEqual(fs.readdirSync(root), []);
    assert.ok(calls >= 2, 'link was tried and refused');
  } finally {
    fsp.link = link;
  }
});
