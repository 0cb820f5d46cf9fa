// The bundle in dist/ must not depend on, or name, the folder it was built in: ./install copies it
// elsewhere, and two builds of the same source must be the same bytes. And it holds the man page.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { BATT, REPO, REQUIRE_SERVERS } from '../helpers/batt.js';

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

test('the build writes the man page, dist/batt.1: roff that groff renders without a warning, every command in it', { skip: !REQUIRE_SERVERS && spawnSync('sh', ['-c', 'command -v groff']).status !== 0 ? 'no groff (Debian: groff-base)' : false }, () => {
  const page = path.join(path.dirname(BATT), 'batt.1');
  const roff = fs.readFileSync(page, 'utf8');
  assert.match(roff, /^\.TH "BATT" "1" "[A-Z][a-z]+ \d{4}" "batt \d+\.\d+\.\d+"\n/);
  assert.doesNotMatch(roff, /&(quot|#39|lt|gt|amp);|<br>/, 'HTML escapes left in the roff');
  const r = spawnSync('groff', ['-man', '-Tutf8', '-ww', page], { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C.UTF-8' } });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, '', 'no groff warning');
  // groff's terminal output: bold and underline as overstrikes
  const text = r.stdout.replace(/.\x08/g, '');
  for (const h of ['NAME', 'SYNOPSIS', 'DESCRIPTION', 'COMMANDS', 'OPTIONS', 'EXIT STATUS', 'ENVIRONMENT', 'FILES', 'SEE ALSO']) {
    assert.match(text, new RegExp(`^${h}$`, 'm'), h);
  }
  assert.match(text, /^ +batt - backup all the things$/m);
  // every command `batt --help` lists has its entry under COMMANDS
  const help = spawnSync(process.execPath, [BATT, '--help'], { encoding: 'utf8' }).stdout;
  const block = help.slice(help.indexOf('Commands:\n'), help.indexOf('\n\n', help.indexOf('Commands:\n')));
  const commands = [...block.matchAll(/^ {2}batt ([a-z]+) /gm)].map((m) => m[1]!);
  assert.ok(commands.length >= 10, help);
  const section = text.slice(text.indexOf('\nCOMMANDS\n'), text.indexOf('\nOPTIONS\n'));
  // groff pads a justified line with extra spaces, left or right alternately: "batt  backups" too
  assert.deepEqual(commands.filter((c) => !new RegExp(`^ {7}batt +${c}\\b|, +batt +${c}\\b`, 'm').test(section)), [], section);
});
