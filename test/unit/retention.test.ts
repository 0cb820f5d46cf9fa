import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyPolicy, civil, periodKey, type Candidate, type PolicyOptions, type RetentionPolicy } from '../../src/retention/policy.js';
import { UsageError, EXIT } from '../../src/core/errors.js';

const MON: PolicyOptions = { weekStart: 'mon', tz: 'UTC' };
const NOW: PolicyOptions = { ...MON, now: new Date('2026-11-10T12:00:00Z') };

/** Builds candidates from ISO instants; id = instant, so tests read their results directly. */
function at(times: string[], service = 'db', ok = true): Candidate[] {
  return times.map((t) => ({ id: `${service}@${t}`, time: new Date(t), service, ok }));
}

/** Every `stepMin` minutes from start (inclusive) to end (exclusive), UTC instants. */
function every(start: string, end: string, stepMin: number): string[] {
  const out: string[] = [];
  for (let t = Date.parse(start); t < Date.parse(end); t += stepMin * 60_000) out.push(new Date(t).toISOString());
  return out;
}

const keptIds = (r: ReturnType<typeof applyPolicy>) => r.keep.map((k) => k.id.replace(/^[^@]*@/, ''));

function checkPartition(input: Candidate[], r: ReturnType<typeof applyPolicy>) {
  const all = [...r.keep.map((k) => k.id), ...r.remove.map((k) => k.id)].sort();
  assert.deepEqual(all, input.map((b) => b.id).sort(), 'keep + remove is the input, each once');
  for (const k of r.keep) assert.ok(k.reasons.length > 0, `${k.id} kept without a reason`);
}

interface Case {
  name: string;
  times: string[];
  policy: RetentionPolicy;
  opts?: PolicyOptions;
  keep: string[];
}

