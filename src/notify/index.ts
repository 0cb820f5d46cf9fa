// After a run: email, webhook and health-check pings, all at once and each with a deadline.
// A notifier that fails is reported (stderr) and never changes the run's exit code.
import os from 'node:os';
import type { GlobalSettings } from '../config/config.js';
import { ping } from './healthcheck.js';
import { textBody, type RunSummary } from './summary.js';
import { sendWebhook } from './webhook.js';
import { sendNtfy } from './ntfy.js';

export type { RunSummary, ServiceSummary } from './summary.js';

type Report = (line: string) => void;
const toStderr: Report = (line) => process.stderr.write(`batt: ${line}\n`);

function describe(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0]!;
}

async function settle(tasks: [string, () => Promise<void>][], report: Report): Promise<string[]> {
  const results = await Promise.allSettled(tasks.map(([, fn]) => fn()));
  const problems: string[] = [];
  results.forEach((r, i) => {
    if (r.status === 'rejected') problems.push(`notification failed: ${tasks[i]![0]}: ${describe(r.reason)}`);
  });
  for (const p of problems) report(p);
  return problems;
}

/** The "start" ping, before the services run; returns the problems it reported. */
export async function notifyStart(settings: GlobalSettings, report: Report = toStderr): Promise<string[]> {
  const n = settings.notify;
  if (!n?.healthcheckUrl) return [];
  const url = n.healthcheckUrl;
  return settle([['health-check start', () => ping(url, 'start', `batt starting on ${os.hostname()}\n`, n.timeoutSeconds * 1000)]], report);
}

/** Every configured notifier for a finished run; returns the problems it reported. */
export async function notifyRun(summary: RunSummary, settings: GlobalSettings, report: Report = toStderr): Promise<string[]> {
  const n = settings.notify;
  if (!n) return [];
  const timeoutMs = n.timeoutSeconds * 1000;
  const tasks: [string, () => Promise<void>][] = [];
  const hc = n.healthcheckUrl;
  if (hc) tasks.push(['health-check', () => ping(hc, summary.ok ? 'success' : 'fail', textBody(summary), timeoutMs)]);
  // NOTIFY_ON=warning: a run with a warning (stderr from a script that exited 0, a size drop) too
  const warned = summary.services.some((s) => s.status === 'warning');
  if (n.on === 'always' || !summary.ok || (n.on === 'warning' && warned)) {
    const smtp = n.smtp;
    if (smtp) tasks.push(['email', async () => (await import('./email.js')).sendEmail(smtp, summary, { timeoutMs })]);
    const hook = n.webhookUrl;
    if (hook) tasks.push(['webhook', () => sendWebhook(hook, summary, { timeoutMs, token: n.webhookToken, format: n.webhookFormat })]);
    const ntfy = n.ntfyUrl;
    if (ntfy) tasks.push(['ntfy', () => sendNtfy(ntfy, summary, { timeoutMs, token: n.ntfyToken })]);
  }
  return settle(tasks, report);
}
