// Wiring only: the parser's settings, the commands of commandspecs.ts, completion, help and errors.
import yargs from 'yargs';
import { UsageError } from '../core/errors.js';
import { VERSION } from '../commands/context.js';
import { COMMANDS, type Handler } from './commandspecs.js';
import type { CompletionFilter } from './completion.js';

export async function parse(argv: string[], setExit: (code: number) => void): Promise<void> {
  const call = (load: () => Promise<Handler>) => async (a: Record<string, unknown>) => setExit(await (await load())(a));
  let y = yargs(argv)
    .scriptName('batt')
    .parserConfiguration({
      'camel-case-expansion': false,
      'dot-notation': false,
      'parse-numbers': false,
      'parse-positional-numbers': false,
      'boolean-negation': false,
      'strip-aliased': true,
    })
    .usage('batt — backup all the things\n\nUsage: batt [SERVICE...] [--<service>-<key> VALUE...] [options]');
  for (const c of COMMANDS) y = y.command(c.command, c.describe, c.builder, call(c.load));
  y = y
    .completion('completion', 'print a bash/zsh completion script (batt completion >> ~/.bashrc)', (cur: string, argv: { _?: unknown[] }, filter: CompletionFilter, done: (c: string[]) => void) =>
      // yargs' own completions first (synchronously: they depend on its parse state), then service names
      filter((_err, words) => void import('./completion.js').then((m) => done(m.complete(cur, argv, words ?? [])))),
    )
    .help('help')
    .alias('help', 'h')
    .version(VERSION)
    .wrap(Math.min(110, process.stdout.columns || 100))
    .fail((msg, err) => {
      if (argv.includes('--get-yargs-completions')) return; // completing: never print errors into the shell
      if (err) throw err;
      throw new UsageError(msg);
    });
  await y.parseAsync();
}
