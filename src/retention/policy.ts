// Retention: which backups a grandfather-father-son policy keeps, and why. Pure: no clock (the
// caller passes `now` for max-days), no file system. In the style of restic's ApplyPolicy: walk the backups newest first; each bucket
// (last, hourly, daily, weekly, monthly, yearly) keeps the newest backup of each of its next N
// periods; a backup is kept when any bucket keeps it. Periods are calendar periods in the local
// time zone (or opts.tz), so month ends, leap days and DST changes fall where a person expects.
// Two safety rules sit above the policy: the newest good backup of each service is always kept,
// and a backup that is not good never fills a bucket (it is removed only when a newer good one
// exists; otherwise it is kept for inspection). Chains stay whole: a backup that a kept
// incremental builds on (directly or further down) is kept too, "base of ID".
import { UsageError } from '../core/errors.js';
import { chainOf } from '../catalog/chain.js';

import type { WeekStart } from '../config/confkeys.js';
export { RETENTION_FLAGS, type WeekStart } from '../config/confkeys.js';

export interface RetentionPolicy {
  last?: number;
  hourly?: number;
  daily?: number;
  weekly?: number;
  monthly?: number;
  yearly?: number;
  /** Keep every backup younger than this many days, on top of the buckets (the seed tool's --max-days). */
  maxDays?: number;
}

export interface PolicyOptions {
  /** First day of the week for the weekly bucket. */
  weekStart: WeekStart;
  /** IANA time zone for calendar periods; default: the process's local time (TZ). */
  tz?: string;
  /** The time ages are measured from; needed when the policy has maxDays. */
  now?: Date;
}

export interface Candidate {
  id: string;
  time: Date;
  service: string;
  /** false for a failed, partial or damaged backup */
  ok: boolean;
  /** An incremental: the id of the backup it builds on (src/catalog/chain.ts). */
  base?: string;
}

export interface Kept {
  id: string;
  reasons: string[];
}

export interface Removed {
  id: string;
  reason: string;
}

export interface PolicyResult {
  keep: Kept[];
  remove: Removed[];
}

export const BUCKETS = ['last', 'hourly', 'daily', 'weekly', 'monthly', 'yearly'] as const;
export type Bucket = (typeof BUCKETS)[number];
/** Every key of a policy: what a layer (batt.conf < <service>.conf < a target < flags) may set. */
export const POLICY_KEYS = [...BUCKETS, 'maxDays'] as const;

/** The flag a policy key comes from: keep-daily, max-days. */
export function flagOf(k: (typeof POLICY_KEYS)[number]): string {
  return k === 'maxDays' ? 'max-days' : `keep-${k}`;
}

/** true when nothing keeps anything: such a policy would delete every backup but the newest. */
export function isEmptyPolicy(p: RetentionPolicy): boolean {
  return POLICY_KEYS.every((b) => !p[b]);
}

export function describePolicy(p: RetentionPolicy): string {
  const parts = POLICY_KEYS.filter((b) => p[b]).map((b) => `${flagOf(b)} ${p[b]}`);
  return parts.length ? parts.join(', ') : 'empty policy';
}

export function emptyPolicyError(): UsageError {
  return new UsageError(
    'refusing to purge with an empty retention policy (no keep-* count, no max-days)',
    'pass --keep-last/--keep-daily/.../--max-days or set KEEP_*/MAX_DAYS in batt.conf or <service>.conf',
  );
}

export function validatePolicy(p: RetentionPolicy): void {
  for (const b of POLICY_KEYS) {
    const v = p[b];
    if (v !== undefined && (!Number.isInteger(v) || v < 0)) {
      throw new UsageError(`${flagOf(b)} must be a whole number >= 0, got ${String(v)}`);
    }
  }
  if (isEmptyPolicy(p)) throw emptyPolicyError();
}

/** Local calendar fields of an instant. */
export interface Civil {
  year: number;
  month: number; // 1-12
  day: number;
  hour: number;
  /** minutes east of UTC */
  offset: number;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

export function civil(t: Date, tz?: string): Civil {
  if (!tz) {
    return {
      year: t.getFullYear(),
      month: t.getMonth() + 1,
      day: t.getDate(),
      hour: t.getHours(),
      offset: -t.getTimezoneOffset(),
    };
  }
  let f = formatters.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      timeZone: tz,
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      hourCycle: 'h23',
    });
    formatters.set(tz, f);
  }
  const parts: Record<string, number> = {};
  for (const p of f.formatToParts(t)) if (p.type !== 'literal') parts[p.type] = Number(p.value);
  const c = { year: parts.year!, month: parts.month!, day: parts.day!, hour: parts.hour! };
  // The offset is the difference between the local wall clock and UTC, to the minute.
  const wall = Date.UTC(c.year, c.month - 1, c.day, c.hour, parts.minute!);
  const utc = Math.floor(t.getTime() / 60_000) * 60_000;
  return { ...c, offset: Math.round((wall - utc) / 60_000) };
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');

function dateKey(y: number, m: number, d: number): string {
  return `${pad(y, 4)}-${pad(m)}-${pad(d)}`;
}

function offsetText(min: number): string {
  const s = min < 0 ? '-' : '+';
  const a = Math.abs(min);
  return `${s}${pad(Math.floor(a / 60))}:${pad(a % 60)}`;
}

