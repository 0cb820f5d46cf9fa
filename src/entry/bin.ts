#!/usr/bin/env node
// The `batt` command (dist/batt.js, CommonJS, kept tiny): the plain `batt list` runs from its own
// CommonJS bundle (dist/list.js, src/entry/listmain.ts); everything else from the ES module build
// (dist/esm/main.js, src/entry/main.ts), whose chunks load lazily. Paths are built at run time so the
// bundler leaves both loads to node.
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { listRoute } from './plainargs.js';
import { withHome, withSystemPath } from '../core/syspath.js';

// A reader that goes away (`batt backups | head -1`, a closed ssh session) must neither crash
// batt with a stack trace nor stop a backup half way: what cannot be written to a closed pipe is
// dropped, and the command finishes with its own exit code. Other write errors stay fatal.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (err.code !== 'EPIPE') throw err;
  });
}

// Before anything looks up or starts a tool: cron's PATH lacks /usr/sbin, and a systemd service
// may have no HOME (src/core/syspath.ts).
process.env.PATH = withSystemPath(process.env.PATH);
const home = withHome(process.env.HOME, () => os.userInfo().homedir);
if (home) process.env.HOME = home;

const argv = process.argv.slice(2);
const list = listRoute(argv);
if (list) {
  void (require(path.join(__dirname, 'list.js')) as typeof import('./listmain.js')).main(list.args);
} else {
  void import(pathToFileURL(path.join(__dirname, 'esm', 'main.js')).href).then((m: typeof import('./main.js')) => m.main(argv));
}
