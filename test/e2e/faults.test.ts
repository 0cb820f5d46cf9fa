// Faults the core must survive (../shared/RELIABILITY.md 1, 3-6, 9, 10, 13-15), on the built batt.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { batt, listFiles, REQUIRE_SERVERS, sandbox, writeScript, type BattResult, type Sandbox } from '../helpers/batt.js';

const sandboxes: Sandbox[] = [];
after(() => sandboxes.forEach((s) => s.cleanup()));
function box(): Sandbox & { state: string } {
  const s = sandbox();
  sandboxes.push(s);
  const state = path.join(s.dir, 'state');
  fs.mkdirSync(state);
  return { ...s, state };
}
const isRoot = process.getuid?.() === 0;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Folders under dir that hold a manifest, i.e. look like completed backups (relative). */
function completed(dir: string): string[] {
  return listFiles(dir).filter((f) => f.endsWith('batt-manifest.json')).map((f) => path.dirname(f));
}
function staging(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true }) as string[]).filter((p) => path.basename(p).startsWith('.batt-staging-'));
}
/** Every folder under dir whose name is the service or service.N. */
function serviceDirs(dir: string, service: string): string[] {
  if (!fs.existsSync(dir)) return [];
  const re = new RegExp(`^${service}(\\.\\d+)?$`);
  return (fs.readdirSync(dir, { recursive: true }) as string[]).filter((p) => re.test(path.basename(p)));
}
/** True when no such process runs any more (a zombie waiting for init counts as gone). */
function gone(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}
/** Waits for cond; fails early, with its stderr, when the batt run it depends on has ended. */
async function until(what: string, cond: () => boolean, ms = 60_000, run?: Promise<BattResult>): Promise<void> {
  const end = Date.now() + ms;
  let ended: BattResult | undefined;
  void run?.then((r) => (ended = r));
  while (!cond()) {
    if (ended) throw new Error(`batt ended (code ${ended.code}, signal ${ended.signal}) before ${what}: ${ended.stderr}`);
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}
const readPid = (file: string) => Number(fs.readFileSync(file, 'utf8').trim());
const sha = (file: string) => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

/** A script that writes part of a dump, records its pid and its child's, then waits on the child. */
const HANGING = `echo partial > "$BATT_DEST/part.sql"
sleep 300 &
echo $! > "$STATE/child.pid.tmp" && mv "$STATE/child.pid.tmp" "$STATE/child.pid"
echo $$ > "$STATE/script.pid.tmp" && mv "$STATE/script.pid.tmp" "$STATE/script.pid"
wait`;

function mountTmpfs(dir: string, options: string): boolean {
  fs.mkdirSync(dir, { recursive: true });
  return spawnSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir]).status === 0;
}
function umount(dir: string): void {
  spawnSync('umount', [dir]);
}
function cannotMount(t: { skip(msg: string): void }): void {
  const why = 'mounting a tmpfs is not permitted here';
  if (REQUIRE_SERVERS) assert.fail(why);
  t.skip(why);
}

test('RELIABILITY 1: a script that writes half a dump then exits 1 leaves nothing behind', async () => {
  const s = box();
  writeScript(s.home, 'half', 'head -c 50000 /dev/zero > "$BATT_DEST/dump.sql"\necho "mysqldump: Lost connection" >&2\nexit 1');
  const r = await batt(['half', '--path', s.pattern], { home: s.home });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^batt: FAILED\s+half\s.*half: backup script exited with code 1: mysqldump: Lost connection$/m);
  assert.deepEqual(serviceDirs(s.root, 'half'), []);
  assert.deepEqual(staging(s.root), []);
  assert.deepEqual(listFiles(s.root), [], 'not one file under the root');
});

