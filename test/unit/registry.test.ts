import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { resolveHome } from '../../src/core/home.js';
import {
  TRAITS_HEAD,
  disableServices,
  headerLinesPastHead,
  scriptHead,
  enableServices,
  listServices,
  parseScriptTraits,
  readScriptTraits,
  resolveScript,
  scriptProblem,
  validateServiceName,
} from '../../src/services/registry.js';
import { PermissionError, UsageError } from '../../src/core/errors.js';
import { REPO as REPO_ROOT } from '../helpers/batt.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'batt-reg-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

function newHome(name: string) {
  const home = resolveHome(path.join(dir, name), {});
  fs.mkdirSync(home.available, { recursive: true });
  fs.mkdirSync(home.enabled, { recursive: true });
  return home;
}
function script(home: ReturnType<typeof resolveHome>, file: string, mode = 0o755): string {
  const p = path.join(home.available, file);
  fs.writeFileSync(p, '#!/bin/sh\nexit 0\n');
  fs.chmodSync(p, mode);
  return p;
}

test('validateServiceName accepts simple names and refuses paths and oddities', () => {
  for (const ok of ['mysql', 'file', 'my-svc', 'pg_15', '9lives', 'a'.repeat(64)]) validateServiceName(ok);
  for (const bad of ['', '../x', 'x/y', '.hidden', '-flag', '_x', 'MySQL', 'a b', 'a\nb', 'x.2', 'a'.repeat(65), '..']) {
    assert.throws(() => validateServiceName(bad), UsageError, JSON.stringify(bad));
  }
});

test('scriptProblem: missing, not a file, not executable; as root also owner and mode', async () => {
  const home = newHome('sp');
  const good = script(home, 'backup-good');
  assert.equal(await scriptProblem(good, true), undefined);
  assert.match((await scriptProblem(path.join(home.available, 'nope'), false))!, /does not exist/);
  assert.match((await scriptProblem(home.available, false))!, /not a regular file/);
  assert.match((await scriptProblem(script(home, 'backup-noexec', 0o644), false))!, /not executable/);
  assert.match((await scriptProblem(script(home, 'backup-gw', 0o775), true))!, /writable by group or others \(mode 775\)/);
  assert.match((await scriptProblem(script(home, 'backup-ow', 0o757), true))!, /writable by group or others/);
  assert.equal(await scriptProblem(script(home, 'backup-gw2', 0o775), false), undefined, 'not root: mode not checked');
  if (process.getuid?.() === 0) {
    const foreign = script(home, 'backup-foreign');
    fs.chownSync(foreign, 65534, 65534);
    assert.match((await scriptProblem(foreign, true))!, /owned by uid 65534, not root/);
  }
});

test('enable/disable are idempotent; a bad name among several changes nothing', async () => {
  const home = newHome('en');
  script(home, 'backup-a');
  script(home, 'backup-b');
  assert.deepEqual(await enableServices(home, ['a']), ['a']);
  assert.deepEqual(await enableServices(home, ['a', 'b']), ['b']);
  assert.deepEqual(await enableServices(home, ['a', 'b']), []);
  assert.equal(fs.readlinkSync(path.join(home.enabled, 'backup-a')), '../scripts-available/backup-a');
  assert.deepEqual(await disableServices(home, ['a']), ['a']);
  assert.deepEqual(await disableServices(home, ['a']), []);
  await assert.rejects(enableServices(home, ['a', 'zz']), UsageError);
  await assert.rejects(enableServices(home, ['a', '../x']), UsageError);
  assert.deepEqual(fs.readdirSync(home.enabled), ['backup-b'], 'a was not enabled by the failed call');
  await assert.rejects(disableServices(home, ['b', '../x']), UsageError);
  assert.deepEqual(fs.readdirSync(home.enabled), ['backup-b'], 'b was not disabled by the failed call');
});

test('enable refuses an unsafe script and a foreign entry in the way', async () => {
  const home = newHome('unsafe');
  script(home, 'backup-noexec', 0o644);
  await assert.rejects(enableServices(home, ['noexec']), (e: unknown) => e instanceof PermissionError && /not executable/.test(e.message));
  script(home, 'backup-c');
  fs.symlinkSync('/bin/true', path.join(home.enabled, 'backup-c'));
  await assert.rejects(enableServices(home, ['c']), /cannot enable c: .* points to \/bin\/true/);
  script(home, 'backup-e');
  // The entry in the way of c used to be found only after e was already linked.
  await assert.rejects(enableServices(home, ['e', 'c']), /cannot enable c/);
  assert.ok(!fs.existsSync(path.join(home.enabled, 'backup-e')), 'e was not enabled by the failed call');
  fs.writeFileSync(path.join(home.enabled, 'backup-d'), 'x');
  await assert.rejects(disableServices(home, ['d']), /is not a link; batt will not delete it/);
  assert.ok(fs.existsSync(path.join(home.enabled, 'backup-d')));
});

