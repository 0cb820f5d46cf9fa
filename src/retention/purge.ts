// Purge: plan which backups a retention policy removes (plain data), then apply the plan.
// A dry run prints the plan; a real run prints the same plan and then carries it out, so the
// two lists are the same by construction. Only catalog entries (valid manifests under the root)
// are candidates, times come from the manifests, and every deletion re-checks that its folder is
// a real folder inside the root, reached without symlinks, still holding the planned backup.
import fs from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { STAGING_PREFIX, scanRoot } from '../catalog/catalog.js';
import { linksOf } from '../catalog/chain.js';
import { globalConfPath, loadConfFile, parseWeekStart, serviceConfPath } from '../config/config.js';
import { retentionConf, type RetentionConf } from './conf.js';
import { UsageError, describeError } from '../core/errors.js';
import { heldByNestedRun } from '../run/lock.js';
import type { Home } from '../core/home.js';
import type { Logger } from '../core/log.js';
import { quickCheck, readManifest } from '../catalog/manifest.js';
import { plural, table, type Output } from '../core/output.js';
import { SERVICE_NAME } from '../services/registry.js';
import {
  POLICY_KEYS,
  applyPolicy,
  flagOf,
  describePolicy,
  isEmptyPolicy,
  validatePolicy,
  type Candidate,
  type RetentionPolicy,
  type WeekStart,
} from './policy.js';

/** A staging folder older than this is a leftover of a dead run, and purge may remove it. */
export const STAGING_MAX_AGE_MS = 24 * 3600_000;
/** A manifest dated further ahead than this is "in the future": reported, never touched. */
export const FUTURE_SLACK_MS = 10 * 60_000;

export interface ServicePolicy {
  policy: RetentionPolicy;
  weekStart: WeekStart;
}

/** What the command line says; undefined = not given (the conf decides). */
export type CliRetention = RetentionConf;

function pick(...layers: (RetentionConf | undefined)[]): ServicePolicy {
  const policy: RetentionPolicy = {};
  let weekStart: WeekStart = 'mon';
  for (const l of layers) {
    if (!l) continue;
    for (const b of POLICY_KEYS) if (l[b] !== undefined) policy[b] = l[b];
    if (l.weekStart) weekStart = l.weekStart;
  }
  return { policy, weekStart };
}

/** Reads batt.conf and <service>.conf; each key of the later layer wins (global < service < CLI). */
export class PolicySource {
  private constructor(
    private readonly home: Home,
    readonly global: RetentionConf,
    private readonly cli: CliRetention,
  ) {}

  static async load(home: Home, cli: CliRetention): Promise<PolicySource> {
    const file = globalConfPath(home);
    return new PolicySource(home, retentionConf(await loadConfFile(file), file), cli);
  }

  /** Whether the conf or the flags keep anything at all (batt.conf, the flags, any <service>.conf). */
  async anyPolicy(): Promise<boolean> {
    if (!isEmptyPolicy(pick(this.global, this.cli).policy)) return true;
    let names: string[] = [];
    try {
      names = await fs.readdir(this.home.conf);
    } catch {
      return false;
    }
    for (const n of names) {
      if (!n.endsWith('.conf') || n === 'batt.conf') continue;
      const file = path.join(this.home.conf, n);
      if (!isEmptyPolicy(retentionConf(await loadConfFile(file), file))) return true;
    }
    return false;
  }

  /** The policy of one service; throws UsageError (exit 2) when it is empty. */
  async forService(service: string): Promise<ServicePolicy> {
    const file = serviceConfPath(this.home, service);
    const sp = pick(this.global, retentionConf(await loadConfFile(file), file), this.cli);
    try {
      validatePolicy(sp.policy);
    } catch (err) {
      if (err instanceof UsageError) throw new UsageError(`${service}: ${err.message}`, err.hint);
      throw err;
    }
    return sp;
  }
}

export interface PlannedBackup {
  id: string;
  dir: string;
  service: string;
  startedAt: string;
  runId: string;
}

export interface ServicePlan {
  service: string;
  policy: RetentionPolicy;
  weekStart: WeekStart;
  keep: (PlannedBackup & { reasons: string[] })[];
  remove: (PlannedBackup & { reason: string })[];
}

export interface StagingEntry {
  id: string;
  dir: string;
  ageHours: number;
  remove: boolean;
}

export interface PurgePlan {
  root: string;
  services: ServicePlan[];
  staging: StagingEntry[];
  /** Folders whose manifest is unreadable or not batt's: reported, never touched. */
  invalid: { id: string; error: string }[];
  /** Manifests dated in the future (clock trouble or a foreign tree): reported, never touched. */
  future: PlannedBackup[];
  /** Backups whose files no longer match their manifest (missing, resized, not a file). */
  damaged: { id: string; problem: string }[];
  /** Services named on the command line without any backup under the root. */
  missing: string[];
}

