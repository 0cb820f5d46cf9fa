// The key rules of every batt conf file, in one table per kind of file: how each value is
// parsed and what is said when it is wrong. The loaders (config.ts, targets/config.ts) read
// keys through `setting`, which throws the first problem as a ConfigError; `batt config check`
// (configcheck.ts) runs the same rules over every line through `problem` and lists them all.
// A key added or changed here is therefore checked the same way by both.
import { validatePattern } from '../core/destination.js';
import { parseDuration } from '../core/duration.js';
import { ConfigError, UsageError } from '../core/errors.js';

/** A rule's verdict on one non-empty value: the parsed value, or why it is wrong ("KEY <why>"). */
/** A conf file's KEY=value pairs, as read (config.ts parseConf). */
export type Conf = Record<string, string>;

/** First day of the week for retention's weekly bucket (WEEK_START, --week-start). */
export type WeekStart = 'mon' | 'sun';

/** The keep-* and week-start flags, shared by `batt purge` and `batt --purge`: RETENTION_KEYS on the command line. */
export const RETENTION_FLAGS = ['keep-last', 'keep-hourly', 'keep-daily', 'keep-weekly', 'keep-monthly', 'keep-yearly', 'max-days', 'week-start'] as const;

export type Verdict<T> = { ok: true; value: T } | { ok: false; why: string };
export type Rule<T> = (value: string) => Verdict<T>;
/** A check only `batt config check` makes: why the value is doubtful, or undefined. */
export type Lint = (value: string) => string | undefined;

export interface KeySpec {
  doc: string;
  /** How loaders and check parse the value; absent: any text is taken as it is. */
  rule?: Rule<unknown>;
  /**
   * Checked by `batt config check` only (after the rule). The loaders take these values as they
   * are and leave them to whatever uses them: a typo in a notification setting does not stop
   * backups, and DEST is validated where the pattern is used, after --path and BATT_PATH.
   */
  lint?: Lint;
  /** Empty or absent is an error (the rule sees ''), not "use the default". */
  required?: boolean;
}

const ok = <T>(value: T): Verdict<T> => ({ ok: true, value });
const no = (why: string): Verdict<never> => ({ ok: false, why });

// ---- rules -------------------------------------------------------------------------------

const positiveInt: Rule<number> = (v) => (/^\d+$/.test(v) && Number(v) >= 1 ? ok(Number(v)) : no(`must be a positive whole number, got "${v}"`));
/** Retention counts: 0 switches a rule off; at most six digits. */
const count: Rule<number> = (v) => (/^\d{1,6}$/.test(v) ? ok(Number(v)) : no(`must be a whole number >= 0, got "${v}"`));
const wholeNumber: Rule<number> = (v) => (/^\d+$/.test(v) ? ok(Number(v)) : no(`must be a whole number, got "${v}"`));
/** MIN_SIZE_RATIO: a fraction from 0 to 1 (0 switches the check off). */
const ratio: Rule<number> = (v) => (/^(0|1)(\.0*)?$|^0?\.\d+$/.test(v) ? ok(Number(v)) : no(`must be a number from 0 to 1 (0 = off), got "${v}"`));
/** DRILL_EVERY: a number and a unit (s, m, h, d, w), as milliseconds; 0 switches drills off. */
export const every: Rule<number> = (v) => {
  // one number and one unit only (stricter than parseDuration, whose units it shares)
  if (!/^\d{1,6}[smhdw]$/.test(v)) return v === '0' ? ok(0) : no(`must be a number and a unit (s, m, h, d, w), like 7d or 12h, got "${v}"`);
  return ok(parseDuration(v)! * 1000);
};
const port: Rule<number> = (v) =>
  /^\d+$/.test(v) && Number(v) >= 1 && Number(v) <= 65535 ? ok(Number(v)) : no(`must be a port number 1-65535, got "${v}"`);
/** Exactly one of the words (case matters). */
const oneOf =
  <T extends string>(...allowed: T[]): Rule<T> =>
  (v) =>
    (allowed as string[]).includes(v) ? ok(v as T) : no(`must be one of ${allowed.join(', ')}, got "${v}"`);
/** PURGE_AFTER_RUN: yes/no, 1/0, true/false in any case. */
const yesNo: Rule<boolean> = (v) => {
  const s = v.toLowerCase();
  return ['yes', 'no', '1', '0', 'true', 'false'].includes(s) ? ok(['yes', '1', 'true'].includes(s)) : no(`must be yes or no, got "${v}"`);
};
/** Target switches: also on/off. */
const yesNoOnOff: Rule<boolean> = (v) => {
  const s = v.toLowerCase();
  if (['1', 'yes', 'true', 'on'].includes(s)) return ok(true);
  if (['0', 'no', 'false', 'off'].includes(s)) return ok(false);
  return no(`must be yes or no, got "${v}"`);
};

