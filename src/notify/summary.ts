// The run summary every notifier sends: one plain object, built from the run's results.
import { plural, formatBytes as size } from '../core/output.js';
import { triesNote } from '../run/tries.js';

export interface ServiceSummary {
  service: string;
  status: string;
  durationMs: number;
  files: number;
  bytes: number;
  dest?: string;
  error?: string;
  /** Tries made, when RETRIES allowed more than one. */
  tries?: number;
  /** A failed service's last lines of output. */
  lastLines?: string[];
  /** Why the status is 'warning' (the backup was sealed). */
  warning?: string;
}

export interface RunSummary {
  host: string;
  runId: string;
  ok: boolean;
  startedAt: string;
  durationMs: number;
  destination: string;
  services: ServiceSummary[];
  /** Where the scripts' output is, when there is a log. */
  logFile?: string;
  /** Why the run stopped before its services ran (lock held, unwritable destination...). */
  error?: string;
}

/** Turns a URL into something safe to print: no credentials, no path (tokens live there). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    return `${u.protocol}//${u.host}/…`;
  } catch {
    return '(invalid URL)';
  }
}

/** Failed services: not sealed (a 'warning' was sealed). */
const failedOf = (s: RunSummary) => s.services.filter((x) => x.status !== 'ok' && x.status !== 'warning');
const warnedOf = (s: RunSummary) => s.services.filter((x) => x.status === 'warning');
const statusWord = (status: string) => (status === 'ok' ? 'ok' : status === 'warning' ? 'warn' : status.toUpperCase());

export function subjectLine(s: RunSummary): string {
  const failed = failedOf(s);
  const warned = warnedOf(s);
  if (!s.ok) return `batt on ${s.host}: backup FAILED (${s.error && !failed.length ? 'did not run' : failed.map((f) => f.service).join(', ')})`;
  if (warned.length) return `batt on ${s.host}: backup complete with warnings (${warned.map((w) => w.service).join(', ')})`;
  return `batt on ${s.host}: backup complete (${s.services.length} ok)`;
}

/** Plain text for a mail body or a ping's log: one line per service, then the errors and warnings. */
export function textBody(s: RunSummary): string {
  const failed = failedOf(s);
  const warned = warnedOf(s);
  const counts = `${s.services.length - failed.length - warned.length} ok, ${warned.length ? `${warned.length} warn, ` : ''}${failed.length} failed`;
  const lines = [
    `${s.ok ? (warned.length ? 'Backup complete with warnings' : 'Backup complete') : 'Backup FAILED'} on ${s.host}: ${counts}`,
    `run ${s.runId}, started ${s.startedAt}, ${(s.durationMs / 1000).toFixed(1)}s, destination ${s.destination}`,
    '',
    ...s.services.map(
      (x) =>
        `${statusWord(x.status).padEnd(6)} ${x.service.padEnd(16)} ${(x.durationMs / 1000).toFixed(1)}s  ${plural(x.files, 'file')}  ${size(x.bytes)}  ${x.dest ?? ''}${triesNote(x) ? ` (${triesNote(x)})` : ''}`.trimEnd(),
    ),
  ];
  if (s.error) lines.push('', `The run stopped: ${s.error}`);
  if (failed.length) {
    lines.push('', 'Errors:');
    for (const f of failed) lines.push(`  ${f.error ?? f.service}`);
  }
  if (warned.length) {
    lines.push('', 'Warnings (these backups were kept):');
    for (const w of warned) lines.push(`  ${w.warning ?? w.service}`);
  }
  if (s.logFile) lines.push('', `Script output: ${s.logFile}`);
  return lines.join('\n') + '\n';
}

/** The failed services' last lines of output, each under a heading; '' when there are none. */
export function lastLinesText(s: RunSummary, fence = ''): string {
  const parts = s.services
    .filter((x) => x.status !== 'ok' && x.lastLines?.length)
    .map((x) => `Last lines of ${x.service}:\n${fence}${fence ? '\n' : ''}${x.lastLines!.join('\n')}${fence ? `\n${fence}` : ''}`);
  return parts.join('\n\n');
}
