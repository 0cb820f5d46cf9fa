// `batt purge [SERVICE...]`: apply the retention policy to the backups under the root.
// Plan first (from the catalog, under the lock), print it, then carry it out unless --dry-run.
import fs from 'node:fs/promises';
import { EXIT, InterruptedError, fromSystemError } from '../core/errors.js';
import { acquireLock } from '../run/lock.js';
import { openLog } from '../core/log.js';
import { PolicySource, applyPurge, cliRetention, planJson, planPurge, printOutcome, printPlan } from '../retention/purge.js';
import { emptyPolicyError } from '../retention/policy.js';
import { validateServiceName } from '../services/registry.js';
import { listenForStop } from '../core/stop.js';
import { hostFilter, last, makeContext, type CommonArgs } from './context.js';
import { thisHost } from '../config/config.js';
import { plural } from '../core/output.js';
import { recordOutcome } from '../ops/metrics.js';

export interface PurgeArgs extends CommonArgs {
  services?: string[];
  'dry-run'?: boolean;
  wait?: boolean;
  target?: string;
  host?: string | string[];
  [flag: string]: unknown;
}

export async function purgeCommand(args: PurgeArgs, now = new Date()): Promise<number> {
  const ctx = await makeContext(args);
  const { out, root } = ctx;
  const services = [...new Set((args.services ?? []).map(String))];
  for (const s of services) validateServiceName(s);
  const policies = await PolicySource.load(ctx.home, cliRetention(args));
  // Refuse an empty policy even when there is nothing to purge yet, so a bad cron line shows at once.
  if (services.length) for (const s of services) await policies.forService(s);
  else if (!(await policies.anyPolicy())) throw emptyPolicyError();
  const dryRun = !!last(args['dry-run']);
  const target = last(args.target);
  // one host's copies only: this host's unless --host names another
  const hosts = hostFilter({ host: args.host as string | undefined }, ctx, target, '--target') as { host: string };
  if (target) {
    // the copies on one off-site target, each target by its own retention (src/targets/remote.ts)
    // SIGINT/SIGTERM/SIGHUP: connecting and listing stop at once, removals between two copies
    const { purgeRemote, printRemotePurge } = await import('../targets/remote.js');
    const stop = listenForStop();
    try {
      const r = await purgeRemote({
        home: ctx.home,
        name: String(target),
        hosts: { host: hosts.host, self: thisHost(ctx.settings) },
        pattern: ctx.pattern,
        services,
        policyFor: (s) => policies.forService(s),
        cliPolicy: cliRetention(args) as Record<string, number>,
        dryRun,
        now,
        log: openLog(ctx.home.log),
        signal: stop.signal,
      }).catch((err) => {
        // a stop before the removals: while connecting or listing the copies
        throw stop.caught ? new InterruptedError(`purge of ${target} interrupted by ${stop.caught}; nothing was removed`) : err;
      });
      printRemotePurge(out, r, dryRun);
      if (stop.caught) {
        const removed = r.remove.filter((x) => x.removed).length;
        throw new InterruptedError(`purge of ${target} interrupted by ${stop.caught} after removing ${plural(removed, 'copy', 'copies')}; the others are kept`);
      }
      return r.remove.some((x) => x.error) ? EXIT.FAILED : EXIT.OK;
    } finally {
      stop.dispose();
    }
  }

  try {
    await fs.access(root);
  } catch {
    if (out.json) out.data({ ok: true, dryRun, root, services: [], note: 'the backup root does not exist' });
    else out.info(`no backups under ${root} (it does not exist)`);
    return EXIT.OK;
  }

  if (dryRun) {
    const plan = await planPurge({ root, policies, services, now });
    if (out.json) out.data(planJson(plan, true));
    else {
      printPlan(out, plan, true);
      printOutcome(out, plan, true);
    }
    return EXIT.OK;
  }

  let lock;
  try {
    lock = await acquireLock(root, { waitMs: last(args.wait) ? 24 * 3600_000 : 0 });
  } catch (err) {
    throw fromSystemError(err, root);
  }
  // SIGINT/SIGTERM/SIGHUP stop between two deletions (never in the middle of one) and release the lock.
  const stop = listenForStop();
  try {
    if (lock.staleRemoved) out.warn(`removed a stale lock left by a dead batt run in ${root}`);
    const plan = await planPurge({ root, policies, services, now });
    if (!out.json) printPlan(out, plan, false);
    const outcome = await applyPurge(plan, { log: openLog(ctx.home.log), signal: stop.signal });
    // batt_backups counts what is left (under the lock, before anyone adds to it)
    await recordOutcome({ home: ctx.home, root, metricsDir: ctx.settings.metricsDir, report: (l) => out.warn(l) });
    if (out.json) out.data(planJson(plan, false, outcome));
    else printOutcome(out, plan, false, outcome);
    if (stop.caught) throw new InterruptedError(`purge interrupted by ${stop.caught} after removing ${plural(outcome.removed.length, 'backup')}`);
    return outcome.errors.length ? EXIT.FAILED : EXIT.OK;
  } finally {
    stop.dispose();
    await lock.release();
  }
}