test('RELIABILITY 3: exit 0 with no file, only empty files, a link or a FIFO is a failure', async () => {
  const s = box();
  const live = path.join(s.dir, 'live.html');
  fs.writeFileSync(live, 'live data');
  fs.chmodSync(live, 0o644);
  const cases: [string, string, RegExp][] = [
    ['nothing', 'exit 0', /the script exited 0 but wrote no file/],
    ['empty', ': > "$BATT_DEST/dump.sql"', /the script exited 0 but dump\.sql is empty/],
    ['oneempty', 'echo ok > "$BATT_DEST/a.sql"\n: > "$BATT_DEST/b.sql"', /b\.sql is empty/],
    ['onlydir', 'mkdir -p "$BATT_DEST/sub/deeper"', /wrote no file/],
    ['link', 'echo x > "$BATT_DEST/a"\nln -s /etc/passwd "$BATT_DEST/passwd"', /left passwd, which is not a regular file or folder/],
    ['fifo', 'echo x > "$BATT_DEST/a"\nmkfifo "$BATT_DEST/p"', /left p, which is not a regular file/],
    ['hardlink', `ln "${live}" "$BATT_DEST/site.html"`, /the script left site\.html as a hard link \(2 names\); a backup must hold its own copy/],
    ['nointerp', '#!/nonexistent/interpreter\n', /^batt: FAILED\s+nointerp\s.*nointerp: cannot start script: the interpreter on its #! line was not found$/m],
    ['crlf', '#!/bin/sh\r\necho x > "$BATT_DEST/a"\r\n', /^batt: FAILED\s+crlf\s.*crlf: cannot start script: its #! line ends in a carriage return \(CRLF line endings; convert with dos2unix or sed -i 's\/\\r\$\/\/'\)$/m],
  ];
  for (const [svc, body, msg] of cases) {
    writeScript(s.home, svc, body);
    const r = await batt([svc, '--path', s.pattern], { home: s.home });
    assert.equal(r.code, 1, `${svc}: ${r.stderr}`);
    assert.match(r.stderr, msg, svc);
    assert.equal(r.stderr.split('\n').filter((l) => l.includes(`${svc}:`)).length, 1, `one line for ${svc}: ${r.stderr}`);
    assert.deepEqual(serviceDirs(s.root, svc), [], svc);
  }
  assert.deepEqual(staging(s.root), []);
  assert.deepEqual(completed(s.root), []);
  assert.equal(fs.statSync(live).mode & 0o777, 0o644, 'the hard-linked live file kept its mode');
  assert.equal(fs.statSync(live).nlink, 1);
});

test('a hanging script is stopped by --timeout with its children', async () => {
  const s = box();
  writeScript(s.home, 'hang', HANGING);
  const r = await batt(['hang', '--timeout', '2', '--path', s.pattern], { home: s.home, env: { STATE: s.state } });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^batt: TIMEOUT\s+hang\s.*hang: timed out after 2s and was stopped$/m);
  const child = readPid(path.join(s.state, 'child.pid'));
  const script = readPid(path.join(s.state, 'script.pid'));
  await until('the script and its sleep to end', () => gone(child) && gone(script), 10_000);
  assert.deepEqual(serviceDirs(s.root, 'hang'), []);
  assert.deepEqual(staging(s.root), []);
});

test('a very long --timeout is not a zero timeout', async () => {
  // Node fires a setTimeout of more than 2^31-1 ms at once: --timeout 3000000 used to stop every script.
  const s = box();
  writeScript(s.home, 'quick', 'echo q > "$BATT_DEST/q.txt"');
  const r = await batt(['quick', '--timeout', '3000000', '--path', s.pattern], { home: s.home });
  assert.equal(r.code, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /timed out|TimeoutOverflowWarning/);
});

test('a script that ignores SIGTERM is killed after the grace period', async () => {
  const s = box();
  writeScript(s.home, 'stubborn', `trap '' TERM\n${HANGING}`);
  const r = await batt(['stubborn', '--timeout', '2', '--path', s.pattern], { home: s.home, env: { STATE: s.state } });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /stubborn: timed out after 2s and was stopped/);
  await until('the group to be killed', () => gone(readPid(path.join(s.state, 'child.pid'))), 10_000);
  assert.deepEqual(staging(s.root), []);
});

test('a script that exits 0 leaving a background child does not hang batt; the child is ended', async () => {
  const s = box();
  // The background sleep inherits stdout/stderr: batt used to wait for them to close (until the timeout).
  writeScript(s.home, 'bg', 'sleep 300 &\necho $! > "$STATE/child.pid"\necho data > "$BATT_DEST/d.txt"');
  const r = await batt(['bg', '--path', s.pattern], { home: s.home, env: { STATE: s.state }, timeoutMs: 60_000 });
  assert.equal(r.signal, null, 'batt finished by itself');
  assert.equal(r.code, 0, r.stderr);
  await until('the background child to end', () => gone(readPid(path.join(s.state, 'child.pid'))), 10_000);
  assert.equal(completed(s.root).length, 1);
});