/** The period a time falls in, for each calendar bucket (the label is also the reason text). */
export function periodKey(bucket: Exclude<Bucket, 'last'>, c: Civil, weekStart: WeekStart): string {
  switch (bucket) {
    case 'hourly':
      // The offset tells apart the two hours that share a wall-clock hour when DST ends.
      return `${dateKey(c.year, c.month, c.day)} ${pad(c.hour)}:00 ${offsetText(c.offset)}`;
    case 'daily':
      return dateKey(c.year, c.month, c.day);
    case 'weekly': {
      // Calendar arithmetic on the civil date (in UTC, where every day has 24 hours).
      const day = new Date(Date.UTC(c.year, c.month - 1, c.day));
      const start = weekStart === 'sun' ? 0 : 1;
      const back = (day.getUTCDay() - start + 7) % 7;
      day.setUTCDate(day.getUTCDate() - back);
      return `week of ${dateKey(day.getUTCFullYear(), day.getUTCMonth() + 1, day.getUTCDate())}`;
    }
    case 'monthly':
      return `${pad(c.year, 4)}-${pad(c.month)}`;
    case 'yearly':
      return pad(c.year, 4);
  }
}

function newestFirst(a: Candidate, b: Candidate): number {
  return b.time.getTime() - a.time.getTime() || (a.id < b.id ? 1 : a.id > b.id ? -1 : 0);
}

function applyOne(backups: Candidate[], policy: RetentionPolicy, opts: PolicyOptions): PolicyResult {
  const sorted = [...backups].sort(newestFirst);
  const newestGood = sorted.find((b) => b.ok);
  const left: Record<Bucket, number> = {
    last: policy.last ?? 0,
    hourly: policy.hourly ?? 0,
    daily: policy.daily ?? 0,
    weekly: policy.weekly ?? 0,
    monthly: policy.monthly ?? 0,
    yearly: policy.yearly ?? 0,
  };
  const lastKey: Partial<Record<Bucket, string>> = {};
  // max-days N: every good backup taken after this instant is kept
  const youngerThan = policy.maxDays ? opts.now!.getTime() - policy.maxDays * 86_400_000 : undefined;
  const keep: Kept[] = [];
  const remove: Removed[] = [];
  for (const b of sorted) {
    if (!b.ok) {
      const newerGood = newestGood && newestGood.time.getTime() > b.time.getTime();
      if (newerGood) remove.push({ id: b.id, reason: 'not a good backup (failed, partial or damaged); a newer good backup exists' });
      else keep.push({ id: b.id, reasons: ['not a good backup, but no newer good backup exists: kept for inspection'] });
      continue;
    }
    const reasons: string[] = [];
    if (b === newestGood) reasons.push('newest good backup');
    const c = civil(b.time, opts.tz);
    for (const bucket of BUCKETS) {
      if (left[bucket] <= 0) continue;
      const key = bucket === 'last' ? b.id : periodKey(bucket, c, opts.weekStart);
      if (key === lastKey[bucket]) continue;
      lastKey[bucket] = key;
      const n = (policy[bucket] ?? 0) - left[bucket] + 1;
      left[bucket]--;
      reasons.push(bucket === 'last' ? `last ${n}/${policy.last}` : `${bucket} ${n}/${policy[bucket]} (${key})`);
    }
    if (youngerThan !== undefined && b.time.getTime() > youngerThan) reasons.push(`younger than ${policy.maxDays} days (max-days)`);
    if (reasons.length) keep.push({ id: b.id, reasons });
    else remove.push({ id: b.id, reason: `not selected by ${describePolicy(policy)}` });
  }
  return keepChains(sorted, { keep, remove });
}

/**
 * Moves every backup that a kept one needs (its base, the base's base... down to the full) from
 * `remove` to `keep`, with the reason "base of ID" (ID: the backup directly built on it). `sorted`
 * gives the order of the lists (newest first).
 */
export function keepChains(sorted: readonly Candidate[], r: PolicyResult): PolicyResult {
  const links = new Map(sorted.map((b) => [b.id, b]));
  const kept = new Map(r.keep.map((k) => [k.id, k.reasons]));
  const removed = new Map(r.remove.map((x) => [x.id, x.reason]));
  for (const b of sorted) {
    if (!kept.has(b.id)) continue; // newest first: a base joins `kept` before its own turn
    const ids = chainOf(links, b.id).ids; // full first, b last
    for (let i = ids.length - 2; i >= 0; i--) {
      const id = ids[i]!;
      const why = `base of ${ids[i + 1]}`;
      if (removed.delete(id)) kept.set(id, [why]);
      else if (!kept.get(id)!.includes(why)) kept.get(id)!.push(why);
    }
  }
  return {
    keep: sorted.filter((b) => kept.has(b.id)).map((b) => ({ id: b.id, reasons: kept.get(b.id)! })),
    remove: sorted.filter((b) => removed.has(b.id)).map((b) => ({ id: b.id, reason: removed.get(b.id)! })),
  };
}

/**
 * Applies the policy to each service's backups separately. Lists come out newest first, per
 * service in the order services first appear. Throws UsageError for an empty or invalid policy.
 */
export function applyPolicy(backups: Candidate[], policy: RetentionPolicy, opts: PolicyOptions): PolicyResult {
  validatePolicy(policy);
  if (policy.maxDays && !opts.now) throw new Error('applyPolicy: max-days needs opts.now');
  const ids = new Set<string>();
  for (const b of backups) {
    if (ids.has(b.id)) throw new Error(`applyPolicy: duplicate id ${b.id}`);
    ids.add(b.id);
    if (Number.isNaN(b.time.getTime())) throw new Error(`applyPolicy: ${b.id} has an invalid time`);
  }
  const byService = new Map<string, Candidate[]>();
  for (const b of backups) {
    const list = byService.get(b.service) ?? [];
    list.push(b);
    byService.set(b.service, list);
  }
  const out: PolicyResult = { keep: [], remove: [] };
  for (const list of byService.values()) {
    const r = applyOne(list, policy, opts);
    out.keep.push(...r.keep);
    out.remove.push(...r.remove);
  }
  return out;
}
