// The start-up fast path for `batt list` must answer exactly as the yargs route does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { batt, REPO, sandbox, writeScript } from '../helpers/batt.js';

test('batt list answers the same through the fast path and through yargs', async () => {
  const sb = sandbox();
  try {
    writeScript(sb.home, 'alpha', 'true');
    writeScript(sb.home, 'beta', 'true');
    fs.symlinkSync('../scripts-available/backup-alpha', path.join(sb.home, 'scripts-enabled', 'backup-alpha'));
    fs.symlinkSync('../scripts-available/backup-gone', path.join(sb.home, 'scripts-enabled', 'backup-gone'));
    // `--json` and `--home X` take the fast path; `--json=true` and `--home=X` after `--` do not.
    const fastJson = await batt(['list', '--json', '--home', sb.home], { env: { BATT_HOME: undefined } });
    const slowJson = await batt(['list', '--json=true', '--home', sb.home], { env: { BATT_HOME: undefined } });
    assert.equal(fastJson.code, slowJson.code);
    assert.equal(fastJson.code, 1, 'an enabled service with a problem fails the list');
    assert.deepEqual(JSON.parse(fastJson.stdout), JSON.parse(slowJson.stdout));
    const names = JSON.parse(fastJson.stdout).services.map((s: { name: string }) => s.name);
    assert.ok(names.includes('alpha') && names.includes('beta') && names.includes('gone'), names.join(','));
    const fastText = await batt(['list'], { home: sb.home });
    const slowText = await batt(['list', '--json=false'], { home: sb.home });
    assert.equal(fastText.stdout, slowText.stdout);
    assert.equal(fastText.stderr, slowText.stderr);
    assert.equal(fastText.code, slowText.code);
    assert.match(fastText.stdout, /alpha\s+yes/);
    // A home that does not exist: the same one-line error and exit code either way.
    const fastBad = await batt(['list', '--home', path.join(sb.dir, 'nope')]);
    const slowBad = await batt(['list', '--json=false', '--home', path.join(sb.dir, 'nope')]);
    assert.equal(fastBad.code, slowBad.code);
    assert.equal(fastBad.stderr, slowBad.stderr);
    assert.equal(fastBad.code, 2, 'a home that does not exist is a usage error');
    assert.equal(fastBad.stderr, `batt: ${path.join(sb.dir, 'nope')} is not a batt home (no scripts-available folder; install batt, or set --home / BATT_HOME)\n`);
  } finally {
    sb.cleanup();
  }
});

test('batt list enabled|disabled|available shows only those services, the same through the fast path and yargs', async () => {
  const sb = sandbox();
  try {
    for (const s of ['alpha', 'beta', 'gamma']) writeScript(sb.home, s, 'true');
    fs.symlinkSync('../scripts-available/backup-alpha', path.join(sb.home, 'scripts-enabled', 'backup-alpha'));
    const want: Record<string, string[]> = { enabled: ['alpha'], disabled: ['beta', 'gamma'], available: ['alpha', 'beta', 'gamma'] };
    for (const [which, names] of Object.entries(want)) {
      const fast = await batt(['list', which, '--json'], { home: sb.home });
      const slow = await batt(['list', which, '--json=true'], { home: sb.home });
      assert.equal(fast.code, 0, fast.stderr);
      assert.deepEqual(JSON.parse(fast.stdout), JSON.parse(slow.stdout));
      assert.deepEqual(JSON.parse(fast.stdout).services.map((s: { name: string }) => s.name), names, which);
      const text = await batt(['list', which], { home: sb.home });
      const slowText = await batt(['list', which, '--json=false'], { home: sb.home });
      assert.equal(text.stdout, slowText.stdout);
      assert.deepEqual(text.stdout.trim().split('\n').slice(1).map((l) => l.split(/\s+/)[0]), names, `${which} as text`);
    }
    const fastBad = await batt(['list', 'enbled'], { home: sb.home });
    const slowBad = await batt(['list', 'enbled', '--json=false'], { home: sb.home });
    assert.equal(fastBad.code, 2);
    assert.equal(fastBad.stderr, 'batt: batt list takes enabled, disabled or available, got "enbled"\n');
    assert.deepEqual([slowBad.code, slowBad.stderr], [fastBad.code, fastBad.stderr]);
  } finally {
    sb.cleanup();
  }
});

