// The verdict of `batt status`, by the Nagios/Icinga plugin conventions: per service OK, WARNING
// or CRITICAL from the age of its newest good backup and its last run; the worst one is the
// check's state; one status line with perfdata. Pure: the caller gathers the facts and the clock.
import { formatAge } from '../core/duration.js';

export type CheckState = 'OK' | 'WARNING' | 'CRITICAL' | 'UNKNOWN';
export const CHECK_EXIT: Record<CheckState, number> = { OK: 0, WARNING: 1, CRITICAL: 2, UNKNOWN: 3 };
const RANK: Record<CheckState, number> = { OK: 0, UNKNOWN: 1, WARNING: 2, CRITICAL: 3 };

/** Default MAX_AGE: a daily backup with two hours of slack. */
export const DEFAULT_MAX_AGE_SECONDS = 26 * 3600;

export interface ServiceFacts {
  service: string;
  /** When its newest good backup finished (ms since the epoch); undefined: none. */
  lastGoodMs?: number;
  /** Its last run as batt recorded it (status ok | warning | failed | timeout | interrupted). */
  lastRun?: { status: string; atMs: number };
  maxAgeSeconds: number;
  warnAgeSeconds?: number;
  /** Why it cannot run at all (a dangling link...). */
  problem?: string;
}

export interface ServiceVerdict {
  service: string;
  state: CheckState;
  /** Age of the newest good backup in seconds; undefined: none. */
  ageSeconds?: number;
  why: string;
}

export interface Verdict {
  state: CheckState;
  exitCode: number;
  line: string;
  services: ServiceVerdict[];
}

export function judgeService(f: ServiceFacts, nowMs: number): ServiceVerdict {
  const ageSeconds = f.lastGoodMs === undefined ? undefined : Math.max(0, Math.floor((nowMs - f.lastGoodMs) / 1000));
  const v = (state: CheckState, why: string): ServiceVerdict => ({ service: f.service, state, ageSeconds, why });
  if (f.problem) return v('CRITICAL', f.problem);
  if (ageSeconds === undefined) return v('CRITICAL', 'no good backup');
  const age = `last good backup ${formatAge(ageSeconds)} ago`;
  if (ageSeconds > f.maxAgeSeconds) return v('CRITICAL', `${age} (max ${formatAge(f.maxAgeSeconds)})`);
  // a failed run after the newest good backup: still fresh enough, but something is wrong
  const run = f.lastRun;
  if (run && run.status !== 'ok' && run.atMs > f.lastGoodMs!) {
    return v('WARNING', `last run ${run.status === 'warning' ? 'had warnings' : run.status} ${formatAge((nowMs - run.atMs) / 1000)} ago, ${age}`);
  }
  if (run && run.status === 'warning') return v('WARNING', `last run had warnings, ${age}`);
  if (f.warnAgeSeconds !== undefined && ageSeconds > f.warnAgeSeconds) return v('WARNING', `${age} (warn ${formatAge(f.warnAgeSeconds)})`);
  return v('OK', age);
}

/** Perfdata label: letters, digits and _ only (no quoting needed). */
const perfLabel = (s: string) => `${s.replace(/[^A-Za-z0-9_]/g, '_')}_age`;

/**
 * What the status line calls the facts judged (the fleet check, ops/fleet.ts, has its own words):
 * `none` when there are none, `counted` before "oldest good backup ..." when all are OK.
 */
export interface JudgeWords {
  none?: string;
  counted?: string;
}

export function judge(facts: ServiceFacts[], nowMs: number, words: JudgeWords = {}): Verdict {
  if (!facts.length) return { state: 'UNKNOWN', exitCode: CHECK_EXIT.UNKNOWN, line: `BATT UNKNOWN - ${words.none ?? 'no service is enabled'}`, services: [] };
  const services = facts.map((f) => judgeService(f, nowMs));
  const state = services.reduce<CheckState>((w, s) => (RANK[s.state] > RANK[w] ? s.state : w), 'OK');
  const perf = facts
    .map((f, i) => {
      const age = services[i]!.ageSeconds;
      return `${perfLabel(f.service)}=${age === undefined ? 'U' : `${age}s`};${f.warnAgeSeconds ?? ''};${f.maxAgeSeconds};0`;
    })
    .join(' ');
  let text: string;
  if (state === 'OK') {
    const oldest = Math.max(...services.map((s) => s.ageSeconds ?? 0));
    text = `${words.counted ?? `${services.length} service${services.length === 1 ? '' : 's'}`}, oldest good backup ${formatAge(oldest)} ago`;
  } else {
    // the worst first, then the others that are not OK
    const bad = services.filter((s) => s.state !== 'OK').sort((a, b) => RANK[b.state] - RANK[a.state]);
    text = bad.map((s) => `${s.service}: ${s.why}`).join('; ');
  }
  return { state, exitCode: CHECK_EXIT[state], line: `BATT ${state} - ${text} | ${perf}`, services };
}