/** An age or a wait: "26h", "1d12h", "90m", "45s" or bare seconds (core/duration.ts). */
const duration: Rule<number> = (v) => {
  const s = parseDuration(v);
  return s === undefined ? no(`must be a duration such as 26h, 90m, 1d12h or seconds, got "${v}"`) : ok(s);
};
/** NICE: the nice(1) adjustment, -20 (first) to 19 (last); below 0 needs root. */
const niceness: Rule<number> = (v) => (/^-?\d{1,2}$/.test(v) && Number(v) >= -20 && Number(v) <= 19 ? ok(Number(v)) : no(`must be a whole number from -20 to 19, got "${v}"`));

export const IONICE_CLASSES = { none: 0, realtime: 1, 'best-effort': 2, idle: 3 } as const;
/** IONICE_CLASS: a name or number of ionice(1) -c; 0 / none leaves the I/O class alone. */
const ioniceClass: Rule<number> = (v) => {
  const s = v.toLowerCase();
  if (/^[0-3]$/.test(s)) return ok(Number(s));
  if (Object.hasOwn(IONICE_CLASSES, s)) return ok(IONICE_CLASSES[s as keyof typeof IONICE_CLASSES]);
  return no(`must be idle, best-effort, realtime or none (3, 2, 1, 0), got "${v}"`);
};
const ioniceLevel: Rule<number> = (v) => (/^[0-7]$/.test(v) ? ok(Number(v)) : no(`must be a whole number from 0 (first) to 7 (last), got "${v}"`));

export const SYSLOG_FACILITIES = ['kern', 'user', 'mail', 'daemon', 'auth', 'syslog', 'lpr', 'news', 'uucp', 'cron', 'authpriv', 'ftp', 'local0', 'local1', 'local2', 'local3', 'local4', 'local5', 'local6', 'local7'] as const;
/** SYSLOG: yes (facility daemon), no, or a facility name: the facility, or undefined for off. */
const syslogSetting: Rule<string | false> = (v) => {
  const s = v.toLowerCase();
  if (['yes', '1', 'true', 'on'].includes(s)) return ok('daemon');
  if (['no', '0', 'false', 'off'].includes(s)) return ok(false);
  if ((SYSLOG_FACILITIES as readonly string[]).includes(s)) return ok(s);
  return no(`must be yes, no or a facility (daemon, user, local0...local7...), got "${v}"`);
};

/** mon|monday|sun|sunday (any case) -> 'mon' | 'sun'; anything else -> undefined. */
export function parseWeekStart(v: string): WeekStart | undefined {
  const s = v.trim().toLowerCase();
  if (s === 'mon' || s === 'monday') return 'mon';
  if (s === 'sun' || s === 'sunday') return 'sun';
  return undefined;
}
const weekStart: Rule<WeekStart> = (v) => {
  const ws = parseWeekStart(v);
  return ws ? ok(ws) : no(`must be mon or sun, got "${v}"`);
};

/** Comma-separated, blanks dropped. */
export const list: Rule<string[]> = (v) =>
  ok(
    v
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  );

export const TARGET_KINDS = ['local', 'rsync', 'sftp', 's3', 'ftp', 'restic'] as const;
export type TargetKind = (typeof TARGET_KINDS)[number];
const targetKind: Rule<TargetKind> = (v) => {
  const s = v.toLowerCase();
  return (TARGET_KINDS as readonly string[]).includes(s) ? ok(s as TargetKind) : no(`must be one of ${TARGET_KINDS.join(', ')}, got "${v}"`);
};
const ftpSecure: Rule<boolean | 'implicit'> = (v) => {
  const s = v.toLowerCase();
  if (s === 'no') return ok(false);
  if (s === 'yes') return ok(true);
  if (s === 'implicit') return ok('implicit' as const);
  return no('must be no, yes or implicit');
};
/**
 * A path batt hands to a tool or opens itself: it must not depend on the working folder (a check
 * run by hand from /root and the nightly run from cron or a timer start in different folders).
 */
