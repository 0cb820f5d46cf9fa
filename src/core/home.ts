// Where batt keeps its scripts, conf and log: /opt/batt unless --home or BATT_HOME says otherwise.
import path from 'node:path';

export const DEFAULT_HOME = '/opt/batt';

export interface Home {
  root: string;
  available: string;
  enabled: string;
  conf: string;
  log: string;
}

export function resolveHome(flag: string | undefined, env: NodeJS.ProcessEnv): Home {
  const root = path.resolve(flag || env.BATT_HOME || DEFAULT_HOME);
  return {
    root,
    available: path.join(root, 'scripts-available'),
    enabled: path.join(root, 'scripts-enabled'),
    conf: path.join(root, 'conf'),
    log: path.join(root, 'log'),
  };
}
