// `batt config check`, the pure part: every conf file's text and mode in, findings out, each
// with file, line, key and what is wrong. Nothing here reads the disk; the command gathers it,
// and checks the files the confs name (fileRefs here says which, conffiles.ts how).
// The key rules themselves are confkeys.ts, shared with the loaders.
import { ConfigError } from '../core/errors.js';
import { SECRET_KEY, parseConf, type Conf } from './config.js';
import { namedFiles, type NamedFile } from './conffiles.js';
import { ENCRYPTION_RELATIONS, GLOBAL_KEYS, GLOBAL_RELATIONS, TARGET_KEYS, problem, serviceTable, targetRelations, targetTable, type KeySpec, type Relation } from './confkeys.js';

export { GLOBAL_KEYS } from './confkeys.js';

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

type Table = Record<string, KeySpec>;
const spec = (table: Table, key: string): KeySpec | undefined => (Object.hasOwn(table, key) ? table[key] : undefined);

/**
 * The table's rules on every line (so a key set twice is checked twice), required keys that are
 * missing, and the relations on the last value of each key. `unknown` reports keys not in the
 * table (batt.conf); elsewhere other keys are free.
 */
function checkKeys(f: ConfFile, list: Entry[], out: Finding[], table: Table, relations: Relation[], unknown?: (e: Entry) => string): void {
  for (const e of list) {
    const s = spec(table, e.key);
    if (!s) {
      if (unknown) out.push({ level: 'error', file: f.file, line: e.line, key: e.key, message: unknown(e) });
      continue;
    }
    if (e.value === '' && !s.required) continue; // empty = unset = the default
    const why = problem(s, e.value);
    if (why) out.push({ level: 'error', file: f.file, line: e.line, key: e.key, message: why });
  }
  for (const [key, s] of Object.entries(table)) {
    if (!s.required || list.some((e) => e.key === key)) continue;
    const why = problem(s, '');
    if (why) out.push({ level: 'error', file: f.file, key, message: why });
  }
  const last: Conf = Object.fromEntries(list.map((e) => [e.key, e.value]));
  for (const r of relations) {
    const why = r.why(last);
    if (why) out.push({ level: 'error', file: f.file, line: list.filter((e) => e.key === r.key).slice(-1)[0]?.line, key: r.key, message: why });
  }
}

function checkGlobal(f: ConfFile, list: Entry[], out: Finding[]): void {
  checkKeys(f, list, out, GLOBAL_KEYS, GLOBAL_RELATIONS, (e) => {
    const near = suggest(e.key, Object.keys(GLOBAL_KEYS));
    return `unknown key${near ? ` (did you mean ${near}?)` : ''}; settings for one service go in <service>.conf`;
  });
  // Advice only (the loader accepts these): warnings.
  const at = (key: string) => list.filter((e) => e.key === key).slice(-1)[0];
  const warn = (e: Entry | undefined, message: string) => out.push({ level: 'warning', file: f.file, line: e?.line, key: e?.key, message });
  const v = (k: string) => at(k)?.value ?? '';
  if (!v('SMTP_HOST') && (v('SMTP_TO') || v('SMTP_USER'))) warn(at('SMTP_TO') ?? at('SMTP_USER'), 'is set but SMTP_HOST is empty: no mail is sent');
  if (v('SMTP_PASSWORD') && !v('SMTP_USER')) warn(at('SMTP_PASSWORD'), 'is set but SMTP_USER is empty: the password is not used');
  if (v('SMTP_USER') && !v('SMTP_PASSWORD')) warn(at('SMTP_USER'), 'is set but SMTP_PASSWORD is empty');
  if (v('SMTP_TLS') === 'none' && v('SMTP_PASSWORD') && !LOOPBACK.test(v('SMTP_HOST'))) {
    warn(at('SMTP_TLS'), `sends the SMTP password unencrypted to ${v('SMTP_HOST')}; use starttls or tls`);
  }
}

/** A target conf: the keys of its kind (when TYPE names one) and their relations, as opening it would. */
function checkTarget(f: ConfFile, list: Entry[], out: Finding[]): void {
  const type = list.filter((e) => e.key === 'TYPE').slice(-1)[0]?.value ?? '';
  const kind = TARGET_KEYS.TYPE.rule(type);
  if (kind.ok) checkKeys(f, list, out, targetTable(kind.value), targetRelations(kind.value));
  else checkKeys(f, list, out, TARGET_KEYS, ENCRYPTION_RELATIONS);
}

function checkService(f: ConfFile, list: Entry[], out: Finding[], services: Set<string>): void {
  if (!services.has(f.name)) {
    out.push({ level: 'warning', file: f.file, message: `no script scripts-available/backup-${f.name}: this conf is not used by any service` });
  }
  checkKeys(f, list, out, serviceTable(f.name), []);
}

/** A file a conf names (conffiles.ts), with the conf and line that name it. */
export interface FileRef extends NamedFile {
  conf: string;
  line?: number;
}

/** The files each conf names that a run would use: batt.conf and targets; service confs are the scripts' business. */
export function fileRefs(files: ConfFile[]): FileRef[] {
  const refs: FileRef[] = [];
  for (const f of files) {
    if (f.kind === 'service') continue;
    const list = entries(f, []);
    const last: Conf = Object.fromEntries(list.map((e) => [e.key, e.value]));
    const kind = f.kind === 'global' ? 'global' : TARGET_KEYS.TYPE.rule(last.TYPE ?? '');
    const named = namedFiles(kind === 'global' ? kind : kind.ok ? kind.value : undefined, last);
    for (const n of named) refs.push({ ...n, conf: f.file, line: list.filter((e) => e.key === n.key).slice(-1)[0]?.line });
  }
  return refs;
}

/**
 * Findings for all conf files; `services` are the names that have a backup script, `fileFindings`
 * what the command found in the files the confs name (fileRefs), sorted in with the rest.
 */
export function checkConfig(files: ConfFile[], services: string[], fileFindings: Finding[] = []): Finding[] {
  const out: Finding[] = [...fileFindings];
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
    else checkTarget(f, list, out);
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
