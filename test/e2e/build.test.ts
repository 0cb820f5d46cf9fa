// The bundle in dist/ must not depend on, or name, the folder it was built in: ./install copies it
// elsewhere, and two builds of the same source must be the same bytes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { BATT, REPO } from '../helpers/batt.js';

test('no file of the build names the folder it was built in', () => {
  // The files this build uses: the entry, the list bundle, and everything esm/main.js reaches by
  // import or import() (older builds' chunks may still lie beside them for ten minutes).
  const dist = path.dirname(BATT);
  const files = new Set<string>();
  const reach = (f: string) => {
    if (files.has(f)) return;
    files.add(f);
    for (const m of fs.readFileSync(f, 'utf8').matchAll(/(?:\bfrom|\bimport\(?)\s*["'](\.{1,2}\/[^"']+\.js)["']/g)) reach(path.resolve(path.dirname(f), m[1]!));
  };
  for (const f of ['batt.js', 'list.js', 'esm/main.js']) reach(path.join(dist, f));
  assert.ok(files.size > 10, [...files].join(','));
  const naming = [...files].filter((f) => fs.readFileSync(f, 'utf8').includes(REPO));
  assert.deepEqual(naming.map((f) => path.relative(dist, f)), []);
});
