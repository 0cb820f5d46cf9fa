// What batt remembers between runs, for monitoring: each service's last run and last good run,
// its last sound verify, and each copy's last success. The catalog only holds good backups (a
// failed run leaves nothing), so the last run's status lives here: <home>/log/state.json (0600),
// replaced atomically. Metrics (metrics.ts) and `batt status` read it; losing it loses only history.
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Home } from '../core/home.js';
import { mkdirPrivate, writeFileAtomic } from '../core/fsutil.js';

/** A run's outcome for a service: 'ok', 'warning' (a backup with something to say), or a failure ('failed', 'timeout', 'interrupted'). */
export interface RunRecord {
  status: string;
  /** When the try that decided the status ended (ISO). */
  at: string;
  durationMs: number;
  bytes: number;
  files: number;
  tries?: number;
}

export interface ServiceState {
  lastRun?: RunRecord;
  /** The last run whose status was ok or warning: never moved by a failure. */
  lastSuccess?: RunRecord;
  /** The last `batt verify` that found every checked backup of the service sound (ISO). */
  lastVerified?: string;
}

export interface BattState {
  format: 1;
  services: Record<string, ServiceState>;
  /** service -> target -> the last copy that completed (ISO) */
  copies: Record<string, Record<string, string>>;
}

export const emptyState = (): BattState => ({ format: 1, services: {}, copies: {} });

export function statePath(home: Home): string {
  return path.join(home.log, 'state.json');
}

/** A good status: counts as a success (last_success moves). */
export function isSuccess(status: string): boolean {
  return status === 'ok' || status === 'warning';
}

/** Reads the state; missing or unreadable is an empty one (history lost, nothing else). */
export async function readState(home: Home): Promise<BattState> {
  try {
    const v = JSON.parse(await fs.readFile(statePath(home), 'utf8')) as Partial<BattState>;
    const obj = (x: unknown) => (x && typeof x === 'object' && !Array.isArray(x) ? x : {});
    return { format: 1, services: obj(v.services) as BattState['services'], copies: obj(v.copies) as BattState['copies'] };
  } catch {
    return emptyState();
  }
}

export async function writeState(home: Home, state: BattState): Promise<void> {
  await mkdirPrivate(home.log);
  await writeFileAtomic(statePath(home), JSON.stringify(state, null, 2) + '\n');
}

/** The state after a run: each service's result, and the copies that completed. Pure. */
export function recordRun(
  prev: BattState,
  results: { service: string; status: string; durationMs: number; bytes: number; files: number; tries?: number; finishedAt?: string }[],
  copies: { service: string; target: string; ok: boolean }[],
  at: Date,
): BattState {
  const next: BattState = { format: 1, services: { ...prev.services }, copies: { ...prev.copies } };
  for (const r of results) {
    const rec: RunRecord = { status: r.status, at: r.finishedAt ?? at.toISOString(), durationMs: r.durationMs, bytes: r.bytes, files: r.files, ...(r.tries ? { tries: r.tries } : {}) };
    const s = { ...next.services[r.service] };
    s.lastRun = rec;
    if (isSuccess(r.status)) s.lastSuccess = rec;
    next.services[r.service] = s;
  }
  for (const c of copies) {
    if (!c.ok) continue;
    next.copies[c.service] = { ...next.copies[c.service], [c.target]: at.toISOString() };
  }
  return next;
}

/** The state after a verify: the services all of whose checked backups were sound. Pure. */
export function recordVerify(prev: BattState, checked: { service: string; ok: boolean }[], at: Date): BattState {
  const next: BattState = { format: 1, services: { ...prev.services }, copies: { ...prev.copies } };
  const bad = new Set(checked.filter((c) => !c.ok).map((c) => c.service));
  for (const service of new Set(checked.map((c) => c.service))) {
    if (bad.has(service)) continue;
    next.services[service] = { ...next.services[service], lastVerified: at.toISOString() };
  }
  return next;
}
