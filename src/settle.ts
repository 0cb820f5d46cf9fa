// The one place where a command's outcome becomes the process's exit code: an error is printed as
// one line on stderr (its stack too with BATT_DEBUG) and mapped to its code (src/errors.ts);
// an interruption exits as the shell would report the signal (130, 143, 129).
import { describeError, exitCodeFor, InterruptedError } from './errors.js';
import { colorEnabled } from './output.js';

export async function settle(work: () => Promise<number>): Promise<void> {
  let code = 0;
  try {
    code = await work();
  } catch (err) {
    const red = process.stderr.isTTY && colorEnabled() ? (s: string) => `\x1b[31m${s}\x1b[39m` : (s: string) => s;
    process.stderr.write(red(`batt: ${describeError(err)}`) + '\n');
    if (process.env.BATT_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
    code = exitCodeFor(err);
    if (err instanceof InterruptedError) code = /SIGTERM/.test(err.message) ? 143 : /SIGHUP/.test(err.message) ? 129 : 130;
  }
  process.exitCode = code;
}
