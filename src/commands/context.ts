// What every command needs: the home, the global settings, the destination pattern, the output.
import { loadGlobalSettings, thisHost, type GlobalSettings } from '../config/config.js';
import { hostName } from '../config/confkeys.js';
import type { HostFilter } from '../targets/copy.js';
import { DEFAULT_PATTERN, patternRoot, validatePattern } from '../core/destination.js';
import { resolveHome, type Home } from '../core/home.js';
import { createOutput, type Output } from '../core/output.js';
import { UsageError } from '../core/errors.js';

export interface CommonArgs {
  home?: string;
  path?: string | string[];
  json?: boolean;
}

export interface Context {
  home: Home;
  settings: GlobalSettings;
  pattern: string;
  root: string;
  out: Output;
  env: NodeJS.ProcessEnv;
}

/** yargs gives an array when an option is repeated; the last one wins. */
export function last<T>(v: T | T[] | undefined): T | undefined {
  return Array.isArray(v) ? v[v.length - 1] : v;
}

/** A flag that takes a whole number >= 0 (seconds, jobs); absent or empty gives the fallback. */
export function wholeNumberFlag<F extends number | undefined>(name: string, v: unknown, fallback: F): number | F {
  const raw = last(v as unknown[]);
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(String(raw))) throw new UsageError(`--${name} takes a whole number, got "${String(raw)}"`);
  return Number(raw);
}

export async function makeContext(args: CommonArgs, env: NodeJS.ProcessEnv = process.env): Promise<Context> {
  const out = createOutput({ json: !!last(args.json) });
  const home = resolveHome(last(args.home), env);
  const settings = await loadGlobalSettings(home);
  const pattern = last(args.path) || env.BATT_PATH || settings.pattern || DEFAULT_PATTERN;
  validatePattern(pattern);
  return { home, settings, pattern, root: patternRoot(pattern), out, env };
}

/** --host H / --all-hosts of the commands on a target's copies. */
export interface HostArgs {
  host?: string | string[];
  'all-hosts'?: boolean;
}

/**
 * Whose copies on a target a command takes: `--host H`, every host's with `--all-hosts` (when the
 * command has it), by default this host's (HOST_NAME, else the system host name). Without `from`
 * (a target) neither flag means anything: a UsageError.
 */
export function hostFilter(args: HostArgs, ctx: Context, from: unknown, flag = '--from'): HostFilter {
  const host = last(args.host);
  const all = !!last(args['all-hosts']);
  if ((host !== undefined || all) && !from) throw new UsageError(`${host !== undefined ? '--host' : '--all-hosts'} chooses copies on a target: use it with ${flag} NAME`);
  if (host !== undefined && all) throw new UsageError('--host and --all-hosts exclude each other');
  if (all) return { all: true };
  if (host === undefined) return { host: thisHost(ctx.settings) };
  const v = hostName(String(host));
  if (!v.ok) throw new UsageError(`--host ${v.why}`);
  return { host: v.value };
}

declare const __BATT_VERSION__: string;
export const VERSION: string = typeof __BATT_VERSION__ === 'string' ? __BATT_VERSION__ : '0.0.0-dev';
