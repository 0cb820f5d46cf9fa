// `batt drill`: a backup restored into a scratch place by its restore script (BATT_DRILL=1),
// checked, timed and recorded beside it (batt-drill.json); the scratch place gone after success,
// failure, SIGTERM, and (by the next run) SIGKILL; DRILL_EVERY after a run. The file service is the
// real restore-file; the database drills are in test/integration/drill.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { batt, listFiles, resealManifest, sandbox, writeScript, type Sandbox } from '../helpers/batt.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A sandbox with the built-in scripts, a private TMPDIR (to see what a drill leaves) and a state folder. */
function setup(): Sandbox & { tmp: string; state: string; env: Record<string, string> } {
  const sb = sandbox({ builtins: true });
  const tmp = path.join(sb.dir, 'tmp');
  const state = path.join(sb.dir, 'state');
  fs.mkdirSync(tmp);
  fs.mkdirSync(state);
  return { ...sb, tmp, state, env: { TMPDIR: tmp, STATE: state } };
}

/** A small tree for the file service: a file, a folder, a symlink, a hard link. */
function dataTree(sb: Sandbox): string {
  const data = path.join(sb.dir, 'data');
  fs.mkdirSync(path.join(data, 'sub'), { recursive: true });
  fs.writeFileSync(path.join(data, 'a.txt'), 'alpha\n');
  fs.writeFileSync(path.join(data, 'sub', 'b.bin'), randomBytes(50_000));
  fs.symlinkSync('a.txt', path.join(data, 'link'));
  fs.linkSync(path.join(data, 'a.txt'), path.join(data, 'hard'));
  return data;
}

async function fileBackup(sb: ReturnType<typeof setup>): Promise<string> {
  const r = await batt(['--file', dataTree(sb), '--path', sb.pattern, '--no-drill'], { home: sb.home, env: sb.env });
  assert.equal(r.code, 0, r.stderr);
  const dir = path.dirname(path.join(sb.root, listFiles(sb.root).find((f) => f.endsWith('file/batt-manifest.json'))!));
  return dir;
}

const drillJson = (dir: string) => JSON.parse(fs.readFileSync(path.join(dir, 'batt-drill.json'), 'utf8')) as { ok: boolean; at: string; durationMs: number; error?: string };

test('a healthy file backup drills ok: restored, compared, timed, recorded beside it; nothing left in TMPDIR', async () => {
  const sb = setup();
  try {
    const dir = await fileBackup(sb);
    const r = await batt(['drill', '--path', sb.pattern], { home: sb.home, env: sb.env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^drill ok\s+file\s+\S+\/file\s+restored in \d/m);
    const rec = drillJson(dir);
    assert.equal(rec.ok, true);
    assert.ok(rec.durationMs > 0 && Date.now() - Date.parse(rec.at) < 60_000);
    assert.match(fs.readFileSync(path.join(sb.home, 'log', 'batt.log'), 'utf8'), /drill: \S+\.tar\.zst matches what was restored/);
    assert.deepEqual(fs.readdirSync(sb.tmp), [], 'the scratch folder is gone');
    // the record is a sidecar: verify still passes, and the catalog shows it
    assert.equal((await batt(['verify', '--path', sb.pattern], { home: sb.home })).code, 0);
    const ls = await batt(['backups', '--path', sb.pattern], { home: sb.home });
    assert.match(ls.stdout, /DRILL/);
    assert.match(ls.stdout, /file .* ok \d{4}-\d\d-\d\d \d\d:\d\d, restored in \d/);
    const j = JSON.parse((await batt(['backups', '--json', '--path', sb.pattern], { home: sb.home })).stdout);
    assert.equal(j.backups[0].drill.ok, true);
    // batt status shows the last drill of each enabled service (not judged: the state is the backups')
    assert.equal((await batt(['enable', 'file'], { home: sb.home })).code, 0);
    const st = await batt(['status', '--path', sb.pattern], { home: sb.home });
    assert.equal(st.code, 0, st.stdout);
    assert.match(st.stdout, /^OK +file: .*; last drill ok \d{4}-\d\d-\d\d \d\d:\d\d, restored in \d/m);
    const sj = JSON.parse((await batt(['status', '--json', '--path', sb.pattern], { home: sb.home })).stdout);
    assert.equal(sj.services[0].lastDrill.ok, true);
    assert.equal(typeof sj.services[0].lastDrill.durationMs, 'number');
    // --json of the drill itself
    const dj = JSON.parse((await batt(['drill', 'file', '--json', '--path', sb.pattern], { home: sb.home, env: sb.env })).stdout);
    assert.equal(dj.ok, true);
    assert.equal(dj.drills[0].status, 'ok');
    assert.equal(typeof dj.drills[0].durationMs, 'number');
  } finally {
    sb.cleanup();
  }
});

test('a file backup whose archive is a valid zstd stream of random bytes passes verify but fails the drill', async () => {
  const sb = setup();
  try {
    const dir = await fileBackup(sb);
    const archive = fs.readdirSync(dir).find((f) => f.endsWith('.tar.zst'))!;
    fs.writeFileSync(path.join(dir, archive), execFileSync('zstd', ['-q', '-c'], { input: randomBytes(200_000) }));
    resealManifest(dir);
    assert.equal((await batt(['verify', '--path', sb.pattern], { home: sb.home })).code, 0, 'the manifest matches');
    const r = await batt(['drill', 'file', '--path', sb.pattern], { home: sb.home, env: sb.env });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /^batt: drill FAILED\s+file\s+\S+\/file\s+drill of file failed: restore script exited with code 1/m);
    const rec = drillJson(dir);
    assert.equal(rec.ok, false);
    assert.match(rec.error ?? '', /exited with code 1/);
    assert.deepEqual(fs.readdirSync(sb.tmp), [], 'the scratch folder is gone');
    assert.match((await batt(['backups', '--path', sb.pattern], { home: sb.home })).stdout, /FAILED \d{4}-/);
  } finally {
    sb.cleanup();
  }
});

