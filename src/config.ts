// Conf files: <home>/conf/batt.conf (global) and <home>/conf/<service>.conf.
// Format: KEY=value lines, '#' comments, optional single or double quotes; nothing is
// expanded or executed. Service keys reach the script as BATT_CONF_<KEY> variables.
import fs from 'node:fs/promises';
import path from 'node:path';
import { ConfigError } from './errors.js';
import type { Home } from './home.js';
import type { RetentionPolicy, WeekStart } from './retention.js';

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
  /** Notifications after a run (src/notify); absent keys = that notifier is off. */
  notify?: NotifySettings;
}

export interface SmtpSettings {
  host: string;
  port?: number;
  /** tls = implicit TLS (465), starttls = must upgrade (default), none = plain (local relays only) */
  tls: 'tls' | 'starttls' | 'none';
  user?: string;
  password?: string;
  from?: string;
  to: string[];
  /** PEM file of a CA to trust for the server's certificate (a private CA) */
  caFile?: string;
}

export interface NotifySettings {
  on: 'failure' | 'always';
  timeoutSeconds: number;
  smtp?: SmtpSettings;
  webhookUrl?: string;
  webhookToken?: string;
  healthcheckUrl?: string;
}

function oneOf<T extends string>(conf: Conf, key: string, file: string, allowed: readonly T[], fallback: T): T {
  const v = conf[key];
  if (v === undefined || v === '') return fallback;
  if (!(allowed as readonly string[]).includes(v)) {
    throw new ConfigError(`${file}: ${key} must be one of ${allowed.join(', ')}, got "${v}"`);
  }
  return v as T;
}

function notifySettings(conf: Conf, file: string): NotifySettings {
  const port = positiveInt(conf, 'SMTP_PORT', file);
  if (port !== undefined && port > 65535) throw new ConfigError(`${file}: SMTP_PORT must be 1-65535, got "${port}"`);
  const to = (conf.SMTP_TO ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  if (conf.SMTP_HOST && to.length === 0) throw new ConfigError(`${file}: SMTP_HOST is set but SMTP_TO is empty`);
  return {
    on: oneOf(conf, 'NOTIFY_ON', file, ['failure', 'always'] as const, 'failure'),
    timeoutSeconds: positiveInt(conf, 'NOTIFY_TIMEOUT', file) ?? 20,
    smtp: conf.SMTP_HOST
      ? {
          host: conf.SMTP_HOST,
          port,
          tls: oneOf(conf, 'SMTP_TLS', file, ['tls', 'starttls', 'none'] as const, 'starttls'),
          user: conf.SMTP_USER || undefined,
          password: conf.SMTP_PASSWORD || undefined,
          from: conf.SMTP_FROM || undefined,
          to,
          caFile: conf.SMTP_CA_FILE || undefined,
        }
      : undefined,
    webhookUrl: conf.WEBHOOK_URL || undefined,
    webhookToken: conf.WEBHOOK_TOKEN || undefined,
    healthcheckUrl: conf.HEALTHCHECK_URL || undefined,
  };
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
    notify: notifySettings(conf, file),
  };
}

// Retention (batt purge, batt --purge): KEEP_* counts and WEEK_START in batt.conf are the
// defaults; the same keys in <service>.conf override them key by key; CLI flags override both.
export const RETENTION_KEYS = {
  KEEP_LAST: 'last',
  KEEP_HOURLY: 'hourly',
  KEEP_DAILY: 'daily',
  KEEP_WEEKLY: 'weekly',
  KEEP_MONTHLY: 'monthly',
  KEEP_YEARLY: 'yearly',
} as const;

export interface RetentionConf extends RetentionPolicy {
  weekStart?: WeekStart;
  /** PURGE_AFTER_RUN=yes in batt.conf: every successful run purges the services it backed up. */
  purgeAfterRun?: boolean;
}

/** mon|monday|sun|sunday (any case) -> 'mon' | 'sun'; anything else -> undefined. */
export function parseWeekStart(v: string): WeekStart | undefined {
  const s = v.trim().toLowerCase();
  if (s === 'mon' || s === 'monday') return 'mon';
  if (s === 'sun' || s === 'sunday') return 'sun';
  return undefined;
}

export function retentionConf(conf: Conf, file: string): RetentionConf {
  const out: RetentionConf = {};
  for (const [key, bucket] of Object.entries(RETENTION_KEYS)) {
    const v = conf[key];
    if (v === undefined || v === '') continue;
    if (!/^\d{1,6}$/.test(v)) throw new ConfigError(`${file}: ${key} must be a whole number >= 0, got "${v}"`);
    out[bucket] = Number(v);
  }
  if (conf.WEEK_START) {
    const ws = parseWeekStart(conf.WEEK_START);
    if (!ws) throw new ConfigError(`${file}: WEEK_START must be mon or sun, got "${conf.WEEK_START}"`);
    out.weekStart = ws;
  }
  if (conf.PURGE_AFTER_RUN) {
    const v = conf.PURGE_AFTER_RUN.toLowerCase();
    if (!['yes', 'no', '1', '0', 'true', 'false'].includes(v)) {
      throw new ConfigError(`${file}: PURGE_AFTER_RUN must be yes or no, got "${conf.PURGE_AFTER_RUN}"`);
    }
    out.purgeAfterRun = ['yes', '1', 'true'].includes(v);
  }
  return out;
}
