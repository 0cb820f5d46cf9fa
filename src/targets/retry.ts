// Target errors, and retries of the transient ones with backoff.
import { FailedError } from '../core/errors.js';
import { sleep } from '../core/duration.js';


export class TargetError extends FailedError {}

/**
 * A step on a target (connecting, listing, reading an index, a transfer) stopped because batt was
 * told to stop (SIGINT/SIGTERM), not because the target failed. Never worth a retry.
 */
export class TargetInterruptedError extends TargetError {}

/** The upload stopped because batt was told to stop (SIGINT/SIGTERM), not because the target failed. */
export class UploadInterruptedError extends TargetInterruptedError {}

/** A download (restore --from, verify --from) stopped because batt was told to stop (SIGINT/SIGTERM). */
export class DownloadInterruptedError extends TargetInterruptedError {}

/** Errors worth another try: network and server trouble, not "no such bucket" or "permission". */
export function isTransient(err: unknown): boolean {
  if (err instanceof TargetInterruptedError) return false;
  const name = (err as { name?: string })?.name;
  if (name === 'AbortError') return false; // a request or walk stopped by its signal
  const e = err as { code?: string; name?: string; $metadata?: { httpStatusCode?: number }; message?: string };
  const code = String(e?.code ?? '');
  if (/^(ECONNRESET|ECONNREFUSED|ETIMEDOUT|EPIPE|EHOSTUNREACH|ENETUNREACH|EAI_AGAIN|ERR_SSH|ERR_GENERIC_CLIENT|ECONNABORTED)$/.test(code)) return true;
  const status = e?.$metadata?.httpStatusCode;
  if (status !== undefined && (status >= 500 || status === 429 || status === 408)) return true;
  if (e?.name && /Timeout|NetworkingError|RequestTimeout|SlowDown|InternalError|ServiceUnavailable/.test(e.name)) return true;
  return /socket hang up|connection (?:lost|closed|reset)|not connected|ECONNRESET|ECONNREFUSED|timed out|No response from server|Client network socket disconnected|end of file/i.test(
    String(e?.message ?? ''),
  );
}

export interface RetryPolicy {
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 4, baseDelayMs: 1000, maxDelayMs: 30_000 };

/** Exponential backoff with jitter: attempt 1 -> base, 2 -> 2*base... capped. */
export function backoffMs(attempt: number, p: RetryPolicy, rand = Math.random): number {
  const exp = Math.min(p.maxDelayMs, p.baseDelayMs * 2 ** (attempt - 1));
  return Math.round(exp / 2 + (exp / 2) * rand());
}

/**
 * Retries transient failures with backoff; once `signal` is aborted, no further try (nor wait):
 * `Interrupted` is thrown, the class saying what was stopped (UploadInterruptedError for an
 * upload's steps, DownloadInterruptedError for a download's; the base class by default).
 */
export async function withRetry<T>(
  what: string,
  fn: () => Promise<T>,
  p: RetryPolicy,
  onRetry?: (msg: string) => void,
  signal?: AbortSignal,
  Interrupted: new (message: string) => TargetInterruptedError = TargetInterruptedError,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    if (signal?.aborted) throw new Interrupted(`${what}: interrupted`);
    try {
      return await fn();
    } catch (err) {
      if (signal?.aborted) throw new Interrupted(`${what}: interrupted`);
      if (attempt >= p.attempts || !isTransient(err)) throw err;
      const wait = backoffMs(attempt, p);
      onRetry?.(`${what}: ${errText(err)}; retry ${attempt}/${p.attempts - 1} in ${Math.round(wait / 100) / 10}s`);
      await sleep(wait, signal);
    }
  }
}

export function errText(err: unknown): string {
  const e = err as { message?: string; code?: string; name?: string };
  const msg = (e?.message ?? String(err)).split('\n')[0] ?? '';
  return msg || e?.name || e?.code || 'unknown error';
}
