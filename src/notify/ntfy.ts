// ntfy (NTFY_URL: https://ntfy.sh/TOPIC or a server of your own): the summary as the message,
// the subject as its title, and a priority that makes a failure stand out on the phone.
import { post } from './http.js';
import { lastLinesText, subjectLine, textBody, type RunSummary } from './summary.js';

/** HTTP header values are ASCII: anything else (a host name in another script) becomes "?". */
const ascii = (s: string) => s.replace(/[^\x20-\x7e]/g, '?');

/** The headers of an ntfy message: Title, Priority (high on failure, default otherwise), Tags. */
export function ntfyHeaders(summary: RunSummary, token?: string): Record<string, string> {
  return {
    title: ascii(subjectLine(summary)),
    priority: summary.ok ? 'default' : 'high',
    tags: summary.ok ? 'white_check_mark' : 'warning',
    ...(token ? { authorization: `Bearer ${token}` } : {}),
  };
}

export function ntfyBody(summary: RunSummary): string {
  const tail = lastLinesText(summary);
  // ntfy keeps up to 4096 bytes as a message (more becomes an attachment)
  return `${textBody(summary)}${tail ? `\n${tail}\n` : ''}`.slice(0, 4000);
}

export async function sendNtfy(url: string, summary: RunSummary, opts: { timeoutMs: number; token?: string }): Promise<void> {
  await post(url, ntfyBody(summary), { timeoutMs: opts.timeoutMs, contentType: 'text/plain; charset=utf-8', headers: ntfyHeaders(summary, opts.token) });
}