export interface PlanRequest {
  root: string;
  policies: PolicySource;
  /** Only these services (default: every service found under the root). */
  services?: string[];
  now: Date;
  tz?: string;
}

export async function planPurge(req: PlanRequest): Promise<PurgePlan> {
  const { root, now } = req;
  const wanted = req.services?.length ? new Set(req.services) : undefined;
  const scan = await scanRoot(root);
  const plan: PurgePlan = { root, services: [], staging: [], invalid: [], future: [], damaged: [], missing: [] };
  const rel = (dir: string) => path.relative(root, dir);

  for (const i of scan.invalid) plan.invalid.push({ id: rel(i.dir), error: i.error });
  const byService = new Map<string, { b: PlannedBackup; ok: boolean }[]>();
  const bases = new Map(linksOf(root, scan.backups).map((l) => [l.id, l.base])); // chains stay whole
  for (const b of scan.backups) {
    const m = b.manifest;
    if (wanted && !wanted.has(m.service)) continue;
    if (!SERVICE_NAME.test(m.service)) {
      plan.invalid.push({ id: b.id, error: `manifest names an invalid service "${m.service.slice(0, 40)}"` });
      continue;
    }
    const pb: PlannedBackup = { id: b.id, dir: b.dir, service: m.service, startedAt: m.startedAt, runId: m.runId };
    if (Date.parse(m.startedAt) > now.getTime() + FUTURE_SLACK_MS) {
      plan.future.push(pb);
      continue;
    }
    const problem = await quickCheck(b.dir, m);
    if (problem) plan.damaged.push({ id: b.id, problem });
    const list = byService.get(m.service) ?? [];
    list.push({ b: pb, ok: !problem });
    byService.set(m.service, list);
  }
  if (wanted) plan.missing = [...wanted].filter((s) => !byService.has(s));

  for (const [service, list] of [...byService].sort(([a], [b]) => a.localeCompare(b))) {
    const { policy, weekStart } = await req.policies.forService(service);
    const candidates: Candidate[] = list.map(({ b, ok }) => ({ id: b.id, time: new Date(b.startedAt), service, ok, base: bases.get(b.id) }));
    const r = applyPolicy(candidates, policy, { weekStart, tz: req.tz, now });
    const byId = new Map(list.map(({ b }) => [b.id, b]));
    plan.services.push({
      service,
      policy,
      weekStart,
      keep: r.keep.map((k) => ({ ...byId.get(k.id)!, reasons: k.reasons })),
      remove: r.remove.map((x) => ({ ...byId.get(x.id)!, reason: x.reason })),
    });
  }

  for (const dir of scan.staging) {
    const name = path.basename(dir);
    if (wanted && ![...wanted].some((s) => name.startsWith(`${STAGING_PREFIX}${s}-`))) continue;
    if (await heldByNestedRun(dir, root)) continue; // a live run on a nested root writes there
    let mtime: number;
    try {
      const st = await fs.lstat(dir);
      if (!st.isDirectory()) continue;
      mtime = st.mtimeMs;
    } catch {
      continue;
    }
    const age = now.getTime() - mtime;
    plan.staging.push({ id: rel(dir), dir, ageHours: Math.round((age / 3600_000) * 10) / 10, remove: age > STAGING_MAX_AGE_MS });
  }
  return plan;
}

// --- applying a plan ------------------------------------------------------------------------

export class UnsafePathError extends Error {}

/**
 * The folder `id` below root, if it is a real folder inside the root reached without symlinks:
 * its resolved path must be exactly the resolved root joined with id.
 */
export async function safeFolder(root: string, id: string): Promise<string> {
  const parts = id.split('/');
  if (!id || path.isAbsolute(id) || parts.some((p) => p === '' || p === '.' || p === '..')) {
    throw new UnsafePathError(`refusing ${JSON.stringify(id)}: not a plain path below the root`);
  }
  const realRoot = await fs.realpath(root);
  const abs = path.join(root, id);
  const st = await fs.lstat(abs);
  if (!st.isDirectory()) throw new UnsafePathError(`refusing ${abs}: not a folder`);
  const real = await fs.realpath(abs);
  if (real !== path.join(realRoot, id)) {
    throw new UnsafePathError(`refusing ${abs}: it resolves to ${real}, outside ${realRoot} or through a symlink`);
  }
  return abs;
}

/** rm -r that never follows a symlink and never crosses into another file system. */
export async function removeTree(p: string, dev?: number): Promise<void> {
  const st = await fs.lstat(p);
  if (dev !== undefined && st.dev !== dev) throw new UnsafePathError(`refusing ${p}: another file system is mounted there`);
  if (st.isDirectory()) {
    for (const name of await fs.readdir(p)) await removeTree(path.join(p, name), st.dev);
    await fs.rmdir(p);
  } else {
    await fs.unlink(p); // a symlink is removed itself, its target is left alone
  }
}

