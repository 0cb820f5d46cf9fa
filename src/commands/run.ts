// `batt [SERVICE...]`: run the named (or all enabled) services' backup scripts.
import os from 'node:os';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { compressionKinds, sealedOk, type BackupJob, type BackupResult, type PreviousBackup, type RunContext } from '../run/backup.js';
import { backupWithRetries, triesNote } from '../run/tries.js';
import { estimateRatio, scanRoot } from '../catalog/catalog.js';
import { thisHost } from '../config/config.js';
import { renderPattern } from '../core/destination.js';
import { ConfigError, EXIT, InterruptedError, UsageError, describeError, fromSystemError } from '../core/errors.js';
import { mkdirPrivate } from '../core/fsutil.js';
import { acquireLock, heldByNestedRun } from '../run/lock.js';
import { openLog } from '../core/log.js';
import { mapBounded } from '../core/pool.js';
import { stopLeftoverScripts } from '../run/runner.js';
import { lastDrill } from '../catalog/drillrecord.js';
import { isDrillDue, type DrillResult } from '../run/drill.js';
import { printDrills, runDrills, sweepLeftovers } from './drill.js';
import { listenForStop } from '../core/stop.js';
import { notifyRun, notifyStart } from '../notify/index.js';
import { Syslog, severityOf } from '../notify/syslog.js';
import { recordOutcome } from '../ops/metrics.js';
import { recordRun } from '../ops/state.js';
import { RUN_FLAGS, mapServiceOptions, redactOptions, type ServiceInput } from '../services/options.js';
import { formatBytes, formatDuration, plural, table } from '../core/output.js';
import { enabledServices, listServices, requireHome, validateServiceName } from '../services/registry.js';
import { loadJob } from '../run/job.js';
import { VERSION, last, makeContext, wholeNumberFlag, type CommonArgs, type Context } from './context.js';
import { planJson, preparePurgeAfterRun, printOutcome, printPlan, type PurgeReport } from '../retention/purge.js';
import { selectTargets, uploadRunResults, type RunUploads } from '../targets/upload.js';

export interface RunArgs extends CommonArgs {
  services?: string[];
  jobs?: number | string;
  timeout?: number | string;
  wait?: boolean;
  'dry-run'?: boolean;
  drill?: boolean;
  'no-drill'?: boolean;
  [flag: string]: unknown;
}


interface Plan {
  jobs: (BackupJob & { drillEveryMs?: number })[];
  /** Enabled entries that cannot run (broken links...): they count as failures. */
  broken: BackupResult[];
}

async function plan(ctx: Context, args: RunArgs): Promise<Plan> {
  await requireHome(ctx.home);
  const available = (await listServices(ctx.home)).filter((s) => s.available).map((s) => s.name);
  const named = (args.services ?? []).map(String);
  for (const n of named) validateServiceName(n);
  const inputs = mapServiceOptions(args, RUN_FLAGS, available);
  const wanted = [...new Set([...named, ...inputs.keys()])];
  const broken: BackupResult[] = [];
  const brokenEntry = (service: string, error: string): BackupResult => ({ service, status: 'failed', files: 0, bytes: 0, durationMs: 0, error });
  // Services named on the command line must all be right before anything runs; the enabled set of
  // a nightly run instead loses only the broken entry, and the others are still backed up.
  const allEnabled = wanted.length === 0;
  if (allEnabled) {
    for (const s of await enabledServices(ctx.home)) {
      if (s.problem) broken.push(brokenEntry(s.name, `${s.name}: ${s.problem}`));
      else wanted.push(s.name);
    }
    if (wanted.length === 0 && broken.length === 0) {
      throw new UsageError('no service is enabled and none was named', 'batt enable SERVICE, or batt SERVICE');
    }
  }
  // --timeout applies to every service; without it each service's BACKUP_TIMEOUT, then TIMEOUT.
  const flagTimeout = wholeNumberFlag('timeout', args.timeout, undefined);
  const jobs: Plan['jobs'] = [];
  for (const service of wanted) {
    const input: ServiceInput = inputs.get(service) ?? { options: {}, args: [] };
    try {
      jobs.push(await loadJob(ctx.home, service, input, { flag: flagTimeout, global: ctx.settings.timeoutSeconds }, ctx.settings));
    } catch (err) {
      if (!allEnabled || !(err instanceof ConfigError)) throw err;
      broken.push(brokenEntry(service, `${service}: ${describeError(err)}`));
    }
  }
  return { jobs, broken };
}

