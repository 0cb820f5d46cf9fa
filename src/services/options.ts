// Service options: `--<service>-<key> VALUE` on batt's command line becomes option <key> of
// that service's script; `--<service> VALUE` is a positional value (for `file`, a path).
// Pure functions: yargs parses, these map.
import { UsageError } from '../core/errors.js';
import { SECRET_KEY } from '../config/config.js';
import { RETENTION_FLAGS } from '../config/confkeys.js';

/** Flags of `batt [run]` that belong to batt; every other --x-y is a service option. */
export const RUN_FLAGS: ReadonlySet<string> = new Set([
  'home', 'path', 'json', 'jobs', 'j', 'timeout', 'wait', 'dry-run', 'n', 'help', 'h', 'version', 'services', 'target',
  'purge', 'drill', 'no-drill', ...RETENTION_FLAGS,
]);

export interface ServiceInput {
  /** option key (lower-case, dashes) -> values in command-line order */
  options: Record<string, string[]>;
  /** positional values given as `--<service> VALUE` */
  args: string[];
}

export type OptionMap = Map<string, ServiceInput>;

const OPTION_KEY = /^[a-z0-9][a-z0-9-]*$/;
/** Option keys that name a secret: a value given on the command line is visible in `ps`. */
export const SECRET_OPTION = /(^|-)(password|passwd|passphrase|pass|secret|token|credentials?|(api|access|secret|private)-key)($|-)/;

function toValues(flag: string, raw: unknown): string[] {
  const list = Array.isArray(raw) ? raw : [raw];
  return list.map((v) => {
    if (typeof v === 'string') return v;
    if (typeof v === 'number') return String(v);
    throw new UsageError(`option --${flag} needs a value, e.g. --${flag}=VALUE`);
  });
}

/**
 * Maps the options yargs did not recognise to services.
 * @param raw   every parsed option, keyed by the flag as written (no camel-case)
 * @param known flags that belong to batt itself and are skipped
 * @param services names of the available services
 */
export function mapServiceOptions(
  raw: Record<string, unknown>,
  known: ReadonlySet<string>,
  services: readonly string[],
): OptionMap {
  const out: OptionMap = new Map();
  // Longest name first, so `--my-svc-db` goes to `my-svc` before `my`.
  const byLength = [...services].sort((a, b) => b.length - a.length);
  const entry = (svc: string): ServiceInput => {
    let e = out.get(svc);
    if (!e) {
      e = { options: {}, args: [] };
      out.set(svc, e);
    }
    return e;
  };
  for (const [flag, value] of Object.entries(raw)) {
    if (flag === '_' || flag === '$0' || known.has(flag)) continue;
    if (services.includes(flag)) {
      entry(flag).args.push(...toValues(flag, value));
      continue;
    }
    const svc = byLength.find((s) => flag.startsWith(`${s}-`));
    const key = svc ? flag.slice(svc.length + 1) : '';
    if (svc && !OPTION_KEY.test(key)) {
      throw new UsageError(`invalid option --${flag}: "${key}" is not an option key (lower-case letters, digits and -)`);
    }
    if (!svc) {
      const prefix = flag.split('-')[0];
      throw new UsageError(
        `unknown option --${flag}: no service "${prefix}"`,
        services.length ? `service options are --<service>-<key>; services: ${services.join(', ')}` : undefined,
      );
    }
    if (SECRET_OPTION.test(key)) {
      throw new UsageError(
        `refusing --${flag}: a secret on the command line is visible to every user in the process list`,
        `put it in the service's conf file (e.g. ${key.toUpperCase().replace(/-/g, '_')}=... in conf/${svc}.conf, mode 0600)`,
      );
    }
    const opts = entry(svc).options;
    (opts[key] ??= []).push(...toValues(flag, value));
  }
  return out;
}

export function optionEnvName(key: string): string {
  return `BATT_OPT_${key.toUpperCase().replace(/-/g, '_')}`;
}

/** BATT_OPT_<KEY> = the values joined by newlines, for each option. */
export function optionEnv(input: ServiceInput): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, values] of Object.entries(input.options)) env[optionEnvName(k)] = values.join('\n');
  return env;
}

/** The options as recorded in a manifest or a log: secret-looking keys masked. */
export function redactOptions(input: ServiceInput): ServiceInput {
  const options: Record<string, string[]> = {};
  for (const [k, values] of Object.entries(input.options)) {
    options[k] = SECRET_KEY.test(k) ? values.map(() => '***') : [...values];
  }
  return { options, args: [...input.args] };
}
