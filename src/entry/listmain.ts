// `batt list` in its plain forms, built as one CommonJS bundle of its own (dist/list.js): node
// loads one CommonJS file several times faster than the same code as ES modules in chunks, and
// `batt list` is the command people time. Nothing here may load the ES module world
// (dist/esm/): each process runs one bundle or the other, so every class has one identity.
import type { ListArgs } from '../commands/list.js';
import { listCommand } from '../commands/list.js';
import { settle } from './settle.js';

export function main(args: ListArgs): Promise<void> {
  return settle(() => listCommand(args), { json: !!args.json });
}
