// Drills, the pure parts: the scratch database name, when a drill is due, DRILL_EVERY's values,
// and the plain scratch sweep leaving a drill's record to the drill sweep.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { drillName, isDrillDue } from '../../src/run/drill.js';
import { every } from '../../src/config/confkeys.js';
import { DRILL_RECORD, listStaleScratch, removeStaleScratch } from '../../src/run/scratch.js';

test('drillName: batt_drill_<pid>_<start>_<random>, lower-case, only [a-z0-9_], within 63 characters', () => {
  const cases: [number, string | undefined, string, string][] = [
    [1234, '98765', 'a1b2c3d4', 'batt_drill_1234_98765_a1b2c3d4'],
    [7, undefined, 'ffff0000', 'batt_drill_7_0_ffff0000'], // no /proc: start 0
    [4194304, '18446744073709551615', 'DEADBEEF', 'batt_drill_4194304_18446744073709551615_deadbeef'],
  ];
  for (const [pid, start, rnd, want] of cases) {
    const n = drillName(pid, start, rnd);
    assert.equal(n, want);
    assert.match(n, /^batt_drill_[a-z0-9_]+$/); // what the scripts accept as BATT_DRILL_NAME
    assert.ok(n.length + '_99'.length <= 63, `${n}: room for the _<n> suffix`);
  }
});

test('isDrillDue: never drilled, drilled longer ago than DRILL_EVERY, or the last drill failed; never without DRILL_EVERY', () => {
  const now = new Date('2026-12-06T12:00:00Z');
  const day = 86_400_000;
  const cases: [{ at: string; ok: boolean } | undefined, number | undefined, boolean][] = [
    [undefined, 7 * day, true],
    [{ at: '2026-12-05T12:00:00Z', ok: true }, 7 * day, false],
    [{ at: '2026-11-29T12:00:00Z', ok: true }, 7 * day, true], // exactly 7 days
    [{ at: '2026-11-29T12:00:01Z', ok: true }, 7 * day, false],
    [{ at: '2026-12-06T11:59:00Z', ok: false }, 7 * day, true], // a failure is drilled again
    [{ at: 'garbage', ok: true }, 7 * day, true],
    [undefined, undefined, false],
    [undefined, 0, false], // DRILL_EVERY=0: off
  ];
  for (const [last, everyMs, want] of cases) assert.equal(isDrillDue(last, everyMs, now), want, JSON.stringify([last, everyMs]));
});

test('DRILL_EVERY: a number and a unit s, m, h, d, w; 0 is off; anything else is refused', () => {
  const good: [string, number][] = [['30s', 30_000], ['90m', 5_400_000], ['12h', 43_200_000], ['7d', 604_800_000], ['2w', 1_209_600_000], ['0', 0], ['0d', 0]];
  for (const [v, ms] of good) assert.deepEqual(every(v), { ok: true, value: ms }, v);
  for (const v of ['7', '7 d', 'weekly', '1.5d', '-1d', '7D', '1y', '1234567d']) assert.equal(every(v).ok, false, v);
});

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'batt-drilltest-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

test('the plain scratch sweep removes a dead batt\'s folder but leaves a dead drill\'s record to the drill sweep', async () => {
  const dead = 2 ** 22 + 1; // above pid_max's default ceiling: never a live pid
  const plain = path.join(tmp, `batt-scratch-${dead}-T1-restore-file-aaaaaa`);
  const drill = path.join(tmp, `batt-scratch-${dead}-T1-drill-bbbbbb`);
  fs.mkdirSync(plain);
  fs.mkdirSync(drill);
  fs.writeFileSync(path.join(drill, DRILL_RECORD), '{}');
  assert.deepEqual((await listStaleScratch(tmp)).sort(), [drill, plain].sort());
  assert.deepEqual(await removeStaleScratch(tmp), [plain]);
  assert.ok(fs.existsSync(drill));
});
