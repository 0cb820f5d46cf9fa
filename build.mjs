// Bundles the CLI into dist/ so that start-up reads a handful of files instead of
// hundreds of node_modules entries; heavy modules stay in lazily loaded chunks.
//
// dist/ is updated in place, each file written to a temporary name and renamed: a batt that is
// running (a test, a backup) while someone rebuilds never finds its entry missing or half
// written, and the chunks it loads later (content-hashed names) are still there. Chunks that
// the new build no longer uses are removed once they are ten minutes old.
import { build } from 'esbuild';
import { existsSync, readFileSync, mkdirSync, writeFileSync, renameSync, readdirSync, statSync, rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Marked } from 'marked';
import markedMan from 'marked-man';

// string-width and wrap-ansi build Unicode tables when they load (Intl.Segmenter, emoji regexes:
// 30-90 ms), yet yargs (through cliui) and listr2 need them only to lay out help and progress
// text. Imports of them get a stand-in that loads the real module on its first call.
const lazyWidth = {
  name: 'lazy-width',
  setup(b) {
    b.onResolve({ filter: /^(string-width|wrap-ansi)$/ }, (args) =>
      // one stand-in per importing folder: nested copies of different versions stay apart
      // the path is relative to the repo: the bundle names it, and must not name the build machine's folders
      args.pluginData?.real ? undefined : { path: `${path.relative(root, args.resolveDir)}/${args.path}`, namespace: 'lazy-width', pluginData: { resolveDir: args.resolveDir, spec: args.path } },
    );
    b.onLoad({ filter: /.*/, namespace: 'lazy-width' }, (args) => ({
      contents: `let real;\nexport default function lazy(...a) {\n  real ??= require(${JSON.stringify(args.pluginData.spec)}).default;\n  return real(...a);\n}\n`,
      resolveDir: args.pluginData.resolveDir,
      pluginData: { real: true },
    }));
  },
};

// `require('./x.node')` stays a require at run time, relative to the chunk that makes it.
const nativeAddons = {
  name: 'native-addons',
  setup(b) {
    b.onResolve({ filter: /\.node$/ }, (args) => ({ path: args.path, external: true }));
  },
};

const root = path.dirname(fileURLToPath(import.meta.url));
const dist = path.join(root, 'dist');
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8'));
const common = {
  write: false,
  bundle: true,
  platform: 'node',
  target: 'node20',
  define: { __BATT_VERSION__: JSON.stringify(pkg.version) },
  logLevel: 'warning',
  // ssh2 is bundled like everything else, so an installed batt (which has no node_modules) can use
  // SFTP targets. It loads two optional native addons inside try/catch: cpu-features (cipher order
  // only) stays out; its own sshcrypto.node is copied beside the chunks below, where its relative
  // require finds it. Without either, ssh2 uses node's crypto and its own JS/wasm code.
  external: ['cpu-features'],
  plugins: [lazyWidth, nativeAddons],
};
// Two worlds, and each process loads one of them (so every class has one identity):
// - dist/esm/: every command, as ES modules split into chunks that load when a command needs
//   them (yargs, listr2, the S3 SDK...);
// - dist/list.js: the plain `batt list` as one CommonJS file. node loads CommonJS several times
//   faster than the same code as ES modules (here: +3 ms against +12 ms over an empty script).
// dist/batt.js, the entry, is CommonJS too and only chooses (src/entry/bin.ts).
const esm = await build({
  ...common,
  entryPoints: { main: 'src/entry/main.ts' },
  outdir: path.join(dist, 'esm'),
  splitting: true,
  format: 'esm',
  chunkNames: 'chunks/[name]-[hash]',
  banner: {
    // CommonJS code bundled into ES modules still finds require, __filename and __dirname (ssh2's
    // wasm loader uses __dirname; `define` below points the free ones at these)
    js: [
      "import { createRequire as __battCreateRequire } from 'node:module';",
      "import { fileURLToPath as __battFileURLToPath } from 'node:url';",
      "import { dirname as __battDirname } from 'node:path';",
      'const require = __battCreateRequire(import.meta.url);',
      'const __battFilename = __battFileURLToPath(import.meta.url);',
      'const __battDirnameOf = __battDirname(__battFilename);',
    ].join(' '),
  },
  define: { ...common.define, __filename: '__battFilename', __dirname: '__battDirnameOf' },
});
const cjs = await build({
  ...common,
  entryPoints: { batt: 'src/entry/bin.ts', list: 'src/entry/listmain.ts' },
  outdir: dist,
  format: 'cjs',
});