const cases: Case[] = [
  {
    name: 'keep-last only keeps the N newest',
    times: every('2026-11-01T00:00:00Z', '2026-11-11T00:00:00Z', 24 * 60),
    policy: { last: 3 },
    keep: ['2026-11-10T00:00:00.000Z', '2026-11-09T00:00:00.000Z', '2026-11-08T00:00:00.000Z'],
  },
  {
    name: 'keep-last larger than the list keeps all',
    times: ['2026-11-01T00:00:00.000Z', '2026-11-02T00:00:00.000Z'],
    policy: { last: 10 },
    keep: ['2026-11-02T00:00:00.000Z', '2026-11-01T00:00:00.000Z'],
  },
  {
    name: 'daily alone, four backups a day: the newest of each of the last N days',
    times: every('2026-11-01T00:00:00Z', '2026-11-06T00:00:00Z', 6 * 60),
    policy: { daily: 3 },
    keep: ['2026-11-05T18:00:00.000Z', '2026-11-04T18:00:00.000Z', '2026-11-03T18:00:00.000Z'],
  },
  {
    name: 'hourly alone, every 20 minutes',
    times: every('2026-11-01T10:00:00Z', '2026-11-01T13:00:00Z', 20),
    policy: { hourly: 2 },
    keep: ['2026-11-01T12:40:00.000Z', '2026-11-01T11:40:00.000Z'],
  },
  {
    name: 'weekly alone, weeks start on Monday: Sundays are kept',
    times: every('2026-11-01T12:00:00Z', '2026-11-23T12:00:00Z', 24 * 60), // Sun 1 .. Sun 22
    policy: { weekly: 3 },
    keep: ['2026-11-22T12:00:00.000Z', '2026-11-15T12:00:00.000Z', '2026-11-08T12:00:00.000Z'],
  },
  {
    name: 'weekly alone, weeks start on Sunday: Saturdays are kept',
    times: every('2026-11-01T12:00:00Z', '2026-11-23T12:00:00Z', 24 * 60),
    policy: { weekly: 3 },
    opts: { weekStart: 'sun', tz: 'UTC' },
    keep: ['2026-11-22T12:00:00.000Z', '2026-11-21T12:00:00.000Z', '2026-11-14T12:00:00.000Z'],
  },
  {
    name: 'weekly across a year end (ISO week 2026-12-28 .. 2027-01-03)',
    times: ['2026-12-27T12:00:00Z', '2026-12-28T12:00:00Z', '2027-01-01T12:00:00Z', '2027-01-03T12:00:00Z', '2027-01-04T12:00:00Z'],
    policy: { weekly: 10 },
    keep: ['2027-01-04T12:00:00Z', '2027-01-03T12:00:00Z', '2026-12-27T12:00:00Z'],
  },
  {
    name: 'monthly alone over month ends and a leap February (2028-02-29)',
    times: every('2028-01-01T23:30:00Z', '2028-05-01T00:00:00Z', 24 * 60),
    policy: { monthly: 3 },
    keep: ['2028-04-30T23:30:00.000Z', '2028-03-31T23:30:00.000Z', '2028-02-29T23:30:00.000Z'],
  },
  {
    name: 'monthly in a non-leap year ends on 02-28',
    times: every('2027-02-20T08:00:00Z', '2027-03-03T00:00:00Z', 24 * 60),
    policy: { monthly: 2 },
    keep: ['2027-03-02T08:00:00.000Z', '2027-02-28T08:00:00.000Z'],
  },
  {
    name: 'yearly alone, one backup on the 1st of each month for three years',
    times: Array.from({ length: 36 }, (_, i) => new Date(Date.UTC(2025 + Math.floor(i / 12), i % 12, 1, 3)).toISOString()),
    policy: { yearly: 2 },
    keep: ['2027-12-01T03:00:00.000Z', '2026-12-01T03:00:00.000Z'],
  },
  {
    name: 'combination: last 2 + daily 3 + monthly 2 share backups',
    times: [...every('2026-10-30T06:00:00Z', '2026-11-03T00:00:00Z', 12 * 60)],
    policy: { last: 2, daily: 3, monthly: 2 },
    keep: [
      '2026-11-02T18:00:00.000Z', // last 1, daily 1, monthly 1 (2026-11)
      '2026-11-02T06:00:00.000Z', // last 2
      '2026-11-01T18:00:00.000Z', // daily 2
      '2026-10-31T18:00:00.000Z', // daily 3, monthly 2 (2026-10)
    ],
  },
  {
    name: 'a zero count switches its bucket off',
    times: every('2026-11-01T00:00:00Z', '2026-11-05T00:00:00Z', 24 * 60),
    policy: { last: 1, daily: 0 },
    keep: ['2026-11-04T00:00:00.000Z'],
  },
  {
    name: 'max-days alone keeps every backup younger than N days (now: 2026-11-10 12:00; exactly N days old is not younger)',
    times: every('2026-11-01T00:00:00Z', '2026-11-10T12:00:00Z', 12 * 60),
    policy: { maxDays: 2 },
    opts: NOW,
    keep: ['2026-11-10T00:00:00.000Z', '2026-11-09T12:00:00.000Z', '2026-11-09T00:00:00.000Z'],
  },
  {
    name: 'max-days on top of keep-*: the young ones plus what the buckets select',
    times: every('2026-11-01T00:00:00Z', '2026-11-10T12:00:00Z', 12 * 60),
    policy: { maxDays: 1, daily: 3, monthly: 1 },
    opts: NOW,
    keep: ['2026-11-10T00:00:00.000Z', '2026-11-09T12:00:00.000Z', '2026-11-08T12:00:00.000Z'],
  },
  {
    name: 'max-days with nothing that young still keeps the newest good backup',
    times: ['2026-10-01T00:00:00.000Z', '2026-10-02T00:00:00.000Z'],
    policy: { maxDays: 3 },
    opts: NOW,
    keep: ['2026-10-02T00:00:00.000Z'],
  },
  {
    name: 'max-days 0 switches it off',
    times: every('2026-11-09T00:00:00Z', '2026-11-10T12:00:00Z', 12 * 60),
    policy: { maxDays: 0, last: 1 },
    opts: NOW,
    keep: ['2026-11-10T00:00:00.000Z'],
  },
];

for (const c of cases) {
  test(`applyPolicy: ${c.name}`, () => {
    const input = at(c.times);
    const r = applyPolicy(input, c.policy, c.opts ?? MON);
    checkPartition(input, r);
    assert.deepEqual(keptIds(r), c.keep);
  });
}

test('applyPolicy gives every kept backup its reasons, newest first', () => {
  const input = at(every('2026-10-30T06:00:00Z', '2026-11-03T00:00:00Z', 12 * 60));
  const r = applyPolicy(input, { last: 2, daily: 3, monthly: 2 }, MON);
  assert.deepEqual(r.keep[0]!.reasons, ['newest good backup', 'last 1/2', 'daily 1/3 (2026-11-02)', 'monthly 1/2 (2026-11)']);
  assert.deepEqual(r.keep[3]!.reasons, ['daily 3/3 (2026-10-31)', 'monthly 2/2 (2026-10)']);
  for (const x of r.remove) assert.match(x.reason, /not selected by keep-last 2, keep-daily 3, keep-monthly 2/);
});

