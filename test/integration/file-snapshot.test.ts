// SNAPSHOT=btrfs for the file service, on a real btrfs: an image file formatted by mkfs.btrfs and
// mounted on a loop device (root only), with a subvolume holding the data. The archive is read
// from a read-only snapshot (a change made to the live folder after the snapshot is not in it),
// names the original paths, and the snapshot is gone after success, failure and SIGTERM; after a
// SIGKILL the next run removes it, and a .batt-snap-* subvolume batt did not record stays
// (RELIABILITY 1, 5, 21).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync, spawnSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { REQUIRE_SERVERS, batt, sandbox, type Sandbox, backupsOf, readText } from '../helpers/batt.js';
import { findBinary } from '../helpers/servers.js';

const isRoot = process.getuid?.() === 0;
const missing = isRoot && findBinary('mkfs.btrfs') && findBinary('btrfs') && findBinary('losetup') ? [] : ['root, mkfs.btrfs/btrfs (btrfs-progs) or losetup'];
const skip = missing.length && !REQUIRE_SERVERS ? `needs: ${missing.join(', ')}` : false;

describe('file SNAPSHOT=btrfs on a real btrfs (loop device)', { skip, concurrency: false }, () => {
  let sb: Sandbox;
  let mnt = '';
  let vol = '';
  let www = '';
  let records = '';
  let mounted = false;

  before(() => {
    if (missing.length) throw new Error(`BATT_REQUIRE_SERVERS=1 but missing: ${missing.join(', ')}`);
    sb = sandbox({ builtins: true });
    const img = path.join(sb.dir, 'btrfs.img');
    fs.writeFileSync(img, '');
    fs.truncateSync(img, 256 << 20);
    execFileSync('mkfs.btrfs', ['-q', img], { stdio: 'pipe' });
    mnt = path.join(sb.dir, 'mnt');
    fs.mkdirSync(mnt);
    execFileSync('mount', ['-o', 'loop', img, mnt], { stdio: 'pipe' });
    mounted = true;
    vol = path.join(mnt, 'vol');
    execFileSync('btrfs', ['subvolume', 'create', vol], { stdio: 'pipe' });
    www = path.join(vol, 'www');
    fs.mkdirSync(path.join(www, 'sub'), { recursive: true });
    fs.writeFileSync(path.join(www, 'index.html'), 'hello\n');
    fs.writeFileSync(path.join(www, 'sub', 'data.bin'), Buffer.alloc(100_000, 7));
    fs.linkSync(path.join(www, 'index.html'), path.join(www, 'hard.html'));
    fs.symlinkSync('/etc/hostname', path.join(www, 'abs-link'));
    fs.symlinkSync('sub/data.bin', path.join(www, 'rel-link'));
    fs.writeFileSync(path.join(sb.home, 'conf', 'file.conf'), 'SNAPSHOT=btrfs\n');
    records = path.join(sb.home, 'state', 'file-snapshots');
  });

  after(() => {
    if (mounted) spawnSync('umount', [mnt]);
    sb?.cleanup();
  });

  const run = (args: string[], env: Record<string, string> = {}, onSpawn?: (c: import('node:child_process').ChildProcess) => void) =>
    batt([...args, '--path', sb.pattern], { home: sb.home, env, onSpawn });
  const subvolumes = () =>
    execFileSync('btrfs', ['subvolume', 'list', '-o', vol], { encoding: 'utf8' })
      .split('\n')
      .filter(Boolean)
      .map((l) => l.replace(/^.* path /, ''));
  const leftovers = () => fs.readdirSync(vol).filter((n) => n.startsWith('.batt-snap-'));
  const members = (archive: string) => execFileSync('tar', ['--zstd', '-tvf', archive], { encoding: 'utf8' }).split('\n').filter(Boolean).map((l) => l.split(/\s+/).slice(5).join(' ')).sort();
  const newest = () => {
    const f = backupsOf(sb).filter((x) => x.endsWith('.tar.zst')).sort().pop();
    assert.ok(f);
    return path.join(sb.root, f);
  };
  /** A TAR stand-in that runs BODY (bash) first, then the real tar. */
  const tarWith = (name: string, body: string) => {
    const f = path.join(sb.dir, name);
    fs.writeFileSync(f, `#!/usr/bin/env bash\n${body}\nexec tar "$@"\n`, { mode: 0o755 });
    return f;
  };

  test('archives from a read-only snapshot, names the live paths, and removes the snapshot', async () => {
    // Written into the live folder after the snapshot was taken (tar starts after it): not archived.
    const late = tarWith('tar-late', `echo late > ${JSON.stringify(path.join(www, 'late.txt'))}`);
    const r = await run(['--file', www], { TAR: late });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const log = readText(path.join(sb.home, 'log', 'batt.log'));
    assert.match(log, /from a read-only snapshot of .*\/vol \(btrfs\)/);
    const names = members(newest());
    const rel = www.slice(1);
    assert.deepEqual(names, [
      `${rel}/`,
      `${rel}/abs-link -> /etc/hostname`,
      `${rel}/hard.html link to ${rel}/index.html`,
      `${rel}/index.html`,
      `${rel}/rel-link -> sub/data.bin`,
      `${rel}/sub/`,
      `${rel}/sub/data.bin`,
    ].sort());
    assert.ok(fs.existsSync(path.join(www, 'late.txt')), 'the stand-in wrote into the live folder');
    assert.deepEqual(leftovers(), [], 'snapshot removed');
    assert.deepEqual(subvolumes(), []);
    assert.deepEqual(fs.readdirSync(records), [], 'record removed');
    fs.rmSync(path.join(www, 'late.txt'));

    // Restored, it is the folder as it was.
    const to = path.join(sb.dir, 'restored');
    const rr = await batt(['restore', 'file', '--to', to, '--path', sb.pattern], { home: sb.home });
    assert.equal(rr.code, 0, rr.stderr);
    assert.equal(fs.readFileSync(path.join(to, www, 'index.html'), 'utf8'), 'hello\n');
    assert.equal(fs.statSync(path.join(to, www, 'hard.html')).ino, fs.statSync(path.join(to, www, 'index.html')).ino);
  });

  test('a failing tar fails the backup and the snapshot is still removed', async () => {
    const before = backupsOf(sb).length;
    const r = await run(['--file', www], { TAR: tarWith('tar-fail', 'echo "tar: simulated failure" >&2; exit 2') });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr + r.stdout, /tar failed with exit code 2/);
    assert.equal(backupsOf(sb).length, before);
    assert.deepEqual(leftovers(), []);
    assert.deepEqual(subvolumes(), []);
  });

  /** Starts a backup whose tar waits; resolves once the snapshot exists. */
  const startSlow = async (pidFile: string, onChild: (c: import('node:child_process').ChildProcess) => void) => {
    const slow = tarWith('tar-slow', `echo "$$ $(ps -o pgid= $$)" > ${JSON.stringify(`${pidFile}.part`)}; mv ${JSON.stringify(`${pidFile}.part`)} ${JSON.stringify(pidFile)}; sleep 60`);
    const running = run(['--file', www], { TAR: slow }, onChild);
    const until = Date.now() + 30_000;
    while (!(leftovers().length && fs.existsSync(pidFile)) && Date.now() < until) await sleep(50);
    assert.equal(leftovers().length, 1, 'the snapshot was taken');
    return { running }; // wrapped: an async function returning the promise would wait for it
  };

  test('SIGTERM mid-archive: batt exits 143 and the snapshot is removed', async () => {
    let child: import('node:child_process').ChildProcess | undefined;
    const { running } = await startSlow(path.join(sb.dir, 'term.pid'), (c) => (child = c));
    child!.kill('SIGTERM');
    const r = await running;
    assert.equal(r.code, 143, r.stderr + r.stdout + readText(path.join(sb.home, "log", "batt.log")).slice(-3000));
    assert.deepEqual(leftovers(), [], 'snapshot removed on SIGTERM');
    assert.deepEqual(subvolumes(), []);
    assert.deepEqual(fs.readdirSync(records), []);
  });

  test('SIGKILL of batt and its script: the snapshot stays; the next run removes it, and only it', async () => {
    let child: import('node:child_process').ChildProcess | undefined;
    const pidFile = path.join(sb.dir, 'kill.pid');
    const { running } = await startSlow(pidFile, (c) => (child = c));
    const pgid = Number(fs.readFileSync(pidFile, 'utf8').trim().split(/\s+/)[1]);
    process.kill(-pgid, 'SIGKILL');
    child!.kill('SIGKILL');
    await running;
    const left = leftovers();
    assert.equal(left.length, 1, 'a SIGKILL leaves the snapshot');
    assert.equal(fs.readdirSync(records).length, 1, 'and its record');
    // A snapshot with batt's kind of name that batt did not make (no record): never removed.
    execFileSync('btrfs', ['subvolume', 'snapshot', '-r', vol, path.join(vol, '.batt-snap-not-ours')], { stdio: 'pipe' });

    const r = await run(['--file', www]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(readText(path.join(sb.home, 'log', 'batt.log')), /removed the snapshot .*left by an interrupted run/);
    assert.deepEqual(leftovers(), ['.batt-snap-not-ours']);
    assert.deepEqual(fs.readdirSync(records), []);
    execFileSync('btrfs', ['subvolume', 'delete', path.join(vol, '.batt-snap-not-ours')], { stdio: 'pipe' });
  });

  test('SNAPSHOT with FULL_EVERY (incrementals) is refused: each snapshot would look new to the .snar', async () => {
    const r = await run(['--file', www, '--file-full-every', '7']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /SNAPSHOT=btrfs and FULL_EVERY .* cannot be used together yet/);
    assert.deepEqual(leftovers(), []);
  });

  test('a path that is not on btrfs is refused with one clear line', async () => {
    const r = await run(['--file', sb.home]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /SNAPSHOT=btrfs: .* is not on a btrfs filesystem/);
  });
});
