// Chains of incremental backups: walking a chain down its bases, and purge's rule that keeps
// every backup a kept one needs (src/catalog/chain.ts, keepChains in src/retention/policy.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chainOf, type Link } from '../../src/catalog/chain.js';
import { applyPolicy, type Candidate, type PolicyOptions, type RetentionPolicy } from '../../src/retention/policy.js';

const links = (spec: Record<string, string | undefined>): Map<string, Link> =>
  new Map(Object.entries(spec).map(([id, base]) => [id, { id, base }]));

const chainCases: { name: string; links: Record<string, string | undefined>; id: string; ids: string[]; broken?: string }[] = [
  { name: 'a full alone', links: { d1: undefined }, id: 'd1', ids: ['d1'] },
  { name: 'full, then two levels: full first', links: { d1: undefined, d2: 'd1', d3: 'd2' }, id: 'd3', ids: ['d1', 'd2', 'd3'] },
  { name: 'the middle of a chain stops there', links: { d1: undefined, d2: 'd1', d3: 'd2' }, id: 'd2', ids: ['d1', 'd2'] },
  { name: 'a missing base breaks it', links: { d2: 'd1', d3: 'd2' }, id: 'd3', ids: ['d2', 'd3'], broken: 'its base d1 is missing' },
  { name: 'a loop breaks it', links: { a: 'b', b: 'a' }, id: 'a', ids: ['b', 'a'], broken: 'its chain loops back to a' },
  { name: 'an unknown id', links: {}, id: 'x', ids: [], broken: 'its base x is missing' },
];

for (const c of chainCases) {
  test(`chainOf: ${c.name}`, () => {
    const r = chainOf(links(c.links), c.id);
    assert.deepEqual(r.ids, c.ids);
    assert.equal(r.broken, c.broken);
  });
}

const UTC: PolicyOptions = { weekStart: 'mon', tz: 'UTC' };

/** Daily backups from 2026-12-01: [base, ok] per day ('' = a full). id = "d<day>". */
function days(spec: [string, boolean?][]): Candidate[] {
  return spec.map(([base, ok], i) => ({
    id: `d${i + 1}`,
    time: new Date(Date.UTC(2026, 11, i + 1, 2, 30)),
    service: 'file',
    ok: ok ?? true,
    ...(base ? { base } : {}),
  }));
}

interface PurgeCase {
  name: string;
  backups: Candidate[];
  policy: RetentionPolicy;
  /** id -> reasons, newest first */
  keep: Record<string, string[]>;
  remove: string[];
}

const purgeCases: PurgeCase[] = [
  {
    name: 'the newest incremental keeps its whole chain',
    backups: days([[''], ['d1'], ['d2'], ['d3']]),
    policy: { last: 1 },
    keep: { d4: ['newest good backup', 'last 1/1'], d3: ['base of d4'], d2: ['base of d3'], d1: ['base of d2'] },
    remove: [],
  },
  {
    name: 'a new full frees the old chain',
    backups: days([[''], ['d1'], ['d2'], [''], ['d4']]),
    policy: { last: 1 },
    keep: { d5: ['newest good backup', 'last 1/1'], d4: ['base of d5'] },
    remove: ['d3', 'd2', 'd1'],
  },
  {
    name: 'an older incremental kept by the policy keeps its bases; the incremental after it goes',
    // weeks start on Monday: 2026-12-01..06 is the week of Nov 30 (its newest: d6), d7 and d8 the next
    backups: days([[''], ['d1'], ['d2'], ['d3'], ['d4'], ['d5'], ['d6'], ['']]),
    policy: { weekly: 2 },
    keep: {
      d8: ['newest good backup', 'weekly 1/2 (week of 2026-12-07)'],
      d6: ['weekly 2/2 (week of 2026-11-30)'],
      d5: ['base of d6'],
      d4: ['base of d5'],
      d3: ['base of d4'],
      d2: ['base of d3'],
      d1: ['base of d2'],
    },
    remove: ['d7'],
  },
  {
    name: 'a base already kept by the policy gets the chain reason too',
    backups: days([[''], ['d1'], ['d2']]),
    policy: { last: 1, daily: 3 },
    keep: {
      d3: ['newest good backup', 'last 1/1', 'daily 1/3 (2026-12-03)'],
      d2: ['daily 2/3 (2026-12-02)', 'base of d3'],
      d1: ['daily 3/3 (2026-12-01)', 'base of d2'],
    },
    remove: [],
  },
  {
    name: 'a damaged base of the newest good backup is kept, not removed as "not good"',
    backups: days([[''], ['d1', false], ['d2']]),
    policy: { last: 1 },
    keep: { d3: ['newest good backup', 'last 1/1'], d2: ['base of d3'], d1: ['base of d2'] },
    remove: [],
  },
  {
    name: 'without bases nothing changes',
    backups: days([[''], [''], ['']]),
    policy: { last: 1 },
    keep: { d3: ['newest good backup', 'last 1/1'] },
    remove: ['d2', 'd1'],
  },
];

for (const c of purgeCases) {
  test(`purge keeps chains: ${c.name}`, () => {
    const r = applyPolicy(c.backups, c.policy, UTC);
    assert.deepEqual(Object.fromEntries(r.keep.map((k) => [k.id, k.reasons])), c.keep);
    assert.deepEqual(Object.keys(Object.fromEntries(r.keep.map((k) => [k.id, 1]))), Object.keys(c.keep), 'keep is newest first');
    assert.deepEqual(r.remove.map((x) => x.id), c.remove);
  });
}
