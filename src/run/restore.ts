// Restore: pick a backup from the catalog, prove it is intact against its manifest, then hand it
// to the service's restore-<service> script (same drop-in contract as backup scripts).
import fs from 'node:fs/promises';
import path from 'node:path';
import { scanRoot, selectBackups, type Backup } from '../catalog/catalog.js';
import { chainOf, linksOf } from '../catalog/chain.js';
import type { Conf } from '../config/config.js';
import { BattError, FailedError, UsageError } from '../core/errors.js';
import type { Logger } from '../core/log.js';
import { MANIFEST, describeProblem, verifyFolder } from '../catalog/manifest.js';
import type { ServiceInput } from '../services/options.js';
import { startFailure } from './backup.js';
import { runScript } from './runner.js';
import { composeEnv } from '../services/scriptenv.js';
import { makeScratch, type Scratch } from './scratch.js';
import { openFileOffsets } from '../core/proc.js';
import { sampleProgress } from '../core/progress.js';

/** Exit code a restore script uses to refuse overwriting live data without --force. */
export const REFUSED_EXIT = 3;

export class RefusedError extends BattError {}

/** The backup to restore: the one named, or the newest of the service. */
export async function chooseBackup(root: string, service: string, id: string | undefined): Promise<Backup> {
  const scan = await scanRoot(root);
  const ofService = scan.backups.filter((b) => b.manifest.service === service);
  if (id) {
    const { found } = selectBackups(root, scan.backups, [id]);
    const b = found[0];
    if (!b) throw new UsageError(`no backup "${id}" under ${root}`, 'batt backups lists them');
    if (b.manifest.service !== service) {
      throw new UsageError(`backup "${id}" is a ${b.manifest.service} backup, not ${service}`);
    }
    return b;
  }
  const newest = ofService[ofService.length - 1];
  if (!newest) throw new UsageError(`no ${service} backup under ${root}`, 'batt backups lists them');
  return newest;
}

/**
 * The backups a restore of `b` applies in order: the full first, `b` last (just `b` when it is
 * not an incremental). A missing base, or a chain that loops, fails (nothing is restored).
 */
export async function chainToRestore(root: string, b: Backup): Promise<Backup[]> {
  if (b.manifest.base === undefined) return [b];
  const scan = await scanRoot(root);
  const chain = chainOf(new Map(linksOf(root, scan.backups).map((l) => [l.id, l])), b.id);
  if (chain.broken) {
    throw new FailedError(`backup ${b.id} cannot be restored: ${chain.broken}`, 'batt verify shows the broken chains; restore a backup whose chain is whole');
  }
  const byId = new Map(scan.backups.map((x) => [x.id, x]));
  return chain.ids.map((id) => byId.get(id)!);
}

export interface RestoreJob {
  service: string;
  script: string;
  backup: Backup;
  /** An incremental's chain (chainToRestore): the full first, backup last. */
  chain?: Backup[];
  to?: string;
  force: boolean;
  /** The folder batt was started from (BATT_CWD): scripts run in a scratch folder, so a relative
   *  --to must be resolved against this. Undefined when it no longer exists. */
  callerCwd?: string;
  input: ServiceInput;
  conf: Conf;
  /** The conf file the keys came from (BATT_CONF_FILE, for the script's messages); unset without keys. */
  confFile?: string;
  homeRoot: string;
  baseEnv: NodeJS.ProcessEnv;
  timeoutMs: number;
  log: Logger;
  signal?: AbortSignal;
  /**
   * On a terminal: about once a second, how much of the backup the script has read so far (the
   * offsets of the backup's files its processes hold open), of the backup's size.
   */
  onProgress?: (text: string) => void;
  /** A drill's scratch folder (src/run/drill.ts): the script runs there; its maker removes it. */
  scratch?: Scratch;
  /** More of the script's environment (a drill's BATT_DRILL, BATT_DRILL_NAME). */
  extraEnv?: Record<string, string>;
  /** The word in batt.log and messages: restore (default) or drill. */
  verb?: string;
}

/** `signal` (SIGINT/SIGTERM) stops the hashing between two chunks (HashInterruptedError). */
export async function verifyBeforeRestore(b: Backup, signal?: AbortSignal): Promise<void> {
  const problems = await verifyFolder(b.dir, b.manifest, signal);
  if (problems.length) {
    const first = problems[0]!;
    throw new FailedError(
      `backup ${b.id} failed verification: ${first.path}: ${describeProblem(first, { brief: true })}${problems.length > 1 ? ` (+${problems.length - 1} more)` : ''}`,
      'batt verify shows every problem; pick another backup by id',
    );
  }
}