test('applyPolicy refuses an empty policy (exit code 2)', () => {
  const input = at(['2026-11-01T00:00:00Z']);
  for (const p of [{}, { last: 0, daily: 0, weekly: 0, monthly: 0, yearly: 0, hourly: 0 }] as RetentionPolicy[]) {
    assert.throws(
      () => applyPolicy(input, p, MON),
      (e: unknown) => e instanceof UsageError && e.exitCode === EXIT.USAGE && /empty retention policy/.test(e.message),
    );
  }
  assert.throws(() => applyPolicy(input, { daily: -1 }, MON), UsageError);
  assert.throws(() => applyPolicy(input, { daily: 1.5 }, MON), UsageError);
  assert.throws(() => applyPolicy([], {}, MON), UsageError, 'refused even with nothing to purge');
  assert.throws(() => applyPolicy(input, { maxDays: 0 }, NOW), /empty retention policy/, 'max-days 0 keeps nothing');
  assert.throws(() => applyPolicy(input, { maxDays: -1 }, NOW), /max-days must be a whole number/);
  assert.throws(() => applyPolicy(input, { maxDays: 2 }, MON), /max-days needs opts\.now/);
});

test('applyPolicy: the newest good backup is kept whatever the policy', () => {
  // keep-yearly 1 alone keeps the newest of this year anyway; keep-last 1 on a list whose newest
  // entries are failed: the failed ones never fill the bucket, the newest good one is kept.
  const good = at(['2026-11-01T00:00:00Z', '2026-11-02T00:00:00Z', '2026-11-03T00:00:00Z']);
  const bad = at(['2026-11-04T00:00:00Z', '2026-11-05T00:00:00Z'], 'db', false);
  const r = applyPolicy([...good, ...bad], { last: 1 }, MON);
  checkPartition([...good, ...bad], r);
  const kept = new Map(r.keep.map((k) => [k.id, k.reasons]));
  assert.deepEqual(kept.get('db@2026-11-03T00:00:00Z'), ['newest good backup', 'last 1/1']);
  assert.match(kept.get('db@2026-11-05T00:00:00Z')![0]!, /kept for inspection/);
  assert.match(kept.get('db@2026-11-04T00:00:00Z')![0]!, /kept for inspection/);
  assert.deepEqual(r.remove.map((x) => x.id).sort(), ['db@2026-11-01T00:00:00Z', 'db@2026-11-02T00:00:00Z']);
});

test('applyPolicy: failed runs never count as kept backups and are pruned once a newer good one exists', () => {
  // A string of failed runs between good ones: keep-last 2 keeps two GOOD backups.
  const input = [
    ...at(['2026-11-01T00:00:00Z', '2026-11-02T00:00:00Z', '2026-11-06T00:00:00Z']),
    ...at(['2026-11-03T00:00:00Z', '2026-11-04T00:00:00Z', '2026-11-05T00:00:00Z'], 'db', false),
  ];
  const r = applyPolicy(input, { last: 2 }, MON);
  checkPartition(input, r);
  assert.deepEqual(keptIds(r), ['2026-11-06T00:00:00Z', '2026-11-02T00:00:00Z']);
  for (const x of r.remove.filter((x) => /0[345]T/.test(x.id))) assert.match(x.reason, /not a good backup/);
});

test('applyPolicy: a service with only bad backups keeps them all', () => {
  const input = at(['2026-11-01T00:00:00Z', '2026-11-02T00:00:00Z'], 'db', false);
  const r = applyPolicy(input, { last: 1 }, MON);
  assert.equal(r.remove.length, 0);
  assert.equal(r.keep.length, 2);
});

test('applyPolicy: each service is purged on its own, the newest of each is kept', () => {
  const input = [
    ...at(every('2026-11-01T00:00:00Z', '2026-11-05T00:00:00Z', 24 * 60), 'mysql'),
    ...at(['2026-09-01T00:00:00Z'], 'redis'),
  ];
  const r = applyPolicy(input, { last: 2 }, MON);
  checkPartition(input, r);
  assert.deepEqual(r.keep.map((k) => k.id), ['mysql@2026-11-04T00:00:00.000Z', 'mysql@2026-11-03T00:00:00.000Z', 'redis@2026-09-01T00:00:00Z']);
});

