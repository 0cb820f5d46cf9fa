// `batt list [enabled|disabled|available]`: every service (or those of one kind), available and/or
// enabled, and what is wrong with it.
import { EXIT, UsageError } from '../core/errors.js';
import { table } from '../core/output.js';
import { listServices, requireHome, type ServiceEntry } from '../services/registry.js';
import { makeContext, type CommonArgs } from './context.js';

export interface ListArgs extends CommonArgs {
  /** enabled: linked in scripts-enabled (what a plain `batt` runs); disabled: a script, not linked; available: a script. */
  which?: string;
}

const FILTERS: Record<string, (s: ServiceEntry) => boolean> = {
  enabled: (s) => s.enabled,
  disabled: (s) => s.available && !s.enabled,
  available: (s) => s.available,
};

export async function listCommand(args: ListArgs): Promise<number> {
  if (args.which !== undefined && !Object.hasOwn(FILTERS, args.which)) {
    throw new UsageError(`batt list takes enabled, disabled or available, got "${args.which}"`);
  }
  const ctx = await makeContext(args);
  await requireHome(ctx.home);
  const all = await listServices(ctx.home);
  const services = args.which ? all.filter(FILTERS[args.which]!) : all;
  if (ctx.out.json) {
    ctx.out.data({ home: ctx.home.root, services });
  } else if (services.length === 0) {
    ctx.out.info(args.which ? `no ${args.which} services in ${ctx.home.root}` : `no services in ${ctx.home.available}`);
  } else {
    const rows = [['SERVICE', 'ENABLED', 'RESTORE', 'PROBLEM']];
    for (const s of services) {
      rows.push([s.name, s.enabled ? 'yes' : 'no', s.hasRestore ? 'yes' : 'no', s.problem ?? '']);
    }
    for (const l of table(rows)) ctx.out.info(l);
  }
  for (const s of services.filter((x) => x.problem)) ctx.out.warn(s.problem!);
  return services.some((s) => s.problem && s.enabled) ? EXIT.FAILED : EXIT.OK;
}