test('listServices reports broken, foreign and unmanaged entries', async () => {
  const home = newHome('list');
  script(home, 'backup-a');
  script(home, 'restore-a');
  script(home, 'backup-off');
  await enableServices(home, ['a']);
  fs.symlinkSync('../scripts-available/backup-gone', path.join(home.enabled, 'backup-gone'));
  fs.symlinkSync('/etc/passwd', path.join(home.enabled, 'backup-foreign'));
  fs.writeFileSync(path.join(home.enabled, 'README'), 'x');
  const byName = Object.fromEntries((await listServices(home)).map((s) => [s.name, s]));
  assert.deepEqual(byName.a, { name: 'a', available: true, enabled: true, hasRestore: true });
  assert.deepEqual(byName.off, { name: 'off', available: true, enabled: false, hasRestore: false });
  assert.match(byName.gone!.problem!, /broken link/);
  assert.match(byName.foreign!.problem!, /points to \/etc\/passwd/);
  assert.match(byName.README!.problem!, /not a backup-<service> entry/);
});

test('resolveScript: unknown service lists the available ones', async () => {
  const home = newHome('resolve');
  script(home, 'backup-a');
  assert.equal(await resolveScript(home, 'a'), path.join(home.available, 'backup-a'));
  await assert.rejects(resolveScript(home, 'b'), (e: unknown) => e instanceof UsageError && /unknown service "b"/.test(e.message) && e.hint === 'available: a');
});

test('parseScriptTraits: a "# batt:" comment line declares traits; anything else does not', () => {
  const cases: [string, boolean][] = [
    ['#!/bin/bash\n# batt: append-only\nset -e\n', true],
    ['#!/bin/sh\n#batt:append-only\n', true],
    ['#!/usr/bin/env python3\n# batt: future-word, APPEND-ONLY\n', true],
    ['#!/usr/bin/env node\n// batt: append-only\n', true],
    ['-- batt: append-only\n', true],
    ['#!/bin/bash\n', false],
    ['# this script is not batt: append-only\n', false], // not at the start of the comment
    ['echo "# batt: append-only"\n', false], // code, not a comment line
    ['# batt: append-only-ish\n', false],
    ['# batt: something-else\n', false],
  ];
  for (const [head, appendOnly] of cases) assert.equal(parseScriptTraits(head).appendOnly, appendOnly, JSON.stringify(head));
});

test('parseScriptTraits: "levels" (incrementals on BATT_PREVIOUS), alone or with other words', () => {
  const cases: [string, { appendOnly: boolean; levels: boolean }][] = [
    ['#!/bin/bash\n# batt: append-only levels\n', { appendOnly: true, levels: true }],
    ['#!/bin/bash\n# batt: levels\n', { appendOnly: false, levels: true }],
    ['#!/bin/bash\n# batt: append-only\n', { appendOnly: true, levels: false }],
    ['#!/bin/bash\n# batt: level\n', { appendOnly: false, levels: false }],
    ['echo "# batt: levels"\n', { appendOnly: false, levels: false }],
  ];
  for (const [head, want] of cases) {
    const { appendOnly, levels } = parseScriptTraits(head);
    assert.deepEqual({ appendOnly, levels }, want, JSON.stringify(head));
  }
});

test('parseScriptTraits: "# batt: drill" declares a restore script that understands BATT_DRILL; drill-drop also BATT_DRILL=drop', () => {
  const cases: [string, boolean, boolean][] = [
    ['#!/bin/bash\n# batt: drill\n', true, false],
    ['#!/bin/bash\n# batt: drill, drill-drop\n', true, true],
    ['#!/bin/bash\n# batt: drill-drop\n', true, true], // drop implies drill
    ['#!/bin/bash\n# batt: append-only\n', false, false],
    ['#!/bin/bash\n# drill\n', false, false],
    ['# batt: drilling\n', false, false],
  ];
  for (const [head, drill, drillDrop] of cases) {
    const t = parseScriptTraits(head);
    assert.deepEqual([t.drill, t.drillDrop], [drill, drillDrop], JSON.stringify(head));
  }
});

test('readScriptTraits: every built-in restore script declares drill; those that make scratch databases drill-drop', async () => {
  const dir = path.join(REPO_ROOT, 'scripts-available');
  for (const s of ['file', 'mysql', 'postgresql', 'redis', 'sqlite', 'mongodb']) {
    const t = await readScriptTraits(path.join(dir, `restore-${s}`));
    assert.equal(t.drill, true, s);
    assert.equal(t.drillDrop, s === 'mysql' || s === 'postgresql', s);
  }
});