test('applyPolicy: equal times are ordered by id, so the result does not depend on input order', () => {
  const t = new Date('2026-11-01T00:00:00Z');
  const a: Candidate[] = ['x/db', 'x/db.2', 'x/db.3'].map((id) => ({ id, time: t, service: 'db', ok: true }));
  const r1 = applyPolicy(a, { last: 1 }, MON);
  const r2 = applyPolicy([...a].reverse(), { last: 1 }, MON);
  assert.deepEqual(r1, r2);
  assert.deepEqual(r1.keep.map((k) => k.id), ['x/db.3']);
});

test('applyPolicy: a large generated calendar keeps at most the sum of the counts', () => {
  const input = at(every('2027-06-01T00:00:00Z', '2029-03-01T00:00:00Z', 7 * 60 + 13));
  const policy = { last: 5, hourly: 12, daily: 14, weekly: 8, monthly: 12, yearly: 3 };
  for (const weekStart of ['mon', 'sun'] as const) {
    for (const tz of ['UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Kolkata']) {
      const r = applyPolicy(input, policy, { weekStart, tz });
      checkPartition(input, r);
      assert.ok(r.keep.length <= 5 + 12 + 14 + 8 + 12 + 3, `${tz}: kept ${r.keep.length}`);
      // Each bucket used exactly its count (the calendar is long enough).
      for (const [b, n] of Object.entries(policy)) {
        const used = r.keep.filter((k) => k.reasons.some((x) => x.startsWith(`${b} `))).length;
        assert.equal(used, n, `${tz} ${weekStart}: ${b}`);
      }
      // Daily keeps: distinct local days, each the newest backup of its day.
      const days = r.keep.flatMap((k) => k.reasons.filter((x) => x.startsWith('daily ')).map((x) => x.slice(-11, -1)));
      assert.equal(new Set(days).size, 14);
    }
  }
});

// --- time zones and DST -----------------------------------------------------------------------

test('civil: explicit tz and process TZ agree, including across DST changes', () => {
  const saved = process.env.TZ;
  try {
    for (const tz of ['Europe/Berlin', 'America/New_York']) {
      process.env.TZ = tz;
      for (const iso of every('2026-03-07T00:00:00Z', '2026-03-31T00:00:00Z', 47).concat(every('2026-10-24T00:00:00Z', '2026-11-03T00:00:00Z', 31))) {
        const t = new Date(iso);
        assert.deepEqual(civil(t), civil(t, tz), `${tz} ${iso}`);
      }
    }
  } finally {
    if (saved === undefined) delete process.env.TZ;
    else process.env.TZ = saved;
  }
});

test('daily buckets follow the local calendar on DST days (backups at 00:30 and 23:30 local)', () => {
  const saved = process.env.TZ;
  try {
    for (const tz of ['Europe/Berlin', 'America/New_York']) {
      process.env.TZ = tz; // set before any local-time Date is created
      const input: Candidate[] = [];
      const want: string[] = [];
      // Spans the spring change (US 03-08, EU 03-29) and the autumn change (EU 10-25, US 11-01).
      for (const [y, m, d0, d1] of [[2026, 3, 5, 31], [2026, 10, 22, 31], [2026, 11, 1, 3]] as const) {
        for (let d = d0; d <= d1; d++) {
          for (const [h, min] of [[0, 30], [23, 30]]) {
            const t = new Date(y, m - 1, d, h, min);
            input.push({ id: `${y}-${m}-${d} ${h}:${min}`, time: t, service: 'db', ok: true });
          }
          want.push(`${y}-${m}-${d} 23:30`);
        }
      }
      const r = applyPolicy(input, { daily: want.length }, { weekStart: 'mon' });
      assert.deepEqual(r.keep.map((k) => k.id).sort(), [...want].sort(), tz);
      // The same with the zone given explicitly and TZ pointing elsewhere.
      process.env.TZ = 'Asia/Tokyo';
      const r2 = applyPolicy(input, { daily: want.length }, { weekStart: 'mon', tz });
      assert.deepEqual(r2.keep.map((k) => k.id).sort(), [...want].sort(), `${tz} explicit`);
    }
  } finally {
    if (saved === undefined) delete process.env.TZ;
    else process.env.TZ = saved;
  }
});

test('hourly buckets tell apart the repeated hour when DST ends (Europe/Berlin 2026-10-25)', () => {
  // 00:00Z..03:00Z every 30 min: local 02:00 CEST, 02:30 CEST, 02:00 CET, 02:30 CET, 03:00 CET...
  const input = at(every('2026-10-25T00:00:00Z', '2026-10-25T03:00:00Z', 30));
  const r = applyPolicy(input, { hourly: 10 }, { weekStart: 'mon', tz: 'Europe/Berlin' });
  assert.deepEqual(keptIds(r), ['2026-10-25T02:30:00.000Z', '2026-10-25T01:30:00.000Z', '2026-10-25T00:30:00.000Z']);
  assert.deepEqual(
    r.keep.map((k) => k.reasons.at(-1)),
    ['hourly 1/10 (2026-10-25 03:00 +01:00)', 'hourly 2/10 (2026-10-25 02:00 +01:00)', 'hourly 3/10 (2026-10-25 02:00 +02:00)'],
  );
});

