// The environment every script (backup or restore) sees: the caller's, less any stray BATT_
// variables, plus its service's conf (BATT_CONF_*), its options (BATT_OPT_*) and batt's own.
import { confEnv, type Conf } from '../config/config.js';
import { optionEnv, type ServiceInput } from './options.js';

export function composeEnv(
  baseEnv: NodeJS.ProcessEnv,
  conf: Conf,
  input: ServiceInput,
  batt: Record<string, string | undefined>,
): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(baseEnv)) {
    if (v !== undefined && !k.startsWith('BATT_')) env[k] = v;
  }
  Object.assign(env, confEnv(conf), optionEnv(input));
  for (const [k, v] of Object.entries(batt)) if (v !== undefined) env[k] = v;
  return env;
}

/**
 * The caller's working folder (BATT_CWD: scripts run in their own folder, so a relative path the
 * user typed is resolved against this), or undefined when it was removed (process.cwd() throws).
 */
export function callerCwd(): string | undefined {
  try {
    return process.cwd();
  } catch {
    return undefined;
  }
}
