// `batt config check`, the pure part: every conf file's text and mode in, findings out, each
// with file, line, key and what is wrong. Nothing here reads the disk; the command gathers it.
import { ConfigError, UsageError } from './errors.js';
import { SECRET_KEY, parseConf, parseWeekStart } from './config.js';
import { validatePattern } from './destination.js';

export interface ConfFile {
  file: string;
  /** global = batt.conf, service = <service>.conf, target = targets/<name>.conf */
  kind: 'global' | 'service' | 'target';
  /** the service or target name */
  name: string;
  text: string;
  mode: number;
}

export interface Finding {
  level: 'error' | 'warning';
  file: string;
  line?: number;
  key?: string;
  message: string;
}

type Check = (value: string) => string | undefined;

const positive: Check = (v) => (/^\d+$/.test(v) && Number(v) >= 1 ? undefined : `must be a positive whole number, got "${v}"`);
const count: Check = (v) => (/^\d{1,6}$/.test(v) ? undefined : `must be a whole number >= 0, got "${v}"`);
const oneOf =
  (...allowed: string[]): Check =>
  (v) =>
    allowed.includes(v) ? undefined : `must be one of ${allowed.join(', ')}, got "${v}"`;
const yesNo: Check = (v) => (['yes', 'no', '1', '0', 'true', 'false'].includes(v.toLowerCase()) ? undefined : `must be yes or no, got "${v}"`);
const port: Check = (v) => (/^\d+$/.test(v) && Number(v) >= 1 && Number(v) <= 65535 ? undefined : `must be a port number 1-65535, got "${v}"`);
const host: Check = (v) => (/^[A-Za-z0-9.:[\]_-]+$/.test(v) ? undefined : `"${v}" is not a host name or address`);
const url: Check = (v) => {
  try {
    const u = new URL(v);
    return u.protocol === 'http:' || u.protocol === 'https:' ? undefined : `must be an http:// or https:// URL`;
  } catch {
    return 'is not a valid URL';
  }
};
const ADDRESS = /^(?:[^<>@\s,]+@[^<>@\s,]+|[^<>,]*<[^<>@\s,]+@[^<>@\s,]+>)$/;
const addresses: Check = (v) => {
  const bad = v.split(',').map((s) => s.trim()).filter((s) => s && !ADDRESS.test(s));
  if (bad.length) return `"${bad[0]}" is not a mail address`;
  return v.trim() ? undefined : 'is empty';
};
const pattern: Check = (v) => {
  try {
    validatePattern(v);
    return undefined;
  } catch (err) {
    if (err instanceof UsageError) return err.message;
    throw err;
  }
};

