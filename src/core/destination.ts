// Destination paths: a strftime pattern rendered once per run, with the service appended.
// Pure functions; the run decides the time and passes it in.
import path from 'node:path';
import strftime from 'strftime';
import { UsageError } from './errors.js';

export const DEFAULT_PATTERN = '/opt/backup/%Y/%m/%d';

/** Conversions that render to something safe in a path component (no '/', no spaces). */
const ALLOWED = new Set('YyCmdeHIklMSjpPsuwaAbBhUWVGgLFz%'.split(''));

export function validatePattern(pattern: string): void {
  if (!pattern) throw new UsageError('the destination pattern is empty');
  if (pattern.includes('\0')) throw new UsageError('the destination pattern contains a NUL byte');
  if (!pattern.startsWith('/')) {
    throw new UsageError(`destination pattern "${pattern}" must be an absolute path`);
  }
  for (let i = 0; i < pattern.length; i++) {
    if (pattern[i] !== '%') continue;
    const c = pattern[i + 1];
    if (c === undefined) throw new UsageError(`destination pattern "${pattern}" ends with a lone %`);
    if (!ALLOWED.has(c)) {
      throw new UsageError(`destination pattern "${pattern}" uses %${c}, which batt does not allow in a path`);
    }
    i++;
  }
  const parts = pattern.split('/').filter(Boolean);
  if (parts.some((p) => p === '.' || p === '..')) {
    throw new UsageError(`destination pattern "${pattern}" must not contain . or .. components`);
  }
  if (patternRoot(pattern) === '/') {
    throw new UsageError(
      `destination pattern "${pattern}" needs at least one fixed folder before the first %, e.g. /opt/backup/%Y`,
    );
  }
}

/**
 * The backup root: the leading folders of the pattern that contain no conversion.
 * Catalog, lock and purge never look outside it.
 */
export function patternRoot(pattern: string): string {
  const parts = pattern.split('/').filter(Boolean);
  const fixed: string[] = [];
  for (const p of parts) {
    if (p.includes('%')) break;
    fixed.push(p);
  }
  // A pattern without conversions: every run writes to the same folder, which is also the root.
  return '/' + fixed.join('/');
}

export function renderPattern(pattern: string, when: Date, utc = false): string {
  validatePattern(pattern);
  const fmt = utc ? strftime.utc() : strftime;
  const rendered = path.normalize(fmt(pattern, when));
  const parts = rendered.split('/').filter(Boolean);
  if (parts.some((p) => p === '..' || p === '.')) {
    throw new UsageError(`destination pattern "${pattern}" renders to an unsafe path: ${rendered}`);
  }
  return rendered.replace(/\/+$/, '');
}

/** The service folder in a rendered destination; `attempt` > 1 picks a distinct sibling. */
export function serviceFolder(rendered: string, service: string, attempt = 1): string {
  return path.join(rendered, attempt > 1 ? `${service}.${attempt}` : service);
}

/** What each conversion ALLOWED renders to (strftime, en_US; %V %G %g are left as they are by it). */
const RENDERS: Record<string, string> = {
  Y: '\\d{4}',
  G: '(?:\\d{4}|%G)',
  y: '\\d{2}',
  C: '\\d{2}',
  m: '\\d{2}',
  d: '\\d{2}',
  H: '\\d{2}',
  I: '\\d{2}',
  M: '\\d{2}',
  S: '\\d{2}',
  U: '\\d{2}',
  W: '\\d{2}',
  V: '(?:\\d{2}|%V)',
  g: '(?:\\d{2}|%g)',
  e: '[ \\d]\\d',
  k: '[ \\d]\\d',
  l: '[ \\d]\\d',
  j: '\\d{3}',
  L: '\\d{3}',
  s: '\\d+',
  u: '\\d',
  w: '\\d',
  F: '\\d{4}-\\d{2}-\\d{2}',
  z: '[+-]\\d{4}',
  p: '(?:AM|PM)',
  P: '(?:am|pm)',
  a: '[A-Za-z]+',
  A: '[A-Za-z]+',
  b: '[A-Za-z]+',
  B: '[A-Za-z]+',
  h: '[A-Za-z]+',
  '%': '%',
};

/**
 * The backup ids (paths under patternRoot, as `batt backups` prints them and as copies are named
 * on a target) that runs with this pattern can make: the rendered part of the pattern, then a
 * service folder (serviceFolder: SERVICE or SERVICE.N). Nothing else matches.
 */
export function backupIdPattern(pattern: string): RegExp {
  validatePattern(pattern);
  const parts = pattern.split('/').filter(Boolean);
  const rendered = parts.slice(patternRoot(pattern).split('/').filter(Boolean).length);
  const re = rendered.map((p) => {
    let out = '';
    for (let i = 0; i < p.length; i++) {
      if (p[i] === '%') out += RENDERS[p[++i]!];
      else out += p[i]!.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    }
    return out;
  });
  // SERVICE_NAME (registry.ts), at most 64 characters, and the .N of a second run in the same folder
  re.push('[a-z0-9][a-z0-9_-]{0,63}(?:\\.[1-9]\\d*)?');
  return new RegExp(`^${re.join('/')}$`);
}
