// Targets are configured one per file: <home>/conf/targets/<name>.conf (KEY=value, like every
// batt conf; a file with a secret-looking key must be 0600). Credentials live there or in the
// standard AWS chain, never on the command line.
import fs from 'node:fs/promises';
import path from 'node:path';
import { loadConfFile, type Conf } from '../config/config.js';
import { TARGET_KEYS, setting, type KeysOf, type TargetKind } from '../config/confkeys.js';
import { UsageError } from '../core/errors.js';
import type { Home } from '../core/home.js';

export { TARGET_KINDS, type TargetKind } from '../config/confkeys.js';
const NAME = /^[a-z0-9][a-z0-9_-]{0,63}$/;

export interface TargetConf {
  name: string;
  kind: TargetKind;
  file: string;
  conf: Conf;
}

export function targetsDir(home: Home): string {
  return path.join(home.conf, 'targets');
}

export function validateTargetName(name: string): void {
  if (!NAME.test(name)) throw new UsageError(`"${name}" is not a valid target name (a-z, 0-9, _ and -)`);
}

export async function loadTarget(home: Home, name: string): Promise<TargetConf> {
  validateTargetName(name);
  const file = path.join(targetsDir(home), `${name}.conf`);
  try {
    await fs.access(file);
  } catch {
    throw new UsageError(`no target named ${name}`, `create ${file}`);
  }
  const conf = await loadConfFile(file);
  const kind = setting(TARGET_KEYS, 'TYPE', conf, file)!; // required: never undefined
  return { name, kind, file, conf };
}

/** Every configured target (files conf/targets/*.conf), by name. */
export async function listTargetNames(home: Home): Promise<string[]> {
  let names: string[];
  try {
    names = await fs.readdir(targetsDir(home));
  } catch {
    return [];
  }
  return names
    .filter((n) => n.endsWith('.conf'))
    .map((n) => n.slice(0, -5))
    .filter((n) => NAME.test(n))
    .sort();
}

/** A key of the target table (confkeys.ts), parsed by its rule; undefined when unset or empty. */
export function targetSetting<K extends keyof typeof TARGET_KEYS & string>(t: TargetConf, key: K) {
  return setting(TARGET_KEYS, key, t.conf, t.file);
}

/** A whole-number key of the target table, or the fallback when unset. */
export function intKey(t: TargetConf, key: KeysOf<typeof TARGET_KEYS, number>, fallback: number): number {
  return targetSetting(t, key) ?? fallback;
}

/** A yes/no key of the target table, or the fallback when unset. */
export function boolKey(t: TargetConf, key: KeysOf<typeof TARGET_KEYS, boolean>, fallback: boolean): boolean {
  return targetSetting(t, key) ?? fallback;
}