test('a tar that silently leaves out a member: the comparison with the archive listing fails the drill', async () => {
  const sb = setup();
  try {
    const dir = await fileBackup(sb);
    // extracts everything but b.bin, and says nothing about it
    const tar = path.join(sb.dir, 'tar-drops-b');
    fs.writeFileSync(tar, `#!/usr/bin/env bash\nfor a in "$@"; do [ "$a" = --extract ] && exec tar --exclude='*/b.bin' "$@"; done\nexec tar "$@"\n`, { mode: 0o755 });
    const r = await batt(['drill', 'file', '--path', sb.pattern], { home: sb.home, env: { ...sb.env, TAR: tar } });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /differs from its own listing/);
    assert.match(fs.readFileSync(path.join(sb.home, 'log', 'batt.log'), 'utf8'), /b\.bin: Warning: Cannot stat: No such file or directory/);
    assert.equal(drillJson(dir).ok, false);
    assert.deepEqual(fs.readdirSync(sb.tmp), []);
  } finally {
    sb.cleanup();
  }
});

/** A drop-in service: its backup writes one file; its restore script is given (with `# batt:` words). */
function dropIn(sb: Sandbox, service: string, restore: string | null): void {
  writeScript(sb.home, service, 'echo data > "$BATT_DEST/data.txt"');
  if (restore !== null) writeScript(sb.home, service, restore, 'restore');
}

