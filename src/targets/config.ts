// Targets are configured one per file: <home>/conf/targets/<name>.conf (KEY=value, like every
// batt conf; a file with a secret-looking key must be 0600). Credentials live there or in the
// standard AWS chain, never on the command line.
import fs from 'node:fs/promises';
import path from 'node:path';
import { loadConfFile, type Conf } from '../config.js';
import { ConfigError, UsageError } from '../errors.js';
import type { Home } from '../home.js';

export const TARGET_KINDS = ['local', 'rsync', 'sftp', 's3', 'ftp'] as const;
export type TargetKind = (typeof TARGET_KINDS)[number];
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
  const kind = (conf.TYPE ?? '').toLowerCase();
  if (!(TARGET_KINDS as readonly string[]).includes(kind)) {
    throw new ConfigError(`${file}: TYPE must be one of ${TARGET_KINDS.join(', ')}, got "${conf.TYPE ?? ''}"`);
  }
  return { name, kind: kind as TargetKind, file, conf };
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

/** A required key, or a config error naming the file. */
export function need(t: TargetConf, key: string): string {
  const v = t.conf[key];
  if (v === undefined || v === '') throw new ConfigError(`${t.file}: ${key} is required for a ${t.kind} target`);
  return v;
}

export function intKey(t: TargetConf, key: string, fallback: number): number {
  const v = t.conf[key];
  if (v === undefined || v === '') return fallback;
  if (!/^\d+$/.test(v)) throw new ConfigError(`${t.file}: ${key} must be a whole number, got "${v}"`);
  return Number(v);
}

export function boolKey(t: TargetConf, key: string, fallback: boolean): boolean {
  const v = (t.conf[key] ?? '').toLowerCase();
  if (v === '') return fallback;
  if (['1', 'yes', 'true', 'on'].includes(v)) return true;
  if (['0', 'no', 'false', 'off'].includes(v)) return false;
  throw new ConfigError(`${t.file}: ${key} must be yes or no, got "${t.conf[key]}"`);
}
