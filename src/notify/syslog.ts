// SYSLOG=yes (or a facility): the run's start, each service's result and the summary go to syslog
// with tag batt, through logger(1) (util-linux) writing to /dev/log (SYSLOG_SOCKET), so journald
// picks them up on systemd machines. logger runs through the one place that spawns (run/runner.ts).
import { SYSLOG_FACILITIES } from '../config/confkeys.js';
import { runCommand } from '../run/runner.js';

export type Severity = 'err' | 'warning' | 'notice' | 'info';
const SEVERITY: Record<Severity, number> = { err: 3, warning: 4, notice: 5, info: 6 };
const FACILITY: Record<string, number> = Object.fromEntries(
  SYSLOG_FACILITIES.map((f, i) => [f, f.startsWith('local') ? 16 + Number(f.slice(5)) : i]),
);

/** The severity of a service's result or a run's: ok info, warning warning, anything else err. */
export function severityOf(status: string): Severity {
  if (status === 'ok') return 'info';
  if (status === 'warning') return 'warning';
  return 'err';
}

/** The <PRI> of a message: facility * 8 + severity (RFC 5424). */
export function priority(facility: string, severity: Severity): number {
  return (FACILITY[facility] ?? FACILITY.daemon!) * 8 + SEVERITY[severity];
}

export interface SyslogSettings {
  facility: string;
  socket?: string;
}

/**
 * Sends messages as they come; the first failure is kept (and later ones skipped) for `close`
 * to return, so a run without a syslog says so once, not once per service.
 */
export class Syslog {
  private pending: Promise<void>[] = [];
  private failure: string | undefined;

  constructor(private readonly s: SyslogSettings) {}

  send(severity: Severity, text: string): void {
    if (this.failure) return;
    this.pending.push(this.write([{ severity, text }]));
  }

  private async write(msgs: { severity: Severity; text: string }[]): Promise<void> {
    const input = msgs.map((m) => `<${priority(this.s.facility, m.severity)}>${m.text.replace(/[\r\n]+/g, ' ')}`).join('\n') + '\n';
    const args = ['--tag', 'batt', `--id=${process.pid}`, '--prio-prefix', '--socket-errors=on', ...(this.s.socket ? ['--socket', this.s.socket] : [])];
    try {
      const r = await runCommand('logger', args, { input });
      if (r.exitCode === undefined) this.failure ??= 'cannot run logger (util-linux)';
      else if (r.exitCode !== 0) this.failure ??= (r.stderr.split('\n')[0] || `logger exited with code ${r.exitCode}`).replace(/^logger: /, '');
    } catch (err) {
      this.failure ??= (err as Error).message.split('\n')[0];
    }
  }

  /** Waits for every message; the first problem, if any. */
  async close(): Promise<string | undefined> {
    await Promise.all(this.pending);
    return this.failure;
  }
}