test('a service without a restore script, or whose script does not say "# batt: drill", has no drill (not a failure)', async () => {
  const sb = setup();
  try {
    dropIn(sb, 'plain', null);
    dropIn(sb, 'unaware', '#!/usr/bin/env bash\ntouch "$STATE/unaware-ran"\n');
    assert.equal((await batt(['plain', 'unaware', '--path', sb.pattern], { home: sb.home, env: sb.env })).code, 0);
    const r = await batt(['drill', '--path', sb.pattern], { home: sb.home, env: sb.env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^drill NO DRILL\s+plain\s+-\s+no restore-plain script$/m);
    assert.match(r.stdout, /^drill NO DRILL\s+unaware\s+-\s+restore-unaware does not say "# batt: drill"/m);
    assert.ok(!fs.existsSync(path.join(sb.state, 'unaware-ran')), 'a restore script that does not know drills is never run by one');
    // a name without a backup (a typo) is bad input, not "no drill"
    const typo = await batt(['drill', 'plian', '--path', sb.pattern], { home: sb.home, env: sb.env });
    assert.equal(typo.code, 2);
    assert.match(typo.stderr, /^batt: no plian backup under \S+ to drill \(batt backups lists them\)$/m);
    const badId = await batt(['drill', '2020/01/01/plain', '--path', sb.pattern], { home: sb.home, env: sb.env });
    assert.equal(badId.code, 2);
    assert.match(badId.stderr, /no backup "2020\/01\/01\/plain"/);
  } finally {
    sb.cleanup();
  }
});

test('a drop-in drill gets BATT_DRILL=1, an empty private BATT_RESTORE_TO and a batt_drill_ name, never --force', async () => {
  const sb = setup();
  try {
    dropIn(sb, 'svc', `#!/usr/bin/env bash
# batt: drill
set -euo pipefail
{ echo "DRILL=$BATT_DRILL FORCE=$BATT_FORCE NAME=$BATT_DRILL_NAME"; stat -c 'MODE=%a' "$BATT_RESTORE_TO"; echo "ENTRIES=$(ls -A "$BATT_RESTORE_TO" | wc -l)"; } >"$STATE/env"
cp "$BATT_BACKUP/data.txt" "$BATT_RESTORE_TO/"`);
    assert.equal((await batt(['svc', '--path', sb.pattern], { home: sb.home, env: sb.env })).code, 0);
    const r = await batt(['drill', 'svc', '--path', sb.pattern], { home: sb.home, env: sb.env });
    assert.equal(r.code, 0, r.stderr);
    const env = fs.readFileSync(path.join(sb.state, 'env'), 'utf8');
    assert.match(env, /^DRILL=1 FORCE=0 NAME=batt_drill_\d+_\d+_[0-9a-f]{8}$/m);
    assert.match(env, /^MODE=700$/m);
    assert.match(env, /^ENTRIES=0$/m);
    assert.deepEqual(fs.readdirSync(sb.tmp), []);
  } finally {
    sb.cleanup();
  }
});

test('SIGTERM during a drill: exit 143, the scratch folder removed, no drill recorded', async () => {
  const sb = setup();
  try {
    dropIn(sb, 'slow', `#!/usr/bin/env bash
# batt: drill
echo partial > "$BATT_RESTORE_TO/x"
touch "$STATE/started"
sleep 30`);
    assert.equal((await batt(['slow', '--path', sb.pattern], { home: sb.home, env: sb.env })).code, 0);
    let child: import('node:child_process').ChildProcess | undefined;
    const run = batt(['drill', 'slow', '--path', sb.pattern], { home: sb.home, env: sb.env, onSpawn: (c) => (child = c) });
    for (let i = 0; i < 200 && !fs.existsSync(path.join(sb.state, 'started')); i++) await sleep(50);
    assert.ok(fs.existsSync(path.join(sb.state, 'started')));
    assert.equal(fs.readdirSync(sb.tmp).length, 1, 'the drill has its scratch folder');
    child!.kill('SIGTERM');
    const r = await run;
    assert.equal(r.code, 143, r.stderr);
    assert.match(r.stderr, /interrupted by SIGTERM/);
    assert.deepEqual(fs.readdirSync(sb.tmp), []);
    assert.ok(!listFiles(sb.root).some((f) => f.endsWith('batt-drill.json')));
  } finally {
    sb.cleanup();
  }
});

// A drop-in whose "server" is a folder: a scratch database is a file $STORE/<name>_<n>.
const DB_RESTORE = `#!/usr/bin/env bash
# batt: drill, drill-drop
set -euo pipefail
case "$BATT_DRILL" in
  drop) rm -f -- "$STORE/$BATT_DRILL_NAME" "$STORE/$BATT_DRILL_NAME"_*; echo "dropped $BATT_DRILL_NAME" >>"$STATE/drops"; exit 0 ;;
esac
touch "$STORE/\${BATT_DRILL_NAME}_1"
touch "$STATE/started"
if [ -e "$STATE/fail" ]; then exit 1; fi
if [ -e "$STATE/hang" ]; then sleep 20; fi
rm -f -- "$STORE/\${BATT_DRILL_NAME}_1"`;

test('a drill killed with SIGKILL: the next run drops only its scratch databases, then removes its folder', async () => {
  const sb = setup();
  const store = path.join(sb.dir, 'store');
  fs.mkdirSync(store);
  const env = { ...sb.env, STORE: store };
  try {
    dropIn(sb, 'db', DB_RESTORE);
    assert.equal((await batt(['db', '--path', sb.pattern], { home: sb.home, env })).code, 0);
    fs.writeFileSync(path.join(store, 'batt_drill_1_2_cafebabe_1'), ''); // another drill's, whose batt lives on (see below)
    fs.writeFileSync(path.join(store, 'live'), 'live data');
    fs.writeFileSync(path.join(sb.state, 'hang'), '');
    let child: import('node:child_process').ChildProcess | undefined;
    const run = batt(['drill', 'db', '--path', sb.pattern], { home: sb.home, env, onSpawn: (c) => (child = c) });
    for (let i = 0; i < 200 && !fs.existsSync(path.join(sb.state, 'started')); i++) await sleep(50);
    child!.kill('SIGKILL');
    await run;
    const left = fs.readdirSync(sb.tmp);
    assert.equal(left.length, 1, 'a SIGKILL leaves the scratch folder with its record');
    const scratchDb = fs.readdirSync(store).filter((f) => f.startsWith(`batt_drill_${child!.pid}_`));
    assert.equal(scratchDb.length, 1, 'and the scratch database');
    // a live drill's folder (this test process's pid) is never touched by the sweep
    const liveDir = path.join(sb.tmp, `batt-scratch-${process.pid}-drill-keepme`);
    fs.mkdirSync(liveDir);
    fs.writeFileSync(path.join(liveDir, 'batt-drill-record.json'), JSON.stringify({ service: 'db', name: 'batt_drill_1_2_cafebabe', drop: true }));
    fs.rmSync(path.join(sb.state, 'hang'));
    fs.rmSync(path.join(sb.state, 'started'));
    const r = await batt(['drill', 'db', '--path', sb.pattern], { home: sb.home, env });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, new RegExp(`removed .*${left[0]} and the scratch databases batt_drill_${child!.pid}_\\S+\\* , left by a killed drill of db`.replace(' ,', ',')));
    assert.deepEqual(fs.readdirSync(store).sort(), ['batt_drill_1_2_cafebabe_1', 'live'], 'only the dead drill\'s database was dropped');
    assert.deepEqual(fs.readdirSync(sb.tmp), [path.basename(liveDir)]);
    assert.equal(fs.readFileSync(path.join(sb.state, 'drops'), 'utf8').trim().split('\n').length, 1);
  } finally {
    sb.cleanup();
  }
});