const written = new Set();
const put = (file, contents, mode = 0o644) => {
  mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, contents, { mode });
  renameSync(tmp, file);
  written.add(file);
};
// What node takes each folder's .js files for; then the chunks, then what loads them, the entry
// last: a new entry never points at a file not yet written.
put(path.join(dist, 'package.json'), '{ "type": "commonjs" }\n');
put(path.join(dist, 'esm', 'package.json'), '{ "type": "module" }\n');
const rank = (f) => (f.endsWith(`${path.sep}batt.js`) ? 3 : f.endsWith(`${path.sep}list.js`) ? 2 : f.includes(`${path.sep}chunks${path.sep}`) ? 0 : 1);
const files = [...esm.outputFiles, ...cjs.outputFiles].sort((a, b) => rank(a.path) - rank(b.path));
// esbuild keeps the entry's hashbang; the entry is executable for the bin link.
for (const f of files) put(f.path, f.contents, f.path.endsWith(`${path.sep}batt.js`) ? 0o755 : 0o644);

// `man batt`: docs/batt.1.md (ronn format) as roff, which ./install puts into MAN_DIR. Its date is
// SOURCE_DATE_EPOCH or the source's mtime, so two builds of the same checkout are the same bytes.
const manSource = path.join(root, 'docs', 'batt.1.md');
const manDate = process.env.SOURCE_DATE_EPOCH ? Number(process.env.SOURCE_DATE_EPOCH) * 1000 : statSync(manSource).mtimeMs;
put(path.join(dist, 'batt.1'), manPage(readFileSync(manSource, 'utf8'), { version: `batt ${pkg.version}`, date: manDate }));

// ssh2's native crypto, where the chunk that bundles ssh2 requires it (optional: see above)
const sshcrypto = path.join(root, 'node_modules', 'ssh2', 'lib', 'protocol', 'crypto', 'build', 'Release', 'sshcrypto.node');
if (existsSync(sshcrypto)) put(path.join(dist, 'esm', 'chunks', 'crypto', 'build', 'Release', 'sshcrypto.node'), readFileSync(sshcrypto), 0o755);

// Chunks no build uses any more go once they are ten minutes old (a batt started before the build
// may still load them); dist/chunks/ is where builds before 2026-11-29 put theirs.
for (const chunks of [path.join(dist, 'esm', 'chunks'), path.join(dist, 'chunks')]) {
  let names = [];
  try {
    names = readdirSync(chunks);
  } catch {
    continue;
  }
  for (const name of names) {
    const p = path.join(chunks, name);
    try {
      if (!written.has(p) && Date.now() - statSync(p).mtimeMs > 10 * 60_000) rmSync(p, { force: true });
    } catch {
      /* removed by a concurrent build */
    }
  }
}

/** Markdown in ronn format to a man page (roff), with marked-man. */
function manPage(markdown, { version, date }) {
  const marked = new Marked();
  // breaks: false: a paragraph's lines flow (marked-man's default breaks each source line)
  marked.use({ ...markedMan, manVersion: version, date, breaks: false });
  marked.use({
    renderer: {
      // "* TERM:" then the text on the next line is a definition list (.TP: the term on its own line)
      listitem(text) {
        const d = /^([^\n]*):\n([\s\S]*)$/.exec(text.trim().replace(/^\.P\s+/, ''));
        return d ? `.TP\n${d[1]}\n${d[2]}\n` : false;
      },
      list(body) {
        return body.startsWith('.TP') ? `${body}.PP\n` : false;
      },
    },
  });
  // marked escapes quotes and angle brackets for HTML; roff wants them as they are
  const entities = { '&quot;': '"', '&#39;': "'", '&lt;': '<', '&gt;': '>', '&amp;': '&' };
  return marked.parse(markdown).replace(/&(quot|#39|lt|gt|amp);/g, (e) => entities[e]);
}