/** A result as --json and the notifiers show it: without batt's own bookkeeping (retryable, finishedAt). */
function shown(r: BackupResult): Omit<BackupResult, 'retryable' | 'finishedAt'> {
  const { retryable: _r, finishedAt: _f, ...rest } = r;
  return rest;
}

/** The status word of a result line: ok, warn, FAILED, TIMEOUT, INTERRUPTED. */
function statusWord(r: BackupResult): string {
  return r.status === 'ok' ? 'ok' : r.status === 'warning' ? 'warn' : r.status.toUpperCase();
}

function resultLine(r: BackupResult): string[] {
  const status = statusWord(r);
  const tries = triesNote(r);
  return [status, r.service, formatDuration(r.durationMs), plural(r.files, 'file'), formatBytes(r.bytes), `${r.dest ?? r.error ?? ''}${tries ? ` (${tries})` : ''}`];
}

/** One line for syslog: "mysql: ok after 2 tries, 3 files, 1.2 MB in 4.0s -> /opt/backup/..." */
function syslogLine(r: BackupResult): string {
  const status = triesNote(r) || statusWord(r);
  const warning = r.warning ? `; ${r.warning.replace(new RegExp(`^${r.service}: `), '')}` : '';
  if (sealedOk(r)) return `${r.service}: ${status}, ${plural(r.files, 'file')}, ${formatBytes(r.bytes)} in ${formatDuration(r.durationMs)} -> ${r.dest ?? ''}${warning}`;
  return `${r.service}: ${status}: ${(r.error ?? '').replace(new RegExp(`^${r.service}: `), '')}`;
}

async function runWithListr(jobs: BackupJob[], rc: RunContext, concurrency: number, onResult: (r: BackupResult) => void, root: string): Promise<BackupResult[]> {
  const { Listr } = await import('listr2');
  const results: BackupResult[] = [];
  // About once a second each running task's line shows what its script wrote so far (run/backup.ts)
  const lines = new Map<string, { title: string }>();
  let catalog: ReturnType<typeof scanRoot> | undefined; // read once, only when a script asks
  const live: RunContext = {
    ...rc,
    estimateRatio: async (service, options) => estimateRatio((await (catalog ??= scanRoot(root))).backups, service, options),
    onProgress: (service, text) => void (lines.has(service) && (lines.get(service)!.title = `${service}: ${text}`)),
  };
  const list = new Listr(
    jobs.map((job) => ({
      title: job.service,
      task: async (_: unknown, task: { title: string }) => {
        lines.set(job.service, task);
        const r = await backupWithRetries(job, live).finally(() => lines.delete(job.service));
        onResult(r);
        if (r.status !== 'ok') task.title = job.service;
        results.push(r);
        if (!sealedOk(r)) throw new Error(r.error);
        const tries = triesNote(r);
        task.title = `${job.service}: ${r.status === 'warning' ? 'warn: ' : ''}${plural(r.files, 'file')}, ${formatBytes(r.bytes)} in ${formatDuration(r.durationMs)}${tries ? ` (${tries})` : ''}`;
      },
    })),
    { concurrent: concurrency, exitOnError: false, rendererOptions: { collapseErrors: false } },
  );
  await list.run().catch(() => {});
  return jobs.map((j) => results.find((r) => r.service === j.service)!);
}