const absPath: Rule<string> = (v) => (v.startsWith('/') ? ok(v) : no(`must be an absolute path, got "${v}"`));
/** A key this kind of target cannot work without (then the inner rule, if any). */
const needed =
  (kind: TargetKind, rule: Rule<string> = ok): Rule<string> =>
  (v) =>
    v === '' ? no(`is required for a ${kind} target`) : rule(v);

const RECIPIENT = /^(age1[02-9ac-hj-np-z]{58}|ssh-(ed25519|rsa) [A-Za-z0-9+/=]+)$/;
/** RECIPIENT: age or ssh public keys, separated by commas or blanks. */
export const recipients: Rule<string[]> = (v) => {
  const keys = v
    .split(/[,\s]+(?=age1|ssh-)/)
    .map((s) => s.trim())
    .filter(Boolean);
  const bad = keys.find((r) => !RECIPIENT.test(r));
  return bad === undefined ? ok(keys) : no(`"${bad.slice(0, 20)}..." is not an age or ssh public key`);
};
/**
 * HOST_NAME: the first folder of this host's copies on a target, so one letter or digit first, then
 * letters, digits, dot, dash, underscore (never `.` or `..`, never a slash).
 */
export const hostName: Rule<string> = (v) =>
  /^[A-Za-z0-9][A-Za-z0-9._-]{0,252}$/.test(v) ? ok(v) : no(`must be a host name (letters, digits, . _ -, starting with a letter or digit), got "${v}"`);
/** PASSPHRASE: never in a conf (empty = unset is fine). */
const refusedPassphrase: Rule<never> = () => no('is refused: put the passphrase in a 0600 file and name it with PASSPHRASE_FILE');

// ---- lints (batt config check only) ------------------------------------------------------

const host: Lint = (v) => (/^[A-Za-z0-9.:[\]_-]+$/.test(v) ? undefined : `"${v}" is not a host name or address`);
const url: Lint = (v) => {
  try {
    const u = new URL(v);
    return u.protocol === 'http:' || u.protocol === 'https:' ? undefined : `must be an http:// or https:// URL`;
  } catch {
    return 'is not a valid URL';
  }
};
const ADDRESS = /^(?:[^<>@\s,]+@[^<>@\s,]+|[^<>,]*<[^<>@\s,]+@[^<>@\s,]+>)$/;
const addresses: Lint = (v) => {
  const bad = v.split(',').map((s) => s.trim()).filter((s) => s && !ADDRESS.test(s));
  if (bad.length) return `"${bad[0]}" is not a mail address`;
  return v.trim() ? undefined : 'is empty';
};
/** absPath as a lint (same words), for keys only `batt config check` judges. */
const absolute: Lint = (v) => {
  const r = absPath(v);
  return r.ok ? undefined : r.why;
};
/** A space-separated list of paths (PATHS, DATABASES): the first relative one. */
const absoluteList: Lint = (v) => {
  const bad = v.split(/\s+/).find((p) => p !== '' && !p.startsWith('/'));
  return bad === undefined ? undefined : `must be absolute paths, got "${bad}"`;
};
/** OS_USER: a login name as useradd takes it (Debian's NAME_REGEX, capitals allowed). */
/** METHOD of the database services: logical dumps (the default) or a physical copy. */
const dumpMethod: Lint = (v) => {
  const r = oneOf('logical', 'physical')(v);
  return r.ok ? undefined : r.why;
};
/** METHOD of the mysql service: also mydumper (parallel per-table dumps, docs/services/mysql.md). */
const mysqlMethod: Lint = (v) => {
  const r = oneOf('logical', 'physical', 'mydumper')(v);
  return r.ok ? undefined : r.why;
};
/** COMPRESS of the mysql and postgresql services: zstd dumps (the default) or plain ones for a restic target. */
const dumpCompress: Lint = (v) => {
  const r = oneOf('zstd', 'none')(v);
  return r.ok ? undefined : r.why;
};
/** SNAPSHOT of the file service: the filesystem whose read-only snapshot is archived. */
const snapshotKind: Lint = (v) => {
  const r = oneOf('none', 'btrfs', 'lvm', 'zfs')(v);
  return r.ok ? undefined : r.why;
};
/** SNAPSHOT_SIZE of the file service: lvcreate --extents N%ORIGIN|VG|FREE|PVS or --size N[unit]. */
const snapshotSize: Lint = (v) =>
  /^\d+%(ORIGIN|VG|FREE|PVS)$/.test(v) || /^\d+(\.\d+)?[bBsSkKmMgGtTpPeE]?$/.test(v)
    ? undefined
    : `must be N%ORIGIN, N%VG, N%FREE or a size such as 2G, got "${v}"`;
