// The registry through the built CLI: enable/disable, list, and how bad entries fail a run.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { batt, sandbox, writeScript } from '../helpers/batt.js';

const sandboxes: ReturnType<typeof sandbox>[] = [];
after(() => sandboxes.forEach((s) => s.cleanup()));
function box() {
  const s = sandbox();
  sandboxes.push(s);
  writeScript(s.home, 'a', 'echo a > "$BATT_DEST/a.txt"');
  writeScript(s.home, 'b', 'echo b > "$BATT_DEST/b.txt"');
  return s;
}
const enabled = (home: string) => fs.readdirSync(path.join(home, 'scripts-enabled')).sort();

/** The stderr of a refused command: exactly one line, starting with "batt: ". */
function oneLine(stderr: string): string {
  const lines = stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line expected, got:\n${stderr}`);
  assert.match(lines[0]!, /^batt: /);
  return lines[0]!;
}

test('enable and disable are idempotent and say what they did', async () => {
  const s = box();
  const opts = { home: s.home };
  let r = await batt(['enable', 'a'], opts);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'enabled a');
  assert.equal(fs.readlinkSync(path.join(s.home, 'scripts-enabled', 'backup-a')), '../scripts-available/backup-a');
  r = await batt(['enable', 'a', 'b'], opts);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'a was already enabled\nenabled b');
  assert.deepEqual(enabled(s.home), ['backup-a', 'backup-b']);
  r = await batt(['disable', 'a'], opts);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'disabled a');
  r = await batt(['disable', 'a'], opts);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'a was not enabled');
  assert.deepEqual(enabled(s.home), ['backup-b']);
  assert.ok(fs.existsSync(path.join(s.home, 'scripts-available', 'backup-a')), 'disable never touches the script');
});

test('enable refuses unknown and invalid names, and a bad name among several changes nothing', async () => {
  const s = box();
  const cases: [string[], number, RegExp][] = [
    [['enable', 'zz'], 2, /unknown service "zz": no backup script .*backup-zz \(available: a, b\)/],
    [['enable', '../x'], 2, /invalid service name "\.\.\/x"/],
    [['enable', 'A'], 2, /invalid service name "A"/],
    [['enable', 'a/b'], 2, /invalid service name "a\/b"/],
    [['enable', '.hidden'], 2, /invalid service name/],
    [['enable', 'a', 'b', 'zz'], 2, /unknown service "zz"/],
    [['enable', 'a', '../../etc/passwd'], 2, /invalid service name/],
    [['disable', 'a', '../x'], 2, /invalid service name/],
  ];
  for (const [args, code, msg] of cases) {
    const r = await batt(args, { home: s.home });
    assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
    assert.match(oneLine(r.stderr), msg, args.join(' '));
    assert.deepEqual(enabled(s.home), [], `${args.join(' ')} changed nothing`);
  }
  assert.deepEqual(fs.readdirSync(s.dir).sort(), ['home'], 'nothing was written outside the home');
});

test('disable of a name batt does not know is a usage error, as enable says; a dangling link still goes', async () => {
  const s = box();
  const link = (n: string) => path.join(s.home, 'scripts-enabled', `backup-${n}`);
  fs.symlinkSync('../scripts-available/backup-a', link('a'));
  // neither a script nor a link: exit 2 with enable's message, and nothing is removed
  for (const args of [['disable', 'zz'], ['disable', 'a', 'zz']]) {
    const r = await batt(args, { home: s.home });
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(oneLine(r.stderr), /^batt: unknown service "zz": no backup script .*backup-zz \(available: a, b\)$/);
    assert.equal(r.stdout, '');
    assert.deepEqual(enabled(s.home), ['backup-a'], `${args.join(' ')} changed nothing`);
  }
  // a known service that is not enabled: idempotent, exit 0
  let r = await batt(['disable', 'b'], { home: s.home });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'b was not enabled');
  // the link of a script that was removed is still taken away
  fs.symlinkSync('../scripts-available/backup-gone', link('gone'));
  r = await batt(['disable', 'gone', 'a'], { home: s.home });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'disabled gone\ndisabled a');
  assert.deepEqual(enabled(s.home), []);
});

test('a home without scripts-available is not a batt home: exit 2 for every command that needs scripts', async () => {
  const s = box();
  const why = '(no scripts-available folder; install batt, or set --home / BATT_HOME)';
  const missing = path.join(s.dir, 'nohome');
  const bare = path.join(s.dir, 'bare'); // exists, but holds no scripts-available
  fs.mkdirSync(bare);
  for (const home of [missing, bare]) {
    const at = ['--path', s.pattern];
    for (const args of [['list'], ['list', '--json'], at, ['--file', s.dir, ...at], ['a', ...at], ['enable', 'a'], ['disable', 'a'], ['restore', 'a', ...at]]) {
      const r = await batt(args, { home });
      assert.equal(r.code, 2, `${home} ${args.join(' ')}: ${r.stderr}`);
      assert.equal(oneLine(r.stderr), `batt: ${home} is not a batt home ${why}`, args.join(' '));
    }
  }
  assert.deepEqual(fs.readdirSync(bare), [], 'nothing was created in the mistyped home');
  assert.ok(!fs.existsSync(missing) && !fs.existsSync(s.root), 'nor the home nor the destination');
  // the default home on a machine where batt was never installed says the same
  if (!fs.existsSync('/opt/batt')) {
    const r = await batt(['list'], { env: { BATT_HOME: undefined } });
    assert.equal(r.code, 2, r.stderr);
    assert.equal(oneLine(r.stderr), `batt: /opt/batt is not a batt home ${why}`);
  }
});

test('a non-executable script cannot be enabled or run', async () => {
  const s = box();
  writeScript(s.home, 'noexec', 'echo x > "$BATT_DEST/x"', 'backup', 0o644);
  let r = await batt(['enable', 'noexec'], { home: s.home });
  assert.equal(r.code, 4, r.stderr);
  assert.match(oneLine(r.stderr), /backup-noexec is not executable \(chmod \+x it\)/);
  assert.deepEqual(enabled(s.home), []);
  r = await batt(['noexec', '--path', s.pattern], { home: s.home });
  assert.equal(r.code, 4, r.stderr);
  assert.match(oneLine(r.stderr), /not executable/);
  assert.ok(!fs.existsSync(s.root), 'no backup root was created');
});

test('broken and foreign links in scripts-enabled: list reports them, a run fails them and backs up the rest', async () => {
  const s = box();
  assert.equal((await batt(['enable', 'a'], { home: s.home })).code, 0);
  const en = path.join(s.home, 'scripts-enabled');
  fs.symlinkSync('../scripts-available/backup-gone', path.join(en, 'backup-gone'));
  fs.symlinkSync('/bin/true', path.join(en, 'backup-foreign'));
  fs.writeFileSync(path.join(en, 'notes.txt'), 'x');

  const list = await batt(['list'], { home: s.home });
  assert.equal(list.code, 1, 'list exits 1 when an enabled entry is broken');
  assert.match(list.stdout, /^a\s+yes\s+no\s*$/m);
  assert.match(list.stdout, /^b\s+no\s+no\s*$/m);
  assert.match(list.stderr, /warning: .*backup-gone is a broken link/);
  assert.match(list.stderr, /warning: .*backup-foreign points to \/bin\/true/);
  assert.match(list.stderr, /warning: .*notes\.txt is not a backup-<service> entry/);

  const run = await batt(['--path', s.pattern], { home: s.home });
  assert.equal(run.code, 1, run.stderr);
  assert.match(run.stdout, /^ok\s+a\s/m);
  assert.match(run.stderr, /^batt: gone: .*broken link/m);
  assert.match(run.stderr, /^batt: foreign: .*points to \/bin\/true/m);
  assert.match(run.stderr, /backup incomplete: 1 ok, 3 failed/);
  const day = fs.readdirSync(s.root, { recursive: true }) as string[];
  assert.ok(day.some((p) => p.endsWith('/a/a.txt')), 'a was backed up');
  assert.ok(!day.some((p) => /gone|foreign|true/.test(p)), 'nothing for the bad entries');
});

test('batt list --json has a stable shape', async () => {
  const s = box();
  writeScript(s.home, 'a', 'exit 0', 'restore');
  await batt(['enable', 'b'], { home: s.home });
  fs.symlinkSync('../scripts-available/backup-gone', path.join(s.home, 'scripts-enabled', 'backup-gone'));
  const r = await batt(['list', '--json'], { home: s.home });
  assert.equal(r.code, 1);
  const doc = JSON.parse(r.stdout);
  assert.deepEqual(Object.keys(doc).sort(), ['home', 'services']);
  assert.equal(doc.home, s.home);
  assert.deepEqual(doc.services, [
    { name: 'a', available: true, enabled: false, hasRestore: true },
    { name: 'b', available: true, enabled: true, hasRestore: false },
    {
      name: 'gone',
      available: false,
      enabled: true,
      hasRestore: false,
      problem: `${s.home}/scripts-enabled/backup-gone is a broken link (${s.home}/scripts-available/backup-gone is missing)`,
    },
  ]);
});