for (const [sig, code] of [['SIGTERM', 143], ['SIGINT', 130], ['SIGHUP', 129]] as const) {
  test(`${sig} stops the scripts, removes staging and exits ${code}`, async () => {
    const s = box();
    writeScript(s.home, 'hang', HANGING);
    writeScript(s.home, 'hang2', HANGING.replaceAll('$STATE/', '$STATE/2-'));
    let child: ChildProcess | undefined;
    const run = batt(['hang', 'hang2', '--path', s.pattern], { home: s.home, env: { STATE: s.state }, onSpawn: (c) => (child = c) });
    await until('both scripts to start', () => fs.existsSync(path.join(s.state, 'script.pid')) && fs.existsSync(path.join(s.state, '2-script.pid')), 60_000, run);
    child!.kill(sig);
    const r = await run;
    assert.equal(r.code, code, r.stderr);
    assert.match(r.stderr, new RegExp(`^batt: interrupted by ${sig}; unfinished backups and copies were discarded, finished ones kept$`, 'm'));
    const pids = ['child.pid', 'script.pid', '2-child.pid', '2-script.pid'].map((f) => readPid(path.join(s.state, f)));
    await until('every script process to end', () => pids.every(gone), 10_000);
    assert.deepEqual(staging(s.root), []);
    assert.deepEqual(completed(s.root), []);
    assert.ok(!fs.existsSync(path.join(s.root, '.batt.lock')), 'lock released');
  });
}