test('hourly across the skipped hour when DST starts (America/New_York 2026-03-08)', () => {
  // 06:30Z = 01:30 EST, 07:30Z = 03:30 EDT (02:xx does not exist that night)
  const input = at(['2026-03-08T06:30:00Z', '2026-03-08T07:30:00Z', '2026-03-08T07:45:00Z']);
  const r = applyPolicy(input, { hourly: 5 }, { weekStart: 'sun', tz: 'America/New_York' });
  assert.deepEqual(keptIds(r), ['2026-03-08T07:45:00Z', '2026-03-08T06:30:00Z']);
  assert.deepEqual(r.keep.map((k) => k.reasons.at(-1)), ['hourly 1/5 (2026-03-08 03:00 -04:00)', 'hourly 2/5 (2026-03-08 01:00 -05:00)']);
});

test('periodKey: weeks around month and year ends, both week starts', () => {
  const table: [string, 'mon' | 'sun', string][] = [
    ['2028-02-29', 'mon', 'week of 2028-02-28'],
    ['2028-03-05', 'mon', 'week of 2028-02-28'],
    ['2028-03-05', 'sun', 'week of 2028-03-05'],
    ['2028-03-04', 'sun', 'week of 2028-02-27'],
    ['2027-01-01', 'mon', 'week of 2026-12-28'],
    ['2027-01-01', 'sun', 'week of 2026-12-27'],
  ];
  for (const [d, ws, want] of table) {
    const [y, m, day] = d.split('-').map(Number) as [number, number, number];
    assert.equal(periodKey('weekly', { year: y, month: m, day, hour: 12, offset: 0 }, ws), want, `${d} ${ws}`);
  }
});

// --- conf keys and flags ----------------------------------------------------------------------

test('retentionConf reads KEEP_*, WEEK_START and PURGE_AFTER_RUN; bad values are conf errors', async () => {
  const { retentionConf } = await import('../../src/retention/conf.js');
  const { ConfigError } = await import('../../src/core/errors.js');
  const good: [Record<string, string>, object][] = [
    [{}, {}],
    [{ KEEP_LAST: '3', KEEP_DAILY: '7', KEEP_WEEKLY: '0' }, { last: 3, daily: 7, weekly: 0 }],
    [{ KEEP_HOURLY: '24', KEEP_MONTHLY: '12', KEEP_YEARLY: '5', WEEK_START: 'Sunday' }, { hourly: 24, monthly: 12, yearly: 5, weekStart: 'sun' }],
    [{ WEEK_START: 'mon', PURGE_AFTER_RUN: 'yes' }, { weekStart: 'mon', purgeAfterRun: true }],
    [{ PURGE_AFTER_RUN: 'no', KEEP_LAST: '' }, { purgeAfterRun: false }],
  ];
  for (const [conf, want] of good) assert.deepEqual(retentionConf(conf, 'x.conf'), want, JSON.stringify(conf));
  const bad: Record<string, string>[] = [{ KEEP_LAST: '-1' }, { KEEP_DAILY: 'seven' }, { KEEP_WEEKLY: '1.5' }, { WEEK_START: 'fri' }, { PURGE_AFTER_RUN: 'maybe' }];
  for (const conf of bad) assert.throws(() => retentionConf(conf, 'x.conf'), ConfigError, JSON.stringify(conf));
});

test('cliRetention reads the keep-* flags (last one wins) and refuses bad values with exit 2', async () => {
  const { cliRetention } = await import('../../src/retention/purge.js');
  assert.deepEqual(cliRetention({}), {});
  assert.deepEqual(cliRetention({ 'keep-last': ['1', '4'], 'keep-yearly': '0', 'week-start': 'sun' }), { last: 4, yearly: 0, weekStart: 'sun' });
  for (const args of [{ 'keep-daily': 'x' }, { 'keep-daily': '-2' }, { 'keep-hourly': '' }, { 'week-start': 'tuesday' }]) {
    assert.throws(() => cliRetention(args), (e: unknown) => e instanceof UsageError && e.exitCode === EXIT.USAGE, JSON.stringify(args));
  }
});
