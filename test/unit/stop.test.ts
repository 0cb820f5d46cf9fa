// listenForStop: the one place commands learn of SIGINT/SIGTERM/SIGHUP.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { listenForStop, STOP_SIGNALS } from '../../src/core/stop.js';

test('each stop signal aborts the work once, is remembered, and dispose() lets go of all three', () => {
  for (const sig of STOP_SIGNALS) {
    const before = STOP_SIGNALS.map((s) => process.listenerCount(s));
    const seen: string[] = [];
    const stop = listenForStop((s) => seen.push(s));
    assert.equal(stop.caught, undefined);
    assert.equal(stop.signal.aborted, false);
    process.emit(sig, sig);
    process.emit('SIGINT', 'SIGINT'); // a second signal changes nothing
    assert.equal(stop.caught, sig);
    assert.equal(stop.signal.aborted, true);
    assert.deepEqual(seen, [sig]);
    stop.dispose();
    assert.deepEqual(STOP_SIGNALS.map((s) => process.listenerCount(s)), before);
  }
});

test('many listeners on the stop signal at once (S3 parts in flight, jobs) print no MaxListenersExceededWarning', async () => {
  const warnings: Error[] = [];
  const onWarning = (w: Error) => warnings.push(w);
  process.on('warning', onWarning);
  const stop = listenForStop();
  try {
    let heard = 0;
    for (let i = 0; i < 32; i++) stop.signal.addEventListener('abort', () => heard++, { once: true });
    await new Promise((r) => setImmediate(r)); // node emits its warning on a later tick
    assert.deepEqual(warnings.map((w) => w.name), []);
    process.emit('SIGTERM', 'SIGTERM');
    assert.equal(heard, 32, 'every listener hears the stop');
  } finally {
    stop.dispose();
    process.off('warning', onWarning);
  }
});
