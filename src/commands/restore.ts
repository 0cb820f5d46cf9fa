// `batt restore SERVICE [BACKUP]`: verify a backup, then run restore-<service> on it.
import { loadConfFile, serviceConfPath } from '../config/config.js';
import { EXIT, InterruptedError, UsageError } from '../core/errors.js';
import { openLog } from '../core/log.js';
import { mapServiceOptions } from '../services/options.js';
import { formatBytes, formatDuration } from '../core/output.js';
import { statusLine } from '../core/progress.js';
import { listServices, requireHome, resolveScript, validateServiceName } from '../services/registry.js';
import { chainToRestore, chooseBackup, restoreBackup, verifyBeforeRestore } from '../run/restore.js';
import type { Backup } from '../catalog/catalog.js';
import type { FetchedBackup } from '../targets/remote.js';
import { sweepStaleScratch } from '../run/scratch.js';
import { callerCwd } from '../services/scriptenv.js';
import { listenForStop } from '../core/stop.js';
import { hostFilter, last, makeContext, wholeNumberFlag, type CommonArgs, type HostArgs } from './context.js';
import { thisHost } from '../config/config.js';

export interface RestoreArgs extends CommonArgs, HostArgs {
  service?: string;
  backup?: string;
  to?: string | string[];
  force?: boolean;
  timeout?: string;
  from?: string;
  [flag: string]: unknown;
}

export const RESTORE_FLAGS = new Set(['home', 'path', 'json', 'service', 'backup', 'to', 'force', 'timeout', 'from', 'host', 'all-hosts', 'allHosts', 'help', 'h', 'version']);

export async function restoreCommand(args: RestoreArgs): Promise<number> {
  // The parser takes the service as optional so that its absence gets batt's own words (exit 2).
  if (args.service === undefined || args.service === '') {
    throw new UsageError('batt restore needs the service to restore', 'batt restore SERVICE [BACKUP]; batt backups lists the backups');
  }
  const ctx = await makeContext(args);
  const service = String(args.service);
  validateServiceName(service);
  await requireHome(ctx.home);
  const script = await resolveScript(ctx.home, service, 'restore');
  const available = (await listServices(ctx.home)).map((s) => s.name);
  const inputs = mapServiceOptions(args, RESTORE_FLAGS, available);
  const others = [...inputs.keys()].filter((s) => s !== service);
  if (others.length) throw new UsageError(`options for ${others.join(', ')} do not apply to a ${service} restore`);
  const timeoutS = wholeNumberFlag('timeout', args.timeout, 0); // 0: no limit
  const from = last(args.from);
  const hosts = hostFilter(args, ctx, from);
  // SIGINT/SIGTERM/SIGHUP from here on: the download, decryption and hashing stop mid-file, the
  // temp folder goes, nothing is restored; during the script, it is stopped (runner.ts).
  const stop = listenForStop();
  const log = openLog(ctx.home.log);
  const stopped = () => new InterruptedError(`interrupted by ${stop.caught} before the restore began; nothing was restored${from ? ', the download was removed' : ''}`);
  let fetched: FetchedBackup | undefined;
  // On a terminal: one line, rewritten about once a second: the verification, then how much of
  // the backup the restore script has read
  const status = ctx.out.tty ? statusLine() : undefined;
  try {
    let backup;
    let chain: Backup[];
    try {
      await sweepStaleScratch(log); // what a killed batt left, e.g. a decrypted download
      // --from TARGET: download (and decrypt) the copy into a private temp folder first (src/targets/remote.ts)
      fetched = from
        ? await (await import('../targets/remote.js')).fetchRemoteBackup(ctx.home, String(from), service, args.backup ? String(args.backup) : undefined, { hosts, root: ctx.root, signal: stop.signal })
        : undefined;
      // another host's copy (--host, --all-hosts) is restored only when asked for, and said so
      if (fetched && fetched.host !== thisHost(ctx.settings)) ctx.out.warn(`${fetched.backup.id} is a copy of host ${fetched.host}, not of this host (${thisHost(ctx.settings)})`);
      backup = fetched?.backup ?? (await chooseBackup(ctx.root, service, args.backup ? String(args.backup) : undefined));
      // an incremental: its whole chain (from a target: downloaded with it), each level verified
      // before anything is restored
      chain = fetched?.chain ?? (await chainToRestore(ctx.root, backup));
      // on a terminal, say what takes the time before the script starts (hashing the whole backup)
      status?.show(`restore ${service}: verifying ${backup.id}, ${formatBytes(chain.reduce((n, b) => n + b.manifest.totalBytes, 0))}`, true);
      try {
        for (const b of chain) await verifyBeforeRestore(b, stop.signal);
      } finally {
        status?.done();
      }
    } catch (err) {
      throw stop.caught ? stopped() : err;
    }
    if (stop.caught) throw stopped(); // it came during a step that does not watch the signal
    process.umask(0o077);
    const confFile = serviceConfPath(ctx.home, service);
    const conf = await loadConfFile(confFile);
    const { durationMs } = await restoreBackup({
      service,
      script,
      backup,
      chain,
      to: last(args.to),
      force: !!last(args.force),
      callerCwd: callerCwd(),
      input: inputs.get(service) ?? { options: {}, args: [] },
      conf,
      confFile: Object.keys(conf).length ? confFile : undefined,
      homeRoot: ctx.home.root,
      baseEnv: ctx.env,
      timeoutMs: timeoutS * 1000,
      log,
      signal: stop.signal,
      onProgress: status && ((text) => status.show(`restore ${service}: ${text}`, true)),
    }).finally(() => status?.done()).catch((err) => {
      // runner.ts stopped the script: it said in batt.log what it left (restore-file takes back
      // what it wrote into an empty target; over data with --force, what was written stays)
      throw stop.caught ? new InterruptedError(`interrupted by ${stop.caught}: the ${service} restore script was stopped; batt.log says what it left`) : err;
    });
    const other = fetched && fetched.host !== thisHost(ctx.settings) ? ` (a copy of host ${fetched.host})` : '';
    if (ctx.out.json) ctx.out.data({ ok: true, service, backup: backup.id, ...(fetched ? { host: fetched.host } : {}), to: last(args.to) ?? null, durationMs });
    else ctx.out.info(`restored ${service} from ${backup.id}${other}${last(args.to) ? ` to ${last(args.to)}` : ''} in ${formatDuration(durationMs)}`);
    return EXIT.OK;
  } finally {
    stop.dispose();
    await fetched?.cleanup();
  }
}
