// The plain forms of batt's arguments, read without yargs (see src/entry/fastpath.ts). This module
// imports nothing: the entry (src/entry/bin.ts) uses listRoute to choose which bundle to load.
import type { ListArgs } from '../commands/list.js';

/** batt's own flags the fast path takes: booleans, and the ones with a value. */
const BOOLEAN = new Set(['json', 'dry-run']);
export const VALUED = new Set(['home', 'path']);
const FLAG = /^--([a-z0-9][a-z0-9_-]*)(?:=([^]*))?$/;
/** Flags yargs itself answers (shell completion asks with --get-yargs-completions). */
const YARGS_OWN = new Set(['get-yargs-completions', 'show-hidden']);

export interface Scanned {
  args: Record<string, unknown>;
  words: string[];
}

/**
 * The words and `--flag VALUE` pairs of argv, or undefined when a form is not plain: short flags,
 * `--`, odd names, a boolean with `=`, a value missing or starting with `-`, or a flag `refuse`
 * names (repeated flags become arrays, as in yargs).
 */
export function scan(argv: string[], refuse: (name: string) => boolean): Scanned | undefined {
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
    if (YARGS_OWN.has(name) || refuse(name)) return undefined;
    const v = inline ?? argv[++i];
    if (v === undefined || v === '' || v.startsWith('-')) return undefined;
    const prev = args[name];
    // repeated: an array, as yargs makes it (batt's own flags take the last one)
    args[name] = prev === undefined ? v : [...(Array.isArray(prev) ? prev : [prev]), v];
  }
  return { args, words };
}

/**
 * Whether the command line asks for --json, read from argv itself because an error can come
 * before any command has its parsed arguments (an unknown option, a bad value yargs refuses). It
 * reads the flag as yargs does: --json or --json=true, --json=false turns it off, the last one
 * wins, and nothing after `--` is a flag.
 */
export function jsonRequested(argv: string[]): boolean {
  let json = false;
  for (const a of argv) {
    if (a === '--') break;
    if (a === '--json') json = true;
    else if (a.startsWith('--json=')) json = a.slice(7) !== 'false';
  }
  return json;
}

export function asList({ args, words }: Scanned): { command: 'list'; args: ListArgs } | undefined {
  const extra = Object.keys(args).filter((k) => k !== 'json' && k !== 'home');
  if (words.length > 2 || extra.length || args['dry-run']) return undefined;
  const which = words[1]; // an unknown word is refused by the command, the same on both routes
  const home = args.home;
  return {
    command: 'list',
    args: {
      ...(which ? { which } : {}),
      ...(args.json ? { json: true } : {}),
      ...(home !== undefined ? { home: Array.isArray(home) ? home.at(-1) : home } : {}),
    } as ListArgs,
  };
}

/**
 * `list [enabled|disabled|available] [--json] [--home DIR]` alone, for the entry (src/entry/bin.ts): it decides which bundle to load
 * and must stay small, so this does not need the run flags (any flag but those two is refused).
 */
export function listRoute(argv: string[]): { command: 'list'; args: ListArgs } | undefined {
  const s = scan(argv, () => false);
  return s?.words[0] === 'list' ? asList(s) : undefined;
}