test('a failed drill of a drill-drop script: BATT_DRILL=drop runs at once and nothing is left', async () => {
  const sb = setup();
  const store = path.join(sb.dir, 'store');
  fs.mkdirSync(store);
  const env = { ...sb.env, STORE: store };
  try {
    dropIn(sb, 'db', DB_RESTORE);
    assert.equal((await batt(['db', '--path', sb.pattern], { home: sb.home, env })).code, 0);
    fs.writeFileSync(path.join(sb.state, 'fail'), '');
    const r = await batt(['drill', 'db', '--path', sb.pattern], { home: sb.home, env });
    assert.equal(r.code, 1);
    assert.deepEqual(fs.readdirSync(store), []);
    assert.deepEqual(fs.readdirSync(sb.tmp), []);
    assert.match(fs.readFileSync(path.join(sb.state, 'drops'), 'utf8'), /^dropped batt_drill_/);
  } finally {
    sb.cleanup();
  }
});

test('DRILL_EVERY: a good run drills the services whose last drill is older; --no-drill skips; a failed drill fails the run', async () => {
  const sb = setup();
  try {
    dropIn(sb, 'svc', `#!/usr/bin/env bash
# batt: drill
echo drill >>"$STATE/drills"
[ ! -e "$STATE/fail" ]`);
    dropIn(sb, 'other', null);
    fs.writeFileSync(path.join(sb.home, 'conf', 'batt.conf'), 'DRILL_EVERY=7d\n');
    const drills = () => (fs.existsSync(path.join(sb.state, 'drills')) ? fs.readFileSync(path.join(sb.state, 'drills'), 'utf8').split('\n').filter(Boolean).length : 0);
    const p = `${sb.root}/%Y/%m/%d_%H%M%S`;
    let r = await batt(['svc', 'other', '--path', p], { home: sb.home, env: sb.env });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(drills(), 1, 'no drill yet: due' + r.stdout + r.stderr);
    assert.match(r.stdout, /^drill ok\s+svc/m);
    assert.match(r.stdout, /^drill NO DRILL\s+other/m);
    await sleep(1100);
    r = await batt(['svc', '--path', p], { home: sb.home, env: sb.env });
    assert.equal(drills(), 1, 'drilled within 7d: not due');
    // the service's own conf wins over batt.conf
    fs.writeFileSync(path.join(sb.home, 'conf', 'svc.conf'), 'DRILL_EVERY=1s\n', { mode: 0o600 });
    await sleep(1100);
    r = await batt(['svc', '--path', p, '--no-drill'], { home: sb.home, env: sb.env });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(drills(), 1, '--no-drill');
    fs.writeFileSync(path.join(sb.state, 'fail'), '');
    await sleep(1100);
    r = await batt(['svc', '--json', '--path', p], { home: sb.home, env: sb.env });
    assert.equal(r.code, 1, r.stderr);
    assert.equal(drills(), 2);
    const j = JSON.parse(r.stdout);
    assert.equal(j.ok, false);
    assert.equal(j.drills[0].status, 'failed');
    // a failed drill is not forgotten for DRILL_EVERY: the next run drills again
    r = await batt(['svc', '--path', p], { home: sb.home, env: sb.env });
    assert.equal(r.code, 1);
    assert.equal(drills(), 3);
    assert.match(r.stderr, /drill failed: svc/);
    // a bad DRILL_EVERY is a conf error before anything runs
    fs.writeFileSync(path.join(sb.home, 'conf', 'svc.conf'), 'DRILL_EVERY=weekly\n', { mode: 0o600 });
    r = await batt(['svc', '--path', p], { home: sb.home, env: sb.env });
    assert.equal(r.code, 3, r.stderr);
    assert.match(r.stderr, /DRILL_EVERY must be a number and a unit/);
  } finally {
    sb.cleanup();
  }
});