export async function runBackups(args: RunArgs, env: NodeJS.ProcessEnv = process.env, now = new Date()): Promise<number> {
  const ctx = await makeContext(args, env);
  try {
    return await runWithContext(ctx, args, env, now);
  } catch (err) {
    // A run that cannot even start (lock held, destination unwritable, script gone) is exactly
    // what the sysadmin must hear about: notify it like a failed run, then report it as usual.
    if (!(err instanceof InterruptedError) && !last(args['dry-run'])) {
      const summary = { host: thisHost(ctx.settings), runId: '', ok: false, startedAt: now.toISOString(), durationMs: Date.now() - now.getTime(), destination: ctx.root, services: [], error: describeError(err) };
      await notifyRun(summary, ctx.settings, (l) => ctx.out.error(l));
    }
    throw err;
  }
}

async function runWithContext(ctx: Context, args: RunArgs, env: NodeJS.ProcessEnv, now: Date): Promise<number> {
  const { out } = ctx;
  const { jobs, broken } = await plan(ctx, args);
  // --purge or PURGE_AFTER_RUN=yes: the policy is checked now, before anything runs (empty = exit 2)
  const purgeAfter = await preparePurgeAfterRun(ctx.home, ctx.root, args, jobs.map((j) => j.service));
  const concurrency = wholeNumberFlag('jobs', args.jobs, ctx.settings.jobs ?? Math.min(4, os.availableParallelism())) || 1;
  const base = renderPattern(ctx.pattern, now);

  if (last(args['dry-run'])) {
    const rows = jobs.map((j) => [j.service, j.script, `${base}/${j.service}`, JSON.stringify(redactOptions(j.input))]);
    if (out.json) out.data({ dryRun: true, destination: base, services: jobs.map((j) => ({ service: j.service, script: j.script, options: redactOptions(j.input), timeoutSeconds: j.timeoutMs / 1000 })) });
    else for (const l of table(rows)) out.info(`would run ${l}`);
    return broken.length ? EXIT.FAILED : EXIT.OK;
  }

  // off-site targets (conf/targets/*.conf, or just the --target ones): unknown names fail before anything runs
  const targets = await selectTargets(ctx.home, ([] as unknown[]).concat(args.target ?? []).map(String));
  let uploads: RunUploads = { outcomes: [], failed: 0 };
  process.umask(0o077);
  try {
    await mkdirPrivate(ctx.root);
    await fs.access(ctx.root, fs.constants.W_OK);
  } catch (err) {
    throw fromSystemError(err, ctx.root);
  }
  const lock = await acquireLock(ctx.root, { waitMs: last(args.wait) ? 24 * 3600_000 : 0 });
  const log = openLog(ctx.home.log);
  // SIGHUP too: a dropped ssh session must stop the scripts and clean up, not orphan them.
  const stop = listenForStop((sig) => log.write('batt', `received ${sig}, stopping scripts`));
  const runId = `${now.toISOString().replace(/[-:]/g, '').replace(/\..*/, '')}-${randomBytes(3).toString('hex')}`;
  let results: BackupResult[];
  let purged: PurgeReport | undefined;
  const syslog = ctx.settings.syslog ? new Syslog(ctx.settings.syslog) : undefined;
  const onResult = (r: BackupResult) => syslog?.send(severityOf(r.status), syslogLine(r));
  let drills: DrillResult[] = [];
  const t0 = Date.now();
  try {
    if (lock.staleRemoved) out.warn(`removed a stale lock left by a dead batt run in ${ctx.root}`);
    await sweepLeftovers(ctx, log);
    // the run's services' earlier backups (`<service>` or `<service>.N` folders): the size-drop check
    const names = new Set(jobs.map((j) => j.service));
    const scan = await scanRoot(ctx.root, { manifests: false, want: (dir) => names.has(path.basename(dir).replace(/\.\d+$/, '')) });
    const previous = new Map<string, PreviousBackup[]>();
    for (const b of scan.backups) {
      const m = b.manifest;
      const earlier = previous.get(m.service) ?? [];
      earlier.push({ bytes: m.totalBytes, dir: b.dir, options: JSON.stringify(m.options), incremental: !!m.base, kinds: compressionKinds(m.files.map((f) => f.path)) });
      previous.set(m.service, earlier);
    }
    for (const dir of scan.staging) {
      if (await heldByNestedRun(dir, ctx.root)) continue; // a live run on a nested root writes there
      await stopLeftoverScripts(dir); // scripts of a killed batt still write there
      await fs.rm(dir, { recursive: true, force: true });
      log.write('batt', `removed leftover staging folder ${dir}`);
      out.warn(`removed ${dir}, left by an interrupted run`);
    }
    log.write('batt', `run ${runId}: ${jobs.map((j) => j.service).join(' ')} -> ${base}`);
    syslog?.send('info', `run ${runId} started: ${jobs.map((j) => j.service).join(' ')} -> ${base}`);
    for (const r of broken) syslog?.send('err', syslogLine(r));
    await notifyStart(ctx.settings, (l) => out.error(l));
    const rc: RunContext = {
      homeRoot: ctx.home.root,
      root: ctx.root,
      base,
      now,
      runId,
      host: thisHost(ctx.settings),
      killAfterMs: 10_000,
      baseEnv: env,
      log,
      signal: stop.signal,
      version: VERSION,
      previous,
    };
    results = out.tty && jobs.length
      ? await runWithListr(jobs, rc, concurrency, onResult, ctx.root)
      : await mapBounded(jobs, concurrency, async (job) => {
          const r = await backupWithRetries(job, rc);
          onResult(r);
          if (!out.json) (sealedOk(r) ? out.info : out.error)(table([resultLine(r)])[0]!);
          if (!out.json && r.warning) out.warn(r.warning); // on stderr: cron mails it
          return r;
        });
    results = [...broken, ...results];
    uploads = await uploadRunResults({ home: ctx.home, root: ctx.root, host: thisHost(ctx.settings), pattern: ctx.pattern, targets, results, log, out, interrupted: !!stop.caught, signal: stop.signal });
    // Only after a run in which every service succeeded (and every copy), still under the lock.
    if (purgeAfter && !stop.caught && results.every(sealedOk) && !uploads.failed) purged = await purgeAfter(stop.signal, log);
    // DRILL_EVERY: after a good run, the services of this run whose last drill is older (--no-drill: none)
    // (yargs gives --no-drill as drill: false; the start-up fast path as no-drill: true)
    if (last(args.drill) !== false && !last(args['no-drill']) && !stop.caught && results.every(sealedOk) && !uploads.failed) {
      drills = await runDrills(ctx, await dueDrills(ctx, jobs, now), log, stop.signal, (r) => {
        if (r.status === 'failed') syslog?.send('err', `${r.service}: drill of ${r.backup ?? r.service} failed: ${r.error ?? ''}`);
        if (!out.json && !stop.caught) printDrills(out, [r]);
      });
    }
    // still under the lock: the catalog counted for the metrics is the one this run left
    const ran = results;
    await recordOutcome({
      home: ctx.home,
      root: ctx.root,
      metricsDir: ctx.settings.metricsDir,
      update: (s) => recordRun(s, ran, uploads.outcomes, new Date()),
      report: (l) => out.warn(l),
    });
  } finally {
    stop.dispose();
    await lock.release();
  }
  const failed = results.filter((r) => !sealedOk(r));
  const warned = results.filter((r) => r.status === 'warning');
  const counts = `${results.length - failed.length - warned.length} ok, ${warned.length ? `${warned.length} warn, ` : ''}${failed.length} failed`;
  const drillsFailed = drills.filter((d) => d.status === 'failed');
  const ok = failed.length === 0 && !uploads.failed && !stop.caught && drillsFailed.length === 0;
  const ms = Date.now() - t0;
  log.write('batt', `run ${runId} done: ${counts}`);
  if (out.json) {
    out.data({ ok, runId, destination: base, durationMs: ms, services: results.map(shown), copies: uploads.outcomes, ...(drills.length ? { drills } : {}), ...(purged ? { purge: planJson(purged.plan, false, purged.outcome) } : {}) });
  } else {
    if (out.tty) for (const l of table(results.map(resultLine))) out.info(l);
    for (const r of broken) out.error(r.error ?? r.service);
    // Off a TTY each failure was printed as it happened; the progress list only shows them.
    if (out.tty) for (const r of failed) if (!broken.includes(r)) out.error(r.error ?? r.service);
    if (out.tty) for (const r of warned) out.warn(r.warning ?? r.service);
    const retried = results.filter((r) => triesNote(r)).map((r) => `${r.service} ${triesNote(r)}`);
    const summary = `${counts} in ${formatDuration(ms)}${retried.length ? ` (${retried.join(', ')})` : ''}`;
    (failed.length ? out.error : out.info)(failed.length ? `backup incomplete: ${summary}` : `backup complete: ${summary}`);
    if ((failed.length || warned.length) && log.file) (failed.length ? out.error : out.warn)(`script output is in ${log.file}`);
    if (purged) printPlan(out, purged.plan, false, { brief: true });
    if (purged) printOutcome(out, purged.plan, false, purged.outcome);
    if (drillsFailed.length) out.error(`drill failed: ${drillsFailed.map((d) => d.service).join(', ')} (batt.log has the restore scripts' output)`);
  }
  // a failed drill is notified like a failed backup: a service entry that says so
  const drillEntries: BackupResult[] = drillsFailed.map((d) => ({ service: `${d.service} (drill)`, status: 'failed', files: 0, bytes: 0, durationMs: d.durationMs ?? 0, error: `drill of ${d.backup ?? d.service} failed: ${d.error ?? ''}` }));
  syslog?.send(ok ? 'info' : 'err', `run ${runId} done: ${results.length - failed.length} ok, ${failed.length} failed${uploads.failed ? `, ${uploads.failed} copies failed` : ''}${stop.caught ? `, interrupted by ${stop.caught}` : ''} in ${formatDuration(ms)}`);
  const syslogProblem = await syslog?.close();
  if (syslogProblem) out.warn(`syslog: ${syslogProblem}`);
  const runSummary = { host: thisHost(ctx.settings), runId, ok, startedAt: now.toISOString(), durationMs: ms, destination: base, services: [...results.map(shown), ...drillEntries], logFile: log.file };
  await notifyRun(runSummary, ctx.settings, (l) => out.error(l)); // reports its own failures; never changes the exit code
  if (stop.caught) throw new InterruptedError(`interrupted by ${stop.caught}; unfinished backups and copies were discarded, finished ones kept`);
  if (purged?.outcome.errors.length) return EXIT.FAILED;
  if (failed.some((r) => r.noSpace)) return EXIT.NO_SPACE; // docs/commands.md: exit 5 = the destination is full
  if (failed.length || uploads.failed || drillsFailed.length) return EXIT.FAILED;
  return EXIT.OK;
}

/** The services of this run with a DRILL_EVERY whose last drill (of any of their backups) is older. */
async function dueDrills(ctx: Context, jobs: Plan['jobs'], now: Date): Promise<{ service: string }[]> {
  const withEvery = jobs.filter((j) => j.drillEveryMs);
  if (!withEvery.length) return [];
  const scan = await scanRoot(ctx.root);
  const due: { service: string }[] = [];
  for (const j of withEvery) {
    const last = await lastDrill(scan.backups.filter((b) => b.manifest.service === j.service));
    if (isDrillDue(last?.drill, j.drillEveryMs, now)) due.push({ service: j.service });
  }
  return due;
}