test('RELIABILITY 5: after SIGKILL of batt nothing looks complete; the next run cleans up and succeeds', async () => {
  const s = box();
  writeScript(s.home, 'hang', HANGING);
  writeScript(s.home, 'quick', 'echo q > "$BATT_DEST/q.txt"');
  let child: ChildProcess | undefined;
  const run = batt(['hang', '--path', s.pattern], { home: s.home, env: { STATE: s.state }, onSpawn: (c) => (child = c) });
  await until('the script to start', () => fs.existsSync(path.join(s.state, 'script.pid')), 60_000, run);
  const script = readPid(path.join(s.state, 'script.pid'));
  let bystanderPid = 0;
  try {
    child!.kill('SIGKILL');
    const r = await run;
    assert.equal(r.signal, 'SIGKILL');
    assert.deepEqual(completed(s.root), [], 'no folder with a manifest');
    assert.deepEqual(serviceDirs(s.root, 'hang'), [], 'no final folder for the service');
    assert.equal(staging(s.root).length, 1, 'the staging folder is left over');
    assert.ok(fs.existsSync(path.join(s.root, '.batt.lock')), 'the lock is left over');

    // A bystander (say, a shell someone opened there) is not a script of batt's: it is left alone.
    const bystander = spawn('sleep', ['300'], { cwd: path.join(s.root, staging(s.root)[0]!), stdio: 'ignore', detached: true });
    bystanderPid = bystander.pid!;
    bystander.unref();
    const next = await batt(['quick', '--path', s.pattern], { home: s.home });
    assert.equal(next.code, 0, next.stderr);
    assert.match(next.stderr, /warning: removed a stale lock left by a dead batt run/);
    assert.match(next.stderr, /warning: removed .*\.batt-staging-hang-.*, left by an interrupted run/);
    assert.deepEqual(staging(s.root), []);
    assert.deepEqual(completed(s.root).map((d) => path.basename(d)), ['quick']);
    assert.ok(!fs.existsSync(path.join(s.root, '.batt.lock')));
    // The script outlived batt (own process group); the next run stopped it and its child.
    const orphans = [script, readPid(path.join(s.state, 'child.pid'))];
    await until('the orphaned script and its child to end', () => orphans.every(gone), 10_000);
    assert.ok(!gone(bystanderPid), 'the bystander still runs');
  } finally {
    if (bystanderPid && !gone(bystanderPid)) process.kill(bystanderPid, 'SIGKILL');
    // Should the next run not have stopped it: end it here.
    try {
      process.kill(-script, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
});

test('RELIABILITY 5: SIGKILL at any moment never leaves a backup that looks complete but is not', async () => {
  const s = box();
  const pattern = `${s.root}/fixed`;
  writeScript(s.home, 'svc', 'head -c 200000 /dev/urandom > "$BATT_DEST/a.bin"\necho done > "$BATT_DEST/b.txt"');
  // Kill points spread from start-up to the end of the run (a run takes about 100-300 ms here).
  for (let delay = 0; delay <= 600; delay += 40) {
    let child: ChildProcess | undefined;
    const run = batt(['svc', '--path', pattern], { home: s.home, onSpawn: (c) => (child = c) });
    await sleep(delay);
    child!.kill('SIGKILL');
    await run;
    // Invariant: every svc folder holds a manifest and verifies; anything else is a staging folder.
    for (const d of fs.existsSync(pattern) ? fs.readdirSync(pattern) : []) {
      if (d.startsWith('.batt-staging-') || d === '.batt.lock' || d.startsWith('.batt.lock.')) continue;
      assert.match(d, /^svc(\.\d+)?$/, `unexpected ${d}`);
      assert.ok(fs.existsSync(path.join(pattern, d, 'batt-manifest.json')), `${d} has its manifest (killed after ${delay} ms)`);
    }
    const v = await batt(['verify', '--path', pattern], { home: s.home });
    assert.equal(v.code, 0, `after a kill at ${delay} ms: ${v.stderr}`);
  }
  const last = await batt(['svc', '--path', pattern], { home: s.home });
  assert.equal(last.code, 0, last.stderr);
  assert.deepEqual(fs.readdirSync(pattern).filter((n) => n.startsWith('.batt')), [], 'the next run removed every leftover');
});

test('RELIABILITY 4: a full destination fails with "no space left", no truncated file, older backups intact', async (t) => {
  const s = box();
  const mnt = path.join(s.dir, 'small');
  if (!mountTmpfs(mnt, 'size=2m,mode=0700')) return cannotMount(t);
  try {
    const pattern = `${mnt}/b/%Y/%m/%d`;
    writeScript(s.home, 'big', 'head -c "$SIZE" /dev/urandom > "$BATT_DEST/big.bin"');
    const first = await batt(['big', '--json', '--path', pattern], { home: s.home, env: { SIZE: '100000' } });
    assert.equal(first.code, 0, first.stderr);
    const old = path.join(JSON.parse(first.stdout).services[0].dest, 'big.bin');
    const oldHash = sha(old);

    const r = await batt(['big', '--path', pattern], { home: s.home, env: { SIZE: '4000000' } });
    assert.equal(r.code, 5, 'exit 5: no space left on the destination');
    assert.match(r.stderr, /^batt: FAILED\s+big\s.*big: no space left on device while writing the backup/m);
    assert.deepEqual(serviceDirs(mnt, 'big').map((d) => path.basename(d)), ['big'], 'no second folder');
    assert.deepEqual(staging(mnt), [], 'the partial dump was removed');
    assert.equal(sha(old), oldHash, 'the older backup is untouched');
    const v = await batt(['verify', '--path', pattern], { home: s.home });
    assert.equal(v.code, 0, v.stderr);
    assert.match(v.stdout, /verified 1 backup$/m);

    // The dump fits exactly, so the manifest (written last) is what runs out of space.
    writeScript(s.home, 'fill', 'avail=$(df -B1 --output=avail "$BATT_DEST" | tail -1)\nhead -c "$avail" /dev/zero > "$BATT_DEST/fill.bin"');
    const f = await batt(['fill', '--path', pattern], { home: s.home });
    assert.equal(f.code, 5);
    assert.match(f.stderr, /^batt: FAILED\s+fill\s.*fill: no space left on device while writing/m);
    assert.deepEqual(serviceDirs(mnt, 'fill'), []);
    assert.deepEqual(staging(mnt), []);
    assert.deepEqual(listFiles(mnt).filter((p) => !p.includes('/big/')), [], 'no temp manifest or partial file left');
    assert.equal(sha(old), oldHash);
  } finally {
    umount(mnt);
  }
});

test('RELIABILITY 4: a script that exits 0 with its filesystem (nearly) full fails with exit 5, not sealed: its last write may be lost', async (t) => {
  const s = box();
  const mnt = path.join(s.dir, 'edge');
  if (!mountTmpfs(mnt, 'size=4m,mode=0700')) return cannotMount(t);
  try {
    const pattern = `${mnt}/b/%Y/%m/%d`;
    // The careless drop-in: the dump runs into the full disk, its error goes nowhere, then the
    // script removes its scratch file and exits 0. 256 KiB are free again: the manifest fits.
    writeScript(s.home, 'careless', `#!/bin/sh
head -c 262144 /dev/zero > "$BATT_DEST/scratch"
head -c 8000000 /dev/urandom > "$BATT_DEST/dump.bin" 2>/dev/null
rm -f "$BATT_DEST/scratch"
exit 0`);
    const r = await batt(['careless', '--path', pattern], { home: s.home });
    assert.equal(r.code, 5, r.stderr);
    assert.match(r.stderr, /^batt: FAILED\s+careless\s.*careless: no space left on device while writing the backup: 256\.0 KiB free on its filesystem \(for non-root writers\) when the script ended, so a file may be cut short/m);
    assert.deepEqual(serviceDirs(mnt, 'careless'), [], 'nothing sealed');
    assert.deepEqual(staging(mnt), [], 'the cut dump was removed');
    // with room to spare (more than 1 MiB left) the same filesystem takes a backup
    writeScript(s.home, 'fits', 'head -c 1000000 /dev/urandom > "$BATT_DEST/dump.bin"');
    const ok = await batt(['fits', '--path', pattern], { home: s.home });
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(serviceDirs(mnt, 'fits').length, 1);
  } finally {
    umount(mnt);
  }
});

test('RELIABILITY 4: with 0 bytes free the run fails with "no space left" and leaves no lock temp file', async (t) => {
  const s = box();
  const mnt = path.join(s.dir, 'full');
  if (!mountTmpfs(mnt, 'size=1m,mode=0700')) return cannotMount(t);
  try {
    fs.mkdirSync(path.join(mnt, 'b'));
    // every byte taken: the lock's temp file can be created (an inode) but not written
    spawnSync('sh', ['-c', `head -c 2000000 /dev/zero > ${mnt}/filler`]);
    writeScript(s.home, 'quick', 'echo q > "$BATT_DEST/q.txt"');
    const r = await batt(['quick', '--path', `${mnt}/b/%Y/%m/%d`], { home: s.home });
    assert.equal(r.code, 5, r.stderr);
    assert.match(r.stderr, /no space left on device/);
    assert.deepEqual(fs.readdirSync(path.join(mnt, 'b')), [], 'no .batt.lock.<pid>.<hex>.tmp left behind');
  } finally {
    umount(mnt);
  }
});

test('RELIABILITY 6: a second run exits 11 at once; --wait waits for the lock', async () => {
  const s = box();
  writeScript(s.home, 'hold', 'touch "$STATE/held"\nwhile [ ! -e "$STATE/release" ]; do sleep 0.1; done\necho h > "$BATT_DEST/h.txt"');
  writeScript(s.home, 'quick', 'echo q > "$BATT_DEST/q.txt"');
  const opts = { home: s.home, env: { STATE: s.state } };
  let first: ChildProcess | undefined;
  const holder = batt(['hold', '--path', s.pattern], { ...opts, onSpawn: (c) => (first = c) });
  try {
    await until('the first run to hold the lock', () => fs.existsSync(path.join(s.state, 'held')), 60_000, holder);
    const second = await batt(['quick', '--path', s.pattern], opts);
    assert.equal(second.code, 11);
    assert.equal(second.stderr.trim().split('\n').length, 1, second.stderr);
    assert.match(second.stderr, new RegExp(`^batt: another batt run \\(pid ${first!.pid}, since .*\\) is using ${s.root} \\(wait for it, or use --wait;`));
    assert.deepEqual(serviceDirs(s.root, 'quick'), []);

    let waiterDone = false;
    const waiter = batt(['quick', '--wait', '--path', s.pattern], opts).then((r) => ((waiterDone = true), r));
    await sleep(1500);
    assert.equal(waiterDone, false, 'the --wait run is still waiting');
    fs.writeFileSync(path.join(s.state, 'release'), '');
    const [h, w] = await Promise.all([holder, waiter]);
    assert.equal(h.code, 0, h.stderr);
    assert.equal(w.code, 0, w.stderr);
    assert.deepEqual(completed(s.root).map((d) => path.basename(d)).sort(), ['hold', 'quick']);
  } finally {
    fs.writeFileSync(path.join(s.state, 'release'), '');
    await holder;
  }
});

test('RELIABILITY 6: a lock left by a dead process is taken over', async () => {
  const s = box();
  writeScript(s.home, 'quick', 'echo q > "$BATT_DEST/q.txt"');
  const dead = Number(String(spawnSync('sh', ['-c', 'echo $$']).stdout).trim());
  fs.mkdirSync(s.root, { recursive: true });
  const host = String(spawnSync('hostname').stdout).trim();
  fs.writeFileSync(path.join(s.root, '.batt.lock'), JSON.stringify({ pid: dead, host, procStart: '1', since: '2026-01-01T00:00:00Z' }));
  const r = await batt(['quick', '--path', s.pattern], { home: s.home });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /warning: removed a stale lock left by a dead batt run/);
  assert.ok(!fs.existsSync(path.join(s.root, '.batt.lock')));
  assert.equal(completed(s.root).length, 1);
});

test('RELIABILITY 9: a completed backup (or a foreign folder) in the destination is never overwritten', async () => {
  const s = box();
  const pattern = `${s.root}/fixed`;
  writeScript(s.home, 'svc', 'echo "$BATT_RUN_ID" > "$BATT_DEST/run.txt"');
  const one = await batt(['svc', '--path', pattern], { home: s.home });
  assert.equal(one.code, 0, one.stderr);
  const firstFile = path.join(pattern, 'svc', 'run.txt');
  const firstContent = fs.readFileSync(firstFile, 'utf8');
  const two = await batt(['svc', '--path', pattern], { home: s.home });
  assert.equal(two.code, 0, two.stderr);
  assert.match(two.stdout, new RegExp(`${pattern}/svc\\.2$`, 'm'));
  assert.equal(fs.readFileSync(firstFile, 'utf8'), firstContent, 'the first backup is unchanged');
  assert.notEqual(fs.readFileSync(path.join(pattern, 'svc.2', 'run.txt'), 'utf8'), firstContent);

  fs.mkdirSync(path.join(pattern, 'other'));
  fs.writeFileSync(path.join(pattern, 'other', 'precious'), 'mine');
  writeScript(s.home, 'other', 'echo x > "$BATT_DEST/x"');
  const three = await batt(['other', '--path', pattern], { home: s.home });
  assert.equal(three.code, 0, three.stderr);
  assert.deepEqual(fs.readdirSync(path.join(pattern, 'other')), ['precious']);
  assert.ok(fs.existsSync(path.join(pattern, 'other.2', 'batt-manifest.json')));
});

test('RELIABILITY 10: verify names a flipped byte, a deleted file and an extra file', async () => {
  const s = box();
  writeScript(s.home, 'svc', 'head -c 4096 /dev/urandom > "$BATT_DEST/a.bin"\necho b > "$BATT_DEST/b.txt"\nmkdir "$BATT_DEST/sub"\necho c > "$BATT_DEST/sub/c.txt"');
  const r = await batt(['svc', '--json', '--path', s.pattern], { home: s.home });
  assert.equal(r.code, 0, r.stderr);
  const dest: string = JSON.parse(r.stdout).services[0].dest;
  const id = path.relative(s.root, dest);
  let v = await batt(['verify', '--path', s.pattern], { home: s.home });
  assert.equal(v.code, 0, v.stderr);
  assert.equal(v.stdout, `ok ${id} (3 files)\nverified 1 backup\n`);

  const a = path.join(dest, 'a.bin');
  const buf = fs.readFileSync(a);
  buf[1234] = buf[1234]! ^ 0x01;
  fs.writeFileSync(a, buf);
  v = await batt(['verify', '--path', s.pattern], { home: s.home });
  assert.equal(v.code, 1);
  assert.match(v.stderr, new RegExp(`^batt: ${id}: a\\.bin: checksum \\(sha256 [0-9a-f]{64} found, [0-9a-f]{64} expected by the manifest\\)$`, 'm'));
  assert.match(v.stderr, /^batt: verify failed: 1 of 1 backup has problems$/m);

  fs.rmSync(path.join(dest, 'sub', 'c.txt'));
  fs.writeFileSync(path.join(dest, 'extra.txt'), 'planted');
  v = await batt(['verify', id, '--json', '--path', s.pattern], { home: s.home });
  assert.equal(v.code, 1);
  const doc = JSON.parse(v.stdout);
  assert.equal(doc.ok, false);
  assert.deepEqual(
    doc.backups[0].problems.map((p: { path: string; problem: string }) => `${p.path} ${p.problem}`).sort(),
    ['a.bin checksum', 'extra.txt extra', 'sub/c.txt missing'],
  );

  // A planted manifest that points outside its folder is invalid, never followed.
  const evil = path.join(s.root, 'evil');
  fs.mkdirSync(evil);
  const m = JSON.parse(fs.readFileSync(path.join(dest, 'batt-manifest.json'), 'utf8'));
  m.files = [{ path: '../../../../etc/passwd', size: 1, sha256: 'x' }];
  fs.writeFileSync(path.join(evil, 'batt-manifest.json'), JSON.stringify(m));
  v = await batt(['verify', '--service', 'nosuch', '--path', s.pattern], { home: s.home });
  assert.equal(v.code, 1);
  assert.match(v.stderr, new RegExp(`^batt: invalid manifest: ${evil}/batt-manifest\\.json: not a batt manifest`, 'm'));
  assert.doesNotMatch(v.stderr + v.stdout, /passwd/);
});

test('an unwritable destination is a clear error: read-only filesystem, path through a file', async (t) => {
  const s = box();
  writeScript(s.home, 'svc', 'echo x > "$BATT_DEST/x"');
  const file = path.join(s.dir, 'plainfile');
  fs.writeFileSync(file, 'x');
  for (const pattern of [`${file}/%Y`, `${file}/b/%Y`]) {
    const r = await batt(['svc', '--path', pattern], { home: s.home });
    assert.equal(r.code, 4, r.stderr);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.match(r.stderr, /^batt: cannot write .*plainfile.*: .*is not a folder/);
  }
  assert.equal(fs.readFileSync(file, 'utf8'), 'x');
  const ro = path.join(s.dir, 'ro');
  if (!mountTmpfs(ro, 'size=1m,ro')) return cannotMount(t);
  try {
    for (const pattern of [`${ro}/%Y`, `${ro}/sub/%Y/%m`]) {
      const r = await batt(['svc', '--path', pattern], { home: s.home });
      assert.equal(r.code, 4, r.stderr);
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`^batt: cannot write ${ro}.*: read-only file system`));
    }
  } finally {
    umount(ro);
  }
});