const userName: Lint = (v) => (/^[A-Za-z_][A-Za-z0-9_.-]*\$?$/.test(v) ? undefined : `must be a user name, got "${v}"`);
const pattern: Lint = (v) => {
  try {
    validatePattern(v);
    return undefined;
  } catch (err) {
    if (err instanceof UsageError) return err.message;
    throw err;
  }
};

// ---- the tables --------------------------------------------------------------------------

/** Retention (batt purge): in batt.conf, a <service>.conf and a target's conf alike. */
export const RETENTION_KEYS = {
  KEEP_LAST: { rule: count, doc: 'retention: keep the N newest backups' },
  KEEP_HOURLY: { rule: count, doc: 'retention: one backup per hour for N hours' },
  KEEP_DAILY: { rule: count, doc: 'retention: one backup per day for N days' },
  KEEP_WEEKLY: { rule: count, doc: 'retention: one backup per week for N weeks' },
  KEEP_MONTHLY: { rule: count, doc: 'retention: one backup per month for N months' },
  KEEP_YEARLY: { rule: count, doc: 'retention: one backup per year for N years' },
  MAX_DAYS: { rule: count, doc: 'retention: keep every backup younger than N days, on top of KEEP_*' },
  WEEK_START: { rule: weekStart, doc: 'first day of a week for KEEP_WEEKLY' },
  PURGE_AFTER_RUN: { rule: yesNo, doc: 'purge after every fully successful run' },
} satisfies Record<string, KeySpec>;

/**
 * How each service's backup runs and how fresh it must be: in batt.conf for every service, and in
 * a <service>.conf for that one (the service's value wins).
 */
export const RUN_KEYS = {
  RETRIES: { rule: wholeNumber, doc: 'extra tries of a failed backup, each in a fresh staging folder (default 0)' },
  RETRY_WAIT: { rule: duration, doc: 'wait before each retry: 30s, 5m... (default 60s)' },
  NICE: { rule: niceness, doc: "nice(1) adjustment of the backup script and all its children, -20..19 (default: batt's own)" },
  IONICE_CLASS: { rule: ioniceClass, doc: 'ionice(1) class of the script and its children: idle, best-effort, realtime or none' },
  IONICE_LEVEL: { rule: ioniceLevel, doc: 'ionice(1) level 0 (first) to 7 (last) for best-effort and realtime (default 4)' },
  MAX_AGE: { rule: duration, doc: 'batt status: CRITICAL when the newest good backup is older (default 26h; a service\'s own over --max-age)' },
  WARN_AGE: { rule: duration, doc: 'batt status: WARNING when the newest good backup is older (default: none)' },
} satisfies Record<string, KeySpec>;

/** Every key batt.conf knows (docs/configuration.md: `batt.conf` keys); any other key is an error in the check. */
export const GLOBAL_KEYS = {
  DEST: { lint: pattern, doc: 'strftime pattern of the destination (default /opt/backup/%Y/%m/%d)' },
  HOST_NAME: { rule: hostName, doc: "this host's name on shared targets: the first folder of its copies (default: the system host name)" },
  JOBS: { rule: positiveInt, doc: 'services backed up at once (default: cores, at most 4)' },
  TIMEOUT: { rule: positiveInt, doc: 'seconds a backup script may run (default 14400)' },
  MIN_SIZE_RATIO: { rule: ratio, doc: 'a full backup smaller than this fraction of the last full of its service with the same options (and compression) gets a warning (default 0.5, 0 = off)' },
  ...RETENTION_KEYS,
  ...RUN_KEYS,
  METRICS_DIR: { rule: absPath, doc: 'write Prometheus textfile metrics to METRICS_DIR/batt.prom after every run, purge and verify (absolute)' },
  SYSLOG: { rule: syslogSetting, doc: 'send the run\'s start, each service\'s result and the summary to syslog: yes (facility daemon), no, or a facility' },
  SYSLOG_SOCKET: { rule: absPath, doc: 'the syslog socket logger(1) writes to (default /dev/log)' },
  NOTIFY_ON: { rule: oneOf('failure', 'warning', 'always'), doc: 'when to mail / post the webhook: failure (default), warning (warnings and failures) or always' },
  NOTIFY_TIMEOUT: { rule: positiveInt, doc: 'seconds each notifier may take (default 20)' },
  SMTP_HOST: { lint: host, doc: 'mail server; email notifications are on when set' },
  SMTP_PORT: { rule: port, doc: 'default 587 (465 with SMTP_TLS=tls)' },
  SMTP_TLS: { rule: oneOf('tls', 'starttls', 'none'), doc: 'starttls (default, required), tls (implicit) or none' },
  SMTP_USER: { doc: 'login name' },
  SMTP_PASSWORD: { doc: 'password (batt.conf must then be 0600)' },
  SMTP_FROM: { lint: addresses, doc: 'sender (default batt@<host>)' },
  SMTP_TO: { rule: list, lint: addresses, doc: 'recipients, comma-separated' },
  SMTP_CA_FILE: { lint: absolute, doc: 'PEM file of a private CA that signed the mail server certificate (absolute; a relative one fails the mail, never read)' },
  WEBHOOK_URL: { lint: url, doc: 'POST the run summary as JSON here' },
  WEBHOOK_TOKEN: { doc: 'sent as Authorization: Bearer <token>' },
  WEBHOOK_FORMAT: { rule: oneOf('json', 'slack'), doc: 'json (batt\'s run summary, default) or slack ({"text": ...}: Slack, Mattermost, Rocket.Chat)' },
  NTFY_URL: { lint: url, doc: 'ntfy topic URL (https://ntfy.sh/TOPIC): a message with title and priority' },
  NTFY_TOKEN: { doc: 'ntfy access token, sent as Authorization: Bearer <token>' },
  HEALTHCHECK_URL: { lint: url, doc: 'healthchecks.io-style ping URL (URL/start, URL, URL/fail)' },
  DRILL_EVERY: { rule: every, doc: 'after a run, drill each service whose last drill is older (7d, 12h; 0 or absent: never)' },
} satisfies Record<string, KeySpec>;

