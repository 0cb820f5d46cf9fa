// `batt drill [SERVICE...] [BACKUP]`: restore backups into a scratch place, check them, time them.
import { scanRoot, selectBackups } from '../catalog/catalog.js';
import { EXIT, InterruptedError, UsageError } from '../core/errors.js';
import { openLog, type Logger } from '../core/log.js';
import { formatDuration, table, type Output } from '../core/output.js';
import { listenForStop } from '../core/stop.js';
import { drillService, sweepStaleDrills, type DrillResult } from '../run/drill.js';
import { acquireLock } from '../run/lock.js';
import { sweepStaleScratch } from '../run/scratch.js';
import { requireHome, validateServiceName } from '../services/registry.js';
import { last, makeContext, type CommonArgs, type Context } from './context.js';

export interface DrillArgs extends CommonArgs {
  items?: string[];
  wait?: boolean;
}

function drillRow(r: DrillResult): string[] {
  const status = r.status === 'ok' ? 'ok' : r.status.toUpperCase();
  const took = r.durationMs !== undefined && r.status === 'ok' ? `restored in ${formatDuration(r.durationMs)}` : (r.error ?? '');
  return [status, r.service, r.backup ?? '-', took];
}

/** One line per drill (failures on stderr); shared with the run's scheduled drills. */
export function printDrills(out: Output, results: DrillResult[]): void {
  const lines = table(results.map(drillRow));
  results.forEach((r, i) => (r.status === 'failed' ? out.error : out.info)(`drill ${lines[i]}`));
}

/** SERVICE and BACKUP words: a word with a "/" is a backup id (ids always hold one), else a service. */
async function plan(ctx: Context, items: string[]): Promise<{ service: string; backupId?: string }[]> {
  const scan = await scanRoot(ctx.root);
  const todo: { service: string; backupId?: string }[] = [];
  for (const item of items) {
    if (item.includes('/')) {
      const { found } = selectBackups(ctx.root, scan.backups, [item]);
      const b = found[0];
      if (!b) throw new UsageError(`no backup "${item}" under ${ctx.root}`, 'batt backups lists them');
      todo.push({ service: b.manifest.service, backupId: item });
    } else {
      validateServiceName(item);
      // a typo must not pass as "no drill": a named service needs a backup to drill
      if (!scan.backups.some((b) => b.manifest.service === item)) throw new UsageError(`no ${item} backup under ${ctx.root} to drill`, 'batt backups lists them');
      todo.push({ service: item });
    }
  }
  if (todo.length === 0) {
    for (const s of new Set(scan.backups.map((b) => b.manifest.service))) todo.push({ service: s });
    if (todo.length === 0) throw new UsageError(`no backups under ${ctx.root} to drill`, 'batt backups lists them');
  }
  // a backup named for a service also named: the backup wins
  return todo.filter((t) => t.backupId || !todo.some((o) => o.backupId && o.service === t.service));
}

/** The drills of a list of services, one after the other (a drill loads a server; never two at once). */
export async function runDrills(
  ctx: Context,
  todo: { service: string; backupId?: string }[],
  log: Logger,
  signal: AbortSignal | undefined,
  onResult?: (r: DrillResult) => void,
): Promise<DrillResult[]> {
  const results: DrillResult[] = [];
  for (const t of todo) {
    if (signal?.aborted) break;
    const r = await drillService({ home: ctx.home, root: ctx.root, service: t.service, backupId: t.backupId, baseEnv: ctx.env, globalTimeoutSeconds: ctx.settings.timeoutSeconds, log, signal });
    log.write(`drill ${t.service}`, `${r.status}${r.backup ? ` ${r.backup}` : ''}${r.error ? `: ${r.error}` : ''}`);
    results.push(r);
    onResult?.(r);
  }
  return results;
}

/** What a killed batt left: drill scratch databases and folders first, then the other scratch folders. */
export async function sweepLeftovers(ctx: Context, log: Logger): Promise<void> {
  for (const l of await sweepStaleDrills(ctx.home, ctx.env, log)) ctx.out.warn(l);
  await sweepStaleScratch(log);
}

export async function drillCommand(args: DrillArgs): Promise<number> {
  const ctx = await makeContext(args);
  await requireHome(ctx.home);
  const todo = await plan(ctx, (args.items ?? []).map(String));
  process.umask(0o077);
  // the run's lock: a purge must not remove a backup in the middle of its drill
  const lock = await acquireLock(ctx.root, { waitMs: last(args.wait) ? 24 * 3600_000 : 0 });
  const log = openLog(ctx.home.log);
  const stop = listenForStop((sig) => log.write('batt', `received ${sig}, stopping the drill`));
  let results: DrillResult[];
  try {
    await sweepLeftovers(ctx, log);
    results = await runDrills(ctx, todo, log, stop.signal, (r) => {
      if (!ctx.out.json && !stop.caught) printDrills(ctx.out, [r]);
    });
  } finally {
    stop.dispose();
    await lock.release();
  }
  if (stop.caught) throw new InterruptedError(`interrupted by ${stop.caught}: the drill was stopped and its scratch place removed`);
  const failed = results.filter((r) => r.status === 'failed');
  if (ctx.out.json) ctx.out.data({ ok: failed.length === 0, drills: results });
  else if (failed.length && log.file) ctx.out.error(`script output is in ${log.file}`);
  return failed.length ? EXIT.FAILED : EXIT.OK;
}