test('a backup script that writes batt-drill.json is refused: the name is batt\'s', async () => {
  const sb = setup();
  try {
    writeScript(sb.home, 'sneaky', 'echo x > "$BATT_DEST/data"; echo "{}" > "$BATT_DEST/batt-drill.json"');
    const r = await batt(['sneaky', '--path', sb.pattern], { home: sb.home, env: sb.env });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /left batt-drill\.json, a name batt keeps for its own file/);
  } finally {
    sb.cleanup();
  }
});

test('a failed scheduled drill is notified like a failed backup (the webhook gets "<service> (drill)" failed)', async () => {
  const sb = setup();
  const http = await import('node:http');
  const bodies: string[] = [];
  const server = http.createServer((req, res) => {
    let b = '';
    req.on('data', (c) => (b += c));
    req.on('end', () => {
      bodies.push(b);
      res.end('ok');
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const port = (server.address() as import('node:net').AddressInfo).port;
    dropIn(sb, 'svc', '#!/usr/bin/env bash\n# batt: drill\necho "restored nothing useful" >&2\nexit 1');
    fs.writeFileSync(path.join(sb.home, 'conf', 'batt.conf'), `DRILL_EVERY=1d\nWEBHOOK_URL=http://127.0.0.1:${port}/hook\n`, { mode: 0o600 });
    const r = await batt(['svc', '--path', sb.pattern], { home: sb.home, env: sb.env });
    assert.equal(r.code, 1, r.stderr);
    assert.equal(bodies.length, 1, 'one notification');
    const summary = JSON.parse(bodies[0]!) as { ok: boolean; services: { service: string; status: string; error?: string }[] };
    assert.equal(summary.ok, false);
    const entry = summary.services.find((s) => s.service === 'svc (drill)');
    assert.equal(entry?.status, 'failed');
    assert.match(entry?.error ?? '', /drill of \S+\/svc failed: .*restored nothing useful/);
    assert.equal(summary.services.find((s) => s.service === 'svc')?.status, 'ok', 'the backup itself is ok');
  } finally {
    server.close();
    sb.cleanup();
  }
});
