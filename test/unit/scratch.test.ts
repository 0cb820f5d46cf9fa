// Scratch folder names (pid and process start time) and the sweep's rule for what a killed batt
// left: a real folder of our uid whose process is gone, or whose pid now names another process.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { isStaleScratch, makeScratch, parseScratchName, removeStaleScratch, scratchPrefix, type ProcView } from '../../src/run/scratch.js';
import { statFields } from '../../src/core/proc.js';
import { spawn, execFileSync } from 'node:child_process';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'batt-scratchtest-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

const uid = process.getuid!();
const folder = { isDirectory: () => true, uid };
const link = { isDirectory: () => false, uid }; // what lstat says of a symlink to a folder
const file = { isDirectory: () => false, uid };
const foreign = { isDirectory: () => true, uid: uid + 1 };

/** pid 100 started at tick 5000, pid 200 at 7000 (/proc unreadable when start is undefined); nothing else runs. */
function procs(table: Record<number, string | undefined>): ProcView {
  return { exists: (pid) => pid in table, startTime: (pid) => table[pid] };
}
const running = procs({ 100: '5000', 200: '7000' });
const noProc = procs({ 100: undefined, 200: undefined });

test('parseScratchName: the new form (pid, T<starttime>), the old pid-only form, and names batt did not make', () => {
  const cases: [string, ReturnType<typeof parseScratchName>][] = [
    ['batt-scratch-100-T5000-mysql-Ab12Cd', { pid: 100, start: '5000' }],
    ['batt-scratch-100-T5000-restore-web-Ab12Cd', { pid: 100, start: '5000' }],
    ['batt-scratch-100-T5000-2024-Ab12Cd', { pid: 100, start: '5000' }], // a service named 2024
    ['batt-scratch-100-mysql-Ab12Cd', { pid: 100 }], // an older batt's
    ['batt-scratch-100-2024-Ab12Cd', { pid: 100 }], // an older batt's, service 2024: not a start time
    ['batt-scratch-100-5000-mysql-Ab12Cd', { pid: 100 }], // service 5000: not a start time either
    ['batt-scratch-100-t5-Ab12Cd', { pid: 100 }], // service t5
    ['batt-scratch-notapid', undefined],
    ['batt-scratch--T5000-mysql-Ab12Cd', undefined],
    ['batt-scratch-100', undefined],
    ['batt-tmpdir-100-mysql', undefined],
    ['xbatt-scratch-100-mysql-Ab12Cd', undefined],
  ];
  for (const [name, want] of cases) assert.deepEqual(parseScratchName(name), want, name);
});

test('isStaleScratch: pid gone, or alive with another start time: remove; same start, old form alive, not ours, a link: keep', () => {
  const cases: [string, string, Parameters<typeof isStaleScratch>[1], ProcView, boolean][] = [
    ['alive, same start time', 'batt-scratch-100-T5000-mysql-Ab12Cd', folder, running, false],
    ['alive, another start time (the pid was reused)', 'batt-scratch-100-T4999-mysql-Ab12Cd', folder, running, true],
    ['alive, another start time, a service named with digits', 'batt-scratch-200-T5000-2024-Ab12Cd', folder, running, true],
    ['pid gone', 'batt-scratch-300-T5000-mysql-Ab12Cd', folder, running, true],
    ['old form, pid alive: the pid rule keeps it', 'batt-scratch-100-mysql-Ab12Cd', folder, running, false],
    ['old form, pid alive, a label like a start time', 'batt-scratch-100-4999-Ab12Cd', folder, running, false],
    ['old form, pid gone', 'batt-scratch-300-mysql-Ab12Cd', folder, running, true],
    ['no /proc: pid alive keeps the new form too', 'batt-scratch-100-T4999-mysql-Ab12Cd', folder, noProc, false],
    ['no /proc: pid gone', 'batt-scratch-300-T4999-mysql-Ab12Cd', folder, noProc, true],
    ['another uid\'s folder, pid gone', 'batt-scratch-300-T5000-mysql-Ab12Cd', foreign, running, false],
    ['another uid\'s folder, start time differs', 'batt-scratch-100-T4999-mysql-Ab12Cd', foreign, running, false],
    ['a link, pid gone', 'batt-scratch-300-T5000-mysql-Ab12Cd', link, running, false],
    ['a link, start time differs', 'batt-scratch-100-T4999-mysql-Ab12Cd', link, running, false],
    ['a file, pid gone', 'batt-scratch-300-mysql-Ab12Cd', file, running, false],
    ['vanished (lstat failed)', 'batt-scratch-300-mysql-Ab12Cd', null, running, false],
    ['not a batt name', 'batt-scratch-notapid', folder, running, false],
  ];
  for (const [what, name, st, view, stale] of cases) assert.equal(isStaleScratch(name, st, uid, view), stale, `${what}: ${name}`);
  assert.equal(isStaleScratch('batt-scratch-300-mysql-Ab12Cd', folder, undefined, running), false, 'no uid to compare: keep');
});

