// The one place where a command's outcome becomes the process's exit code: an error is printed as
// one line on stderr (its stack too with BATT_DEBUG) and mapped to its code (src/core/errors.ts);
// an interruption exits as the shell would report the signal (130, 143, 129). With --json, an
// error also gives a machine reading stdout its one document, {"ok":false,"error":..,"exitCode":..},
// unless the command printed its own before it failed.
import { describeError, exitCodeFor, InterruptedError } from '../core/errors.js';
import { colorEnabled, jsonDocumentWritten } from '../core/output.js';

export interface SettleOptions {
  /** The command line asked for --json (the caller knows: src/entry/main.ts reads argv, src/entry/listmain.ts its args). */
  json?: boolean;
}

export async function settle(work: () => Promise<number>, opts: SettleOptions = {}): Promise<void> {
  let code = 0;
  try {
    code = await work();
  } catch (err) {
    const red = process.stderr.isTTY && colorEnabled() ? (s: string) => `\x1b[31m${s}\x1b[39m` : (s: string) => s;
    const message = describeError(err);
    process.stderr.write(red(`batt: ${message}`) + '\n');
    if (process.env.BATT_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
    code = exitCodeFor(err);
    if (err instanceof InterruptedError) code = /SIGTERM/.test(err.message) ? 143 : /SIGHUP/.test(err.message) ? 129 : 130;
    if (opts.json && !jsonDocumentWritten()) process.stdout.write(JSON.stringify({ ok: false, error: message, exitCode: code }, null, 2) + '\n');
  }
  process.exitCode = code;
}
