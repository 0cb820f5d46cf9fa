// `batt disable SERVICE...`: remove the links from scripts-enabled.
import { EXIT } from '../core/errors.js';
import { disableServices, requireHome } from '../services/registry.js';
import { makeContext, type CommonArgs } from './context.js';

export async function disableCommand(args: CommonArgs & { services: string[] }): Promise<number> {
  const ctx = await makeContext(args);
  await requireHome(ctx.home);
  const changed = await disableServices(ctx.home, args.services.map(String));
  for (const s of args.services) ctx.out.info(changed.includes(s) ? `disabled ${s}` : `${s} was not enabled`);
  return EXIT.OK;
}
