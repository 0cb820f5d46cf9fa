// Start-up fast path: loading yargs (with its Unicode width tables) costs more than `batt list`
// itself, and adds ~40 ms to the start of every backup. The plain forms below go straight to
// their command with the same arguments yargs would give it; anything else (other batt flags,
// --help, short flags, odd values) goes through yargs as usual, so behaviour and error messages
// do not change. test/e2e/startup.test.ts runs each form both ways and compares.
import type { ListArgs } from '../commands/list.js';
import { RUN_FLAGS } from '../services/options.js';
import { asList, scan, VALUED } from './plainargs.js';

export { jsonRequested, listRoute } from './plainargs.js';

export type FastRoute = { command: 'list'; args: ListArgs } | { command: 'run'; args: Record<string, unknown> };

/** Words that yargs takes as a command rather than a service name. */
const COMMANDS = new Set([
  'run', 'list', 'enable', 'disable', 'backups', 'ls', 'verify', 'restore', 'drill', 'purge', 'schedule', 'config', 'doctor', 'status',
  'completion', 'help',
]);
/**
 * `list [enabled|disabled|available] [--json] [--home DIR]`, or a run: `[run] [SERVICE...]` with `--json`, `--dry-run`,
 * `--home DIR`, `--path PATTERN` and service options `--<service>[-<key>] VALUE` (also
 * `--flag=VALUE`; repeated ones become arrays, as in yargs). Undefined for anything else.
 */
export function fastRoute(argv: string[]): FastRoute | undefined {
  const s = scan(argv, (name) => RUN_FLAGS.has(name) && !VALUED.has(name));
  if (!s) return undefined;
  const { args, words } = s;
  if (words[0] === 'list') return asList(s);
  if (words[0] !== 'run' && COMMANDS.has(words[0] ?? '')) return undefined;
  const services = words[0] === 'run' ? words.slice(1) : words; // `batt run list` backs up "list"
  return { command: 'run', args: services.length ? { ...args, services } : args };
}
