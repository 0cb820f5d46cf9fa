// Retention settings in conf files: KEEP_* counts, WEEK_START and PURGE_AFTER_RUN, read from
// batt.conf, a <service>.conf or a target's conf into a policy (rules in config/confkeys.ts).
import { RETENTION_KEYS, setting, type Conf } from '../config/confkeys.js';
import type { RetentionPolicy, WeekStart } from './policy.js';

// Retention (batt purge, batt --purge): KEEP_* counts and WEEK_START in batt.conf are the
// defaults; the same keys in <service>.conf override them key by key; CLI flags override both.
/** The KEEP_* keys and MAX_DAYS (rules in confkeys.ts) and the policy key each one fills. */
export const KEEP_BUCKETS = {
  KEEP_LAST: 'last',
  KEEP_HOURLY: 'hourly',
  KEEP_DAILY: 'daily',
  KEEP_WEEKLY: 'weekly',
  KEEP_MONTHLY: 'monthly',
  KEEP_YEARLY: 'yearly',
  MAX_DAYS: 'maxDays',
} as const satisfies Partial<Record<keyof typeof RETENTION_KEYS, string>>;

export interface RetentionConf extends RetentionPolicy {
  weekStart?: WeekStart;
  /** PURGE_AFTER_RUN=yes in batt.conf: every successful run purges the services it backed up. */
  purgeAfterRun?: boolean;
}

export function retentionConf(conf: Conf, file: string): RetentionConf {
  const out: RetentionConf = {};
  for (const [key, bucket] of Object.entries(KEEP_BUCKETS) as [keyof typeof KEEP_BUCKETS, (typeof KEEP_BUCKETS)[keyof typeof KEEP_BUCKETS]][]) {
    const n = setting(RETENTION_KEYS, key, conf, file);
    if (n !== undefined) out[bucket] = n;
  }
  const weekStart = setting(RETENTION_KEYS, 'WEEK_START', conf, file);
  if (weekStart) out.weekStart = weekStart;
  const purgeAfterRun = setting(RETENTION_KEYS, 'PURGE_AFTER_RUN', conf, file);
  if (purgeAfterRun !== undefined) out.purgeAfterRun = purgeAfterRun;
  return out;
}