/**
 * Keys of a <service>.conf that batt itself reads; every other key is free. All of them, these
 * included, still reach the script as BATT_CONF_<KEY>.
 */
export const SERVICE_KEYS = {
  BACKUP_TIMEOUT: { rule: positiveInt, doc: "seconds this service's backup script may run (over TIMEOUT; --timeout wins)" },
  MIN_SIZE_RATIO: { rule: ratio, doc: "this service's MIN_SIZE_RATIO (over batt.conf's)" },
  DRILL_EVERY: { rule: every, doc: "this service's DRILL_EVERY (over batt.conf's; 0: never)" },
  ...RETENTION_KEYS,
  ...RUN_KEYS,
} satisfies Record<string, KeySpec>;

/** CONTAINER_ENGINE of a database service: the engine its scripts run `exec` with. */
const engine: Lint = (v) => (v === 'podman' || v === 'docker' ? undefined : `must be podman or docker, got "${v}"`);
/** A database service whose clients can run inside a container (docs/services/<svc>.md). */
const CONTAINER_KEYS = {
  CONTAINER: { doc: 'run the database client inside this container (ENGINE exec), the dump streamed out' },
  CONTAINER_ENGINE: { lint: engine, doc: 'podman or docker (default: podman if installed, else docker)' },
} satisfies Record<string, KeySpec>;

/**
 * Keys of the built-in services' confs (scripts-available/) that name a file, folder, socket or
 * user on this machine, or the container a database client runs in. batt does not read them: each script refuses a relative path before it
 * starts (a conf has no folder to be relative to, and the script runs in its staging or scratch
 * folder), and `batt config check` reports it with these lints, so the check and the run agree.
 */