/** Every key batt.conf knows, with its check and a one-line description (docs/operating.md has more). */
export const GLOBAL_KEYS: Record<string, { check: Check; doc: string }> = {
  DEST: { check: pattern, doc: 'strftime pattern of the destination (default /opt/backup/%Y/%m/%d)' },
  JOBS: { check: positive, doc: 'services backed up at once (default: cores, at most 4)' },
  TIMEOUT: { check: positive, doc: 'seconds a backup script may run (default 14400)' },
  KEEP_LAST: { check: count, doc: 'retention: keep the N newest backups' },
  KEEP_HOURLY: { check: count, doc: 'retention: one backup per hour for N hours' },
  KEEP_DAILY: { check: count, doc: 'retention: one backup per day for N days' },
  KEEP_WEEKLY: { check: count, doc: 'retention: one backup per week for N weeks' },
  KEEP_MONTHLY: { check: count, doc: 'retention: one backup per month for N months' },
  KEEP_YEARLY: { check: count, doc: 'retention: one backup per year for N years' },
  WEEK_START: { check: (v) => (parseWeekStart(v) ? undefined : `must be mon or sun, got "${v}"`), doc: 'first day of a week for KEEP_WEEKLY' },
  PURGE_AFTER_RUN: { check: yesNo, doc: 'purge after every fully successful run' },
  NOTIFY_ON: { check: oneOf('failure', 'always'), doc: 'when to mail / post the webhook (default failure)' },
  NOTIFY_TIMEOUT: { check: positive, doc: 'seconds each notifier may take (default 20)' },
  SMTP_HOST: { check: host, doc: 'mail server; email notifications are on when set' },
  SMTP_PORT: { check: port, doc: 'default 587 (465 with SMTP_TLS=tls)' },
  SMTP_TLS: { check: oneOf('tls', 'starttls', 'none'), doc: 'starttls (default, required), tls (implicit) or none' },
  SMTP_USER: { check: () => undefined, doc: 'login name' },
  SMTP_PASSWORD: { check: () => undefined, doc: 'password (batt.conf must then be 0600)' },
  SMTP_FROM: { check: addresses, doc: 'sender (default batt@<host>)' },
  SMTP_TO: { check: addresses, doc: 'recipients, comma-separated' },
  SMTP_CA_FILE: { check: (v) => (v.startsWith('/') ? undefined : `must be an absolute path, got "${v}"`), doc: 'PEM file of a private CA that signed the mail server certificate' },
  WEBHOOK_URL: { check: url, doc: 'POST the run summary as JSON here' },
  WEBHOOK_TOKEN: { check: () => undefined, doc: 'sent as Authorization: Bearer <token>' },
  HEALTHCHECK_URL: { check: url, doc: 'healthchecks.io-style ping URL (URL/start, URL, URL/fail)' },
};

/** Keys a <service>.conf may hold that batt itself reads (everything else goes to the script). */
const SERVICE_KEYS: Record<string, Check> = {
  KEEP_LAST: count,
  KEEP_HOURLY: count,
  KEEP_DAILY: count,
  KEEP_WEEKLY: count,
  KEEP_MONTHLY: count,
  KEEP_YEARLY: count,
  WEEK_START: GLOBAL_KEYS.WEEK_START!.check,
};

function distance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
  }
  return d[a.length]![b.length]!;
}

export function suggest(key: string, known: string[]): string | undefined {
  const best = known.map((k) => [k, distance(key, k)] as const).sort((x, y) => x[1] - y[1])[0];
  return best && best[1] <= 2 ? best[0] : undefined;
}

interface Entry {
  key: string;
  value: string;
  line: number;
}

/** Parses line by line with batt's own parser, so every bad line is reported, not just the first. */
function entries(f: ConfFile, out: Finding[]): Entry[] {
  const list: Entry[] = [];
  f.text.split(/\r?\n/).forEach((raw, i) => {
    try {
      for (const [key, value] of Object.entries(parseConf(raw, f.file))) list.push({ key, value, line: i + 1 });
    } catch (err) {
      if (!(err instanceof ConfigError)) throw err;
      let message = err.message.replace(`${f.file}:1: `, '');
      if (SECRET_KEY.test(raw) && /expected KEY=value/.test(message)) message = 'expected KEY=value (the line is not shown: it may hold a secret)';
      out.push({ level: 'error', file: f.file, line: i + 1, message });
    }
  });
  return list;
}

const LOOPBACK = /^(localhost|127\.\d+\.\d+\.\d+|::1|\[::1\])$/;

