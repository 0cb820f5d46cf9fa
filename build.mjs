// Bundles the CLI into dist/ so that start-up reads a handful of files instead of
// hundreds of node_modules entries; heavy modules stay in lazily loaded chunks.
import { build } from 'esbuild';
import { readFileSync, rmSync, chmodSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8'));
rmSync(new URL('./dist', import.meta.url), { recursive: true, force: true });
await build({
  entryPoints: { batt: 'src/main.ts' },
  outdir: 'dist',
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
});
// esbuild keeps the entry's hashbang; make the entry executable for the bin link.
chmodSync(new URL('./dist/batt.js', import.meta.url), 0o755);