export const BUILTIN_SERVICE_KEYS = {
  file: {
    PATHS: { lint: absoluteList, doc: 'paths backed up (absolute, space separated)' },
    SNAPSHOT: { lint: snapshotKind, doc: 'none (default), btrfs, lvm or zfs: archive each path from a read-only snapshot of the subvolume, logical volume or dataset holding it' },
    SNAPSHOT_SIZE: { lint: snapshotSize, doc: 'SNAPSHOT=lvm, thick LVs: room for changes while the snapshot exists, N%ORIGIN (default 10%ORIGIN), N%VG, N%FREE or a size (2G); a thin LV gets a thin snapshot, without one' },
  },
  mysql: {
    SOCKET: { lint: absolute, doc: 'unix socket of the server (absolute)' },
    DEFAULTS_FILE: { lint: absolute, doc: 'option file included first (absolute)' },
    DRILL_HOST: { lint: host, doc: 'drill: load the scratch database on this server instead (same user and password)' },
    DRILL_PORT: { rule: port, doc: 'drill: the port of DRILL_HOST' },
    METHOD: { lint: mysqlMethod, doc: 'logical (one dump per database, default), physical (mariadb-backup copy of the whole server) or mydumper (parallel per-table dumps)' },
    COMPRESS: { lint: dumpCompress, doc: 'zstd (default: <db>.sql.zst) or none (plain <db>.sql, for a restic target; METHOD=logical only, no LEVEL)' },
    JOBS: { lint: (v) => { const r = positiveInt(v); return r.ok ? undefined : r.why; }, doc: 'METHOD=mydumper: threads of mydumper and myloader (default: cores, at most 4)' },
    DATADIR: { lint: absolute, doc: "METHOD=physical: the server's data directory (backup: when not the one in /etc/mysql; restore: where to, without --to)" },
    ...CONTAINER_KEYS,
  },
  mongodb: {
    ...CONTAINER_KEYS,
  },
  postgresql: {
    DRILL_HOST: { lint: host, doc: 'drill: restore the scratch database on this server instead (same user and password)' },
    DRILL_PORT: { rule: port, doc: 'drill: the port of DRILL_HOST' },
    METHOD: { lint: dumpMethod, doc: 'logical (pg_dump per database, default) or physical (pg_basebackup copy of the whole cluster)' },
    COMPRESS: { lint: dumpCompress, doc: 'zstd (default: pg_dump\'s own compression, globals.sql.zst) or none (pg_dump -Z 0 and a plain globals.sql, for a restic target; METHOD=logical only, no LEVEL)' },
    OS_USER: { lint: userName, doc: 'OS user the clients run as when batt runs as root with no USER/PASSWORD (postgres; empty: never)' },
    ...CONTAINER_KEYS,
  },
  redis: {
    SOCKET: { lint: absolute, doc: 'unix socket of the server (absolute)' },
    RESTORE_DIR: { lint: absolute, doc: 'restore: the data folder without --to (absolute)' },
    ...CONTAINER_KEYS,
  },
  sqlite: {
    DATABASES: { lint: absoluteList, doc: 'database files (absolute, space separated)' },
  },
  system: {
    DISKS: { lint: absoluteList, doc: 'disks whose partition tables are dumped (absolute, space separated; default: every disk)' },
  },
} satisfies Record<string, Record<string, KeySpec>>;

/** Does this key name a path (absolute only, as a conf has no folder to be relative to)? */
export function isPathKey(spec: KeySpec): boolean {
  return spec.lint === absolute || spec.lint === absoluteList;
}

/** The key rules of <service>.conf: batt's own, then the built-in service's own keys (mostly paths). */
export function serviceTable(service: string): Record<string, KeySpec> {
  const own: Record<string, Record<string, KeySpec>> = BUILTIN_SERVICE_KEYS;
  return { ...SERVICE_KEYS, ...(Object.hasOwn(own, service) ? own[service] : {}) };
}

/**
 * Encryption keys of a target (crypto.ts). What the named files must be (readable, 0600, the
 * passphrase not empty) is conffiles.ts, shared by the run and `batt config check`.
 */
export const ENCRYPTION_KEYS = {
  RECIPIENT: { rule: recipients, doc: 'age public key(s) (age1... or ssh-ed25519 ...), comma separated: encrypt before upload' },
  RECIPIENTS_FILE: { rule: absPath, doc: 'a file of recipients, one per line (absolute)' },
  IDENTITY_FILE: { rule: absPath, doc: 'the age secret key file (0600, absolute) used by restore --from' },
  PASSPHRASE_FILE: { rule: absPath, doc: 'file (0600, absolute) whose first line is the passphrase; instead of RECIPIENT/IDENTITY_FILE' },
  PASSPHRASE: { rule: refusedPassphrase, doc: 'refused: the passphrase goes in PASSPHRASE_FILE' },
} satisfies Record<string, KeySpec>;

/**
 * Keys of a targets/<name>.conf that every kind parses; the keys of one kind are TARGET_KIND_KEYS,
 * relations between keys TARGET_RELATIONS (both through targetTable / targetRelations).
 */
