// One HTTP request with a hard deadline: a hung endpoint must never hang a cron run.
import { redactUrl } from './summary.js';

export class NotifyError extends Error {}

function cause(err: unknown): string {
  const e = err as { name?: string; cause?: { code?: string; message?: string }; message?: string };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return 'timed out';
  return e?.cause?.code ?? e?.cause?.message ?? e?.message ?? String(err);
}

export async function post(
  url: string,
  body: string,
  opts: { timeoutMs: number; contentType: string; headers?: Record<string, string> },
): Promise<void> {
  let res: Response;
  try {
    res = await fetch(url, {
      method: 'POST',
      body,
      headers: { 'content-type': opts.contentType, 'user-agent': 'batt', ...opts.headers },
      signal: AbortSignal.timeout(opts.timeoutMs),
      redirect: 'manual', // a redirect is reported, never followed with the token to another host
    });
    // Read (and discard) the answer within the same deadline so the socket is released.
    await res.arrayBuffer();
  } catch (err) {
    const why = cause(err);
    throw new NotifyError(`${redactUrl(url)}: ${why === 'timed out' ? `timed out after ${opts.timeoutMs / 1000}s` : why}`);
  }
  if (!res.ok) throw new NotifyError(`${redactUrl(url)}: HTTP ${res.status} ${res.statusText}`.trimEnd());
}
