// RETRIES and RETRY_WAIT: a failed backup is tried again, each try in a fresh staging folder, after
// a wait that SIGINT/SIGTERM cut short. A stop, a script that cannot start, a full disk, a timeout
// or a script that breaks the contract (links, batt's own names) is not tried again.
import { sleep } from '../core/duration.js';
import { backupService, type BackupJob, type BackupResult, type RunContext } from './backup.js';

/** Default wait before a retry (RETRY_WAIT), in seconds. */
export const DEFAULT_RETRY_WAIT_SECONDS = 60;

/** Whether try `attempt` (1-based), which ended as `r`, is followed by another of `tries` allowed. */
export function shouldRetry(r: BackupResult, attempt: number, tries: number, stopped: boolean): boolean {
  return r.status === 'failed' && !stopped && attempt < tries && !!r.retryable;
}

/** "ok after 2 tries", "FAILED after 3 tries"; '' for a first try. */
export function triesNote(r: { status: string; tries?: number }): string {
  if (!r.tries || r.tries < 2) return '';
  const word = r.status === 'ok' ? 'ok' : r.status === 'warning' ? 'warn' : r.status.toUpperCase();
  return `${word} after ${r.tries} tries`;
}

export async function backupWithRetries(
  job: BackupJob,
  ctx: RunContext,
  attemptFn: (job: BackupJob, ctx: RunContext, attempt: number) => Promise<BackupResult> = backupService,
): Promise<BackupResult> {
  const tries = 1 + (job.run?.retries ?? 0);
  const waitS = job.run?.retryWaitSeconds ?? DEFAULT_RETRY_WAIT_SECONDS;
  for (let attempt = 1; ; attempt++) {
    const r = await attemptFn(job, ctx, attempt);
    // tries only when there was more than one: the --json shape of a plain run stays as it was
    const done = (x: BackupResult): BackupResult => ({ ...x, ...(attempt > 1 ? { tries: attempt } : {}), finishedAt: new Date().toISOString() });
    if (!shouldRetry(r, attempt, tries, !!ctx.signal?.aborted)) {
      if (attempt > 1) ctx.log.write(job.service, `${triesNote({ status: r.status, tries: attempt })}`);
      return done(r);
    }
    ctx.log.write(job.service, `try ${attempt} of ${tries} failed; trying again in ${waitS}s`);
    await sleep(waitS * 1000, ctx.signal);
    if (ctx.signal?.aborted) return done({ ...r, status: 'interrupted' });
  }
}
