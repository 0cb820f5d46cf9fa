// backupService on its own: a run id known in advance, so a staging path can be planted
// (../shared/RELIABILITY.md 14: a symlink planted at a staging path is not followed).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { FULL_BELOW, backupService, comparableBackup, filledUp, compressionKinds, sizeDropWarning, type BackupJob, type RunContext } from '../../src/run/backup.js';
import { STAGING_PREFIX } from '../../src/catalog/catalog.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'batt-backup-unit-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function setup(name: string) {
  const root = path.join(dir, name);
  const base = path.join(root, 'fixed');
  const victim = path.join(root, 'victim');
  const marker = path.join(root, 'ran');
  fs.mkdirSync(base, { recursive: true, mode: 0o700 });
  fs.mkdirSync(victim);
  fs.writeFileSync(path.join(victim, 'precious'), 'keep me');
  const script = path.join(root, 'backup-svc');
  fs.writeFileSync(script, `#!/usr/bin/env bash\nset -eu\ntouch "${marker}"\necho dump > "$BATT_DEST/dump.sql"\n`, { mode: 0o755 });
  const lines: string[] = [];
  const runId = `20261129T000000-${name}`;
  const ctx: RunContext = {
    homeRoot: root,
    base,
    now: new Date(),
    runId,
    killAfterMs: 1000,
    baseEnv: { PATH: process.env.PATH },
    log: { file: undefined, write: (scope, line) => lines.push(`${scope}: ${line}`) },
    version: 'test',
  };
  const job: BackupJob = { service: 'svc', script, input: { options: {}, args: [] }, conf: {}, timeoutMs: 30_000 };
  return { base, victim, marker, ctx, job, staging: path.join(base, `${STAGING_PREFIX}svc-${runId}`), lines };
}

test('a symlink planted at the staging path is not followed: the backup fails, the script never runs, the link target is untouched', async () => {
  for (const kind of ['folder', 'dangling'] as const) {
    const s = setup(kind);
    const target = kind === 'folder' ? s.victim : path.join(s.victim, 'nosuch');
    fs.symlinkSync(target, s.staging);
    const r = await backupService(s.job, s.ctx);
    assert.equal(r.status, 'failed', `${kind}: ${JSON.stringify(r)}`);
    assert.match(r.error ?? '', /^svc: /, kind);
    assert.ok(!fs.existsSync(s.marker), `${kind}: the script ran with the planted link as its BATT_DEST`);
    assert.deepEqual(fs.readdirSync(s.victim), ['precious'], `${kind}: something was written through the link`);
    assert.equal(fs.readFileSync(path.join(s.victim, 'precious'), 'utf8'), 'keep me');
    // Nothing in the destination looks like a backup: no svc folder, no manifest anywhere.
    assert.deepEqual(fs.readdirSync(s.base).filter((n) => !n.startsWith(STAGING_PREFIX)), [], kind);
    assert.ok(!fs.existsSync(path.join(s.victim, 'batt-manifest.json')), kind);
  }
});

test('the same setup without a planted link backs up (so the failures above come from the link)', async () => {
  const s = setup('clean');
  const r = await backupService(s.job, s.ctx);
  assert.equal(r.status, 'ok', JSON.stringify(r) + s.lines.join('\n'));
  assert.ok(fs.existsSync(path.join(s.base, 'svc', 'batt-manifest.json')));
  assert.ok(fs.existsSync(s.marker));
  assert.deepEqual(fs.readdirSync(s.victim), ['precious']);
});

test('the manifest is written before the folder is renamed into place: when writing it fails, no service folder appears (RELIABILITY 5)', async () => {
  // A step made to fail on purpose, as restic and borg test crash order: here writing the manifest
  // fails because the script left a folder by the name of its temp file (.batt-manifest.json.<pid>.tmp,
  // the pid being batt's: here this test process, the script's parent). A SIGKILL between the two
  // steps is too short a window for the kill test in test/e2e/faults.test.ts to hit.
  const s = setup('manifest-fails');
  fs.writeFileSync(s.job.script, `#!/usr/bin/env bash\nset -eu\necho dump > "$BATT_DEST/dump.sql"\nmkdir "$BATT_DEST/.batt-manifest.json.$PPID.tmp"\n`);
  const r = await backupService(s.job, s.ctx);
  assert.equal(r.status, 'failed', JSON.stringify(r));
  assert.match(r.error ?? '', /batt-manifest\.json/, 'it failed at the manifest, not before');
  assert.equal(r.dest, undefined);
  assert.deepEqual(fs.readdirSync(s.base), [], 'no service folder without its manifest, no staging left');
});

test("a script's file named like batt's own (batt-manifest.json, batt-copies.json) fails the backup instead of being replaced", async () => {
  for (const name of ['batt-manifest.json', 'batt-copies.json']) {
    for (const kind of ['file', 'folder'] as const) {
      const s = setup(`taken-${name}-${kind}`);
      const make = kind === 'file' ? `echo '{"mine":1}' > "$BATT_DEST/${name}"` : `mkdir "$BATT_DEST/${name}"; echo x > "$BATT_DEST/${name}/x"`;
      fs.writeFileSync(s.job.script, `#!/usr/bin/env bash\nset -eu\necho dump > "$BATT_DEST/dump.sql"\n${make}\n`);
      const r = await backupService(s.job, s.ctx);
      assert.equal(r.status, 'failed', `${name} ${kind}: ${JSON.stringify(r)}`);
      assert.equal(r.error, `svc: the script left ${name}, a name batt keeps for its own file; use another name`, `${name} ${kind}`);
      assert.deepEqual(fs.readdirSync(s.base), [], `${name} ${kind}: nothing kept`);
    }
  }
});

