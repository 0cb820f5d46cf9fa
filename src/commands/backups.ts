// `batt backups` (alias `batt ls`): the catalog, read from the manifests under the backup root.
import { filterBackups, scanRoot } from '../catalog/catalog.js';
import { baseId, describeLevel } from '../catalog/chain.js';
import { describeDrill, readDrill, type DrillRecord } from '../catalog/drillrecord.js';
import { EXIT, InterruptedError, UsageError } from '../core/errors.js';
import { listenForStop } from '../core/stop.js';
import { formatBytes, table, type Output } from '../core/output.js';
import { ageCell, summarizeCopies } from '../ops/fleet.js';
import type { Home } from '../core/home.js';
import type { HostFilter } from '../targets/copy.js';
import type { RemoteFilter } from '../targets/remote.js';
import { hostFilter, last, makeContext, type CommonArgs, type HostArgs } from './context.js';

export interface BackupsArgs extends CommonArgs, HostArgs {
  service?: string;
  since?: string;
  until?: string;
  from?: string;
  summary?: boolean;
}

function parseDate(flag: string, v: string | undefined): Date | undefined {
  if (!v) return undefined;
  const d = new Date(v);
  if (Number.isNaN(d.getTime())) throw new UsageError(`--${flag} takes a date like 2026-11-28 or 2026-11-28T02:30, got "${v}"`);
  return d;
}

/**
 * `batt backups --from T --summary`: one line per host and service with its newest copy, that
 * copy's backup start and age, and how many copies there are (ops/fleet.ts).
 */
async function printSummary(out: Output, home: Home, name: string, f: RemoteFilter, hosts: HostFilter, signal: AbortSignal): Promise<void> {
  const { hostWords, listingHead, listRemote, printOthers } = await import('../targets/remote.js');
  const { copies, others } = await listRemote(home, name, f, hosts, signal);
  signal.throwIfAborted();
  const rows = summarizeCopies(copies, Date.now());
  if (out.json) {
    out.data({
      ...listingHead(name, hosts, others),
      services: rows.map((r) => ({
        host: r.host,
        service: r.service,
        newest: r.newest?.id ?? null,
        startedAt: r.newest?.startedAt ?? null,
        uploadedAt: r.newest?.uploadedAt ?? null,
        ageSeconds: r.ageSeconds ?? null,
        age: r.ageSeconds === undefined ? null : ageCell(r),
        copies: r.copies,
      })),
    });
    return;
  }
  if (!rows.length) out.info(`no backups of ${hostWords(hosts)} on target ${name}`);
  else {
    const lines = [['HOST', 'SERVICE', 'NEWEST', 'STARTED', 'AGE', 'COPIES']];
    for (const r of rows) lines.push([r.host, r.service, r.newest?.id ?? '-', r.newest?.startedAt ?? '-', ageCell(r), String(r.copies)]);
    for (const l of table(lines)) out.info(l);
  }
  printOthers(out, others);
}

/** The last drill of a backup: "ok 2026-11-28 restored in 4.2s", "FAILED 2026-11-28", or "-". */
function drillCell(d: DrillRecord | undefined): string {
  return d ? describeDrill(d) : '-';
}

export async function backupsCommand(args: BackupsArgs): Promise<number> {
  const ctx = await makeContext(args);
  const from = last(args.from);
  const hosts = hostFilter(args, ctx, from);
  const summary = !!last(args.summary);
  if (summary && !from) throw new UsageError('--summary sums up the copies on a target: use it with --from NAME (batt status sums up this host\'s backups)');
  if (from) {
    // the copies on an off-site target (src/targets/remote.ts); SIGINT/SIGTERM/SIGHUP stop the connecting,
    // listing and index reads at once, nothing is printed, exit 130/143/129
    const filter = { service: last(args.service), since: parseDate('since', last(args.since)), until: parseDate('until', last(args.until)) };
    const { printRemoteBackups } = await import('../targets/remote.js');
    const stop = listenForStop();
    try {
      if (summary) await printSummary(ctx.out, ctx.home, String(from), filter, hosts, stop.signal);
      else await printRemoteBackups(ctx.out, ctx.home, String(from), filter, hosts, stop.signal);
    } catch (err) {
      if (!stop.caught) throw err;
    } finally {
      stop.dispose();
    }
    if (stop.caught) throw new InterruptedError(`listing the copies on ${from} interrupted by ${stop.caught}; nothing was listed`);
    return EXIT.OK;
  }
  const scan = await scanRoot(ctx.root);
  const backups = filterBackups(scan.backups, {
    service: last(args.service),
    since: parseDate('since', last(args.since)),
    until: parseDate('until', last(args.until)),
  });
  const drills = new Map<string, DrillRecord | undefined>();
  for (const b of backups) drills.set(b.dir, await readDrill(b.dir));
  if (ctx.out.json) {
    ctx.out.data({
      root: ctx.root,
      backups: backups.map((b) => ({
        id: b.id,
        dir: b.dir,
        service: b.manifest.service,
        host: b.manifest.host,
        startedAt: b.manifest.startedAt,
        finishedAt: b.manifest.finishedAt,
        files: b.manifest.files.length,
        bytes: b.manifest.totalBytes,
        level: baseId(ctx.root, b) === undefined ? 'full' : 'incremental',
        base: baseId(ctx.root, b) ?? null,
        drill: drills.get(b.dir) ?? null,
      })),
      invalid: scan.invalid,
      staging: scan.staging,
    });
  } else if (backups.length === 0) {
    ctx.out.info(`no backups under ${ctx.root}`);
  } else {
    const rows = [['ID', 'SERVICE', 'STARTED', 'FILES', 'SIZE', 'LEVEL', 'DRILL']];
    for (const b of backups) {
      rows.push([b.id, b.manifest.service, b.manifest.startedAt, String(b.manifest.files.length), formatBytes(b.manifest.totalBytes), describeLevel(ctx.root, b), drillCell(drills.get(b.dir))]);
    }
    for (const l of table(rows)) ctx.out.info(l);
  }
  for (const i of scan.invalid) ctx.out.warn(`not a valid backup: ${i.error}`);
  for (const s of scan.staging) ctx.out.warn(`unfinished run left ${s} (the next run removes it)`);
  return EXIT.OK;
}
