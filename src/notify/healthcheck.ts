// Health-check pings in the healthchecks.io style: URL/start when a run begins, URL on success,
// URL/fail on failure. The monitor alerts when a ping is missing, so a dead cron is noticed too.
import { post } from './http.js';

export type PingKind = 'start' | 'success' | 'fail';

/** The URL of one ping kind; a trailing slash of the base is not doubled. */
export function pingUrl(base: string, kind: PingKind): string {
  const u = new URL(base);
  const p = u.pathname.replace(/\/+$/, '');
  u.pathname = kind === 'success' ? p || '/' : `${p}/${kind}`;
  return u.toString();
}

/** The body becomes the ping's log in the monitor (healthchecks.io keeps the first 100 KB). */
export async function ping(base: string, kind: PingKind, body: string, timeoutMs: number): Promise<void> {
  await post(pingUrl(base, kind), body.slice(0, 100_000), { timeoutMs, contentType: 'text/plain; charset=utf-8' });
}
