#!/usr/bin/env node
// Entry point: parse, run, and map any error to its exit code, in one place.
import { describeError, exitCodeFor, InterruptedError } from './errors.js';
import { colorEnabled } from './output.js';
import { fastRoute } from './fastpath.js';

async function main(): Promise<void> {
  let code = 0;
  try {
    const argv = process.argv.slice(2);
    const fast = fastRoute(argv);
    if (fast?.command === 'list') code = await (await import('./commands/list.js')).listCommand(fast.args);
    else if (fast?.command === 'run') code = await (await import('./commands/run.js')).runBackups(fast.args);
    else await (await import('./cli.js')).parse(argv, (c) => (code = c));
  } catch (err) {
    const red = process.stderr.isTTY && colorEnabled() ? (s: string) => `\x1b[31m${s}\x1b[39m` : (s: string) => s;
    process.stderr.write(red(`batt: ${describeError(err)}`) + '\n');
    if (process.env.BATT_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
    code = exitCodeFor(err);
    if (err instanceof InterruptedError) code = /SIGTERM/.test(err.message) ? 143 : /SIGHUP/.test(err.message) ? 129 : 130;
  }
  process.exitCode = code;
}

void main();
