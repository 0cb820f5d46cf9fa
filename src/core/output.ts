// What batt says: information on stdout, warnings and errors on stderr, colour only on a TTY
// and never when NO_COLOR is set, JSON when a machine reads it.
import chalk from 'chalk';

export interface Output {
  json: boolean;
  tty: boolean;
  info(line: string): void;
  warn(line: string): void;
  error(line: string): void;
  /** The one JSON document of a --json command. */
  data(value: unknown): void;
}

export function colorEnabled(env: NodeJS.ProcessEnv = process.env): boolean {
  return !('NO_COLOR' in env && env.NO_COLOR !== '');
}

let documentWritten = false;

/** Whether this process printed its --json document (src/entry/settle.ts then prints no second one). */
export function jsonDocumentWritten(): boolean {
  return documentWritten;
}

export function createOutput(opts: { json?: boolean } = {}): Output {
  if (!colorEnabled()) chalk.level = 0;
  return {
    json: !!opts.json,
    // A terminal that reports 0 columns (a serial or IPMI console, a pty nobody sized) gets the
    // plain lines: the progress list would wrap every title at 0 columns, one character a line.
    tty: !!process.stdout.isTTY && !opts.json && (process.stdout.columns ?? 0) > 0,
    info: (line) => {
      if (!opts.json) process.stdout.write(line + '\n');
    },
    warn: (line) => process.stderr.write(chalk.yellow(`batt: warning: ${line}`) + '\n'),
    error: (line) => process.stderr.write(chalk.red(`batt: ${line}`) + '\n'),
    data: (value) => {
      documentWritten = true;
      process.stdout.write(JSON.stringify(value, null, 2) + '\n');
    },
  };
}

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(1)} ${units[u]}`;
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)}s`;
  return `${Math.floor(s / 60)}m${Math.round(s % 60)}s`;
}

/** "1 file", "2 files"; `many` for a word that does not just take an s ("copy", "copies"). */
export function plural(n: number, word: string, many = `${word}s`): string {
  return `${n} ${n === 1 ? word : many}`;
}

/** Pads columns of a small table for plain output. */
export function table(rows: string[][]): string[] {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ').trimEnd());
}