test('RELIABILITY 15: as root, a group/world-writable or foreign-owned script is refused', { skip: !isRoot && 'needs root' }, async () => {
  const s = box();
  const marker = path.join(s.state, 'ran');
  const cases: [string, (f: string) => void, RegExp][] = [
    ['gw', (f) => fs.chmodSync(f, 0o775), /backup-gw is writable by group or others \(mode 775\); refusing to run it as root/],
    ['ww', (f) => fs.chmodSync(f, 0o757), /writable by group or others \(mode 757\)/],
    ['nobody', (f) => fs.chownSync(f, 65534, 65534), /backup-nobody is owned by uid 65534, not root; refusing to run it as root/],
  ];
  writeScript(s.home, 'fine', 'echo ok > "$BATT_DEST/ok"');
  for (const [svc, spoil, msg] of cases) {
    const f = writeScript(s.home, svc, `touch "${marker}-${svc}"\necho x > "$BATT_DEST/x"`);
    spoil(f);
    const r = await batt([svc, '--path', s.pattern], { home: s.home });
    assert.equal(r.code, 4, r.stderr);
    assert.match(r.stderr, msg);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    fs.symlinkSync(`../scripts-available/backup-${svc}`, path.join(s.home, 'scripts-enabled', `backup-${svc}`));
  }
  fs.symlinkSync('../scripts-available/backup-fine', path.join(s.home, 'scripts-enabled', 'backup-fine'));
  const all = await batt(['--path', s.pattern], { home: s.home });
  assert.equal(all.code, 1, all.stderr);
  assert.match(all.stderr, /backup incomplete: 1 ok, 3 failed/);
  for (const [svc] of cases) assert.ok(!fs.existsSync(`${marker}-${svc}`), `${svc} never ran`);
  assert.deepEqual(completed(s.root).map((d) => path.basename(d)), ['fine']);
});

