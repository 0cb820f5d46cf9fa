// Start-up fast path: loading yargs (with its Unicode width tables) costs more than `batt list`
// itself, and adds ~40 ms to the start of every backup. The plain forms below go straight to
// their command with the same arguments yargs would give it; anything else (other batt flags,
// --help, short flags, odd values) goes through yargs as usual, so behaviour and error messages
// do not change. test/e2e/startup.test.ts runs each form both ways and compares.
import type { CommonArgs } from './context.js';
import { RUN_FLAGS } from './options.js';

export type FastRoute = { command: 'list'; args: CommonArgs } | { command: 'run'; args: Record<string, unknown> };

/** Words that yargs takes as a command rather than a service name. */
const COMMANDS = new Set([
  'run', 'list', 'enable', 'disable', 'backups', 'ls', 'verify', 'restore', 'purge', 'schedule', 'config', 'doctor',
  'completion', 'help',
]);
/** batt's own flags the fast path takes: booleans, and the ones with a value. */
const BOOLEAN = new Set(['json', 'dry-run']);
const VALUED = new Set(['home', 'path']);
const FLAG = /^--([a-z0-9][a-z0-9_-]*)(?:=([^]*))?$/;
/** Flags yargs itself answers (shell completion asks with --get-yargs-completions). */
const YARGS_OWN = new Set(['get-yargs-completions', 'show-hidden']);

/**
 * `list [--json] [--home DIR]`, or a run: `[run] [SERVICE...]` with `--json`, `--dry-run`,
 * `--home DIR`, `--path PATTERN` and service options `--<service>[-<key>] VALUE` (also
 * `--flag=VALUE`; repeated ones become arrays, as in yargs). Undefined for anything else.
 */
export function fastRoute(argv: string[]): FastRoute | undefined {
  const args: Record<string, unknown> = {};
  const words: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (!a.startsWith('-')) {
      words.push(a);
      continue;
    }
    const m = FLAG.exec(a);
    if (!m) return undefined; // short flags, `--`, upper case, odd names
    const [, name, inline] = m as unknown as [string, string, string | undefined];
    if (BOOLEAN.has(name)) {
      if (inline !== undefined) return undefined; // --json=false is yargs' to read
      args[name] = true;
      continue;
    }
    if (YARGS_OWN.has(name) || (RUN_FLAGS.has(name) && !VALUED.has(name))) return undefined;
    const v = inline ?? argv[++i];
    if (v === undefined || v === '' || v.startsWith('-')) return undefined;
    const prev = args[name];
    // repeated: an array, as yargs makes it (batt's own flags take the last one)
    args[name] = prev === undefined ? v : [...(Array.isArray(prev) ? prev : [prev]), v];
  }
  if (words[0] === 'list') {
    const extra = Object.keys(args).filter((k) => k !== 'json' && k !== 'home');
    if (words.length > 1 || extra.length || args['dry-run']) return undefined;
    const home = args.home;
    return { command: 'list', args: { ...(args.json ? { json: true } : {}), ...(home !== undefined ? { home: Array.isArray(home) ? home.at(-1) : home } : {}) } as CommonArgs };
  }
  if (words[0] !== 'run' && COMMANDS.has(words[0] ?? '')) return undefined;
  const services = words[0] === 'run' ? words.slice(1) : words; // `batt run list` backs up "list"
  return { command: 'run', args: services.length ? { ...args, services } : args };
}