/** Removes the folders left empty above a deleted one, up to (never including) the root. */
async function removeEmptyParents(root: string, dir: string): Promise<string[]> {
  const removed: string[] = [];
  let cur = path.dirname(dir);
  while (cur.startsWith(root + '/') && cur !== root) {
    try {
      const st = await fs.lstat(cur);
      if (!st.isDirectory()) break;
      await fs.rmdir(cur); // fails unless empty
      removed.push(cur);
    } catch {
      break;
    }
    cur = path.dirname(cur);
  }
  return removed;
}

export interface PurgeOutcome {
  removed: string[];
  stagingRemoved: string[];
  emptied: string[];
  errors: { id: string; error: string }[];
}

async function deleteBackup(root: string, b: PlannedBackup): Promise<string[]> {
  const abs = await safeFolder(root, b.id);
  const m = await readManifest(abs);
  if (m.runId !== b.runId || m.service !== b.service || m.startedAt !== b.startedAt) {
    throw new Error(`${b.id} changed since the plan was made (its manifest differs); left alone`);
  }
  // Renamed to a staging name first, so an interrupted purge never leaves a half-deleted folder
  // that still looks like a backup: leftover staging folders are removed by the next run.
  const doomed = path.join(path.dirname(abs), `${STAGING_PREFIX}${b.service}-purge-${randomBytes(4).toString('hex')}`);
  const dev = (await fs.lstat(abs)).dev;
  await fs.rename(abs, doomed);
  await removeTree(doomed, dev);
  return removeEmptyParents(root, abs);
}

/** Carries out a plan. Each deletion is checked again; one failure does not stop the others. */
export async function applyPurge(plan: PurgePlan, opts: { signal?: AbortSignal; log?: Logger } = {}): Promise<PurgeOutcome> {
  const outcome: PurgeOutcome = { removed: [], stagingRemoved: [], emptied: [], errors: [] };
  const { root } = plan;
  const log = (line: string) => opts.log?.write('purge', line);
  const note = (id: string, err: unknown) => {
    outcome.errors.push({ id, error: (err as Error).message ?? String(err) });
    log(`could not remove ${path.join(root, id)}: ${(err as Error).message ?? String(err)}`);
  };
  for (const s of plan.staging.filter((x) => x.remove)) {
    if (opts.signal?.aborted) break;
    try {
      const abs = await safeFolder(root, s.id);
      await removeTree(abs, (await fs.lstat(abs)).dev);
      outcome.stagingRemoved.push(s.id);
      log(`removed leftover staging folder ${abs} (${s.ageHours} h old)`);
      outcome.emptied.push(...(await removeEmptyParents(root, abs)));
    } catch (err) {
      note(s.id, err);
    }
  }
  for (const sp of plan.services) {
    for (const b of sp.remove) {
      if (opts.signal?.aborted) break;
      try {
        outcome.emptied.push(...(await deleteBackup(root, b)));
        outcome.removed.push(b.id);
        log(`removed ${path.join(root, b.id)} (${b.service}, started ${b.startedAt}): ${b.reason}`);
      } catch (err) {
        note(b.id, err);
      }
    }
  }
  outcome.emptied = outcome.emptied.map((d) => path.relative(root, d));
  return outcome;
}

// --- reporting ------------------------------------------------------------------------------

export function planJson(plan: PurgePlan, dryRun: boolean, outcome?: PurgeOutcome) {
  return {
    ok: !outcome || outcome.errors.length === 0,
    dryRun,
    root: plan.root,
    services: plan.services.map((s) => ({
      service: s.service,
      policy: s.policy,
      weekStart: s.weekStart,
      keep: s.keep.map((k) => ({ id: k.id, startedAt: k.startedAt, reasons: k.reasons })),
      remove: s.remove.map((r) => ({ id: r.id, startedAt: r.startedAt, reason: r.reason })),
    })),
    staging: plan.staging.map((s) => ({ id: s.id, ageHours: s.ageHours, action: s.remove ? 'remove' : 'leave' })),
    invalid: plan.invalid,
    damaged: plan.damaged,
    future: plan.future.map((f) => ({ id: f.id, service: f.service, startedAt: f.startedAt })),
    missing: plan.missing,
    ...(outcome ? { removed: outcome.removed, stagingRemoved: outcome.stagingRemoved, emptied: outcome.emptied, errors: outcome.errors } : {}),
  };
}

