// Target.put reports how far a copy has got (the progress line of an upload on a terminal): bytes
// of the backup's files sent so far, of their total, within a file as the backend can tell.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { hashFile, writeManifest, type Manifest } from '../../src/catalog/manifest.js';
import { LocalBackend } from '../../src/targets/local.js';
import { Target } from '../../src/targets/target.js';
import type { TargetConf } from '../../src/targets/config.js';

test('Target.put: progress grows through each file (local backend: every chunk) and ends at the total of the files and the manifest', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'batt-upprog-'));
  try {
    const backup = path.join(dir, 'backup');
    fs.mkdirSync(backup);
    fs.writeFileSync(path.join(backup, 'a.bin'), Buffer.alloc(3_500_000, 1));
    fs.writeFileSync(path.join(backup, 'b.bin'), Buffer.alloc(10, 2));
    const files = [];
    for (const f of ['a.bin', 'b.bin']) files.push({ path: f, ...(await hashFile(path.join(backup, f))) });
    const totalBytes = files.reduce((n, f) => n + f.size, 0);
    const manifest = { format: 1, service: 's', host: 'h', runId: 'r', startedAt: new Date().toISOString(), finishedAt: new Date().toISOString(), status: 'ok', exitCode: 0, battVersion: 't', script: 'x', options: { options: {}, args: [] }, files, totalBytes } as Manifest;
    await writeManifest(backup, manifest);
    const total = totalBytes + fs.statSync(path.join(backup, 'batt-manifest.json')).size;
    const seen: [number, number][] = [];
    const target = new Target('t', new LocalBackend(path.join(dir, 'remote')), { name: 't' } as TargetConf);
    await target.put(backup, '2026/s', { onProgress: (done, of) => seen.push([done, of]) });
    assert.ok(seen.every(([, of]) => of === total), 'the same total throughout');
    assert.ok(seen.every(([d], i) => i === 0 || d >= seen[i - 1]![0]), `never backwards: ${seen.map(([d]) => d).join(' ')}`);
    assert.ok(seen.some(([d]) => d > 0 && d < 3_500_000), `within the big file: ${seen.map(([d]) => d).join(' ')}`);
    assert.equal(seen[seen.length - 1]![0], total);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