test('parseScriptTraits: "# batt: check" declares check mode, alone or with other words', () => {
  const cases: [string, { appendOnly: boolean; check: boolean }][] = [
    ['#!/bin/bash\n# batt: check\n', { appendOnly: false, check: true }],
    ['#!/bin/bash\n# batt: append-only\n# batt: check\n', { appendOnly: true, check: true }],
    ['#!/bin/sh\n# batt: append-only, check\n', { appendOnly: true, check: true }],
    ['#!/bin/bash\n# batt: checks\n', { appendOnly: false, check: false }],
    ['#!/bin/bash\n[ "$BATT_CHECK" ] # batt: check\n', { appendOnly: false, check: false }],
    ['#!/bin/bash\n', { appendOnly: false, check: false }],
  ];
  for (const [head, want] of cases) {
    const t = parseScriptTraits(head);
    assert.deepEqual({ appendOnly: t.appendOnly, check: t.check }, want, JSON.stringify(head));
  }
});

test('readScriptTraits reads the top of the built-in scripts: backup-file is append-only', async () => {
  const dir = path.join(REPO_ROOT, 'scripts-available');
  assert.equal((await readScriptTraits(path.join(dir, 'backup-file'))).appendOnly, true);
  assert.equal((await readScriptTraits(path.join(dir, 'backup-file'))).levels, true);
  // pg_dump -Fc seeks back to rewrite its table of contents; sqlite's .backup writes pages in place
  assert.equal((await readScriptTraits(path.join(dir, 'backup-postgresql'))).appendOnly, false);
  assert.equal((await readScriptTraits(path.join(dir, 'backup-sqlite'))).appendOnly, false);
});

test('readScriptTraits: every built-in backup script declares check mode', async () => {
  const dir = path.join(REPO_ROOT, 'scripts-available');
  for (const s of ['file', 'mysql', 'postgresql', 'redis', 'sqlite', 'mongodb', 'system']) {
    assert.equal((await readScriptTraits(path.join(dir, `backup-${s}`))).check, true, `backup-${s}`);
  }
});

test('every "# batt:" word of a built-in script lies within the head batt reads (a long header once hid backup-file\'s check)', async () => {
  const dir = path.join(REPO_ROOT, 'scripts-available');
  for (const f of fs.readdirSync(dir)) {
    const whole = parseScriptTraits(fs.readFileSync(path.join(dir, f), 'utf8'));
    assert.deepEqual(await readScriptTraits(path.join(dir, f)), whole, f);
  }
});

test('scriptHead and headerLinesPastHead: whole lines within the first TRAITS_HEAD bytes are read; header lines after them are named', () => {
  const pad = (n: number) => `#${'x'.repeat(n - 2)}\n`; // a comment line of n bytes with its newline
  const cases: [string, string, string[]][] = [
    // name, script, lines past the head
    ['short script: all of it', '#!/bin/sh\n# batt: check\n', []],
    ['exactly TRAITS_HEAD bytes: all of it', pad(TRAITS_HEAD - 13) + '# batt: check', []],
    ['a line that ends on the last byte is read', pad(TRAITS_HEAD - 14) + '# batt: check\n' + 'echo\n', []],
    ['a line cut by the limit is not', pad(TRAITS_HEAD - 13) + '# batt: check\necho\n', ['2:# batt: check']],
    ['both kinds, and // and -- comments, far down', pad(TRAITS_HEAD) + '# batt-requires: jq\n  // batt: drill\n-- batt: levels\n# batt is great\n', ['2:# batt-requires: jq', '3:// batt: drill', '4:-- batt: levels']],
    ['multi-byte characters count as bytes', `#${'é'.repeat(TRAITS_HEAD / 2)}\n# batt: check\n`, ['2:# batt: check']],
  ];
  for (const [name, text, past] of cases) {
    const buf = Buffer.from(text);
    assert.deepEqual(headerLinesPastHead(buf).map((l) => `${l.line}:${l.text}`), past, name);
    assert.ok(Buffer.byteLength(scriptHead(buf)) <= TRAITS_HEAD, name);
    assert.equal(parseScriptTraits(scriptHead(buf)).check, text.includes('# batt: check') && past.length === 0, name);
  }
});

test('readScriptTraits: a script of exactly TRAITS_HEAD bytes whose last line has no newline is read whole', async () => {
  const f = path.join(dir, 'exact');
  fs.writeFileSync(f, `#${'x'.repeat(TRAITS_HEAD - 15)}\n# batt: check`);
  assert.equal(fs.statSync(f).size, TRAITS_HEAD);
  assert.equal((await readScriptTraits(f)).check, true);
});

test('every built-in script has its header lines within the part batt reads', () => {
  for (const f of fs.readdirSync(path.join(REPO_ROOT, 'scripts-available'))) {
    assert.deepEqual(headerLinesPastHead(fs.readFileSync(path.join(REPO_ROOT, 'scripts-available', f))), [], f);
  }
});
