import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mapBounded } from '../../src/core/pool.js';

const tick = () => new Promise((r) => setImmediate(r));

test('mapBounded keeps order, never runs more than the limit, gives each worker its state', async () => {
  for (const [items, limit] of [[0, 3], [1, 3], [5, 1], [7, 3], [3, 10]] as const) {
    let running = 0;
    let peak = 0;
    const workers = new Set<object>();
    const out = await mapBounded(
      Array.from({ length: items }, (_, i) => i),
      limit,
      async (n, i, w) => {
        workers.add(w);
        running++;
        peak = Math.max(peak, running);
        await tick();
        running--;
        return n * 10 + i;
      },
      () => ({}),
    );
    assert.deepEqual(out, Array.from({ length: items }, (_, i) => i * 11), `${items}/${limit}`);
    assert.ok(peak <= limit, `peak ${peak} > ${limit}`);
    assert.ok(workers.size <= Math.min(limit, items), `${workers.size} workers for ${items}/${limit}`);
  }
});

test('mapBounded: after the first failure nothing new starts; it throws that error once the rest settled', async () => {
  const started: number[] = [];
  let settled = 0;
  await assert.rejects(
    mapBounded([0, 1, 2, 3, 4, 5], 2, async (n) => {
      started.push(n);
      await tick();
      settled++;
      if (n === 1) throw new Error('first');
      if (n === 2) throw new Error('second');
      return n;
    }),
    /first/,
  );
  assert.deepEqual(started, [0, 1, 2], 'nothing started after the failure');
  assert.equal(settled, started.length, 'items in flight settled before the throw');
});
