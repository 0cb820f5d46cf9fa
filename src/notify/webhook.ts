// A generic webhook: POST the run summary as JSON (optionally with a bearer token).
import { post } from './http.js';
import type { RunSummary } from './summary.js';

export async function sendWebhook(url: string, summary: RunSummary, opts: { timeoutMs: number; token?: string }): Promise<void> {
  await post(url, JSON.stringify({ event: 'batt.run', ...summary }), {
    timeoutMs: opts.timeoutMs,
    contentType: 'application/json',
    headers: opts.token ? { authorization: `Bearer ${opts.token}` } : undefined,
  });
}
