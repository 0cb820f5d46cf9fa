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