test('makeScratch names its folder after this process: pid and start time (field 22 of /proc/self/stat), 0700', async () => {
  const s = await makeScratch('mysql', dir);
  try {
    const name = path.basename(s.dir);
    const start = statFields(process.pid)?.[19];
    assert.ok(start && /^\d+$/.test(start), `no start time in /proc: ${start}`);
    assert.match(name, new RegExp(`^batt-scratch-${process.pid}-T${start}-mysql-[A-Za-z0-9]{6}$`));
    assert.deepEqual(parseScratchName(name), { pid: process.pid, start });
    assert.equal(fs.statSync(s.dir).mode & 0o777, 0o700);
    assert.deepEqual(await removeStaleScratch(dir), [], 'a live batt\'s own folder is kept');
  } finally {
    await s.remove();
  }
  assert.equal(scratchPrefix('mysql', 42, undefined), 'batt-scratch-42-mysql-', 'without /proc: the old form');
  assert.throws(() => scratchPrefix('Tx', 42, '1'), /lower-case/, 'a label that could read as a start time');
});

test('removeStaleScratch: a folder named after this live process with another start time is removed, with its own start time kept', async () => {
  const tmp = fs.mkdtempSync(path.join(dir, 'sweep-'));
  const start = statFields(process.pid)?.[19];
  assert.ok(start, 'no /proc');
  const wrong = String(BigInt(start) + 1n);
  const names = {
    reused: `batt-scratch-${process.pid}-T${wrong}-from-aaaaaa`,
    live: `batt-scratch-${process.pid}-T${start}-from-bbbbbb`,
    oldLive: `batt-scratch-${process.pid}-from-cccccc`,
    dead: 'batt-scratch-4194305-T1-verify-dddddd', // 2^22+1: above Linux's pid_max
    link: `batt-scratch-${process.pid}-T${wrong}-from-eeeeee`,
  };
  const victim = path.join(dir, 'victim');
  fs.mkdirSync(victim);
  fs.writeFileSync(path.join(victim, 'keep'), 'x');
  for (const [k, n] of Object.entries(names)) {
    if (k === 'link') fs.symlinkSync(victim, path.join(tmp, n));
    else {
      fs.mkdirSync(path.join(tmp, n), { mode: 0o700 });
      fs.writeFileSync(path.join(tmp, n, 'copy-key'), 'AGE-SECRET-KEY-1\n');
    }
  }
  const removed = await removeStaleScratch(tmp);
  assert.deepEqual(removed.sort(), [names.dead, names.reused].map((n) => path.join(tmp, n)).sort());
  assert.deepEqual(fs.readdirSync(tmp).sort(), [names.link, names.live, names.oldLive].sort());
  assert.ok(fs.existsSync(path.join(victim, 'keep')), 'nothing followed the link');
});

test('the start time is read after the last ")": a process whose name holds spaces and parentheses', async () => {
  const exe = path.join(dir, 'x) 1 2 (y'); // comm: what a first-")" parse would split wrongly
  fs.copyFileSync(execFileSync('sh', ['-c', 'command -v sleep'], { encoding: 'utf8' }).trim(), exe);
  fs.chmodSync(exe, 0o755);
  const child = spawn(exe, ['300'], { stdio: 'ignore' });
  try {
    const pid = child.pid!;
    for (let i = 0; i < 50 && !fs.readFileSync(`/proc/${pid}/stat`, 'utf8').includes('(x) 1 2 (y)'); i++) {
      await new Promise((r) => setTimeout(r, 20)); // until exec has given it its name
    }
    const f = statFields(pid);
    assert.match(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'), /^\d+ \(x\) 1 2 \(y\) /);
    assert.match(f?.[0] ?? '', /^[RS]$/, `state: ${f?.join(' ')}`);
    assert.equal(Number(f?.[2]), Number(execFileSync('ps', ['-o', 'pgid=', '-p', String(pid)], { encoding: 'utf8' }).trim()), 'pgrp');
    const start = f?.[19] ?? '';
    assert.ok(/^\d+$/.test(start) && BigInt(start) >= BigInt(statFields(process.pid)?.[19] ?? 'x'), `starttime ${start}: not after this process's`);
    const tmp = fs.mkdtempSync(path.join(dir, 'comm-'));
    const kept = `batt-scratch-${pid}-T${start}-from-aaaaaa`;
    const reused = `batt-scratch-${pid}-T${BigInt(start) + 1n}-from-bbbbbb`;
    for (const n of [kept, reused]) fs.mkdirSync(path.join(tmp, n));
    assert.deepEqual(await removeStaleScratch(tmp), [path.join(tmp, reused)]);
    assert.deepEqual(fs.readdirSync(tmp), [kept]);
  } finally {
    child.kill('SIGKILL');
  }
});
