// RETRIES / RETRY_WAIT and NICE / IONICE_* (issue 23), with the built batt.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { batt, backupsOf, readText, sandbox, writeScript, type Sandbox } from '../helpers/batt.js';

const conf = (s: Sandbox, name: string, text: string) => fs.writeFileSync(path.join(s.home, 'conf', `${name}.conf`), text);
/** A script that fails (after writing part of a dump) until it has run `failures` times. */
const flaky = (s: Sandbox, service: string, failures: number) =>
  writeScript(
    s.home,
    service,
    `n=$(cat ${s.dir}/${service}.count 2>/dev/null || echo 0); echo $((n+1)) > ${s.dir}/${service}.count
echo "try $((n+1)) in $BATT_DEST" > "$BATT_DEST/data.txt"
if [ "$n" -lt ${failures} ]; then echo "connection reset by peer" >&2; exit 3; fi`,
  );

test('a failed backup is tried again in a fresh staging folder; the log and the summary say so', async () => {
  const s = sandbox();
  try {
    flaky(s, 'db', 2);
    conf(s, 'batt', 'RETRIES=2\nRETRY_WAIT=0\n');
    const r = await batt(['db', '--path', s.pattern], { home: s.home });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^ok +db .*\/db \(ok after 3 tries\)$/m);
    assert.match(r.stdout, /backup complete: 1 ok, 0 failed in .* \(db ok after 3 tries\)/);
    const log = readText(path.join(s.home, 'log', 'batt.log'));
    const starts = [...log.matchAll(/db: start .* -> (\S+)/g)].map((m) => m[1]);
    assert.equal(starts.length, 3);
    assert.equal(new Set(starts).size, 3, 'each try has its own staging folder');
    assert.match(log, /db: try 1 of 3 failed; trying again in 0s/);
    assert.match(log, /db: try 2 of 3 failed; trying again in 0s/);
    assert.match(log, /db: ok after 3 tries/);
    const files = backupsOf(s);
    assert.equal(files.filter((f) => f.endsWith('data.txt')).length, 1, files.join(' '));
    const data = fs.readFileSync(path.join(s.root, files.find((f) => f.endsWith('data.txt'))!), 'utf8');
    assert.match(data, /^try 3 in .*-try3$/m, 'the backup is the third try\'s');
    assert.ok(!files.some((f) => f.includes('.batt-staging-')), 'no staging folder left');
  } finally {
    s.cleanup();
  }
});

test('a service\'s RETRIES wins over batt.conf; out of tries it fails with every try counted', async () => {
  const s = sandbox();
  try {
    flaky(s, 'db', 5);
    flaky(s, 'web', 5);
    conf(s, 'batt', 'RETRIES=1\nRETRY_WAIT=0s\n');
    conf(s, 'web', 'RETRIES=0\n');
    const r = await batt(['db', 'web', '--path', s.pattern], { home: s.home });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /^batt: FAILED +db .*connection reset by peer \(FAILED after 2 tries\)$/m);
    assert.equal(readText(path.join(s.dir, 'db.count')).trim(), '2');
    assert.equal(readText(path.join(s.dir, 'web.count')).trim(), '1');
    assert.deepEqual(backupsOf(s), []);
  } finally {
    s.cleanup();
  }
});

test('never retried: a script that cannot start, a timeout; a stop during the wait ends the run at once', async () => {
  const s = sandbox();
  try {
    writeScript(s.home, 'nointerp', '#!/nonexistent/interpreter\n');
    writeScript(s.home, 'slow', `echo . >> ${s.dir}/slow.count; sleep 30`);
    conf(s, 'batt', 'RETRIES=3\nRETRY_WAIT=0\n');
    const r = await batt(['nointerp', 'slow', '--timeout', '1', '--path', s.pattern], { home: s.home });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /nointerp: cannot start script: the interpreter on its #! line was not found/);
    assert.equal(readText(path.join(s.dir, 'slow.count')), '.\n', 'a timeout is not tried again');
    assert.doesNotMatch(readText(path.join(s.home, 'log', 'batt.log')), /trying again/);

    flaky(s, 'db', 5);
    conf(s, 'batt', 'RETRIES=3\nRETRY_WAIT=10m\n');
    const t0 = Date.now();
    let child: import('node:child_process').ChildProcess | undefined;
    const run = batt(['db', '--path', s.pattern], { home: s.home, onSpawn: (c) => (child = c) });
    const log = path.join(s.home, 'log', 'batt.log');
    while (!/trying again in 600s/.test(readText(log)) && Date.now() - t0 < 30_000) await new Promise((res) => setTimeout(res, 50));
    child!.kill('SIGTERM');
    const stopped = await run;
    assert.equal(stopped.code, 143, stopped.stderr);
    assert.ok(Date.now() - t0 < 30_000);
    assert.equal(readText(path.join(s.dir, 'db.count')).trim(), '1', 'no second try after the stop');
    assert.equal(readText(log).match(/db: start /g)?.length, 1, 'no second try was even started');
  } finally {
    s.cleanup();
  }
});

/** Nice (field 19 of /proc/PID/stat) and `ionice -p` of a process. */
function priorityOf(pid: number): { nice: number; io: string } {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const nice = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]);
  return { nice, io: spawnSync('ionice', ['-p', String(pid)], { encoding: 'utf8' }).stdout.trim() };
}

test('NICE and IONICE_* apply to the script and the children it starts; a service\'s own win', async () => {
  const s = sandbox();
  try {
    // each script starts a child, says its pid, and waits until the test has looked at it
    for (const svc of ['low', 'idle']) {
      writeScript(s.home, svc, `sleep 300 & echo $! > ${s.dir}/${svc}.pid
while [ ! -e ${s.dir}/${svc}.go ]; do sleep 0.05; done
kill $!; echo x > "$BATT_DEST/x"`);
    }
    conf(s, 'batt', 'NICE=7\nIONICE_CLASS=best-effort\nIONICE_LEVEL=6\n');
    conf(s, 'idle', 'NICE=12\nIONICE_CLASS=idle\n');
    const run = batt(['low', 'idle', '--path', s.pattern], { home: s.home });
    const seen: Record<string, { nice: number; io: string }> = {};
    const deadline = Date.now() + 30_000;
    for (const svc of ['low', 'idle']) {
      const pidFile = path.join(s.dir, `${svc}.pid`);
      while (!readText(pidFile).trim() && Date.now() < deadline) await new Promise((res) => setTimeout(res, 50));
      seen[svc] = priorityOf(Number(readText(pidFile)));
      fs.writeFileSync(path.join(s.dir, `${svc}.go`), '');
    }
    const r = await run;
    assert.equal(r.code, 0, r.stderr);
    const own = priorityOf(process.pid).nice;
    assert.deepEqual(seen.low, { nice: Math.min(19, own + 7), io: 'best-effort: prio 6' });
    assert.deepEqual(seen.idle, { nice: Math.min(19, own + 12), io: 'idle' });
  } finally {
    s.cleanup();
  }
});
