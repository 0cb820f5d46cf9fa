// `batt status`: is every enabled service backed up recently enough? A Nagios/Icinga plugin:
// one status line with perfdata on stdout, exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN. Because a
// monitoring system reads 2 as CRITICAL, this command's own errors (an unreadable conf, a home
// that is not one) are UNKNOWN (3) with their one line, not batt's usual exit codes.
// With --from T (and --all-hosts or --host H): the same check of the copies on a target, one
// verdict for every host and service seen there (ops/fleet.ts).
import { scanRoot } from '../catalog/catalog.js';
import { describeDrill, lastDrill, type DrillRecord } from '../catalog/drillrecord.js';
import { loadConfFile, readRunSettings, serviceConfPath } from '../config/config.js';
import { parseDuration } from '../core/duration.js';
import { InterruptedError, UsageError, describeError } from '../core/errors.js';
import { listenForStop } from '../core/stop.js';
import { judgeFleet, summarizeCopies, type FleetAges } from '../ops/fleet.js';
import { CHECK_EXIT, DEFAULT_MAX_AGE_SECONDS, judge, type ServiceFacts } from '../ops/freshness.js';
import { readState } from '../ops/state.js';
import type { Copy, HostFilter } from '../targets/copy.js';
import { enabledServices, requireHome } from '../services/registry.js';
import { hostFilter, last, makeContext, type CommonArgs, type Context, type HostArgs } from './context.js';

export interface StatusArgs extends CommonArgs, HostArgs {
  'max-age'?: string;
  'warn-age'?: string;
  from?: string;
}

function ageFlag(name: string, v: unknown): number | undefined {
  const raw = last(v as unknown[]);
  if (raw === undefined || raw === '') return undefined;
  const s = parseDuration(String(raw));
  if (s === undefined) throw new UsageError(`--${name} takes a duration such as 26h, 90m, 1d12h or seconds, got "${String(raw)}"`);
  return s;
}

/** "; last drill ok 2026-11-28 03:10, restored in 42s", or nothing when never drilled. */
function drillNote(d: DrillRecord | undefined): string {
  return d ? `; last drill ${describeDrill(d)}` : '';
}

export async function statusCommand(args: StatusArgs, now = new Date()): Promise<number> {
  const json = !!last(args.json);
  try {
    return await check(args, now);
  } catch (err) {
    if (err instanceof InterruptedError) throw err;
    const error = describeError(err);
    if (json) process.stdout.write(JSON.stringify({ state: 'UNKNOWN', exitCode: CHECK_EXIT.UNKNOWN, error }, null, 2) + '\n');
    else process.stdout.write(`BATT UNKNOWN - ${error}\n`);
    return CHECK_EXIT.UNKNOWN;
  }
}