test('RELIABILITY 14: under umask 022 dumps are 0600, folders 0700, the manifest 0600', async () => {
  const s = box();
  writeScript(s.home, 'perm', 'umask 022\nmkdir -m 755 sub\necho x > sub/f\nchmod 644 sub/f\necho y > top.sql\nchmod 666 top.sql');
  const prev = process.umask(0o022);
  let r;
  try {
    r = await batt(['perm', '--path', s.pattern], { home: s.home });
  } finally {
    process.umask(prev);
  }
  assert.equal(r.code, 0, r.stderr);
  const modes: string[] = [];
  const visit = (p: string) => {
    const st = fs.lstatSync(p);
    modes.push(`${(st.mode & 0o777).toString(8)} ${path.relative(s.dir, p) || '.'}`);
    if (st.isDirectory()) for (const e of fs.readdirSync(p)) visit(path.join(p, e));
  };
  visit(s.root);
  const bad = modes.filter((m) => (m.endsWith('.json') || m.includes('sub/f') || m.includes('top.sql') ? !m.startsWith('600 ') : !m.startsWith('700 ')));
  assert.deepEqual(bad, [], modes.join('\n'));
  assert.ok(modes.some((m) => m.endsWith('/perm/sub')) && modes.some((m) => m.endsWith('batt-manifest.json')), modes.join('\n'));
  assert.equal(fs.statSync(path.join(s.home, 'log', 'batt.log')).mode & 0o777, 0o600);
});

