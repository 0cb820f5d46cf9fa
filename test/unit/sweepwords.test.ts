// What a target's sweep did is told in three places: batt.log after a run's uploads (sweepTarget,
// `target T: ...`), batt.log of `purge --target` (purgeRemote) and its output (printRemotePurge).
// Each keeps its frame; the words for each fact (sweepWords) are the same in all of them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sweepTarget } from '../../src/targets/upload.js';
import { printRemotePurge } from '../../src/targets/remote.js';
import type { SweepResult } from '../../src/targets/sweep.js';
import type { Target } from '../../src/targets/target.js';
import type { Output } from '../../src/core/output.js';

const RESULT: SweepResult = {
  removed: ['2020/01/01/demo/a.txt.batt-tmp-0a1b2c3d', '2020/01/01/demo/.batt-tmp-4e5f6a7b-b.bin'],
  copies: [{ rel: '2020/01/03/demo', why: 'no batt-remote.json, newest file 48.2 h old' }],
  kept: [{ rel: '2020/01/02/demo', why: 'no batt-remote.json, but its newest file is 0.5 h old (an upload may be in progress): kept' }],
  failed: [
    { rel: '2020/01/04/demo/c.bin.batt-tmp-11111111', error: 'EACCES: permission denied' },
    { rel: '2020/01/05/demo', error: 'EBUSY: resource busy' },
    { rel: '', error: 'could not list the target for copies cut off before their index: timeout' },
  ],
};

const fake = (sweep: () => Promise<SweepResult>) => ({ name: 't', sweep }) as unknown as Target;

test('sweepTarget: one batt.log line per fact, a failed removal worded as in purge --target (a cut-off copy is no "leftover" file)', async () => {
  const lines: string[] = [];
  await sweepTarget(fake(async () => RESULT), (m) => lines.push(m));
  assert.deepEqual(lines, [
    'target t: removed 2 leftovers of interrupted uploads: 2020/01/01/demo/a.txt.batt-tmp-0a1b2c3d, 2020/01/01/demo/.batt-tmp-4e5f6a7b-b.bin',
    'target t: removed 2020/01/03/demo, a copy cut off before its index (no batt-remote.json, newest file 48.2 h old)',
    'target t: 2020/01/02/demo: no batt-remote.json, but its newest file is 0.5 h old (an upload may be in progress): kept',
    'target t: could not remove 2020/01/04/demo/c.bin.batt-tmp-11111111: EACCES: permission denied',
    'target t: could not remove 2020/01/05/demo: EBUSY: resource busy',
    'target t: could not list the target for copies cut off before their index: timeout',
  ]);
});

test('sweepTarget: a sweep that cannot list is logged, never thrown; a stopped one says nothing', async () => {
  const lines: string[] = [];
  await sweepTarget(fake(async () => Promise.reject(new Error('connection reset\nmore'))), (m) => lines.push(m));
  assert.deepEqual(lines, ['target t: could not look for leftovers of interrupted uploads: connection reset']);
  const ctl = new AbortController();
  ctl.abort();
  await sweepTarget(fake(async () => Promise.reject(new Error('stopped'))), (m) => lines.push(m), ctl.signal);
  assert.equal(lines.length, 1);
});

test('printRemotePurge: the same words as batt.log in its own columns', () => {
  const said: string[] = [];
  const out: Output = { json: false, tty: false, info: (l) => said.push(l), warn: (l) => said.push(`warn: ${l}`), error: (l) => said.push(`error: ${l}`), data: () => {} };
  printRemotePurge(out, { target: 't', host: 'h', keep: [{ id: '2020/01/09/demo', host: 'h', service: 'demo', reasons: ['last'] }], remove: [], leftovers: RESULT }, true);
  assert.deepEqual(said, [
    'keep   t:2020/01/09/demo  last',
    'would remove t:2020/01/01/demo/a.txt.batt-tmp-0a1b2c3d  left by an interrupted upload',
    'would remove t:2020/01/01/demo/.batt-tmp-4e5f6a7b-b.bin  left by an interrupted upload',
    'would remove t:2020/01/03/demo  a copy cut off before its index (no batt-remote.json, newest file 48.2 h old)',
    'keep   t:2020/01/02/demo  no batt-remote.json, but its newest file is 0.5 h old (an upload may be in progress): kept',
    'error: t: could not remove 2020/01/04/demo/c.bin.batt-tmp-11111111: EACCES: permission denied',
    'error: t: could not remove 2020/01/05/demo: EBUSY: resource busy',
    'error: t: could not list the target for copies cut off before their index: timeout',
  ]);
});