/** The plan as text: every backup kept (with its reasons) or removed (with its reason). */
export function printPlan(out: Output, plan: PurgePlan, dryRun: boolean, opts: { brief?: boolean } = {}): void {
  const verb = dryRun ? 'would remove' : 'remove';
  for (const s of plan.services) {
    if (opts.brief && s.remove.length === 0) continue;
    out.info(`${s.service}: ${describePolicy(s.policy)}; weeks start on ${s.weekStart === 'sun' ? 'Sunday' : 'Monday'}`);
    const rows = [
      ...(opts.brief ? [] : s.keep).map((k) => ['keep', k.id, k.startedAt, k.reasons.join(', ')]),
      ...s.remove.map((r) => [verb, r.id, r.startedAt, r.reason]),
    ].sort((a, b) => Date.parse(b[2]!) - Date.parse(a[2]!));
    for (const line of table(rows)) out.info(`  ${line}`);
  }
  for (const s of plan.staging) {
    if (s.remove) out.warn(`${dryRun ? 'would remove' : 'removing'} leftover staging folder ${s.id} (${s.ageHours} h old)`);
    else out.warn(`staging folder ${s.id} is ${s.ageHours} h old: left alone (purge removes them after a day; the next run removes them)`);
  }
  for (const i of plan.invalid) out.warn(`not a valid backup, left alone: ${i.id}: ${i.error}`);
  for (const f of plan.future) out.warn(`dated in the future, left alone: ${f.id} (${f.startedAt})`);
  for (const d of plan.damaged) out.warn(`damaged backup ${d.id}: ${d.problem} (never counted as kept)`);
  for (const m of plan.missing) out.warn(`no backups of ${m} under ${plan.root}`);
}

export function printOutcome(out: Output, plan: PurgePlan, dryRun: boolean, outcome?: PurgeOutcome): void {
  const kept = plan.services.reduce((n, s) => n + s.keep.length, 0);
  const removing = plan.services.reduce((n, s) => n + s.remove.length, 0);
  const svc = plural(plan.services.length, 'service');
  if (dryRun || !outcome) {
    out.info(`dry run: would remove ${removing} and keep ${plural(kept, 'backup')} of ${svc}; nothing was deleted`);
    return;
  }
  for (const e of outcome.errors) out.error(`could not remove ${e.id}: ${e.error}`);
  const summary = `removed ${outcome.removed.length} and kept ${plural(kept, 'backup')} of ${svc}`;
  if (outcome.errors.length) out.error(`purge incomplete: ${summary}, ${outcome.errors.length} failed`);
  else out.info(`purge complete: ${summary}`);
}

// --- flags, and the purge after a run -------------------------------------------------------


const lastOf = (v: unknown): unknown => (Array.isArray(v) ? v[v.length - 1] : v);

export function cliRetention(args: Record<string, unknown>): CliRetention {
  const out: CliRetention = {};
  for (const b of POLICY_KEYS) {
    const raw = lastOf(args[flagOf(b)]);
    if (raw === undefined) continue;
    const v = String(raw);
    if (!/^\d{1,6}$/.test(v)) throw new UsageError(`--${flagOf(b)} takes a whole number >= 0, got "${v}"`);
    out[b] = Number(v);
  }
  const ws = lastOf(args['week-start']);
  if (ws !== undefined) {
    out.weekStart = parseWeekStart(String(ws));
    if (!out.weekStart) throw new UsageError(`--week-start takes mon or sun, got "${String(ws)}"`);
  }
  return out;
}

export interface PurgeReport {
  plan: PurgePlan;
  outcome: PurgeOutcome;
}

/**
 * For `batt --purge` (or PURGE_AFTER_RUN=yes): checked before any backup runs, so an empty policy
 * is refused up front. Returns undefined when no purge is wanted; otherwise a function the run
 * calls, under its lock, once every service succeeded.
 */
export async function preparePurgeAfterRun(
  home: Home,
  root: string,
  args: Record<string, unknown>,
  services: string[],
): Promise<((signal?: AbortSignal, log?: Logger) => Promise<PurgeReport>) | undefined> {
  const cli = cliRetention(args);
  const policies = await PolicySource.load(home, cli);
  if (!lastOf(args.purge) && !policies.global.purgeAfterRun) return undefined;
  for (const s of services) await policies.forService(s);
  return async (signal, log) => {
    try {
      const plan = await planPurge({ root, policies, services, now: new Date() });
      return { plan, outcome: await applyPurge(plan, { signal, log }) };
    } catch (err) {
      // Never lets a purge problem hide the run's own results: it is reported as a purge error.
      const plan: PurgePlan = { root, services: [], staging: [], invalid: [], future: [], damaged: [], missing: [] };
      return { plan, outcome: { removed: [], stagingRemoved: [], emptied: [], errors: [{ id: root, error: describeError(err) }] } };
    }
  };
}
