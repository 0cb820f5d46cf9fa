// `batt enable SERVICE...`: link scripts-available/backup-X into scripts-enabled.
import { EXIT } from '../core/errors.js';
import { enableServices, requireHome } from '../services/registry.js';
import { makeContext, type CommonArgs } from './context.js';

export async function enableCommand(args: CommonArgs & { services: string[] }): Promise<number> {
  const ctx = await makeContext(args);
  await requireHome(ctx.home);
  const changed = await enableServices(ctx.home, args.services.map(String));
  for (const s of args.services) ctx.out.info(changed.includes(s) ? `enabled ${s}` : `${s} was already enabled`);
  return EXIT.OK;
}
