// Conf files: <home>/conf/batt.conf (global) and <home>/conf/<service>.conf.
// Format: KEY=value lines, '#' comments, optional single or double quotes; nothing is
// expanded or executed. Service keys reach the script as BATT_CONF_<KEY> variables.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { GLOBAL_KEYS, GLOBAL_RELATIONS, RUN_KEYS, SERVICE_KEYS, enforce, hostName, setting } from './confkeys.js';
import { ConfigError, PermissionError } from '../core/errors.js';
import type { Home } from '../core/home.js';

export { parseWeekStart } from './confkeys.js';

export type { Conf } from './confkeys.js';
import type { Conf } from './confkeys.js';

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
    // not a fault of the conf: who runs batt (a user on root's home) may not read it
    if (code === 'EACCES' || code === 'EPERM') {
      throw new PermissionError(`cannot read ${file}: permission denied`, 'run as root, or set --home / BATT_HOME to a home you own');
    }
    throw new ConfigError(`cannot read ${file}: ${code === 'EISDIR' ? 'it is a folder' : code === 'EIO' ? 'input/output error' : (code ?? String(err))}`);
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
  /** HOST_NAME: this host's name on shared targets (hostName() falls back to the system's). */
  hostName?: string;
  jobs?: number;
  timeoutSeconds?: number;
  /** MIN_SIZE_RATIO of batt.conf: see sizeDropWarning (src/run/backup.ts). */
  minSizeRatio?: number;
  /** DRILL_EVERY in ms (0: off). */
  drillEveryMs?: number;
  /** Notifications after a run (src/notify); absent keys = that notifier is off. */
  notify?: NotifySettings;
  /** RUN_KEYS of batt.conf: every service's defaults (a <service>.conf's own win: runSettings). */
  run?: RunSettings;
  /** METRICS_DIR: where batt.prom is written (src/ops/metrics.ts). */
  metricsDir?: string;
  /** SYSLOG (a facility) and SYSLOG_SOCKET; absent = no syslog. */
  syslog?: { facility: string; socket?: string };
}

/** How a service's backup runs and how fresh it must be (RUN_KEYS); undefined = not set. */
export interface RunSettings {
  retries?: number;
  retryWaitSeconds?: number;
  nice?: number;
  ioniceClass?: number;
  ioniceLevel?: number;
  maxAgeSeconds?: number;
  warnAgeSeconds?: number;
}

/** The RUN_KEYS of one conf file (batt.conf or a <service>.conf). */
export function readRunSettings(conf: Conf, file: string): RunSettings {
  const key = <K extends keyof typeof RUN_KEYS & string>(k: K) => setting(RUN_KEYS, k, conf, file);
  return {
    retries: key('RETRIES'),
    retryWaitSeconds: key('RETRY_WAIT'),
    nice: key('NICE'),
    ioniceClass: key('IONICE_CLASS'),
    ioniceLevel: key('IONICE_LEVEL'),
    maxAgeSeconds: key('MAX_AGE'),
    warnAgeSeconds: key('WARN_AGE'),
  };
}

/** A service's run settings: each key of its own conf over batt.conf's. */
export function mergeRunSettings(global: RunSettings | undefined, own: RunSettings): RunSettings {
  const out: RunSettings = { ...global };
  for (const [k, v] of Object.entries(own) as [keyof RunSettings, number | undefined][]) if (v !== undefined) out[k] = v;
  return out;
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
  on: 'failure' | 'warning' | 'always';
  timeoutSeconds: number;
  smtp?: SmtpSettings;
  webhookUrl?: string;
  webhookToken?: string;
  /** json (the run summary) or slack ({"text": ...}) */
  webhookFormat: 'json' | 'slack';
  ntfyUrl?: string;
  ntfyToken?: string;
  healthcheckUrl?: string;
}

function notifySettings(conf: Conf, file: string): NotifySettings {
  const key = <K extends keyof typeof GLOBAL_KEYS & string>(k: K) => setting(GLOBAL_KEYS, k, conf, file);
  // The order of the reads is the order problems are found in.
  const port = key('SMTP_PORT');
  const to = key('SMTP_TO') ?? [];
  enforce(GLOBAL_RELATIONS, conf, file);
  const on = key('NOTIFY_ON') ?? 'failure';
  const timeoutSeconds = key('NOTIFY_TIMEOUT') ?? 20;
  const host = key('SMTP_HOST');
  return {
    on,
    timeoutSeconds,
    // SMTP_TLS is read only when mail is on (the check flags a bad one regardless).
    smtp: host
      ? {
          host,
          port,
          tls: key('SMTP_TLS') ?? 'starttls',
          user: key('SMTP_USER'),
          password: key('SMTP_PASSWORD'),
          from: key('SMTP_FROM'),
          to,
          caFile: key('SMTP_CA_FILE'),
        }
      : undefined,
    webhookUrl: key('WEBHOOK_URL'),
    webhookToken: key('WEBHOOK_TOKEN'),
    webhookFormat: key('WEBHOOK_FORMAT') ?? 'json',
    ntfyUrl: key('NTFY_URL'),
    ntfyToken: key('NTFY_TOKEN'),
    healthcheckUrl: key('HEALTHCHECK_URL'),
  };
}

