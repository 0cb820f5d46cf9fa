// The path helpers of the built-in scripts are copied into each script on purpose (each runs
// alone: by hand, on another host, as the one file a drop-in author copies; see
// docs/script-contract.md). The price of copies is drift, so: every copy of join_caller is the
// same text, with the comment that says why; every script that uses a helper defines it itself
// and sources nothing; every from_caller tidies both kinds of path through join_caller.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { REPO } from '../helpers/batt.js';

const DIR = path.join(REPO, 'scripts-available');
const scripts = fs.readdirSync(DIR).sort().map((name) => {
  const text = fs.readFileSync(path.join(DIR, name), 'utf8');
  return { name, text, code: text.replace(/^\s*#.*$/gm, '') }; // code: without comment lines
});

/** The function `name` with the comment block just above it, or undefined. */
function fn(text: string, name: string): string | undefined {
  const lines = text.split('\n');
  const start = lines.findIndex((l) => l.startsWith(`${name}() {`));
  if (start < 0) return undefined;
  let top = start;
  while (top > 0 && lines[top - 1]!.startsWith('#')) top--;
  const end = lines.findIndex((l, i) => i > start && l === '}');
  assert.ok(end > start, `${name}: no closing brace at column 0`);
  return lines.slice(top, end + 1).join('\n');
}

test('every copy of join_caller is the same, says why it is a copy, and the scripts that use a helper define it', () => {
  const using = scripts.filter((s) => /\b(join|from)_caller\b/.test(s.code));
  assert.ok(using.length >= 8, using.map((s) => s.name).join(','));
  const copies = using.map((s) => ({ name: s.name, join: fn(s.text, 'join_caller') }));
  for (const c of copies) {
    assert.ok(c.join, `${c.name} uses the helpers but does not define join_caller`);
    assert.match(c.join, /^# join_caller, and from_caller where a script has one, are copied into each built-in script that\n# takes paths, on purpose/, `${c.name}: the comment saying why`);
  }
  const first = copies[0]!;
  for (const c of copies.slice(1)) assert.equal(c.join, first.join, `${c.name}'s join_caller differs from ${first.name}'s`);
  for (const s of using) {
    assert.doesNotMatch(s.text, /^\s*(source|\.)\s+\S/m, `${s.name} sources a file: it must run alone`);
    if (/\bfrom_caller\b/.test(s.code)) assert.ok(fn(s.text, 'from_caller'), `${s.name} uses from_caller but does not define it`);
  }
});

test('every from_caller tidies a relative path against BATT_CWD and an absolute one the same way, through join_caller', () => {
  const withFrom = scripts.filter((s) => fn(s.text, 'from_caller'));
  assert.ok(withFrom.length >= 6, withFrom.map((s) => s.name).join(','));
  for (const s of withFrom) {
    const body = fn(s.text, 'from_caller')!;
    assert.match(body, /caller=\$\{BATT_CWD:-\}/, s.name);
    assert.match(body, /\[ -z "\$\{BATT_CWD\+set\}" \] \|\| \[ -n "\$caller" \] \|\|/, `${s.name}: an empty BATT_CWD (a removed folder) is told apart`);
    assert.match(body, /join_caller "\$caller" "\$p"/, `${s.name}: relative paths through join_caller`);
    assert.match(body, /join_caller "" "\$p"/, `${s.name}: absolute paths through join_caller`);
    assert.match(body, /\n {2}resolved=\$p\n\}$/, `${s.name}: the result in $resolved`);
  }
});

test('every copy of proc_start (is this pid still the process it was?), of work_folder and of work_file is the same', () => {
  const body = (text: string, name: string) => {
    const lines = text.split('\n');
    const start = lines.findIndex((l) => l.startsWith(`${name}() {`));
    if (start < 0) return undefined;
    return lines.slice(start, lines.findIndex((l, i) => i > start && l === '}') + 1).join('\n');
  };
  for (const name of ['proc_start', 'work_folder', 'work_file']) {
    const copies = scripts.map((s) => ({ name: s.name, fn: body(s.text, name) })).filter((c) => c.fn);
    assert.ok(copies.length >= 2, `${name}: ${copies.map((c) => c.name).join(',')}`);
    for (const c of copies.slice(1)) assert.equal(c.fn, copies[0]!.fn, `${c.name}'s ${name} differs from ${copies[0]!.name}'s`);
  }
});
