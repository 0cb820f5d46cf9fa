// What one service's script needs to run: the checked script, its conf, its traits and its time
// limit. Built the same way for a backup and for check mode (check.ts), so that a check sees
// exactly what the next run will see.
import { effectiveTimeout, loadConfFile, mergeRunSettings, readRunSettings, serviceConfPath, serviceDrillEvery, serviceMinSizeRatio, serviceTimeout, type Conf, type GlobalSettings } from '../config/config.js';
import type { Home } from '../core/home.js';
import type { ServiceInput } from '../services/options.js';
import { readScriptTraits, resolveScript } from '../services/registry.js';
import type { BackupJob } from './backup.js';

/**
 * Throws what a run would throw: a UsageError/PermissionError for the script, a ConfigError for
 * its conf file or its BACKUP_TIMEOUT (read even when `flagTimeout` wins).
 */
export async function loadJob(
  home: Home,
  service: string,
  input: ServiceInput,
  timeouts: { flag?: number; global?: number },
  /** batt.conf's settings (RETRIES..., MIN_SIZE_RATIO, DRILL_EVERY), which the service's conf overrides key by key */
  global: Pick<GlobalSettings, 'run' | 'minSizeRatio' | 'drillEveryMs'> = {},
): Promise<BackupJob> {
  const script = await resolveScript(home, service);
  const confFile = serviceConfPath(home, service);
  const conf: Conf = await loadConfFile(confFile);
  const run = mergeRunSettings(global.run, readRunSettings(conf, confFile));
  const minSizeRatio = serviceMinSizeRatio(conf, confFile, global.minSizeRatio);
  const timeout = effectiveTimeout({ flag: timeouts.flag, service: serviceTimeout(conf, confFile), global: timeouts.global });
  const { appendOnly, levels, check } = await readScriptTraits(script);
  const drillEveryMs = serviceDrillEvery(conf, confFile) ?? global.drillEveryMs;
  return {
    service,
    script,
    input,
    conf,
    confFile: Object.keys(conf).length ? confFile : undefined,
    appendOnly,
    levels,
    checkMode: check,
    drillEveryMs,
    timeoutMs: timeout.seconds * 1000,
    timeoutFrom: timeout.from,
    run,
    minSizeRatio,
  };
}