function checkGlobal(f: ConfFile, list: Entry[], out: Finding[]): void {
  const at = (key: string) => list.filter((e) => e.key === key).slice(-1)[0];
  const err = (e: Entry | undefined, message: string, level: Finding['level'] = 'error') =>
    out.push({ level, file: f.file, line: e?.line, key: e?.key, message });
  for (const e of list) {
    const spec = Object.hasOwn(GLOBAL_KEYS, e.key) ? GLOBAL_KEYS[e.key] : undefined;
    if (!spec) {
      const near = suggest(e.key, Object.keys(GLOBAL_KEYS));
      err(e, `unknown key${near ? ` (did you mean ${near}?)` : ''}; settings for one service go in <service>.conf`);
      continue;
    }
    if (e.value === '') continue; // empty = unset = the default
    const why = spec.check(e.value);
    if (why) err(e, why);
  }
  const v = (k: string) => at(k)?.value ?? '';
  if (v('SMTP_HOST') && !v('SMTP_TO')) err(at('SMTP_HOST'), 'is set but SMTP_TO is empty: no one would get the mail');
  if (!v('SMTP_HOST') && (v('SMTP_TO') || v('SMTP_USER'))) err(at('SMTP_TO') ?? at('SMTP_USER'), 'is set but SMTP_HOST is empty: no mail is sent', 'warning');
  if (v('SMTP_PASSWORD') && !v('SMTP_USER')) err(at('SMTP_PASSWORD'), 'is set but SMTP_USER is empty: the password is not used', 'warning');
  if (v('SMTP_USER') && !v('SMTP_PASSWORD')) err(at('SMTP_USER'), 'is set but SMTP_PASSWORD is empty', 'warning');
  if (v('SMTP_TLS') === 'none' && v('SMTP_PASSWORD') && !LOOPBACK.test(v('SMTP_HOST'))) {
    err(at('SMTP_TLS'), `sends the SMTP password unencrypted to ${v('SMTP_HOST')}; use starttls or tls`, 'warning');
  }
}

function checkService(f: ConfFile, list: Entry[], out: Finding[], services: Set<string>): void {
  if (!services.has(f.name)) {
    out.push({ level: 'warning', file: f.file, message: `no script scripts-available/backup-${f.name}: this conf is not used by any service` });
  }
  for (const e of list) {
    const check: Check | undefined = Object.hasOwn(SERVICE_KEYS, e.key) ? SERVICE_KEYS[e.key] : undefined;
    const why = check && e.value !== '' ? check(e.value) : undefined;
    if (why) out.push({ level: 'error', file: f.file, line: e.line, key: e.key, message: why });
  }
}

/** Findings for all conf files; `services` are the names that have a backup script. */
export function checkConfig(files: ConfFile[], services: string[]): Finding[] {
  const out: Finding[] = [];
  const known = new Set(services);
  for (const f of files) {
    const list = entries(f, out);
    const seen = new Map<string, number>();
    for (const e of list) {
      const first = seen.get(e.key);
      if (first !== undefined) {
        out.push({ level: 'warning', file: f.file, line: e.line, key: e.key, message: `is set twice (lines ${first} and ${e.line}); the last one wins` });
      } else seen.set(e.key, e.line);
    }
    const secrets = list.filter((e) => SECRET_KEY.test(e.key) && e.value !== '');
    if (secrets.length && f.mode & 0o077) {
      for (const s of secrets) {
        out.push({
          level: 'error',
          file: f.file,
          line: s.line,
          key: s.key,
          message: `is a secret but the file is readable by others (mode ${(f.mode & 0o777).toString(8).padStart(3, '0')}); batt refuses it: chmod 600 ${f.file}`,
        });
      }
    } else if (f.mode & 0o002) {
      out.push({ level: 'warning', file: f.file, message: `is writable by everyone (mode ${(f.mode & 0o777).toString(8)}): chmod 600 ${f.file}` });
    }
    if (f.kind === 'global') checkGlobal(f, list, out);
    else if (f.kind === 'service') checkService(f, list, out, known);
  }
  // Per file (in the order given), by line; file-wide findings first.
  const order = new Map(files.map((f, i) => [f.file, i]));
  return out
    .map((x, i) => ({ x, i }))
    .sort((a, b) => (order.get(a.x.file) ?? 0) - (order.get(b.x.file) ?? 0) || (a.x.line ?? 0) - (b.x.line ?? 0) || a.i - b.i)
    .map(({ x }) => x);
}

export function formatFinding(x: Finding): string {
  const where = x.line ? `${x.file}:${x.line}` : x.file;
  return `${x.level}: ${where}: ${x.key ? `${x.key} ` : ''}${x.message}`;
}
