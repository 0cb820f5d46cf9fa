// A generic webhook: POST the run summary as JSON (optionally with a bearer token); or, with
// WEBHOOK_FORMAT=slack, the {"text": ...} that Slack, Mattermost and Rocket.Chat incoming webhooks take.
import { post } from './http.js';
import { lastLinesText, subjectLine, textBody, type RunSummary } from './summary.js';

/** The body of a slack-format webhook: the subject in bold, the summary, the failed services' last lines. */
export function slackText(summary: RunSummary): string {
  const tail = lastLinesText(summary, '```');
  return `*${subjectLine(summary)}*\n${textBody(summary)}${tail ? `\n${tail}\n` : ''}`;
}

export async function sendWebhook(url: string, summary: RunSummary, opts: { timeoutMs: number; token?: string; format?: 'json' | 'slack' }): Promise<void> {
  const body = opts.format === 'slack' ? { text: slackText(summary) } : { event: 'batt.run', ...summary };
  await post(url, JSON.stringify(body), {
    timeoutMs: opts.timeoutMs,
    contentType: 'application/json',
    headers: opts.token ? { authorization: `Bearer ${opts.token}` } : undefined,
  });
}
