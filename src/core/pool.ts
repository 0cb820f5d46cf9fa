// Bounded concurrency: run an async function over items, at most `limit` at a time.

/**
 * Calls fn for every item, at most `limit` at once, starting them in order; the results keep the
 * items' order. After the first failure no new item starts; once those in flight have settled,
 * that first error is thrown. `makeWorker` gives each of the (at most `limit`) workers its own
 * state, e.g. a buffer it reuses for every item it takes.
 */
export async function mapBounded<T, R, W = undefined>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number, worker: W) => Promise<R>,
  makeWorker: () => W = () => undefined as W,
): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  let failure: { err: unknown } | undefined;
  const worker = async () => {
    const state = makeWorker();
    while (!failure && next < items.length) {
      const i = next++;
      try {
        out[i] = await fn(items[i]!, i, state);
      } catch (err) {
        failure ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(Math.max(1, limit), items.length) }, worker));
  if (failure) throw failure.err;
  return out;
}
