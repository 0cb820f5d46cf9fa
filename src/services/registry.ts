// The service registry: scripts in <home>/scripts-available, enabled by symlinks in
// <home>/scripts-enabled, like Apache's sites-available/sites-enabled.
import fs from 'node:fs/promises';
import { constants as fsc } from 'node:fs';
import path from 'node:path';
import { PermissionError, UsageError, fromSystemError } from '../core/errors.js';
import type { Home } from '../core/home.js';

export const SERVICE_NAME = /^[a-z0-9][a-z0-9_-]*$/;

export function validateServiceName(name: string): void {
  if (!SERVICE_NAME.test(name) || name.length > 64) {
    throw new UsageError(
      `invalid service name "${name}": use lower-case letters, digits, - and _ (starting with a letter or digit)`,
    );
  }
}

export function scriptName(kind: 'backup' | 'restore', service: string): string {
  return `${kind}-${service}`;
}

export interface ServiceEntry {
  name: string;
  available: boolean;
  enabled: boolean;
  hasRestore: boolean;
  /** What is wrong with this service's scripts, if anything. */
  problem?: string;
}

async function lstatOrNull(p: string) {
  try {
    return await fs.lstat(p);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

async function readDirOrEmpty(dir: string): Promise<string[]> {
  try {
    return (await fs.readdir(dir)).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

function namesWithPrefix(entries: string[], prefix: string): string[] {
  return entries
    .filter((e) => e.startsWith(prefix))
    .map((e) => e.slice(prefix.length))
    .filter((n) => SERVICE_NAME.test(n));
}

/** Checks the enabled entry of a service: it must be a link to its script in scripts-available. */
async function enabledProblem(home: Home, name: string): Promise<string | undefined> {
  const link = path.join(home.enabled, scriptName('backup', name));
  const st = await lstatOrNull(link);
  if (!st) return undefined;
  if (!st.isSymbolicLink()) return `${link} is not a link into scripts-available`;
  const target = await fs.readlink(link);
  const resolved = path.resolve(home.enabled, target);
  const expected = path.join(home.available, scriptName('backup', name));
  if (resolved !== expected) return `${link} points to ${target}, not to ${expected}`;
  if (!(await lstatOrNull(expected))) return `${link} is a broken link (${expected} is missing)`;
  return undefined;
}

/**
 * Throws a usage error when the home has no scripts-available folder: a mistyped --home or
 * BATT_HOME, or a machine where batt was never installed, must not read as "no services".
 */
export async function requireHome(home: Home): Promise<void> {
  let st;
  try {
    st = await fs.stat(home.available);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOENT' && code !== 'ENOTDIR') throw fromSystemError(err, home.available);
  }
  if (!st?.isDirectory()) {
    throw new UsageError(`${home.root} is not a batt home`, 'no scripts-available folder; install batt, or set --home / BATT_HOME');
  }
}

export async function listServices(home: Home): Promise<ServiceEntry[]> {
  const available = await readDirOrEmpty(home.available);
  const enabled = await readDirOrEmpty(home.enabled);
  const backups = new Set(namesWithPrefix(available, 'backup-'));
  const restores = new Set(namesWithPrefix(available, 'restore-'));
  const enabledNames = new Set(namesWithPrefix(enabled, 'backup-'));
  const names = [...new Set([...backups, ...enabledNames])].sort();
  const out: ServiceEntry[] = [];
  for (const name of names) {
    const entry: ServiceEntry = {
      name,
      available: backups.has(name),
      enabled: enabledNames.has(name),
      hasRestore: restores.has(name),
    };
    if (entry.enabled) {
      const problem = await enabledProblem(home, name);
      if (problem) entry.problem = problem;
    }
    if (!entry.problem && entry.available) {
      const problem = await scriptProblem(path.join(home.available, scriptName('backup', name)));
      if (problem) entry.problem = problem;
    }
    out.push(entry);
  }
  // Entries in scripts-enabled that batt does not manage are reported, not silently ignored.
  for (const e of enabled) {
    if (!e.startsWith('backup-') || !SERVICE_NAME.test(e.slice(7))) {
      out.push({
        name: e,
        available: false,
        enabled: true,
        hasRestore: false,
        problem: `${path.join(home.enabled, e)} is not a backup-<service> entry`,
      });
    }
  }
  return out;
}

export function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/**
 * Why a script may not run, or undefined: it must be a regular executable file and, when batt
 * runs as root, owned by root and writable by nobody else.
 */
export async function scriptProblem(file: string, asRoot = isRoot()): Promise<string | undefined> {
  let st;
  try {
    st = await fs.stat(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return code === 'ENOENT' ? `${file} does not exist` : `${file}: ${code}`;
  }
  if (!st.isFile()) return `${file} is not a regular file`;
  try {
    await fs.access(file, fsc.X_OK);
  } catch {
    return `${file} is not executable (chmod +x it)`;
  }
  if (asRoot) {
    if (st.uid !== 0) return `${file} is owned by uid ${st.uid}, not root; refusing to run it as root`;
    if (st.mode & 0o022) {
      return `${file} is writable by group or others (mode ${(st.mode & 0o7777).toString(8)}); refusing to run it as root`;
    }
  }
  return undefined;
}

/** The error for a service without the script `file`, with the services there are. */
async function unknownService(home: Home, service: string, kind: 'backup' | 'restore', file: string): Promise<UsageError> {
  const services = await listServices(home);
  const known = services.filter((s) => s.available).map((s) => s.name);
  if (kind === 'restore' && known.includes(service)) {
    // A service that backs up but has no restore script is not unknown: say what is missing.
    const restorable = services.filter((s) => s.available && s.hasRestore).map((s) => s.name);
    return new UsageError(`${service} has no restore script (${file})`, restorable.length ? `services with one: ${restorable.join(', ')}` : undefined);
  }
  return new UsageError(
    `unknown service "${service}": no ${kind} script ${file}`,
    known.length ? `available: ${known.join(', ')}` : 'scripts-available is empty; run ./install',
  );
}

/** The script to run for a service, checked; throws a clear error when it cannot run. */
export async function resolveScript(
  home: Home,
  service: string,
  kind: 'backup' | 'restore' = 'backup',
): Promise<string> {
  validateServiceName(service);
  const file = path.join(home.available, scriptName(kind, service));
  if (!(await lstatOrNull(file))) throw await unknownService(home, service, kind, file);
  const problem = await scriptProblem(file);
  if (problem) throw new PermissionError(problem);
  return file;
}

/**
 * What a script says of itself in a comment line near its top (`# batt: append-only`):
 * append-only = it writes each file front to back and never rewrites a byte it wrote, so batt may
 * hash its files while they grow (src/run/writeback.ts). levels = it may make incrementals: batt
 * offers it the previous backup to build on (BATT_PREVIOUS, docs/script-contract.md). check = it
 * knows check mode (BATT_CHECK=1: validate conf, options and connection, write nothing;
 * src/run/check.ts), and a script without it is never run that way. Unknown words are ignored:
 * an older batt must keep running scripts written for a newer one.
 */
export interface ScriptTraits {
  appendOnly: boolean;
  levels: boolean;
  /** drill = a restore script that understands BATT_DRILL=1 (docs/script-contract.md); batt drills no other. */
  drill: boolean;
  /** drill-drop = it also understands BATT_DRILL=drop: it makes scratch databases that a later run may have to drop. */
  drillDrop: boolean;
  /** check = it understands BATT_CHECK=1 (docs/script-contract.md); batt runs no other in check mode. */
  check: boolean;
}

/** Bytes read from the top of a script for its `# batt:` and `# batt-requires:` lines. */
export const TRAITS_HEAD = 4096;

const HEADER_LINE = /^\s*(?:#|\/\/|--)\s*batt(?:-requires)?:/;

/** The part of a script batt reads for its header lines: the whole lines within its first TRAITS_HEAD bytes. */
export function scriptHead(buf: Buffer): string {
  if (buf.length <= TRAITS_HEAD) return buf.toString('utf8');
  const head = buf.subarray(0, TRAITS_HEAD);
  return head.toString('utf8', 0, head.lastIndexOf(0x0a) + 1); // the last line may be cut in the middle: only whole lines count
}

/**
 * `# batt:` and `# batt-requires:` lines that batt never reads because they come after the first
 * TRAITS_HEAD bytes (a long header comment pushed them down): 1-based line numbers and the lines.
 * Such a script silently loses its check mode, its hash-ahead or its tools (batt doctor says so).
 */
export function headerLinesPastHead(buf: Buffer): { line: number; text: string }[] {
  if (buf.length <= TRAITS_HEAD) return []; // read whole
  const read = scriptHead(buf).split('\n').length - 1; // whole lines, each with its newline
  return buf
    .toString('utf8')
    .split('\n')
    .map((text, i) => ({ line: i + 1, text: text.trim() }))
    .filter((l) => l.line > read && HEADER_LINE.test(l.text));
}

export function parseScriptTraits(head: string): ScriptTraits {
  const words = new Set<string>();
  for (const line of head.split('\n')) {
    const m = /^\s*(?:#|\/\/|--)\s*batt:\s*(.*)$/.exec(line);
    if (m) for (const w of m[1]!.trim().split(/[\s,]+/)) if (w) words.add(w.toLowerCase());
  }
  return { appendOnly: words.has('append-only'), levels: words.has('levels'), drill: words.has('drill') || words.has('drill-drop'), drillDrop: words.has('drill-drop'), check: words.has('check') };
}

export async function readScriptTraits(file: string): Promise<ScriptTraits> {
  const fh = await fs.open(file, 'r');
  try {
    const buf = Buffer.alloc(TRAITS_HEAD + 1); // one byte more: a script of exactly TRAITS_HEAD bytes is read whole
    const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
    return parseScriptTraits(scriptHead(buf.subarray(0, bytesRead)));
  } finally {
    await fh.close();
  }
}

async function ensureWritable(dir: string): Promise<void> {
  try {
    await fs.mkdir(dir, { recursive: true });
    await fs.access(dir, fsc.W_OK);
  } catch (err) {
    throw fromSystemError(err, dir);
  }
}

/** Enables services: all names are checked first, so an error leaves nothing half-done. */
export async function enableServices(home: Home, names: string[]): Promise<string[]> {
  for (const n of names) await resolveScript(home, n);
  // An entry in the way of any name stops them all, before anything is linked.
  for (const n of names) {
    const problem = await enabledProblem(home, n);
    const link = path.join(home.enabled, scriptName('backup', n));
    if (problem) throw new UsageError(`cannot enable ${n}: ${problem}`, `remove ${link} first`);
  }
  await ensureWritable(home.enabled);
  const changed: string[] = [];
  for (const n of names) {
    const link = path.join(home.enabled, scriptName('backup', n));
    if (await lstatOrNull(link)) continue; // already enabled: idempotent
    try {
      await fs.symlink(path.join('..', 'scripts-available', scriptName('backup', n)), link);
    } catch (err) {
      throw fromSystemError(err, link);
    }
    changed.push(n);
  }
  return changed;
}

export async function disableServices(home: Home, names: string[]): Promise<string[]> {
  for (const n of names) validateServiceName(n);
  const changed: string[] = [];
  const links = names.map((n) => path.join(home.enabled, scriptName('backup', n)));
  // Check every entry before removing any. A name with neither a script nor a link is a typo
  // (exit 2, as enable says); a known service that is not enabled, or the dangling link of a
  // removed script, is fine.
  for (const [i, link] of links.entries()) {
    const st = await lstatOrNull(link);
    const script = path.join(home.available, scriptName('backup', names[i]!));
    if (!st && !(await lstatOrNull(script))) throw await unknownService(home, names[i]!, 'backup', script);
    if (st && !st.isSymbolicLink()) {
      throw new UsageError(`${link} is not a link; batt will not delete it`);
    }
  }
  for (const [i, link] of links.entries()) {
    if (!(await lstatOrNull(link))) continue;
    try {
      await fs.unlink(link);
    } catch (err) {
      throw fromSystemError(err, link);
    }
    changed.push(names[i]!);
  }
  return changed;
}

/** Enabled services, with the problem of each broken entry. */
export async function enabledServices(home: Home): Promise<ServiceEntry[]> {
  return (await listServices(home)).filter((s) => s.enabled);
}
