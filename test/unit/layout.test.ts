// The layout of src/ is the architecture: each folder may import only from the folders below it
// in LAYERS, and no file imports itself back through others. A newcomer reads the order here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const src = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'src');

/** Bottom first: a folder may import from itself and from the folders before it, never after. */
export const LAYERS = ['core', 'config', 'services', 'catalog', 'run', 'retention', 'targets', 'notify', 'ops', 'commands', 'entry'];

function sources(dir = src): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? sources(p) : e.name.endsWith('.ts') ? [p] : [];
  });
}

/** Relative imports of a file (static, export-from and dynamic), as absolute .ts paths. */
export function importsOf(file: string, text = fs.readFileSync(file, 'utf8')): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/(?:from|import)\s*\(?\s*'(\.{1,2}\/[^']+)\.js'/g)) out.push(path.resolve(path.dirname(file), `${m[1]}.ts`));
  return out;
}

const folderOf = (file: string) => path.relative(src, file).split(path.sep)[0]!;

test('every file of src/ lives in a folder of LAYERS (nothing loose at the top)', () => {
  const loose = sources().filter((f) => !LAYERS.includes(folderOf(f)));
  assert.deepEqual(loose.map((f) => path.relative(src, f)), []);
  assert.deepEqual(fs.readdirSync(src).filter((n) => !LAYERS.includes(n)), [], 'a folder of src/ missing from LAYERS');
});

test('imports run one way: a folder imports only from itself and the folders below it', () => {
  const upward: string[] = [];
  for (const f of sources()) {
    for (const t of importsOf(f)) {
      assert.ok(fs.existsSync(t), `${path.relative(src, f)} imports a missing ${path.relative(src, t)}`);
      if (LAYERS.indexOf(folderOf(t)) > LAYERS.indexOf(folderOf(f))) upward.push(`${path.relative(src, f)} -> ${path.relative(src, t)}`);
    }
  }
  assert.deepEqual(upward, []);
});

test('no import cycle between files', () => {
  const graph = new Map(sources().map((f) => [f, importsOf(f)]));
  const state = new Map<string, 'open' | 'done'>();
  const cycles: string[] = [];
  const visit = (f: string, stack: string[]) => {
    state.set(f, 'open');
    for (const t of graph.get(f) ?? []) {
      if (state.get(t) === 'open') cycles.push([...stack.slice(stack.indexOf(t)), t].map((x) => path.relative(src, x)).join(' -> '));
      else if (!state.has(t)) visit(t, [...stack, t]);
    }
    state.set(f, 'done');
  };
  for (const f of graph.keys()) if (!state.has(f)) visit(f, [f]);
  assert.deepEqual(cycles, []);
});

test('the checks can fail: an upward import and a cycle are found', () => {
  const a = path.join(src, 'core', 'x.ts');
  assert.deepEqual(importsOf(a, "import { y } from '../entry/y.js';\nconst z = await import('./z.js');"), [path.join(src, 'entry', 'y.ts'), path.join(src, 'core', 'z.ts')]);
  assert.ok(LAYERS.indexOf('entry') > LAYERS.indexOf('core'));
});
