// `batt verify [BACKUP...]`: re-hash every file against its manifest.
import { filterBackups, scanRoot, selectBackups, type Backup } from '../catalog/catalog.js';
import { chainOf, linksOf } from '../catalog/chain.js';
import { EXIT, InterruptedError, UsageError } from '../core/errors.js';
import { describeProblem, verifyFolder, type VerifyProblem } from '../catalog/manifest.js';
import { plural } from '../core/output.js';
import { hostFilter, last, makeContext, type CommonArgs, type HostArgs } from './context.js';
import { openLog } from '../core/log.js';
import { sweepStaleScratch } from '../run/scratch.js';
import { listenForStop } from '../core/stop.js';
import { recordOutcome } from '../ops/metrics.js';
import { recordVerify } from '../ops/state.js';

export interface VerifyArgs extends CommonArgs, HostArgs {
  backups?: string[];
  service?: string;
  from?: string;
  'read-data-subset'?: string;
}

export async function verifyCommand(args: VerifyArgs): Promise<number> {
  const ctx = await makeContext(args);
  const from = last(args.from);
  if (args['read-data-subset'] !== undefined && !from) throw new UsageError('--read-data-subset needs --from (a restic target)');
  const hosts = hostFilter(args, ctx, from);
  if (from) {
    // the copies on an off-site target, downloaded and re-hashed (src/targets/remote.ts); SIGINT/SIGTERM
    // stop the download or hashing in progress, its temp folder goes, exit 130/143
    const { verifyRemote } = await import('../targets/remote.js');
    const stop = listenForStop();
    let code = EXIT.FAILED as number;
    try {
      await sweepStaleScratch(openLog(ctx.home.log));
      const subset = last(args['read-data-subset']);
      code = await verifyRemote(ctx.out, ctx.home, String(from), (args.backups ?? []).map(String), {
        service: last(args.service),
        hosts,
        root: ctx.root,
        readDataSubset: subset === undefined ? undefined : String(subset),
      }, stop.signal);
    } catch (err) {
      if (!stop.caught) throw err;
    } finally {
      stop.dispose();
    }
    if (stop.caught) throw new InterruptedError(`verify interrupted by ${stop.caught}; the copy being checked was not finished, its download was removed`);
    return code;
  }
  const scan = await scanRoot(ctx.root);
  let chosen = filterBackups(scan.backups, { service: last(args.service) });
  const ids = (args.backups ?? []).map(String);
  if (ids.length) {
    const { found, missing } = selectBackups(ctx.root, chosen, ids);
    if (missing.length) throw new UsageError(`no backup ${missing.join(', ')} under ${ctx.root}`, 'batt backups lists them');
    chosen = found;
  }
  const report: { id: string; service: string; ok: boolean; problems: unknown[] }[] = [];
  const invalid = ids.length ? [] : scan.invalid;
  let bad = invalid.length;
  // An incremental is only as good as its chain: a base that is missing or fails is a failure of
  // every backup built on it. Each backup is hashed once, also when several chains share it.
  const links = new Map(linksOf(ctx.root, scan.backups).map((l) => [l.id, l]));
  const byId = new Map(scan.backups.map((b) => [b.id, b]));
  const hashed = new Map<string, Promise<VerifyProblem[]>>();
  const problemsOf = (b: Backup) => {
    let p = hashed.get(b.id);
    if (!p) hashed.set(b.id, (p = verifyFolder(b.dir, b.manifest)));
    return p;
  };
  for (const b of chosen) {
    const problems = await problemsOf(b);
    const chain = chainOf(links, b.id);
    const chainProblems: string[] = chain.broken ? [chain.broken] : [];
    for (const id of chain.ids.slice(0, -1)) {
      if ((await problemsOf(byId.get(id)!)).length) chainProblems.push(`its base ${id} is damaged (batt verify ${id})`);
    }
    const ok = problems.length === 0 && chainProblems.length === 0;
    report.push({ id: b.id, service: b.manifest.service, ok, problems, ...(chainProblems.length ? { chain: chainProblems } : {}) });
    if (!ok) {
      bad++;
      for (const p of problems) ctx.out.error(`${b.id}: ${p.path}: ${describeProblem(p)}`);
      for (const c of chainProblems) ctx.out.error(`${b.id}: broken chain: ${c}`);
    } else ctx.out.info(`ok ${b.id} (${plural(b.manifest.files.length, 'file')}${chain.ids.length > 1 ? `, ${plural(chain.ids.length - 1, 'base')}` : ''})`);
  }
  for (const i of invalid) ctx.out.error(`invalid manifest: ${i.error}`);
  if (report.length) {
    const at = new Date();
    await recordOutcome({ home: ctx.home, root: ctx.root, metricsDir: ctx.settings.metricsDir, update: (s) => recordVerify(s, report, at), report: (l) => ctx.out.warn(l) });
  }
  if (ctx.out.json) ctx.out.data({ ok: bad === 0, backups: report, invalid });
  if (!ctx.out.json) {
    if (bad) ctx.out.error(`verify failed: ${bad} of ${plural(chosen.length + invalid.length, 'backup')} ${bad === 1 ? 'has' : 'have'} problems`);
    else ctx.out.info(`verified ${plural(chosen.length, 'backup')}`);
  }
  return bad ? EXIT.FAILED : EXIT.OK;
}
