// The core run through the built CLI: what reaches a script, concurrency, output channels, --json.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { batt, battForOtherUser, listFiles, sandbox, writeScript, type Sandbox } from '../helpers/batt.js';

const sandboxes: Sandbox[] = [];
after(() => sandboxes.forEach((s) => s.cleanup()));
function box(): Sandbox {
  const s = sandbox();
  sandboxes.push(s);
  return s;
}
const ANSI = /\x1b\[/;

/** Folders under the root that hold a manifest (completed backups), relative. */
function backups(root: string): string[] {
  return listFiles(root)
    .filter((f) => f.endsWith('/batt-manifest.json'))
    .map((f) => path.dirname(f));
}
function leftovers(root: string): string[] {
  if (!fs.existsSync(root)) return [];
  return (fs.readdirSync(root, { recursive: true }) as string[]).filter((p) => p.includes('.batt-staging-'));
}

test('batt with nothing enabled is a usage error, exit 2, one line', async () => {
  const s = box();
  writeScript(s.home, 'a', 'echo a > "$BATT_DEST/a"');
  const r = await batt(['--path', s.pattern], { home: s.home });
  assert.equal(r.code, 2);
  assert.equal(r.stdout, '');
  assert.equal(r.stderr, 'batt: no service is enabled and none was named (batt enable SERVICE, or batt SERVICE)\n');
  assert.ok(!fs.existsSync(s.root), 'nothing created under the root');
});

test('options and positional values reach the script exactly; stray BATT_ variables do not', async () => {
  const s = box();
  const seen = path.join(s.dir, 'seen');
  // Record the script's view of the world (NUL-separated, so newlines and spaces stay visible).
  writeScript(
    s.home,
    'my-svc',
    `{ printf 'arg=%s\\0' "$@"; env -0 | grep -z '^BATT_' | sort -z; printf 'cwd=%s\\0' "$PWD"; printf 'umask=%s\\0' "$(umask)"; } > "${seen}"
echo done > "$BATT_DEST/out"`,
  );
  writeScript(s.home, 'my', 'exit 9'); // a shorter service name that must not steal --my-svc-*
  const r = await batt(
    ['--path', s.pattern,
      '--my-svc-db', 'a', '--my-svc-db', 'b c', '--my-svc-port', '0012', '--my-svc-multi-word-key', 'x',
      '--my-svc-empty=', '--my-svc', '/path with space', '--my-svc=--dash', '--my-svc', '1e3'],
    { home: s.home, env: { BATT_STRAY: 'leak', BATT_OPT_INJECTED: 'x', BATT_DEST: '/etc' } },
  );
  assert.equal(r.code, 0, r.stderr);
  const fields = fs.readFileSync(seen, 'utf8').split('\0').filter(Boolean);
  const args = fields.filter((f) => f.startsWith('arg=')).map((f) => f.slice(4));
  assert.deepEqual(args, ['/path with space', '--dash', '1e3']);
  const env = Object.fromEntries(fields.filter((f) => f.startsWith('BATT_')).map((f) => [f.slice(0, f.indexOf('=')), f.slice(f.indexOf('=') + 1)]));
  assert.equal(env.BATT_OPT_DB, 'a\nb c');
  assert.equal(env.BATT_OPT_PORT, '0012');
  assert.equal(env.BATT_OPT_MULTI_WORD_KEY, 'x');
  assert.equal(env.BATT_OPT_EMPTY, '');
  assert.equal(env.BATT_SERVICE, 'my-svc');
  assert.equal(env.BATT_HOME, s.home);
  assert.match(env.BATT_DEST!, new RegExp(`^${s.root}/\\d{4}/\\d{2}/\\d{2}/\\.batt-staging-my-svc-`));
  assert.match(env.BATT_RUN_ID!, /^\d{8}T\d{6}-[0-9a-f]{6}$/);
  assert.ok(!Number.isNaN(Date.parse(env.BATT_TIME!)));
  assert.equal(env.BATT_STRAY, undefined, 'caller BATT_ variables are dropped');
  assert.equal(env.BATT_OPT_INJECTED, undefined);
  assert.deepEqual(
    Object.keys(env).filter((k) => k.startsWith('BATT_OPT_')).sort(),
    ['BATT_OPT_DB', 'BATT_OPT_EMPTY', 'BATT_OPT_MULTI_WORD_KEY', 'BATT_OPT_PORT'],
  );
  assert.ok(fields.includes(`cwd=${env.BATT_DEST}`), 'cwd is the staging folder');
  assert.ok(fields.includes('umask=0077'));
  assert.equal(backups(s.root).length, 1);
  assert.match(backups(s.root)[0]!, /\/my-svc$/);
});

test("cron's PATH (/usr/bin:/bin) gets the sbin folders appended, for the scripts and for doctor; a caller's own folders stay first", async () => {
  const s = box();
  const mine = path.join(s.dir, 'mybin');
  fs.mkdirSync(mine);
  // a tool of the caller's own that shadows a system one keeps winning
  fs.writeFileSync(path.join(mine, 'sfdisk'), '#!/bin/sh\necho mine\n', { mode: 0o755 });
  writeScript(s.home, 'where', '# batt-requires: sfdisk\nprintf "%s\\n" "$PATH" > "$BATT_DEST/path"\ncommand -v sfdisk > "$BATT_DEST/sfdisk"');
  const cases: [string, string, string][] = [
    // PATH given, PATH batt's scripts get, where sfdisk is found
    ['/usr/bin:/bin', '/usr/bin:/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/sbin', '/usr/sbin/sfdisk'],
    [`${mine}:/usr/bin:/bin`, `${mine}:/usr/bin:/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/sbin`, `${mine}/sfdisk`],
    ['/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', '/usr/sbin/sfdisk'],
  ];
  for (const [given, want, sfdisk] of cases) {
    const r = await batt(['where', '--json', '--path', s.pattern], { home: s.home, env: { PATH: given } });
    assert.equal(r.code, 0, r.stderr);
    const dest = JSON.parse(r.stdout).services[0].dest as string;
    assert.equal(fs.readFileSync(path.join(dest, 'path'), 'utf8').trim(), want, given);
    if (fs.existsSync('/usr/sbin/sfdisk') || sfdisk.startsWith(mine)) assert.equal(fs.readFileSync(path.join(dest, 'sfdisk'), 'utf8').trim(), sfdisk, given);
  }
  if (fs.existsSync('/usr/sbin/sfdisk')) {
    assert.equal((await batt(['enable', 'where'], { home: s.home, env: { PATH: '/usr/bin:/bin' } })).code, 0);
    const d = await batt(['doctor'], { home: s.home, env: { PATH: '/usr/bin:/bin' } });
    assert.match(d.stdout, /^ok +where +sfdisk: \/usr\/sbin\/sfdisk$/m, d.stdout);
  }
});

test('run without HOME (a systemd service without User=), batt and its scripts get the account\'s home, where ~/.my.cnf and restic\'s cache are', async () => {
  const s = box();
  writeScript(s.home, 'home', 'printf "%s\\n" "${HOME-unset}" > "$BATT_DEST/home"');
  for (const [given, want] of [[undefined, os.userInfo().homedir], ['/srv/elsewhere', '/srv/elsewhere']] as const) {
    const r = await batt(['home', '--json', '--path', s.pattern], { home: s.home, env: { HOME: given } });
    assert.equal(r.code, 0, r.stderr);
    const dest = JSON.parse(r.stdout).services[0].dest as string;
    assert.equal(fs.readFileSync(path.join(dest, 'home'), 'utf8').trim(), want, String(given));
  }
});

test('a destination that cannot be created is one line in words, not a raw system error', async () => {
  const s = box();
  writeScript(s.home, 'svc', 'echo x > "$BATT_DEST/x"');
  const r = await batt(['--path', '/proc/batt/%Y', 'svc'], { home: s.home });
  assert.equal(r.code, 1, r.stderr);
  assert.equal(r.stderr, 'batt: cannot create /proc/batt: no such file or directory\n');
});

test('a user who may not read the home\'s batt.conf gets a permission error (exit 4) in words', { skip: process.getuid?.() !== 0 && 'needs root' }, (t) => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'batt-test-'));
  try {
    fs.chmodSync(dir, 0o755); // root's home as installed: conf/ is 0700
    // nobody runs a copy of the bundle: the checkout itself may be in a folder nobody cannot enter
    const copy = battForOtherUser(dir);
    if ('skip' in copy) {
      t.skip(copy.skip);
      return;
    }
    const bundle: string = copy.batt;
    const home = path.join(dir, 'home');
    fs.mkdirSync(path.join(home, 'scripts-available'), { recursive: true });
    fs.mkdirSync(path.join(home, 'conf'), { mode: 0o700 });
    fs.writeFileSync(path.join(home, 'conf', 'batt.conf'), 'JOBS=2\n');
    for (const args of [['list'], ['list', '--json=false']]) {
      const r = spawnSync(process.execPath, [bundle, ...args, '--home', home], { uid: 65534, gid: 65534, encoding: 'utf8', env: { PATH: process.env.PATH, NO_COLOR: '1' } });
      assert.equal(r.status, 4, r.stderr);
      assert.equal(r.stderr, `batt: cannot read ${home}/conf/batt.conf: permission denied (run as root, or set --home / BATT_HOME to a home you own)\n`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('--json: an error still gives stdout one document, and never a second one', async () => {
  const s = box();
  writeScript(s.home, 'bad', 'exit 1');
  const doc = (r: { stdout: string }) => JSON.parse(r.stdout) as Record<string, unknown>;
  const cases: [string[], number, RegExp][] = [
    [['nosuch', '--json', '--path', s.pattern], 2, /^unknown service "nosuch": no backup script .*\(available: bad\)$/], // the run's fast path
    [['list', '--json', '--bogus'], 2, /^Unknown argument: bogus$/], // yargs refuses it
    [['list', '--json', '--home', path.join(s.dir, 'nohome')], 2, /is not a batt home/], // the list bundle
    [['enable', 'nosuch', '--json=true'], 2, /^unknown service "nosuch"/],
    [['--json', '--path', '/proc/batt/%Y', 'bad'], 1, /^cannot create \/proc\/batt: no such file or directory$/],
  ];
  for (const [args, code, msg] of cases) {
    const r = await batt(args, { home: s.home });
    assert.equal(r.code, code, `${args.join(' ')}: ${r.stderr}`);
    const d = doc(r);
    assert.deepEqual(Object.keys(d), ['ok', 'error', 'exitCode'], args.join(' '));
    assert.equal(d.ok, false);
    assert.equal(d.exitCode, code);
    assert.match(String(d.error), msg);
    assert.equal(r.stderr, `batt: ${d.error}\n`, 'the stderr line is as without --json');
  }
  // no --json (or --json=false, or after --): stdout stays empty
  for (const args of [['nosuch'], ['nosuch', '--json=false'], ['list', '--bogus', '--', '--json']]) {
    const r = await batt(args, { home: s.home });
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stdout, '', args.join(' '));
  }
  // a failure the command reports in its own document (exit 1, nothing thrown): that document only
  const failed = await batt(['bad', '--json', '--path', s.pattern], { home: s.home });
  assert.equal(failed.code, 1, failed.stderr);
  assert.equal(doc(failed).ok, false);
  assert.ok(Array.isArray(doc(failed).services), 'the run\'s own document');
  // a run interrupted after its document was printed: still that one document (then exit 143)
  const started = path.join(s.dir, 'started');
  writeScript(s.home, 'slow', `echo $$ > ${started}; sleep 60`);
  let child: import('node:child_process').ChildProcess | undefined;
  const slow = batt(['slow', '--json', '--path', s.pattern], { home: s.home, onSpawn: (c) => (child = c) });
  const deadline = Date.now() + 60_000;
  while (!fs.existsSync(started) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  child!.kill('SIGTERM');
  const r = await slow;
  assert.equal(r.code, 143, r.stderr);
  assert.equal(doc(r).ok, false);
  assert.ok(Array.isArray(doc(r).services), r.stdout);
});

test('bad service options are usage errors: unknown --x-y, flag without value', async () => {
  const s = box();
  writeScript(s.home, 'mysql', 'echo x > "$BATT_DEST/x"');
  const cases: [string[], RegExp][] = [
    [['--x-y', '1'], /^batt: unknown option --x-y: no service "x" \(service options are --<service>-<key>; services: mysql\)$/],
    [['--mysql-db'], /^batt: option --mysql-db needs a value, e\.g\. --mysql-db=VALUE$/],
    [['--mysql-db', 'a', '--mysql'], /needs a value/],
    [['nosuch'], /^batt: unknown service "nosuch"/],
    [['../x'], /^batt: invalid service name "\.\.\/x"/],
    [['--timeout', 'soon', 'mysql'], /^batt: --timeout takes a whole number, got "soon"$/],
  ];
  for (const [args, msg] of cases) {
    const r = await batt(['--path', s.pattern, ...args], { home: s.home });
    assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr.trim(), msg);
  }
  assert.ok(!fs.existsSync(s.root), 'nothing ran');
});

test('services run concurrently; one failing does not stop the others; exit 1 with summary', async () => {
  const s = box();
  const meet = path.join(s.dir, 'meet');
  fs.mkdirSync(meet);
  // p1 and p2 each wait (up to 60 s) for the other to have started: they pass only if run at once.
  for (const [me, other] of [['p1', 'p2'], ['p2', 'p1']]) {
    writeScript(
      s.home,
      me!,
      `touch "${meet}/${me}"
for _ in $(seq 600); do [ -e "${meet}/${other}" ] && break; sleep 0.1; done
[ -e "${meet}/${other}" ] || { echo "${other} never ran alongside" >&2; exit 1; }
echo ${me} > "$BATT_DEST/${me}.txt"`,
    );
  }
  writeScript(s.home, 'bad', 'echo partial > "$BATT_DEST/part.txt"\necho "dump failed: boom" >&2\nexit 3');
  assert.equal((await batt(['enable', 'p1', 'p2', 'bad'], { home: s.home })).code, 0);
  const r = await batt(['--path', s.pattern, '--jobs', '3'], { home: s.home });
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stdout, /^ok\s+p1\s.*\/p1$/m);
  assert.match(r.stdout, /^ok\s+p2\s.*\/p2$/m);
  assert.doesNotMatch(r.stdout, /bad|FAILED/, 'failures are not on stdout');
  assert.match(r.stderr, /^batt: FAILED\s+bad\s.*bad: backup script exited with code 3: dump failed: boom$/m);
  assert.match(r.stderr, /^batt: backup incomplete: 2 ok, 1 failed in /m);
  assert.match(r.stderr, /^batt: script output is in .*\/log\/batt\.log$/m);
  assert.doesNotMatch(r.stderr, /^batt: ok/m, 'successes are not on stderr');
  assert.deepEqual(backups(s.root).map((b) => path.basename(b)).sort(), ['p1', 'p2']);
  assert.deepEqual(leftovers(s.root), []);
  const log = fs.readFileSync(path.join(s.home, 'log', 'batt.log'), 'utf8');
  assert.match(log, /bad: ! dump failed: boom/, 'script stderr is in the log');
});

test('--json prints one document with a stable shape; nothing else on stdout', async () => {
  const s = box();
  writeScript(s.home, 'good', 'printf 12345 > "$BATT_DEST/g.bin"');
  writeScript(s.home, 'bad', 'echo oops >&2; exit 1');
  const r = await batt(['good', 'bad', '--json', '--path', s.pattern], { home: s.home });
  assert.equal(r.code, 1);
  const doc = JSON.parse(r.stdout);
  for (const k of ['destination', 'durationMs', 'ok', 'runId', 'services']) assert.ok(k in doc, `--json has ${k}`);
  assert.equal(doc.ok, false);
  assert.match(doc.destination, new RegExp(`^${s.root}/`));
  const good = doc.services.find((x: { service: string }) => x.service === 'good');
  const bad = doc.services.find((x: { service: string }) => x.service === 'bad');
  assert.deepEqual({ ...good, durationMs: 0 }, { service: 'good', status: 'ok', dest: `${doc.destination}/good`, files: 1, bytes: 5, durationMs: 0 });
  assert.equal(bad.status, 'failed');
  assert.equal(bad.error, 'bad: backup script exited with code 1: oops');
  assert.equal(bad.dest, undefined);
  const ok = await batt(['good', '--json', '--path', s.pattern], { home: s.home });
  assert.equal(ok.code, 0);
  assert.equal(JSON.parse(ok.stdout).ok, true);
  assert.equal(JSON.parse(ok.stdout).services[0].dest, `${doc.destination}/good.2`);
});

test('plain output has no ANSI codes, with NO_COLOR and without it when not a terminal', async () => {
  const s = box();
  writeScript(s.home, 'good', 'echo x > "$BATT_DEST/x"');
  writeScript(s.home, 'bad', `printf '\\033[31mERROR\\033[0m: tool said\\r\\n' >&2\nexit 1`);
  for (const env of [{ NO_COLOR: '1' }, { NO_COLOR: undefined, FORCE_COLOR: undefined }]) {
    const runs = [
      await batt(['good', 'bad', '--path', s.pattern], { home: s.home, env }),
      await batt(['list'], { home: s.home, env }),
      await batt(['enable', 'nosuch'], { home: s.home, env }),
      await batt(['verify', '--path', s.pattern], { home: s.home, env }),
    ];
    for (const r of runs) {
      assert.ok(r.stdout || r.stderr);
      assert.doesNotMatch(r.stdout, ANSI, JSON.stringify(env));
      assert.doesNotMatch(r.stderr, ANSI, JSON.stringify(env));
      assert.doesNotMatch(r.stderr, /\r/);
    }
    assert.match(runs[0]!.stderr, /bad: backup script exited with code 1: ERROR: tool said$/m, 'the script\'s colours are stripped');
  }
});

test('the log keeps script output; a conf file reaches the script as BATT_CONF_*', async () => {
  const s = box();
  fs.writeFileSync(path.join(s.home, 'conf', 'c.conf'), 'HOSTNAME_TO_DUMP="db 1"\n');
  writeScript(s.home, 'c', 'echo "dumping $BATT_CONF_HOSTNAME_TO_DUMP from $BATT_CONF_FILE"\necho x > "$BATT_DEST/x"');
  const r = await batt(['c', '--path', s.pattern], { home: s.home });
  assert.equal(r.code, 0, r.stderr);
  const log = fs.readFileSync(path.join(s.home, 'log', 'batt.log'), 'utf8');
  assert.ok(log.includes(`c: > dumping db 1 from ${path.join(s.home, 'conf', 'c.conf')}`), log);
  assert.equal(fs.statSync(path.join(s.home, 'log', 'batt.log')).mode & 0o777, 0o600);
});

test('batt.conf DEST and TIMEOUT apply when no flag is given; flags win', async () => {
  const s = box();
  const dest = path.join(s.dir, 'confdest');
  fs.writeFileSync(path.join(s.home, 'conf', 'batt.conf'), `DEST=${dest}/%Y\nTIMEOUT=1\n`);
  writeScript(s.home, 'slow', 'sleep 30\necho x > "$BATT_DEST/x"');
  writeScript(s.home, 'fast', 'echo x > "$BATT_DEST/x"');
  let r = await batt(['fast'], { home: s.home });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(backups(dest).length, 1, 'DEST from batt.conf');
  r = await batt(['slow'], { home: s.home });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /slow: timed out after 1s/);
  r = await batt(['fast', '--path', s.pattern], { home: s.home });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(backups(s.root).length, 1, '--path wins over DEST');
  fs.writeFileSync(path.join(s.home, 'conf', 'batt.conf'), 'TIMEOUT=soon\n');
  r = await batt(['fast', '--path', s.pattern], { home: s.home });
  assert.equal(r.code, 3);
  assert.match(r.stderr.trim(), /^batt: .*batt\.conf: TIMEOUT must be a positive whole number, got "soon"$/);
});