test('RELIABILITY 13: a conf with a PASSWORD readable by others is refused; the secret never shows', async () => {
  const s = box();
  const conf = path.join(s.home, 'conf', 'sec.conf');
  fs.writeFileSync(conf, 'USER=backup\nPASSWORD=hunter2-conf-secret\n');
  fs.chmodSync(conf, 0o644);
  writeScript(s.home, 'sec', '[ "$BATT_CONF_PASSWORD" = hunter2-conf-secret ] || exit 7\n[ "$BATT_OPT_KEY_ID" = hunter3-opt-secret ] || exit 8\necho "user $BATT_CONF_USER"\nsha256sum <<<"$BATT_CONF_PASSWORD" > "$BATT_DEST/dump.sql"');
  // A password option would sit in batt's own argv (ps): refused before anything runs.
  let r = await batt(['sec', '--sec-password', 'hunter4-argv', '--path', s.pattern], { home: s.home });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /^batt: refusing --sec-password: a secret on the command line is visible .*PASSWORD=\.\.\. in conf\/sec\.conf/);
  const args = ['sec', '--sec-key-id', 'hunter3-opt-secret', '--path', s.pattern];
  r = await batt(args, { home: s.home });
  assert.equal(r.code, 3);
  assert.equal(r.stderr, `batt: ${conf} holds PASSWORD but is readable by others (mode 644) (chmod 600 ${conf})\n`);
  assert.deepEqual(listFiles(s.root), []);

  fs.chmodSync(conf, 0o600);
  const outputs: string[] = [];
  for (const extra of [['--json'], [], ['--dry-run', '--json'], ['--dry-run']]) {
    r = await batt([...args, ...extra], { home: s.home });
    assert.equal(r.code, 0, `${extra.join(' ')}: ${r.stderr}`);
    outputs.push(r.stdout, r.stderr);
  }
  assert.match(outputs.join(''), /"\*\*\*"/, 'the option shows as masked');
  const files = listFiles(s.root).map((f) => path.join(s.root, f));
  files.push(...listFiles(path.join(s.home, 'log')).map((f) => path.join(s.home, 'log', f)));
  assert.ok(files.some((f) => f.endsWith('batt-manifest.json')) && files.some((f) => f.endsWith('batt.log')));
  const everything = outputs.join('\n') + files.map((f) => fs.readFileSync(f, 'utf8')).join('\n');
  assert.match(everything, /user backup/, 'the log has the script output');
  assert.doesNotMatch(everything, /hunter2|hunter3/);
});