export const TARGET_KEYS = {
  TYPE: { rule: targetKind, required: true, doc: `the kind of target: ${TARGET_KINDS.join(', ')}` },
  TIMEOUT: { rule: wholeNumber, doc: 'seconds for connecting / an idle transfer (default 120)' },
  PORT: { rule: wholeNumber, doc: 'server port (default 22, ftp 21)' },
  RETRIES: { rule: wholeNumber, doc: 'extra attempts for a transient error (default 3)' },
  RETRY_DELAY_MS: { rule: wholeNumber, doc: 'first backoff delay (default 1000)' },
  PART_SIZE_MB: { rule: wholeNumber, doc: 's3: multipart part size (default 16, min 5)' },
  QUEUE_SIZE: { rule: wholeNumber, doc: 's3: parts in flight (default 2)' },
  FORCE_PATH_STYLE: { rule: yesNoOnOff, doc: 's3: path-style URLs (default yes with ENDPOINT)' },
  SECURE: { rule: ftpSecure, doc: 'ftp: no, yes (explicit TLS) or implicit' },
  ...ENCRYPTION_KEYS,
  ...RETENTION_KEYS,
} satisfies Record<string, KeySpec>;

/** The keys one kind of target needs or parses, checked when it is opened (targets/open.ts). */
export const TARGET_KIND_KEYS = {
  local: {
    PATH: { rule: needed('local', absPath), required: true, doc: 'the folder copies go to (absolute)' },
  },
  rsync: {
    PATH: { rule: needed('rsync'), required: true, doc: 'the folder on HOST, or a local folder (absolute) without HOST' },
    SSH_KEY: { rule: absPath, doc: 'key for the ssh login (absolute), required with HOST' },
    KNOWN_HOSTS: { rule: absPath, doc: 'known_hosts file (absolute), required with HOST' },
  },
  sftp: {
    HOST: { rule: needed('sftp'), required: true, doc: 'the server' },
    USER: { rule: needed('sftp'), required: true, doc: 'login name' },
    SSH_KEY: { rule: needed('sftp', absPath), required: true, doc: 'key for the login (absolute)' },
    KNOWN_HOSTS: { rule: needed('sftp', absPath), required: true, doc: 'known_hosts file with the server key (absolute)' },
    PATH: { rule: needed('sftp'), required: true, doc: 'the folder on the server' },
  },
  s3: {
    BUCKET: { rule: needed('s3'), required: true, doc: 'the bucket' },
  },
  ftp: {
    HOST: { rule: needed('ftp'), required: true, doc: 'the server' },
    PATH: { rule: needed('ftp'), required: true, doc: 'the folder on the server' },
    CA_FILE: { rule: absPath, doc: 'PEM file of a private CA that signed the server certificate (absolute)' },
  },
  restic: {
    REPOSITORY: { rule: needed('restic'), required: true, doc: 'the restic repository: a folder, sftp:, s3:, rest:... (restic -r)' },
    PASSWORD_FILE: { rule: needed('restic', absPath), required: true, doc: "the repository's password file (0600, absolute; restic --password-file)" },
    SSH_KEY: { rule: absPath, doc: 'sftp: repository: key for the ssh login (absolute)' },
    KNOWN_HOSTS: { rule: absPath, doc: 'sftp: repository: known_hosts file with the server key (absolute)' },
    CA_FILE: { rule: absPath, doc: 'https repository (s3:, rest:): PEM file of a private CA (absolute; restic --cacert)' },
  },
} satisfies Record<TargetKind, Record<string, KeySpec>>;

/** A rule between keys of one file, read with the last value of each key. */
export interface Relation {
  /** the key the problem is reported at */
  key: string;
  why: (conf: Conf) => string | undefined;
}

/** batt.conf: the loader refuses these, the check reports them as errors. */
export const GLOBAL_RELATIONS: Relation[] = [
  {
    key: 'SMTP_HOST',
    why: (c) => {
      const to = list(c.SMTP_TO ?? '');
      return c.SMTP_HOST && to.ok && to.value.length === 0 ? 'is set but SMTP_TO is empty: no one would get the mail' : undefined;
    },
  },
];

/** Whether a target conf names recipients (RECIPIENT or RECIPIENTS_FILE). */
const hasRecipients = (c: Conf) => !!c.RECIPIENTS_FILE || (c.RECIPIENT ?? '').trim() !== '';

/** Encryption keys that contradict each other (crypto.ts refuses them). */
export const ENCRYPTION_RELATIONS: Relation[] = [
  {
    key: 'PASSPHRASE_FILE',
    why: (c) =>
      c.PASSPHRASE_FILE && (hasRecipients(c) || c.IDENTITY_FILE)
        ? 'cannot be combined with RECIPIENT/RECIPIENTS_FILE/IDENTITY_FILE (age allows one or the other)'
        : undefined,
  },
  {
    key: 'IDENTITY_FILE',
    why: (c) => (c.IDENTITY_FILE && !c.PASSPHRASE_FILE && !hasRecipients(c) ? 'is set but no RECIPIENT: uploads would not be encrypted' : undefined),
  },
];