test('sizeDropWarning: below MIN_SIZE_RATIO of the previous backup, with both sizes; 0 or no previous backup = never', () => {
  const prev = { bytes: 1000, dir: '/b/2026/12/05/db' };
  const cases: [number, typeof prev | undefined, number, RegExp | undefined][] = [
    [499, prev, 0.5, /^the backup is 499 B \(499 bytes\), 49% of the previous one's 1000 B \(1000 bytes, \/b\/2026\/12\/05\/db\); MIN_SIZE_RATIO is 0\.5$/],
    [500, prev, 0.5, undefined],
    [2000, prev, 0.5, undefined],
    [1, prev, 0, undefined],
    [1, undefined, 0.5, undefined],
    [899, prev, 0.9, /89% of the previous/],
    [0, { bytes: 0, dir: '/x' }, 0.5, undefined],
  ];
  for (const [bytes, previous, ratio, want] of cases) {
    const got = sizeDropWarning(bytes, previous, ratio);
    if (want) assert.match(got ?? '', want, `${bytes} vs ${previous?.bytes} at ${ratio}`);
    else assert.equal(got, undefined, `${bytes} vs ${previous?.bytes} at ${ratio}`);
  }
});

test('compressionKinds: the sorted set of the files\' compression suffixes, "plain" for none', () => {
  const cases: [string[], string][] = [
    [['shop.sql'], 'plain'],
    [['shop.sql.zst', 'globals.sql.zst'], 'zst'],
    [['shop.sql', 'globals.sql.ZST'], 'plain zst'],
    [['www.tar.zst', 'www.tar.zst.idx.zst', 'www.snar'], 'plain zst'],
    [['a.tar.gz', 'b.tgz', 'c.xz', 'd.bz2', 'e.lz4'], 'bz2 gz lz4 xz'],
    [['dump.rdb'], 'plain'],
    [[], ''],
  ];
  for (const [files, want] of cases) assert.equal(compressionKinds(files), want, files.join(' '));
});

test('comparableBackup: the newest earlier full with the same options, and only if compressed the same way', () => {
  const b = (dir: string, over: Partial<{ options: string; incremental: boolean; kinds: string; bytes: number }> = {}) => ({ bytes: 1000, dir, options: '{}', incremental: false, kinds: 'zst', ...over });
  const one = '{"db":["shop"]}';
  const cases: [string, ReturnType<typeof b>[] | undefined, string, string, string | undefined, RegExp | undefined][] = [
    ['no earlier backup', undefined, '{}', 'zst', undefined, undefined],
    ['the newest of two fulls', [b('/1'), b('/2')], '{}', 'zst', '/2', undefined],
    ['an incremental is passed over for its full', [b('/1'), b('/2', { incremental: true })], '{}', 'zst', '/1', undefined],
    ['only incrementals: none', [b('/1', { incremental: true })], '{}', 'zst', undefined, undefined],
    ['other options are passed over', [b('/1'), b('/2', { options: one })], '{}', 'zst', '/1', undefined],
    ['one database after the whole server: none', [b('/1')], one, 'zst', undefined, undefined],
    ['plain after zstd: not compared, and why', [b('/1')], '{}', 'plain', undefined, /^size not compared with \/1: its files are zst, these plain$/],
    ['zstd after plain: not compared', [b('/1', { kinds: 'plain' })], '{}', 'zst', undefined, /its files are plain, these zst/],
  ];
  for (const [name, earlier, options, kinds, want, skipped] of cases) {
    const got = comparableBackup(earlier, options, kinds);
    assert.equal(got.previous?.dir, want, name);
    if (skipped) assert.match(got.skipped ?? '', skipped, name);
    else assert.equal(got.skipped, undefined, name);
  }
});

test('filledUp: under FULL_BELOW bytes free for non-root writers when a script ended is full; a filesystem that reports no size is not', () => {
  const cases: [string, { bavail: number; bsize: number; blocks: number } | undefined, RegExp | undefined][] = [
    ['0 free', { bavail: 0, bsize: 4096, blocks: 1000 }, /^0 B free on its filesystem \(for non-root writers\) when the script ended, so a file may be cut short/],
    ['one block free', { bavail: 1, bsize: 4096, blocks: 1000 }, /^4\.0 KiB free/],
    ['just under', { bavail: FULL_BELOW / 4096 - 1, bsize: 4096, blocks: 1000 }, /^1020\.0 KiB free/],
    ['exactly FULL_BELOW', { bavail: FULL_BELOW / 4096, bsize: 4096, blocks: 1000 }, undefined],
    ['plenty', { bavail: 1e9, bsize: 4096, blocks: 2e9 }, undefined],
    ['a FUSE filesystem with no size', { bavail: 0, bsize: 4096, blocks: 0 }, undefined],
    ['no block size', { bavail: 0, bsize: 0, blocks: 10 }, undefined],
    ['statfs failed', undefined, undefined],
  ];
  for (const [name, st, want] of cases) {
    const got = filledUp(st);
    if (want) assert.match(got ?? '', want, name);
    else assert.equal(got, undefined, name);
  }
});