const drillEvery = (ms: number | undefined) => (ms === undefined ? {} : { drillEveryMs: ms });

export async function loadGlobalSettings(home: Home): Promise<GlobalSettings> {
  const file = globalConfPath(home);
  const conf = await loadConfFile(file);
  return {
    pattern: setting(GLOBAL_KEYS, 'DEST', conf, file),
    hostName: setting(GLOBAL_KEYS, 'HOST_NAME', conf, file),
    jobs: setting(GLOBAL_KEYS, 'JOBS', conf, file),
    timeoutSeconds: setting(GLOBAL_KEYS, 'TIMEOUT', conf, file),
    minSizeRatio: setting(GLOBAL_KEYS, 'MIN_SIZE_RATIO', conf, file),
    ...drillEvery(setting(GLOBAL_KEYS, 'DRILL_EVERY', conf, file)),
    notify: notifySettings(conf, file),
    run: readRunSettings(conf, file),
    metricsDir: setting(GLOBAL_KEYS, 'METRICS_DIR', conf, file),
    syslog: syslogSettings(conf, file),
  };
}

function syslogSettings(conf: Conf, file: string): GlobalSettings['syslog'] {
  const facility = setting(GLOBAL_KEYS, 'SYSLOG', conf, file);
  const socket = setting(GLOBAL_KEYS, 'SYSLOG_SOCKET', conf, file);
  return facility ? { facility, socket } : undefined;
}

/**
 * This host's name: HOST_NAME of batt.conf, else the system host name. It goes into every manifest
 * and names the folder of this host's copies on a target; a system name that cannot name a folder
 * is refused where a target needs it (hostFolder), with the hint to set HOST_NAME.
 */
export function thisHost(settings: Pick<GlobalSettings, 'hostName'>): string {
  return settings.hostName ?? os.hostname();
}

/** The host name as the first folder of its copies on a target: a ConfigError when it cannot be one. */
export function hostFolder(name: string): string {
  const v = hostName(name);
  if (!v.ok) throw new ConfigError(`the host name ${v.why}`, 'set HOST_NAME in batt.conf');
  return v.value;
}

// How long a backup script may run: `--timeout` (every service of the run) over the service's
// BACKUP_TIMEOUT over batt.conf TIMEOUT over 4 h. Only the flag can say 0 (no limit).
export const DEFAULT_TIMEOUT_SECONDS = 4 * 3600;

/** Which setting gave a service its timeout (said in the timeout message when it is not obvious). */
export type TimeoutSource = '--timeout' | 'BACKUP_TIMEOUT' | 'TIMEOUT' | 'default';

export interface TimeoutInputs {
  /** --timeout, when given (0 = no limit) */
  flag?: number;
  /** BACKUP_TIMEOUT of the service's conf */
  service?: number;
  /** TIMEOUT of batt.conf */
  global?: number;
}

export function effectiveTimeout(t: TimeoutInputs): { seconds: number; from: TimeoutSource } {
  if (t.flag !== undefined) return { seconds: t.flag, from: '--timeout' };
  if (t.service !== undefined) return { seconds: t.service, from: 'BACKUP_TIMEOUT' };
  if (t.global !== undefined) return { seconds: t.global, from: 'TIMEOUT' };
  return { seconds: DEFAULT_TIMEOUT_SECONDS, from: 'default' };
}

/** BACKUP_TIMEOUT of a <service>.conf (rule in confkeys.ts): seconds, or undefined when unset. */
/** A service's DRILL_EVERY (ms) when its conf sets it. */
export function serviceDrillEvery(conf: Conf, file: string): number | undefined {
  return setting(SERVICE_KEYS, 'DRILL_EVERY', conf, file);
}

export function serviceTimeout(conf: Conf, file: string): number | undefined {
  return setting(SERVICE_KEYS, 'BACKUP_TIMEOUT', conf, file);
}

/** The default MIN_SIZE_RATIO: a backup under half the size of the previous one gets a warning. */
export const DEFAULT_MIN_SIZE_RATIO = 0.5;

/** MIN_SIZE_RATIO of a service: its own conf over batt.conf over the default. */
export function serviceMinSizeRatio(conf: Conf, file: string, global: number | undefined): number {
  return setting(SERVICE_KEYS, 'MIN_SIZE_RATIO', conf, file) ?? global ?? DEFAULT_MIN_SIZE_RATIO;
}