/**
 * The bytes of the backup a restore script has read, sampled about once a second: for each file
 * of the backup the furthest offset any process of the script's group was seen at (a file read
 * to its end and closed between two samples counts as far as it was last seen).
 */
function readProgress(b: Backup, pgrp: number, show: (text: string) => void): { stop(): void } {
  let sizes: Map<string, number> | undefined;
  let dir = b.dir;
  const furthest = new Map<string, number>();
  return sampleProgress(async () => {
    if (!sizes) {
      dir = await fs.realpath(b.dir); // what /proc/<pid>/fd links show, through any symlink on the way
      sizes = new Map(b.manifest.files.map((f) => [path.join(dir, f.path), f.size]));
    }
    for (const [file, pos] of await openFileOffsets(pgrp, dir)) {
      const size = sizes.get(file);
      if (size !== undefined) furthest.set(file, Math.min(size, Math.max(pos, furthest.get(file) ?? 0)));
    }
    return { bytes: [...furthest.values()].reduce((n, x) => n + x, 0), total: b.manifest.totalBytes, exact: true };
  }, (text) => show(`read ${text}`));
}

export async function restoreBackup(job: RestoreJob): Promise<{ durationMs: number }> {
  const scratch = job.scratch ?? (await makeScratch(`restore-${job.service}`));
  const cwd = scratch.dir;
  const verb = job.verb ?? 'restore';
  const log = (l: string) => job.log.write(`${verb} ${job.service}`, l);
  try {
    log(`start ${job.script} from ${job.backup.dir}${job.to ? ` to ${job.to}` : ''}`);
    let progress: { stop(): void } | undefined;
    const r = await runScript({
      onSpawn: (pid) => (progress = job.onProgress && readProgress(job.backup, pid, job.onProgress)),
      file: job.script,
      args: job.input.args,
      env: composeEnv(job.baseEnv, job.conf, job.input, {
        TMPDIR: cwd,
        BATT_BACKUP: job.backup.dir,
        BATT_MANIFEST: path.join(job.backup.dir, MANIFEST),
        // an incremental: the folders of its chain, one a line, the full first (docs/script-contract.md)
        BATT_CHAIN: job.chain && job.chain.length > 1 ? job.chain.map((b) => b.dir).join('\n') : undefined,
        BATT_RESTORE_TO: job.to ?? '',
        BATT_FORCE: job.force ? '1' : '0',
        BATT_CWD: job.callerCwd ?? '',
        BATT_CONF_FILE: job.confFile,
        BATT_SERVICE: job.service,
        BATT_HOME: job.homeRoot,
        ...job.extraEnv,
      }),
      cwd,
      timeoutMs: job.timeoutMs,
      signal: job.signal,
      onLine: (line, stream) => log(`${stream === 'stderr' ? '!' : '>'} ${line}`),
    }).finally(() => progress?.stop());
    const last = r.tail.filter((l) => l.trim()).slice(-1)[0]?.trim();
    const said = last ? `: ${last.slice(0, 300)}` : '';
    if (r.exitCode === REFUSED_EXIT) {
      // a script that already named --force in its last line (restore-file: "use --force to
      // overwrite") must not get the same advice a second time; nor a restore run with --force,
      // refused for what --force does not override ("a server is running on ...: stop it first")
      throw new RefusedError(`restore of ${job.service} refused${said}`, job.force || /--force/.test(said) ? undefined : 'add --force to overwrite existing data');
    }
    if (r.spawnError) throw new FailedError(`${job.service}: cannot start ${job.script}: ${startFailure(r.spawnError, job.script)}`);
    if (r.timedOut) throw new FailedError(`${verb} of ${job.service} timed out and was stopped${said}`);
    if (r.aborted) throw new FailedError(`${verb} of ${job.service} was interrupted`);
    if (r.exitCode !== 0) {
      const how = r.signal ? `was killed by ${r.signal}` : `exited with code ${r.exitCode}`;
      throw new FailedError(`${verb} of ${job.service} failed: restore script ${how}${said}`);
    }
    log('ok');
    return { durationMs: r.durationMs };
  } finally {
    if (!job.scratch) await scratch.remove();
  }
}