test('a plain run answers the same through the fast path and through yargs', async () => {
  const sb = sandbox({ builtins: true });
  try {
    const data = path.join(sb.dir, 'data');
    fs.mkdirSync(data);
    fs.writeFileSync(path.join(data, 'a.txt'), 'hello\n');
    // `--timeout 14400` (the default) is not a fast-path flag: it sends the same run through yargs.
    const both = async (args: string[]) => {
      const fast = await batt(args, { home: sb.home });
      const slow = await batt([...args, '--timeout', '14400'], { home: sb.home });
      return { fast, slow };
    };
    const same = (r: { fast: { code: number | null; stdout: string; stderr: string }; slow: typeof r.fast }, what: string) => {
      assert.equal(r.fast.code, r.slow.code, `${what}: exit code`);
      assert.equal(r.fast.stderr, r.slow.stderr, `${what}: stderr`);
      assert.equal(r.fast.stdout, r.slow.stdout, `${what}: stdout`);
    };
    // What would run, with service options, repeated ones, positional values and --path.
    const plan = await both(['--dry-run', '--json', '--path', `${sb.root}/x/%Y`, '--path', `${sb.root}/%Y`, 'sqlite', '--file', data, '--file', '/etc/hostname', '--file-exclude', '*.log', '--mysql-db', 'wp']);
    same(plan, 'dry run');
    const doc = JSON.parse(plan.fast.stdout);
    assert.deepEqual(doc.services.map((s: { service: string }) => s.service), ['sqlite', 'file', 'mysql']);
    assert.deepEqual(doc.services[1].options, { options: { exclude: ['*.log'] }, args: [data, '/etc/hostname'] });
    assert.match(doc.destination, new RegExp(`^${sb.root}/\\d{4}$`));
    // Refusals: a bad name, an unknown service, a secret on the command line, nothing enabled.
    for (const args of [['../x'], ['nosuch'], ['--mysql-password', 'hunter2'], []]) {
      const r = await both(args);
      same(r, args.join(' ') || '(nothing enabled)');
      assert.notEqual(r.fast.code, 0, args.join(' '));
      assert.doesNotMatch(r.fast.stderr, /hunter2/);
    }
    // A real backup each way: the same lines but for the times and the folder.
    const fast = await batt(['--path', `${sb.root}/fast`, '--file', data], { home: sb.home });
    const slow = await batt(['--path', `${sb.root}/slow`, '--file', data, '--timeout', '14400'], { home: sb.home });
    const norm = (s: string) => s.replace(/\d+ms|\d+(\.\d+)?s\b|\d+ B\b/g, 'T').replace(/\/(fast|slow)\//g, '/R/');
    assert.equal(fast.code, 0, fast.stderr);
    assert.equal(slow.code, 0, slow.stderr);
    assert.equal(norm(fast.stdout), norm(slow.stdout));
  } finally {
    sb.cleanup();
  }
});

test('the plain batt list runs from dist/list.js alone; every other command from dist/esm', async () => {
  const sb = sandbox();
  try {
    writeScript(sb.home, 'alpha', 'true');
    // A copy of dist without the ES module build: what batt list loads is all there is.
    const dist = path.join(sb.dir, 'dist');
    fs.cpSync(path.join(REPO, 'dist'), dist, { recursive: true });
    fs.rmSync(path.join(dist, 'esm'), { recursive: true });
    const node = (args: string[]) => spawnSync(process.execPath, [path.join(dist, 'batt.js'), ...args], { encoding: 'utf8', env: { ...process.env, BATT_HOME: sb.home } });
    for (const args of [['list'], ['list', '--json'], ['--home', sb.home, 'list']]) {
      const r = node(args);
      assert.equal(r.status, 0, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stdout, /alpha/, args.join(' '));
    }
    // Not a plain list (yargs reads --json=true): this needs dist/esm, so the copy fails.
    for (const args of [['list', '--json=true'], ['--version'], ['alpha']]) {
      const r = node(args);
      assert.notEqual(r.status, 0, `${args.join(' ')} ran without dist/esm`);
      assert.match(r.stderr, /esm[/\\]main\.js/, args.join(' '));
    }
  } finally {
    sb.cleanup();
  }
});
