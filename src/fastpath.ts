// Start-up fast path: `batt list` is what monitoring and shell prompts call most, and loading
// yargs (with its Unicode width tables) costs more than the command itself. The plain forms
// below go straight to the command; anything else (other flags, --help, odd values) goes through
// yargs as usual, so behaviour and error messages do not change.
import type { CommonArgs } from './context.js';

export interface FastRoute {
  command: 'list';
  args: CommonArgs;
}

/** `list`, with `--json` and `--home DIR` / `--home=DIR` in any order; undefined otherwise. */
export function fastRoute(argv: string[]): FastRoute | undefined {
  const args: CommonArgs = {};
  let command: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--json') args.json = true;
    else if (a === '--home' || a.startsWith('--home=')) {
      const v = a === '--home' ? argv[++i] : a.slice('--home='.length);
      if (!v || v.startsWith('-')) return undefined;
      args.home = v;
    } else if (!a.startsWith('-') && command === undefined) command = a;
    else return undefined;
  }
  return command === 'list' ? { command, args } : undefined;
}
