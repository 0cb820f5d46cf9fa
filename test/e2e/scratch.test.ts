// Scripts get a private TMPDIR: what they leave there (credentials files) is removed when they
// end, and by the next run when batt was killed before it could clean up.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { batt, sandbox, writeScript } from '../helpers/batt.js';
import { statFields } from '../../src/core/proc.js';

test('a script\'s TMPDIR is private (0700) and removed after the script, also after a failure', async () => {
  const s = sandbox();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'batt-tmpdir-'));
  try {
    const seen = path.join(s.dir, 'seen');
    writeScript(s.home, 'creds', `stat -c %a "$TMPDIR" > ${seen}; echo "$TMPDIR" >> ${seen}; echo secret > "$TMPDIR/my.cnf"; echo ok > "$BATT_DEST/d"; [ -z "\${FAIL:-}" ]`);
    for (const fail of ['', '1']) {
      const r = await batt(['creds', '--path', s.pattern], { home: s.home, env: { TMPDIR: tmp, FAIL: fail } });
      assert.equal(r.code, fail ? 1 : 0, r.stderr);
      const [mode, dir] = fs.readFileSync(seen, 'utf8').trim().split('\n');
      assert.equal(mode, '700');
      assert.equal(path.dirname(dir!), tmp, 'under the caller\'s TMPDIR');
      assert.equal(fs.existsSync(dir!), false, `${dir} was removed`);
    }
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
    s.cleanup();
  }
});

test('the next run removes the scratch folder of a killed batt, and only that one', async () => {
  const s = sandbox();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'batt-tmpdir-'));
  try {
    // pid 2^22+1 is above Linux's pid_max: never a live process.
    const dead = path.join(tmp, 'batt-scratch-4194305-mysql-abc123');
    const alive = path.join(tmp, `batt-scratch-${process.pid}-mysql-def456`);
    const foreign = path.join(tmp, 'batt-scratch-notapid');
    for (const d of [dead, alive, foreign]) {
      fs.mkdirSync(d);
      fs.writeFileSync(path.join(d, 'my.cnf'), 'password=x\n');
    }
    writeScript(s.home, 'ok', 'echo ok > "$BATT_DEST/d"');
    const r = await batt(['ok', '--path', s.pattern], { home: s.home, env: { TMPDIR: tmp } });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(fs.existsSync(dead), false, 'the dead run\'s folder is gone');
    assert.ok(fs.existsSync(alive), 'a live process\'s folder is kept');
    assert.ok(fs.existsSync(foreign), 'a name batt did not make is kept');
    assert.match(fs.readFileSync(path.join(s.home, 'log', 'batt.log'), 'utf8'), /scratch folder left by a killed batt/);
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
    s.cleanup();
  }
});

test('a folder whose pid now belongs to another process (another start time) is removed; one with the right start time is kept', async () => {
  const s = sandbox();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'batt-tmpdir-'));
  const sleep = spawn('sleep', ['300'], { stdio: 'ignore' });
  try {
    // sleep stands in for an unrelated process that got a killed batt's pid
    const pid = sleep.pid!;
    const start = statFields(pid)?.[19];
    assert.ok(start && /^\d+$/.test(start), `no start time for ${pid} in /proc`);
    const reused = path.join(tmp, `batt-scratch-${pid}-T${BigInt(start) - 1n}-restore-mysql-abc123`);
    const live = path.join(tmp, `batt-scratch-${pid}-T${start}-restore-mysql-def456`);
    const older = path.join(tmp, `batt-scratch-${pid}-mysql-ghi789`); // an older batt's name: the pid alone
    for (const d of [reused, live, older]) {
      fs.mkdirSync(d, { mode: 0o700 });
      fs.writeFileSync(path.join(d, 'backup.sql'), 'decrypted\n');
    }
    writeScript(s.home, 'ok', 'echo ok > "$BATT_DEST/d"');
    const r = await batt(['ok', '--path', s.pattern], { home: s.home, env: { TMPDIR: tmp } });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(fs.existsSync(reused), false, 'the folder of a reused pid is gone');
    assert.ok(fs.existsSync(live), 'the folder of the process with that pid and start time is kept');
    assert.ok(fs.existsSync(older), 'an old-form name with a live pid is kept');
    assert.ok(fs.readFileSync(path.join(s.home, 'log', 'batt.log'), 'utf8').includes(`removed ${reused}, a scratch folder left by a killed batt`));
  } finally {
    sleep.kill('SIGKILL');
    fs.rmSync(tmp, { recursive: true, force: true });
    s.cleanup();
  }
});