/** Relations between the keys of one kind of target, checked when it is opened. */
export const TARGET_RELATIONS: Record<TargetKind, Relation[]> = {
  local: [],
  rsync: [
    { key: 'PATH', why: (c) => (!c.HOST && c.PATH && !c.PATH.startsWith('/') ? `must be an absolute path without HOST, got "${c.PATH}"` : undefined) },
    { key: 'HOST', why: (c) => (c.HOST && (!c.SSH_KEY || !c.KNOWN_HOSTS) ? 'is set: an rsync target with HOST needs SSH_KEY and KNOWN_HOSTS' : undefined) },
  ],
  sftp: [],
  s3: [
    { key: 'ACCESS_KEY_ID', why: (c) => (c.ACCESS_KEY_ID && !c.SECRET_ACCESS_KEY ? 'is set without SECRET_ACCESS_KEY: set both ACCESS_KEY_ID and SECRET_ACCESS_KEY, or neither (AWS chain)' : undefined) },
    { key: 'SECRET_ACCESS_KEY', why: (c) => (c.SECRET_ACCESS_KEY && !c.ACCESS_KEY_ID ? 'is set without ACCESS_KEY_ID: set both ACCESS_KEY_ID and SECRET_ACCESS_KEY, or neither (AWS chain)' : undefined) },
  ],
  ftp: [],
  restic: [
    // IDENTITY_FILE alone: ENCRYPTION_RELATIONS already says it encrypts nothing
    ...(['RECIPIENT', 'RECIPIENTS_FILE', 'PASSPHRASE_FILE'] as const).map((key) => ({
      key,
      why: (c: Conf) => (c[key] ? 'is not used by a restic target: restic encrypts the repository with PASSWORD_FILE' : undefined),
    })),
    ...(['SSH_KEY', 'KNOWN_HOSTS', 'PORT'] as const).map((key) => ({
      key,
      why: (c: Conf) => (c[key] && !/^sftp:/.test(c.REPOSITORY ?? '') ? 'only applies to an sftp: REPOSITORY' : undefined),
    })),
  ],
};

/** Every key rule of a target of this kind. */
export function targetTable(kind: TargetKind): Record<string, KeySpec> {
  return { ...TARGET_KEYS, ...TARGET_KIND_KEYS[kind] };
}

/** Every relation of a target of this kind: the kind's first (the loader opens the backend first), then encryption. */
export function targetRelations(kind: TargetKind): Relation[] {
  return [...TARGET_RELATIONS[kind], ...ENCRYPTION_RELATIONS];
}

// ---- reading -----------------------------------------------------------------------------

type ValueOf<S> = S extends { rule: Rule<infer T> } ? T : string;
/** The keys of a table whose rule yields a T. */
export type KeysOf<Tb, T> = { [K in keyof Tb]: Tb[K] extends { rule: Rule<T> } ? K : never }[keyof Tb] & string;

/** What the check says about one value of a key: the rule's complaint, then the lint's. */
export function problem(spec: KeySpec, value: string): string | undefined {
  if (spec.rule) {
    const v = spec.rule(value);
    if (!v.ok) return v.why;
  }
  return spec.lint?.(value);
}

/**
 * The loaders' reading of one key: undefined when unset or empty (unless required), the parsed
 * value, or a ConfigError "<file>: KEY why" for the first problem.
 */
export function setting<Tb extends Record<string, KeySpec>, K extends keyof Tb & string>(
  table: Tb,
  key: K,
  conf: Conf,
  file: string,
): ValueOf<Tb[K]> | undefined {
  const spec = table[key]!;
  const raw = conf[key] ?? '';
  if (raw === '' && !spec.required) return undefined;
  if (!spec.rule) return raw as ValueOf<Tb[K]>;
  const v = spec.rule(raw);
  if (!v.ok) throw new ConfigError(`${file}: ${key} ${v.why}`);
  return v.value as ValueOf<Tb[K]>;
}

/** The loaders' side of a whole table: every key's rule in table order, the first problem as a ConfigError. */
export function validate(table: Record<string, KeySpec>, conf: Conf, file: string): void {
  for (const key of Object.keys(table)) setting(table, key, conf, file);
}

/** The loaders' side of relations: the first one broken, as a ConfigError. */
export function enforce(relations: Relation[], conf: Conf, file: string): void {
  for (const r of relations) {
    const why = r.why(conf);
    if (why) throw new ConfigError(`${file}: ${r.key} ${why}`);
  }
}
