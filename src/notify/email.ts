// Email over SMTP with nodemailer, loaded only when SMTP_HOST is set (start-up time matters).
// The password comes from batt.conf (0600) and is handed to nodemailer only, never printed.
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import type { SmtpSettings } from '../config/config.js';
import { NotifyError } from './http.js';
import { subjectLine, textBody, type RunSummary } from './summary.js';

function reason(err: unknown, smtp: SmtpSettings): string {
  const e = err as { code?: string; command?: string; responseCode?: number; response?: string; message?: string };
  if (smtp.tls === 'starttls' && (e?.command === 'STARTTLS' || /STARTTLS/i.test(e?.message ?? ''))) {
    return 'the server does not offer STARTTLS, so the message (and password) were not sent (SMTP_TLS=tls for port 465, none only for a local relay)';
  }
  if (e?.responseCode && e.response) {
    const line = e.response.split('\n')[0]!;
    return line.startsWith(String(e.responseCode)) ? line : `${e.responseCode} ${line}`;
  }
  if (e?.code === 'ETIMEDOUT') return 'timed out';
  return (e?.message ?? String(err)).split('\n')[0]!;
}

export async function sendEmail(smtp: SmtpSettings, summary: RunSummary, opts: { timeoutMs: number }): Promise<void> {
  let ca: Buffer | undefined;
  if (smtp.caFile) {
    // A relative path would be read from whatever folder batt runs in (/ under cron, the user's
    // folder by hand), so the mail would work one way and fail the other: refused, never read.
    // Only the mail fails (batt.conf is not refused for it: a notification setting never stops backups).
    if (!smtp.caFile.startsWith('/')) throw new NotifyError(`SMTP_CA_FILE "${smtp.caFile}" must be an absolute path`);
    try {
      ca = await readFile(smtp.caFile);
    } catch (err) {
      throw new NotifyError(`cannot read SMTP_CA_FILE ${smtp.caFile}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
    }
  }
  const { default: nodemailer } = await import('nodemailer');
  const where = `smtp://${smtp.host}:${smtp.port ?? (smtp.tls === 'tls' ? 465 : 587)}`;
  const transport = nodemailer.createTransport({
    host: smtp.host,
    port: smtp.port ?? (smtp.tls === 'tls' ? 465 : 587),
    secure: smtp.tls === 'tls',
    requireTLS: smtp.tls === 'starttls',
    ignoreTLS: smtp.tls === 'none',
    auth: smtp.user ? { user: smtp.user, pass: smtp.password ?? '' } : undefined,
    tls: ca ? { ca } : undefined,
    connectionTimeout: opts.timeoutMs,
    greetingTimeout: opts.timeoutMs,
    socketTimeout: opts.timeoutMs,
    logger: false,
    debug: false,
  });
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new NotifyError(`${where}: timed out after ${opts.timeoutMs / 1000}s`)), opts.timeoutMs * 2);
  });
  try {
    await Promise.race([
      transport.sendMail({
        from: smtp.from ?? `batt <batt@${os.hostname()}>`,
        to: smtp.to,
        subject: subjectLine(summary),
        text: textBody(summary),
        headers: { 'X-Batt-Run-Id': summary.runId, 'X-Batt-Status': !summary.ok ? 'failed' : summary.services.some((x) => x.status === 'warning') ? 'warning' : 'ok' },
      }),
      deadline,
    ]);
  } catch (err) {
    if (err instanceof NotifyError) throw err;
    throw new NotifyError(`${where}: ${reason(err, smtp)}`);
  } finally {
    clearTimeout(timer);
    transport.close();
  }
}
