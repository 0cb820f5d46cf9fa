// `batt list`: every service, available and/or enabled, and what is wrong with it.
import { EXIT } from '../core/errors.js';
import { table } from '../core/output.js';
import { listServices, requireHome } from '../services/registry.js';
import { makeContext, type CommonArgs } from './context.js';

export async function listCommand(args: CommonArgs): Promise<number> {
  const ctx = await makeContext(args);
  await requireHome(ctx.home);
  const services = await listServices(ctx.home);
  if (ctx.out.json) {
    ctx.out.data({ home: ctx.home.root, services });
  } else if (services.length === 0) {
    ctx.out.info(`no services in ${ctx.home.available}`);
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
