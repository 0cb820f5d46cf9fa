import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Session } from '../../src/targets/session.js';

class Conn {
  ended = '';
  constructor(readonly n: number) {}
}

function make() {
  let opened = 0;
  const s = new Session<Conn>(
    async () => new Conn(++opened),
    (c) => (c.ended = 'end'),
  );
  return { s, opened: () => opened };
}

test('Session: one connection shared; a breaking error drops it, a kept one does not', async () => {
  const { s, opened } = make();
  const first = await s.use(async (c) => c, () => false);
  assert.equal((await s.use(async (c) => c, () => false)).n, 1, 'the same connection is reused');
  // an error the caller keeps (a missing file, say) leaves the connection as it is
  await assert.rejects(s.use(async () => { throw new Error('not found'); }, () => true));
  assert.equal((await s.use(async (c) => c, () => false)).n, 1);
  assert.equal(first.ended, '');
  // any other error drops it: ended, and the next use connects again
  await assert.rejects(s.use(async () => { throw new Error('broken pipe'); }, () => false));
  assert.equal(first.ended, 'end');
  assert.equal((await s.use(async (c) => c, () => false)).n, 2);
  assert.equal(opened(), 2);
});

test('Session: drop ends only the current connection, the hard way when asked; close ends it', async () => {
  const { s } = make();
  let c1: Conn | undefined;
  // an interrupted transfer: the connection is cut under the operation, which then fails; the
  // failure must not end it a second time (gracefully) on top of the cut
  await assert.rejects(
    s.use(async (c) => {
      c1 = c;
      s.drop(c, (x) => (x.ended = 'destroyed'));
      throw new Error('closed');
    }, () => false),
  );
  await new Promise((r) => setImmediate(r));
  assert.equal(c1!.ended, 'destroyed');
  const c2 = await s.use(async (c) => c, () => false);
  assert.notEqual(c2, c1, 'the next use connects again');
  await s.close();
  assert.equal(c2.ended, 'end');
  // a failed connect is not cached: the next use tries again
  let tries = 0;
  const flaky = new Session<Conn>(async () => { if (++tries === 1) throw new Error('refused'); return new Conn(tries); }, () => {});
  await assert.rejects(flaky.use(async (c) => c, () => false), /refused/);
  assert.equal((await flaky.use(async (c) => c, () => false)).n, 2);
});
