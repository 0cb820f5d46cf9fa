// Every command but the plain `batt list`: dist/esm/main.js, loaded by the entry (src/entry/bin.ts).
// Plain runs skip yargs (src/entry/fastpath.ts); heavy modules load when a command needs them.
import { fastRoute, jsonRequested } from './fastpath.js';
import { settle } from './settle.js';

export function main(argv: string[]): Promise<void> {
  return settle(async () => {
    const fast = fastRoute(argv);
    if (fast?.command === 'list') return (await import('../commands/list.js')).listCommand(fast.args);
    if (fast?.command === 'run') return (await import('../commands/run.js')).runBackups(fast.args);
    let code = 0;
    await (await import('./cli.js')).parse(argv, (c) => (code = c));
    return code;
  }, { json: jsonRequested(argv) });
}
