// Bundles the CLI into dist/ so that start-up reads a handful of files instead of
// hundreds of node_modules entries; heavy modules stay in lazily loaded chunks.
//
// dist/ is updated in place, each file written to a temporary name and renamed: a batt that is
// running (a test, a backup) while someone rebuilds never finds its entry missing or half
// written, and the chunks it loads later (content-hashed names) are still there. Chunks that
// the new build no longer uses are removed once they are ten minutes old.
import { build } from 'esbuild';
import { readFileSync, mkdirSync, writeFileSync, renameSync, readdirSync, statSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

// string-width and wrap-ansi build Unicode tables when they load (Intl.Segmenter, emoji regexes:
// 30-90 ms), yet yargs (through cliui) and listr2 need them only to lay out help and progress
// text. Imports of them get a stand-in that loads the real module on its first call.
const lazyWidth = {
  name: 'lazy-width',
  setup(b) {
    b.onResolve({ filter: /^(string-width|wrap-ansi)$/ }, (args) =>
      // one stand-in per importing folder: nested copies of different versions stay apart
      args.pluginData?.real ? undefined : { path: `${args.resolveDir}/${args.path}`, namespace: 'lazy-width', pluginData: { resolveDir: args.resolveDir, spec: args.path } },
    );
    b.onLoad({ filter: /.*/, namespace: 'lazy-width' }, (args) => ({
      contents: `let real;\nexport default function lazy(...a) {\n  real ??= require(${JSON.stringify(args.pluginData.spec)}).default;\n  return real(...a);\n}\n`,
      resolveDir: args.pluginData.resolveDir,
      pluginData: { real: true },
    }));
  },
};

const root = path.dirname(fileURLToPath(import.meta.url));
const dist = path.join(root, 'dist');
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
const result = await build({
  entryPoints: { batt: 'src/main.ts' },
  outdir: dist,
  write: false,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  chunkNames: 'chunks/[name]-[hash]',
  define: { __BATT_VERSION__: JSON.stringify(pkg.version) },
  banner: {
    js: "import { createRequire as __battCreateRequire } from 'node:module'; const require = __battCreateRequire(import.meta.url);",
  },
  logLevel: 'warning',
  // ssh2 loads optional native addons (.node) inside try/catch: leave it to node_modules at run time
  external: ['ssh2', 'ssh2-sftp-client', 'cpu-features'],
  plugins: [lazyWidth],
});

const written = new Set();
// Chunks first, the entry last: a new entry never points at a chunk not yet written.
const files = [...result.outputFiles].sort((a, b) => Number(a.path.endsWith('batt.js')) - Number(b.path.endsWith('batt.js')));
for (const f of files) {
  mkdirSync(path.dirname(f.path), { recursive: true });
  const tmp = `${f.path}.${process.pid}.tmp`;
  // esbuild keeps the entry's hashbang; the entry is executable for the bin link.
  writeFileSync(tmp, f.contents, { mode: f.path.endsWith('batt.js') ? 0o755 : 0o644 });
  renameSync(tmp, f.path);
  written.add(f.path);
}
const chunks = path.join(dist, 'chunks');
for (const name of readdirSync(chunks)) {
  const p = path.join(chunks, name);
  try {
    if (!written.has(p) && Date.now() - statSync(p).mtimeMs > 10 * 60_000) rmSync(p, { force: true });
  } catch {
    /* removed by a concurrent build */
  }
}
