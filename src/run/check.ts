// Check mode (docs/script-contract.md): a script that declares `# batt: check` is run with
// BATT_CHECK=1 to validate its conf, options and connection without writing anything; it exits 0,
// or non-zero with one line of what is wrong. Run the way a backup runs it (runner.ts: its own
// process group, a time limit; umask 077; a private TMPDIR; the same environment), except that
// BATT_DEST is an empty folder in that scratch area, never in the backup root, and must stay empty.
import fs from 'node:fs/promises';
import path from 'node:path';
import { describeError } from '../core/errors.js';
import type { Home } from '../core/home.js';
import type { BackupJob } from './backup.js';
import { loadJob } from './job.js';
import { lastWords, scriptEnv, startFailure } from './backup.js';
import { runScript } from './runner.js';
import { makeScratch } from './scratch.js';

/** A check is meant to be cheap: it gets at most this long, less when the run's own limit is shorter. */
export const CHECK_TIMEOUT_MS = 60_000;

export interface CheckOutcome {
  service: string;
  /** false: the script does not declare check mode and was not run. */
  ran: boolean;
  ok: boolean;
  /** What is wrong, in the script's own words (or batt's, when it could not run or broke the contract). */
  problem?: string;
}

export interface CheckContext {
  homeRoot: string;
  baseEnv: NodeJS.ProcessEnv;
  now?: Date;
  signal?: AbortSignal;
}

export function checkTimeout(runTimeoutMs: number): number {
  return runTimeoutMs > 0 ? Math.min(runTimeoutMs, CHECK_TIMEOUT_MS) : CHECK_TIMEOUT_MS;
}

export async function checkService(job: BackupJob, ctx: CheckContext): Promise<CheckOutcome> {
  const { service } = job;
  if (!job.checkMode) return { service, ran: false, ok: true };
  process.umask(0o077); // as a run does before any script starts
  const scratch = await makeScratch(service);
  try {
    const dest = path.join(scratch.dir, 'dest');
    const tmp = path.join(scratch.dir, 'tmp');
    await fs.mkdir(dest, { mode: 0o700 });
    await fs.mkdir(tmp, { mode: 0o700 });
    const env = scriptEnv(job, { baseEnv: ctx.baseEnv, homeRoot: ctx.homeRoot, runId: 'check', now: ctx.now ?? new Date() }, dest, tmp);
    env.BATT_CHECK = '1';
    const timeoutMs = checkTimeout(job.timeoutMs);
    const r = await runScript({ file: job.script, args: job.input.args, env, cwd: dest, timeoutMs, killAfterMs: 5_000, signal: ctx.signal });
    const said = lastWords(r.tail);
    const fail = (problem: string): CheckOutcome => ({ service, ran: true, ok: false, problem });
    if (r.spawnError) return fail(`cannot start script: ${startFailure(r.spawnError, job.script)}`);
    if (r.timedOut) return fail(`check mode did not finish within ${Math.round(timeoutMs / 1000)}s${said ? `: ${said}` : ''}`);
    if (r.aborted) return fail('interrupted');
    if (r.exitCode !== 0) return fail(said ?? `check mode ${r.signal ? `was killed by ${r.signal}` : `exited with code ${r.exitCode}`}`);
    const left = await fs.readdir(dest);
    if (left.length) return fail(`check mode wrote ${left[0]} into BATT_DEST; a check must write nothing`);
    return { service, ran: true, ok: true };
  } finally {
    await scratch.remove().catch(() => {});
  }
}

/**
 * Check mode for each of `services` as the next run would start it (loadJob: its conf, its time
 * limit; no options: a nightly run has none). A service whose conf or script cannot load fails
 * with that error, without running.
 */
export async function checkServices(
  home: Home,
  services: string[],
  ctx: CheckContext & { globalTimeout?: number },
): Promise<CheckOutcome[]> {
  const out: CheckOutcome[] = [];
  for (const service of services) {
    try {
      const job = await loadJob(home, service, { options: {}, args: [] }, { global: ctx.globalTimeout });
      out.push(await checkService(job, ctx));
    } catch (err) {
      out.push({ service, ran: false, ok: false, problem: describeError(err) });
    }
  }
  return out;
}
