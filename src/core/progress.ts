// Progress on a terminal: bytes so far, the current rate, and where the total is known a
// percentage and an ETA. The words are pure functions (formatRate, formatEta, progressText); the
// rate comes from a sliding window of samples (RateMeter); a one-line status (statusLine) shows
// them for steps that have no progress list (uploads, restore). Only ever used on a TTY: cron
// output, pipes, --json and NO_COLOR-only runs print exactly what they printed before.
import { formatBytes } from './output.js';

/** "0 B/s", "512 B/s", "12.3 MiB/s". */
export function formatRate(bytesPerSecond: number): string {
  return `${formatBytes(Math.max(0, Math.round(bytesPerSecond)))}/s`;
}

/** Seconds left as "45s", "4m05s", "2h07m"; past 99 hours ">99h". */
export function formatEta(seconds: number): string {
  const s = Math.max(0, Math.ceil(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  const h = Math.floor(s / 3600);
  if (h > 99) return '>99h';
  return `${h}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

export interface ProgressState {
  /** Bytes so far. */
  bytes: number;
  /** Bytes a second, over the last few seconds; undefined until two samples exist. */
  rate?: number;
  /** The expected total, when known. */
  total?: number;
  /** The total is known exactly (a copy of files of known sizes), not an estimate: no "~". */
  exact?: boolean;
}

/**
 * The percentage shown for `bytes` of an estimated `total`: whole numbers, never 100 (only the
 * end says "done": an estimate that was too small stays at 99), undefined without a usable total.
 */
export function percentOf(bytes: number, total: number | undefined): number | undefined {
  if (!total || total <= 0 || !Number.isFinite(total)) return undefined;
  return Math.min(99, Math.floor((bytes / total) * 100));
}

/**
 * "1.2 GiB, 45.3 MiB/s" or, with a total, "1.2 GiB of ~3.4 GiB, 35%, 45.3 MiB/s, ETA 50s". The
 * ETA needs a rate above zero and bytes still below the total (past an estimate that was too
 * small there is no honest ETA); the "~" says the total is an estimate.
 */
export function progressText(p: ProgressState): string {
  const parts = [formatBytes(p.bytes)];
  const pct = percentOf(p.bytes, p.total);
  if (pct !== undefined) parts[0] += ` of ${p.exact ? '' : '~'}${formatBytes(p.total!)}`;
  if (pct !== undefined) parts.push(`${pct}%`);
  if (p.rate !== undefined) parts.push(formatRate(p.rate));
  if (pct !== undefined && p.rate && p.rate > 0 && p.bytes < p.total!) parts.push(`ETA ${formatEta((p.total! - p.bytes) / p.rate)}`);
  return parts.join(', ');
}

/** The rate over the samples of the last `windowMs` (a counter that only grows, or restarts). */
export class RateMeter {
  private samples: { at: number; bytes: number }[] = [];
  constructor(private readonly windowMs = 5000) {}

  add(at: number, bytes: number): void {
    const last = this.samples[this.samples.length - 1];
    if (last && bytes < last.bytes) this.samples = []; // a file replaced or cut: start again
    this.samples.push({ at, bytes });
    while (this.samples.length > 2 && at - this.samples[0]!.at > this.windowMs) this.samples.shift();
  }

  /** Bytes a second, undefined before two samples at least 0.5 s apart. */
  rate(): number | undefined {
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    if (!first || !last || last.at - first.at < 500) return undefined;
    return ((last.bytes - first.bytes) * 1000) / (last.at - first.at);
  }
}

/**
 * A "batt: expect BYTES" line from a script's stdout (docs/script-contract.md): the bytes it
 * expects to write, or undefined for any other line. Digits only; 0 means "no estimate".
 */
export function parseExpectLine(line: string): number | undefined {
  const m = /^batt: expect (\d{1,18})\s*$/.exec(line);
  if (!m) return undefined;
  const n = Number(m[1]);
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

export interface StatusLine {
  /** Replaces the line with `text` (at most every `everyMs`, unless `now`). */
  show(text: string, now?: boolean): void;
  /** Clears the line; the next output starts at the left margin. */
  done(): void;
}

/**
 * One line of status on a terminal, rewritten in place (carriage return, erase line); cut to the
 * terminal's width so it never wraps. The caller makes it only when output goes to a TTY.
 */
export function statusLine(stream: NodeJS.WriteStream = process.stdout, everyMs = 1000): StatusLine {
  let shown = false;
  let lastAt = 0;
  return {
    show(text, now = false) {
      const t = Date.now();
      if (!now && t - lastAt < everyMs) return;
      lastAt = t;
      const width = Math.max(10, (stream.columns ?? 80) - 1);
      stream.write(`\r\x1b[2K${text.slice(0, width)}`);
      shown = true;
    },
    done() {
      if (shown) stream.write('\r\x1b[2K');
      shown = false;
    },
  };
}

type Sample = { bytes: number; total?: number; exact?: boolean };

/**
 * Samples `read()` every `everyMs` and hands the progress text to `show`; stop() ends it. `read`
 * returns undefined when it cannot tell (nothing is shown then). Never throws into the caller.
 */
export function sampleProgress(
  read: () => Sample | undefined | Promise<Sample | undefined>,
  show: (text: string) => void,
  everyMs = 1000,
): { stop(): void } {
  const meter = new RateMeter();
  let busy = false;
  let stopped = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    // progress is decoration: it never fails what it describes
    Promise.resolve()
      .then(read)
      .then((s) => {
        if (!s || stopped) return;
        meter.add(Date.now(), s.bytes);
        show(progressText({ ...s, rate: meter.rate() }));
      })
      .catch(() => {})
      .finally(() => (busy = false));
  }, everyMs);
  timer.unref();
  return {
    stop: () => {
      stopped = true;
      clearInterval(timer);
    },
  };
}
