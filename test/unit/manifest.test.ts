import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { MANIFEST, ManifestError, describeProblem, readManifest, verifyFolder, walk, writeManifest, type Manifest } from '../../src/catalog/manifest.js';
import { scanRoot, selectBackups, STAGING_PREFIX } from '../../src/catalog/catalog.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'batt-man-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const sha = (s: string) => createHash('sha256').update(s).digest('hex');

function manifest(service: string, files: Record<string, string>, startedAt = '2026-11-28T10:00:00.000Z'): Manifest {
  return {
    format: 1,
    service,
    host: 'h',
    runId: 'r',
    startedAt,
    finishedAt: startedAt,
    status: 'ok',
    exitCode: 0,
    battVersion: 't',
    script: '/x',
    options: { options: {}, args: [] },
    files: Object.entries(files).map(([p, c]) => ({ path: p, size: c.length, sha256: sha(c) })),
    totalBytes: 0,
  };
}

async function makeBackup(folder: string, service: string, files: Record<string, string>, startedAt?: string) {
  fs.mkdirSync(folder, { recursive: true });
  for (const [p, c] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(folder, p)), { recursive: true });
    fs.writeFileSync(path.join(folder, p), c);
  }
  await writeManifest(folder, manifest(service, files, startedAt));
}

test('writeManifest then readManifest round-trips, mode 0600', async () => {
  const d = path.join(dir, 'rt');
  await makeBackup(d, 'svc', { 'a.sql': 'data', 'sub/b': 'more' });
  const m = await readManifest(d);
  assert.equal(m.service, 'svc');
  assert.deepEqual(m.files.map((f) => f.path), ['a.sql', 'sub/b']);
  assert.equal(fs.statSync(path.join(d, MANIFEST)).mode & 0o777, 0o600);
  assert.deepEqual(fs.readdirSync(d).filter((n) => n.endsWith('.tmp')), [], 'no temp file left');
});

test('readManifest rejects malformed manifests and unsafe paths', async () => {
  const good = manifest('svc', { a: 'x' });
  const cases: [string, unknown][] = [
    ['not json', '{'],
    ['null', null],
    ['array', []],
    ['wrong format', { ...good, format: 2 }],
    ['no service', { ...good, service: undefined }],
    ['bad date', { ...good, startedAt: 'yesterday' }],
    ['files not a list', { ...good, files: {} }],
    ['file without hash', { ...good, files: [{ path: 'a', size: 1 }] }],
    ['size as string', { ...good, files: [{ path: 'a', size: '1', sha256: 'x' }] }],
    ['null entry', { ...good, files: [null] }],
    ['dot-dot path', { ...good, files: [{ path: '../etc/passwd', size: 1, sha256: 'x' }] }],
    ['inner dot-dot', { ...good, files: [{ path: 'a/../../x', size: 1, sha256: 'x' }] }],
    ['absolute path', { ...good, files: [{ path: '/etc/passwd', size: 1, sha256: 'x' }] }],
  ];
  for (const [name, content] of cases) {
    const d = path.join(dir, 'bad', name.replace(/\W/g, '_'));
    fs.mkdirSync(d, { recursive: true });
    fs.writeFileSync(path.join(d, MANIFEST), typeof content === 'string' ? content : JSON.stringify(content));
    await assert.rejects(readManifest(d), ManifestError, name);
  }
  await assert.rejects(readManifest(path.join(dir, 'nowhere')), ManifestError, 'missing manifest');
});

