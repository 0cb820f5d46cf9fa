// Shell completion (yargs): commands and flags come from yargs; this adds service names read
// from the home's scripts-available / scripts-enabled, so `batt enable my<TAB>` gives mysql.
import fs from 'node:fs';
import { resolveHome } from '../core/home.js';

export type CompletionFilter = (cb?: (err: Error | null, completions: string[] | undefined) => void) => unknown;

const SERVICE_COMMANDS = new Set(['enable', 'disable', 'restore', 'purge']);

function names(dir: string): string[] {
  try {
    return fs
      .readdirSync(dir)
      .filter((f) => f.startsWith('backup-'))
      .map((f) => f.slice('backup-'.length));
  } catch {
    return [];
  }
}

export function complete(current: string, argv: { _?: unknown[]; home?: unknown }, yargsWords: string[]): string[] {
  const words = yargsWords.filter((c) => c !== '$0');
  if (current.startsWith('-')) return words;
  const typed = (argv._ ?? []).map(String).filter((w) => w !== 'batt' && w !== current);
  const cmd = typed[0];
  // Service names after a service command, and at the top level (batt mysql file).
  if (cmd !== undefined && !SERVICE_COMMANDS.has(cmd)) return words;
  const home = resolveHome(typeof argv.home === 'string' ? argv.home : undefined, process.env);
  const services = (cmd === 'disable' ? names(home.enabled) : names(home.available)).filter((s) => s.startsWith(current));
  return [...new Set([...words, ...services])];
}
