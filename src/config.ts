// Conf files: <home>/conf/batt.conf (global) and <home>/conf/<service>.conf.
// Format: KEY=value lines, '#' comments, optional single or double quotes; nothing is
// expanded or executed. Service keys reach the script as BATT_CONF_<KEY> variables.
import fs from 'node:fs/promises';
import path from 'node:path';
import { ConfigError } from './errors.js';
import type { Home } from './home.js';

export type Conf = Record<string, string>;

const KEY = /^[A-Z][A-Z0-9_]*$/;
export const SECRET_KEY = /PASS|SECRET|TOKEN|KEY|CREDENTIAL/i;

export function parseConf(text: string, file: string): Conf {
  const out: Conf = {};
  const lines = text.split(/\r?\n/);
  lines.forEach((raw, i) => {
    const line = raw.trim();
    if (!line || line.startsWith('#')) return;
    const eq = line.indexOf('=');
    const where = `${file}:${i + 1}`;
    if (eq < 0) throw new ConfigError(`${where}: expected KEY=value, got "${line.slice(0, 40)}"`);
    const key = line.slice(0, eq).trim().replace(/^export\s+/, '');
    if (!KEY.test(key)) throw new ConfigError(`${where}: "${key}" is not a valid key (A-Z, 0-9, _)`);
    let value = line.slice(eq + 1).trim();
    const q = value[0];
    if (q === '"' || q === "'") {
      if (value.length < 2 || value[value.length - 1] !== q) {
        throw new ConfigError(`${where}: unterminated quote in ${key}`);
      }
      value = value.slice(1, -1);
      if (q === '"') value = value.replace(/\\(["\\$`])/g, '$1');
    }
    out[key] = value;
  });
  return out;
}

/** Reads a conf file; a missing file is an empty conf. Refuses secrets readable by others. */
export async function loadConfFile(file: string): Promise<Conf> {
  let text: string;
  let mode: number;
  try {
    const st = await fs.stat(file);
    mode = st.mode;
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return {};
    throw new ConfigError(`cannot read ${file}: ${code ?? String(err)}`);
  }
  const conf = parseConf(text, file);
  const secrets = Object.keys(conf).filter((k) => SECRET_KEY.test(k) && conf[k] !== '');
  if (secrets.length && mode & 0o077) {
    throw new ConfigError(
      `${file} holds ${secrets.join(', ')} but is readable by others (mode ${(mode & 0o777).toString(8)})`,
      `chmod 600 ${file}`,
    );
  }
  return conf;
}

export function serviceConfPath(home: Home, service: string): string {
  return path.join(home.conf, `${service}.conf`);
}

export function globalConfPath(home: Home): string {
  return path.join(home.conf, 'batt.conf');
}

/** The conf as environment for a script: BATT_CONF_<KEY>=value. */
export function confEnv(conf: Conf): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(conf)) env[`BATT_CONF_${k}`] = v;
  return env;
}

export interface GlobalSettings {
  pattern?: string;
  jobs?: number;
  timeoutSeconds?: number;
}

function positiveInt(conf: Conf, key: string, file: string): number | undefined {
  const v = conf[key];
  if (v === undefined || v === '') return undefined;
  if (!/^\d+$/.test(v) || Number(v) < 1) throw new ConfigError(`${file}: ${key} must be a positive whole number, got "${v}"`);
  return Number(v);
}

export async function loadGlobalSettings(home: Home): Promise<GlobalSettings> {
  const file = globalConfPath(home);
  const conf = await loadConfFile(file);
  return {
    pattern: conf.DEST || undefined,
    jobs: positiveInt(conf, 'JOBS', file),
    timeoutSeconds: positiveInt(conf, 'TIMEOUT', file),
  };
}
