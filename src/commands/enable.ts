// `batt enable SERVICE...`: link scripts-available/backup-X into scripts-enabled. A service with
// no conf file gets a copy of conf/X.conf.example (0600) to edit; then its script's check mode
// runs, and what it finds wrong is a warning: enabling still succeeded.
import fs from 'node:fs/promises';
import { serviceConfPath } from '../config/config.js';
import { EXIT, fromSystemError } from '../core/errors.js';
import type { Home } from '../core/home.js';
import { checkServices } from '../run/check.js';
import { enableServices, requireHome } from '../services/registry.js';
import { makeContext, type CommonArgs } from './context.js';

/** Copies conf/<service>.conf.example to conf/<service>.conf when there is an example and no conf. */
async function installConfExample(home: Home, service: string): Promise<string | undefined> {
  const conf = serviceConfPath(home, service);
  const example = `${conf}.example`;
  try {
    await fs.access(example);
  } catch {
    return undefined;
  }
  try {
    // COPYFILE_EXCL: a conf file that appeared meanwhile (or a link planted there) is never replaced
    await fs.copyFile(example, conf, fs.constants.COPYFILE_EXCL);
    await fs.chmod(conf, 0o600);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return undefined;
    throw fromSystemError(err, conf);
  }
  return conf;
}

async function hasConf(home: Home, service: string): Promise<boolean> {
  return fs.lstat(serviceConfPath(home, service)).then(
    () => true,
    () => false,
  );
}

export async function enableCommand(args: CommonArgs & { services: string[] }): Promise<number> {
  const ctx = await makeContext(args);
  await requireHome(ctx.home);
  const services = args.services.map(String);
  const changed = await enableServices(ctx.home, services);
  for (const s of services) {
    ctx.out.info(changed.includes(s) ? `enabled ${s}` : `${s} was already enabled`);
    if (await hasConf(ctx.home, s)) continue;
    const installed = await installConfExample(ctx.home, s);
    if (installed) ctx.out.info(`installed ${installed} from ${installed}.example (mode 0600): edit it to configure ${s}`);
  }
  for (const v of await checkServices(ctx.home, services, { homeRoot: ctx.home.root, baseEnv: ctx.env, globalTimeout: ctx.settings.timeoutSeconds })) {
    if (!v.ok) ctx.out.warn(`${v.service} is enabled, but its next run would fail: ${v.problem}`);
  }
  return EXIT.OK;
}