test('verifyFolder finds flipped bytes, missing, extra, resized and replaced files', async () => {
  const d = path.join(dir, 'verify');
  await makeBackup(d, 'svc', { 'a.bin': 'abcdef', 'b.bin': 'keep', 'c.bin': 'gone', 'd.bin': 'grow', 'e.bin': 'link' });
  const m = await readManifest(d);
  assert.deepEqual(await verifyFolder(d, m), []);
  fs.writeFileSync(path.join(d, 'a.bin'), 'abcdeF');
  fs.rmSync(path.join(d, 'c.bin'));
  fs.writeFileSync(path.join(d, 'd.bin'), 'grown');
  fs.rmSync(path.join(d, 'e.bin'));
  fs.symlinkSync('b.bin', path.join(d, 'e.bin'));
  fs.writeFileSync(path.join(d, 'extra.txt'), 'x');
  const got = (await verifyFolder(d, m)).map((p) => `${p.path}:${p.problem}`).sort();
  assert.deepEqual(got, ['a.bin:checksum', 'c.bin:missing', 'd.bin:size', 'e.bin:not a file', 'extra.txt:extra']);
  const words = Object.fromEntries((await verifyFolder(d, m)).map((p) => [p.path, describeProblem(p)]));
  assert.equal(words['d.bin'], 'size 5 bytes, expected 4');
  const sum = (t: string) => createHash('sha256').update(t).digest('hex');
  assert.equal(words['a.bin'], `checksum (sha256 ${sum('abcdeF')} found, ${sum('abcdef')} expected by the manifest)`);
  assert.equal(words['c.bin'], 'missing');
});

test('walk lists entries without following links', async () => {
  const d = path.join(dir, 'walk');
  fs.mkdirSync(path.join(d, 'sub'), { recursive: true });
  fs.writeFileSync(path.join(d, 'sub', 'f'), 'x');
  fs.symlinkSync('/etc', path.join(d, 'link'));
  assert.deepEqual(await walk(d), [
    { rel: 'link', kind: 'other' },
    { rel: 'sub', kind: 'dir' },
    { rel: 'sub/f', kind: 'file' },
  ]);
});

test('scanRoot finds backups, reports invalid ones and staging, skips links out of the root', async () => {
  const root = path.join(dir, 'root');
  const outside = path.join(dir, 'outside');
  await makeBackup(path.join(root, '2026/11/27/mysql'), 'mysql', { 'd.sql': 'x' }, '2026-11-27T01:00:00.000Z');
  await makeBackup(path.join(root, '2026/11/28/mysql'), 'mysql', { 'd.sql': 'y' }, '2026-11-28T01:00:00.000Z');
  await makeBackup(path.join(root, '2026/11/28/file.2'), 'file', { 'x.tar': 'z' }, '2026-11-28T00:30:00.000Z');
  await makeBackup(path.join(outside, 'evil'), 'evil', { e: 'e' });
  fs.symlinkSync(outside, path.join(root, '2026/11/28/link-out'));
  fs.symlinkSync(path.join(outside, 'evil'), path.join(root, 'evil-link'));
  const staging = path.join(root, '2026/11/28', `${STAGING_PREFIX}redis-20261128T010000-abcdef`);
  await makeBackup(staging, 'redis', { 'dump.rdb': 'r' }); // even with a manifest, staging is not a backup
  fs.mkdirSync(path.join(root, '2026/11/28/broken'), { recursive: true });
  fs.writeFileSync(path.join(root, '2026/11/28/broken', MANIFEST), '{');
  fs.writeFileSync(path.join(root, 'stray-file'), 'x');

  const scan = await scanRoot(root);
  assert.deepEqual(scan.backups.map((b) => b.id), ['2026/11/27/mysql', '2026/11/28/file.2', '2026/11/28/mysql'], 'sorted by start time');
  assert.deepEqual(scan.invalid.map((i) => i.dir), [path.join(root, '2026/11/28/broken')]);
  assert.deepEqual(scan.staging, [staging]);
  assert.ok(scan.backups.every((b) => b.dir.startsWith(root + '/')), 'nothing outside the root');

  const sel = selectBackups(root, scan.backups, ['2026/11/28/mysql', path.join(root, '2026/11/27/mysql'), '../outside/evil', 'nope']);
  assert.deepEqual(sel.found.map((b) => b.id), ['2026/11/28/mysql', '2026/11/27/mysql']);
  assert.deepEqual(sel.missing, ['../outside/evil', 'nope']);
  assert.deepEqual(await scanRoot(path.join(dir, 'no-such-root')), { backups: [], invalid: [], staging: [] });

  // What a run asks before it starts: only the leftovers, without parsing every manifest.
  const light = await scanRoot(root, { manifests: false });
  assert.deepEqual(light, { backups: [], invalid: [], staging: [staging] });
});