test('BACKUP_TIMEOUT in a <service>.conf limits that service only; --timeout overrides it', async () => {
  const s = box();
  const seen = path.join(s.dir, 'seen');
  fs.writeFileSync(path.join(s.home, 'conf', 'limited.conf'), 'BACKUP_TIMEOUT=1\n');
  writeScript(s.home, 'limited', `echo "$BATT_CONF_BACKUP_TIMEOUT" > "${seen}"\nsleep 30\necho x > "$BATT_DEST/x"`);
  writeScript(s.home, 'other', 'sleep 2\necho x > "$BATT_DEST/x"');
  type Svc = { service: string; status: string; durationMs: number; error?: string; timeoutSeconds?: number };
  const byName = (doc: { services: Svc[] }) => Object.fromEntries(doc.services.map((x) => [x.service, x]));

  // One run, both at once: limited is stopped about 1 s in, other (no key: 4 h) runs its 2 s and succeeds.
  const t0 = Date.now();
  let r = await batt(['limited', 'other', '--jobs', '2', '--json', '--path', s.pattern], { home: s.home });
  const wall = Date.now() - t0;
  assert.equal(r.code, 1, r.stderr);
  const run = byName(JSON.parse(r.stdout));
  assert.equal(run.limited!.status, 'timeout');
  assert.equal(run.limited!.error, 'limited: timed out after 1s (BACKUP_TIMEOUT) and was stopped');
  assert.ok(run.limited!.durationMs >= 900 && run.limited!.durationMs < 6000, `limited stopped ~1 s in, took ${run.limited!.durationMs} ms`);
  assert.equal(run.other!.status, 'ok', run.other!.error);
  assert.ok(run.other!.durationMs >= 1900, `other ran its 2 s, took ${run.other!.durationMs} ms`);
  assert.ok(wall < 20_000, `the run did not wait for limited's sleep 30 (${wall} ms)`);
  assert.deepEqual(backups(s.root).map((d) => path.basename(d)), ['other']);
  assert.deepEqual(leftovers(s.root), []);
  assert.equal(fs.readFileSync(seen, 'utf8'), '1\n', 'the key still reaches the script as BATT_CONF_BACKUP_TIMEOUT');

  // --timeout wins over the key, for every service: limited now gets 10 s and finishes its 2 s.
  writeScript(s.home, 'limited', 'sleep 2\necho x > "$BATT_DEST/x"');
  r = await batt(['limited', '--timeout', '10', '--path', s.pattern], { home: s.home });
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /timed out/);

  // What each service would get, without running: key over batt.conf TIMEOUT over 14400; the flag over all.
  const plan = async (args: string[]) => {
    const d = await batt(['limited', 'other', '--dry-run', '--json', '--path', s.pattern, ...args], { home: s.home });
    assert.equal(d.code, 0, d.stderr);
    const m = byName(JSON.parse(d.stdout));
    return [m.limited!.timeoutSeconds, m.other!.timeoutSeconds];
  };
  assert.deepEqual(await plan([]), [1, 14400]);
  fs.writeFileSync(path.join(s.home, 'conf', 'batt.conf'), 'TIMEOUT=600\n');
  assert.deepEqual(await plan([]), [1, 600]);
  assert.deepEqual(await plan(['--timeout', '7']), [7, 7]);
  assert.deepEqual(await plan(['--timeout', '0']), [0, 0]);

  // A bad value is a conf error (exit 3) naming the file and the key, before anything runs.
  fs.writeFileSync(path.join(s.home, 'conf', 'limited.conf'), 'BACKUP_TIMEOUT=6h\n');
  r = await batt(['limited', 'other', '--path', s.pattern], { home: s.home });
  assert.equal(r.code, 3, r.stderr);
  assert.match(r.stderr.trim(), /^batt: .*limited\.conf: BACKUP_TIMEOUT must be a positive whole number, got "6h"$/);
});