async function check(args: StatusArgs, now: Date): Promise<number> {
  const maxFlag = ageFlag('max-age', args['max-age']);
  const warnFlag = ageFlag('warn-age', args['warn-age']);
  const ctx = await makeContext(args);
  await requireHome(ctx.home);
  const from = last(args.from);
  const hosts = hostFilter(args, ctx, from);
  const global = ctx.settings.run ?? {};
  // on a target: --max-age over batt.conf's MAX_AGE (a service's own conf is this host's, not the fleet's)
  if (from) return checkTarget(ctx, String(from), hosts, { maxAgeSeconds: maxFlag ?? global.maxAgeSeconds ?? DEFAULT_MAX_AGE_SECONDS, warnAgeSeconds: warnFlag ?? global.warnAgeSeconds }, now);
  const [enabled, scan, state] = await Promise.all([enabledServices(ctx.home), scanRoot(ctx.root), readState(ctx.home)]);
  const facts: ServiceFacts[] = [];
  // the last drill of each service (batt drill): shown, not judged
  const drills: (DrillRecord | undefined)[] = [];
  for (const s of enabled) {
    drills.push((await lastDrill(scan.backups.filter((b) => b.manifest.service === s.name)))?.drill);
    const file = serviceConfPath(ctx.home, s.name);
    const own = readRunSettings(await loadConfFile(file), file);
    const good = scan.backups.filter((b) => b.manifest.service === s.name && b.manifest.status === 'ok').map((b) => Date.parse(b.manifest.finishedAt));
    const run = state.services[s.name]?.lastRun;
    facts.push({
      service: s.name,
      // a service's own MAX_AGE (a weekly one) over the check's --max-age over batt.conf's
      maxAgeSeconds: own.maxAgeSeconds ?? maxFlag ?? global.maxAgeSeconds ?? DEFAULT_MAX_AGE_SECONDS,
      warnAgeSeconds: own.warnAgeSeconds ?? warnFlag ?? global.warnAgeSeconds,
      lastGoodMs: good.length ? Math.max(...good) : undefined,
      lastRun: run ? { status: run.status, atMs: Date.parse(run.at) } : undefined,
      problem: s.problem,
    });
  }
  const v = judge(facts, now.getTime());
  if (ctx.out.json) {
    ctx.out.data({
      state: v.state,
      exitCode: v.exitCode,
      line: v.line,
      services: v.services.map((sv, i) => {
        const f = facts[i]!;
        return {
          ...sv,
          lastGoodAt: f.lastGoodMs === undefined ? null : new Date(f.lastGoodMs).toISOString(),
          lastRun: f.lastRun ? { status: f.lastRun.status, at: new Date(f.lastRun.atMs).toISOString() } : null,
          maxAgeSeconds: f.maxAgeSeconds,
          warnAgeSeconds: f.warnAgeSeconds ?? null,
          lastDrill: drills[i] ?? null,
        };
      }),
    });
  } else {
    ctx.out.info(v.line);
    // Nagios reads the first line; the long text (one line per service) follows for people
    v.services.forEach((s, i) => ctx.out.info(`${s.state.padEnd(8)} ${s.service}: ${s.why}${drillNote(drills[i])}`));
  }
  return v.exitCode;
}

/**
 * `batt status --from T --all-hosts` (or one host's copies there): every host and service seen on
 * the target must have a copy younger than max-age. A target that cannot be listed is UNKNOWN
 * (statusCommand); SIGINT/SIGTERM/SIGHUP stop the listing (exit 130/143/129, nothing printed).
 */
async function checkTarget(ctx: Context, name: string, hosts: HostFilter, ages: FleetAges, now: Date): Promise<number> {
  const { listRemote } = await import('../targets/remote.js');
  const stop = listenForStop();
  let copies: Copy[] = [];
  try {
    ({ copies } = await listRemote(ctx.home, name, {}, hosts, stop.signal));
  } catch (err) {
    if (!stop.caught) throw err;
  } finally {
    stop.dispose();
  }
  if (stop.caught) throw new InterruptedError(`listing the copies on ${name} interrupted by ${stop.caught}; nothing was judged`);
  const rows = summarizeCopies(copies, now.getTime());
  const v = judgeFleet(rows, ages, now.getTime(), 'all' in hosts ? `on target ${name}` : `of host ${hosts.host} on target ${name}`);
  if (ctx.out.json) {
    ctx.out.data({
      state: v.state,
      exitCode: v.exitCode,
      line: v.line,
      target: name,
      hosts: 'all' in hosts ? 'all' : hosts.host,
      services: v.services.map((sv, i) => {
        const r = rows[i]!;
        return {
          host: r.host,
          service: r.service,
          state: sv.state,
          ageSeconds: sv.ageSeconds ?? null,
          why: sv.why,
          newest: r.newest?.id ?? null,
          startedAt: r.newest?.startedAt ?? null,
          copies: r.copies,
          maxAgeSeconds: ages.maxAgeSeconds,
          warnAgeSeconds: ages.warnAgeSeconds ?? null,
        };
      }),
    });
  } else {
    ctx.out.info(v.line);
    v.services.forEach((s) => ctx.out.info(`${s.state.padEnd(8)} ${s.service}: ${s.why}`));
  }
  return v.exitCode;
}
