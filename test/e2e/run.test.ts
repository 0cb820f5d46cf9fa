// The backup run as cron sees it: a nightly run of every enabled service survives one broken
// service, and `batt run` reaches services whose names are also command names.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { batt, listFiles, sandbox, writeScript } from '../helpers/batt.js';

test('an enabled service with an unsafe conf fails alone; the others are backed up (exit 1)', async () => {
  const s = sandbox();
  try {
    writeScript(s.home, 'good', 'echo ok > "$BATT_DEST/good.txt"');
    writeScript(s.home, 'leaky', 'echo ok > "$BATT_DEST/leaky.txt"');
    const conf = path.join(s.home, 'conf', 'leaky.conf');
    fs.writeFileSync(conf, 'PASSWORD=hunter2\n');
    fs.chmodSync(conf, 0o644);
    assert.equal((await batt(['enable', 'good', 'leaky'], { home: s.home })).code, 0);
    const r = await batt(['--path', s.pattern], { home: s.home });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, new RegExp(`leaky: ${conf.replace(/[.]/g, '\\.')} holds PASSWORD but is readable by others`));
    assert.doesNotMatch(r.stderr + r.stdout, /hunter2/);
    const files = listFiles(s.root);
    assert.ok(files.some((f) => f.endsWith('/good/good.txt')), files.join(' '));
    assert.ok(!files.some((f) => f.includes('leaky')), files.join(' '));
    // Named explicitly, the same service is refused before anything runs (exit 3).
    const named = await batt(['good', 'leaky', '--path', s.pattern], { home: s.home });
    assert.equal(named.code, 3, named.stderr);
    assert.equal(listFiles(s.root).filter((f) => f.endsWith('good.txt')).length, 1, 'nothing ran');
  } finally {
    s.cleanup();
  }
});

test('batt run SERVICE reaches a service named like a command (list)', async () => {
  const s = sandbox();
  try {
    writeScript(s.home, 'list', 'echo "mailing list archive" > "$BATT_DEST/lists.txt"');
    const r = await batt(['run', 'list', '--path', s.pattern], { home: s.home });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(listFiles(s.root).some((f) => f.endsWith('/list/lists.txt')));
    // Without `run`, `list` is the command.
    const l = await batt(['list', '--json'], { home: s.home });
    assert.equal(JSON.parse(l.stdout).services[0].name, 'list');
  } finally {
    s.cleanup();
  }
});

test('a run on a backup root leaves alone the staging folder of a live run on a nested root', async () => {
  const s = sandbox();
  try {
    const started = path.join(s.dir, 'started');
    writeScript(s.home, 'slow', `echo partial > "$BATT_DEST/part"; echo $$ > ${started}; sleep 60`);
    writeScript(s.home, 'quick', 'echo ok > "$BATT_DEST/q"');
    let inner: import('node:child_process').ChildProcess | undefined;
    const nested = batt(['slow', '--path', `${s.root}/x/%Y`], { home: s.home, onSpawn: (c) => (inner = c) });
    const deadline = Date.now() + 60_000;
    while (!fs.existsSync(started) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.ok(fs.existsSync(started), 'the nested run started its script');
    const staging = () => listFiles(path.join(s.root, 'x')).filter((f) => f.includes('.batt-staging-slow-'));
    assert.equal(staging().length, 1);

    const outer = await batt(['quick', '--path', `${s.root}/%Y`], { home: s.home });
    assert.equal(outer.code, 0, outer.stderr);
    assert.doesNotMatch(outer.stderr, /left by an interrupted run/);
    assert.equal(staging().length, 1, 'the nested run\'s staging folder is still there');
    const pid = Number(fs.readFileSync(started, 'utf8'));
    assert.doesNotThrow(() => process.kill(pid, 0), 'its script still runs');

    inner!.kill('SIGTERM');
    assert.equal((await nested).code, 143);
  } finally {
    s.cleanup();
  }
});
