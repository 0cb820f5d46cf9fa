// One service's backup: run its script into a private staging folder, check what it wrote,
// record a manifest, and only then rename the folder into place. A failed, timed-out or
// interrupted script leaves nothing in the destination; an existing backup is never replaced.
import { closeSync, openSync, readSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { STAGING_PREFIX, scanRoot } from '../catalog/catalog.js';
import { findPrevious, type Previous } from '../catalog/chain.js';
import type { Conf, RunSettings, TimeoutSource } from '../config/config.js';
import { serviceFolder } from '../core/destination.js';
import { BattError, FailedError, NoSpaceError, describeError, fromSystemError } from '../core/errors.js';
import { exists, fsyncPath, mkdirPrivate } from '../core/fsutil.js';
import type { Logger } from '../core/log.js';
import { SIDECARS, hashFile, walk, type HashCursor, writeManifest, type FileEntry, type Manifest } from '../catalog/manifest.js';
import { redactOptions, type ServiceInput } from '../services/options.js';
import { callerCwd, composeEnv } from '../services/scriptenv.js';
import { mapBounded } from '../core/pool.js';
import { runScript } from './runner.js';
import { makeScratch, type Scratch } from './scratch.js';
import { startWriteback } from './writeback.js';
import { formatBytes, plural } from '../core/output.js';
import { parseExpectLine, sampleProgress } from '../core/progress.js';

export interface BackupJob {
  service: string;
  script: string;
  input: ServiceInput;
  conf: Conf;
  confFile?: string;
  /** The script declared `# batt: append-only`: its files are hashed while they grow. */
  appendOnly?: boolean;
  /** The script declared `# batt: levels`: it is offered the previous backup to build on. */
  levels?: boolean;
  /** The script declared `# batt: check`: it may be run with BATT_CHECK=1 (check.ts). */
  checkMode?: boolean;
  /** How long this service's script may run (0 = no limit): config.ts effectiveTimeout. */
  timeoutMs: number;
  /** Which setting gave timeoutMs. */
  timeoutFrom?: TimeoutSource;
  /** RETRIES, RETRY_WAIT, NICE, IONICE_* of the service's conf over batt.conf's. */
  run?: RunSettings;
  /** MIN_SIZE_RATIO (config.ts serviceMinSizeRatio): see sizeDropWarning. */
  minSizeRatio?: number;
  /** DRILL_EVERY of the service (over batt.conf's), in ms: run.ts's dueDrills. */
  drillEveryMs?: number;
}

export interface RunContext {
  homeRoot: string;
  /** The backup root (the catalog: where the previous backup of a chain is looked for; default base). */
  root?: string;
  /** The rendered destination (pattern with time filled in), without the service. */
  base: string;
  now: Date;
  runId: string;
  /** This host's name (HOST_NAME, else the system's): recorded in each manifest. */
  host?: string;
  killAfterMs: number;
  baseEnv: NodeJS.ProcessEnv;
  log: Logger;
  signal?: AbortSignal;
  version: string;
  /** The complete backups of each service before this run, oldest first (for the size-drop warning: comparableBackup). */
  previous?: Map<string, PreviousBackup[]>;
  /**
   * On a terminal: called about once a second while a script runs with what it wrote so far
   * (core/progress.ts progressText: bytes, rate, and a percentage with an ETA when the script
   * announced what it expects). Unset: nothing is measured beyond what writeback does anyway.
   */
  onProgress?: (service: string, text: string) => void;
  /**
   * With onProgress: totalBytes / expectedBytes of the last backup of the service with the same
   * options (catalog.ts estimateRatio), by which an announced estimate is scaled for the percentage.
   */
  estimateRatio?: (service: string, options: string) => Promise<number | undefined>;
}

export interface PreviousBackup {
  bytes: number;
  dir: string;
  /** Its manifest's options, as JSON. */
  options: string;
  /** A level of a chain (its manifest names a base): it holds only a change. */
  incremental: boolean;
  /** Its files' compression (compressionKinds). */
  kinds: string;
}

const COMPRESSED = /\.(gz|tgz|zst|xz|bz2|lz4|br|zip|7z)$/i;

/**
 * Which compressions a backup's files are in, as one comparable string: the sorted set of their
 * compression suffixes, "plain" for a file without one ("shop.sql" and "shop.sql.zst": "plain zst").
 */
export function compressionKinds(files: string[]): string {
  return [...new Set(files.map((f) => COMPRESSED.exec(f)?.[1]!.toLowerCase().replace(/^tgz$/, 'gz') ?? 'plain'))].sort().join(' ');
}

/**
 * The backup a new full backup's size is measured against: the newest earlier full of its service
 * made with the same options, if its files are compressed the same way. A dump made plain after a
 * zstd series (COMPRESS=none), or one database after the whole server, is no sign of data lost;
 * `skipped` says why none was compared, for the log.
 */
export function comparableBackup(earlier: PreviousBackup[] | undefined, options: string, kinds: string): { previous?: PreviousBackup; skipped?: string } {
  const full = (earlier ?? []).filter((b) => !b.incremental && b.options === options).at(-1);
  if (!full) return {};
  if (full.kinds !== kinds) return { skipped: `size not compared with ${full.dir}: its files are ${full.kinds}, these ${kinds}` };
  return { previous: full };
}

/**
 * 'warning': sealed and counted like 'ok' (the exit code stays 0), but shown as `warn`, with why:
 * the script wrote to stderr, or the backup shrank (sizeDropWarning).
 */
export type BackupStatus = 'ok' | 'warning' | 'failed' | 'timeout' | 'interrupted';

/** Whether the service's backup was sealed into place (ok, or with a warning). */
export function sealedOk(r: { status: string }): boolean {
  return r.status === 'ok' || r.status === 'warning';
}

/**
 * Why a backup of `bytes` looks too small next to the previous backup of its service: below `ratio`
 * of its size (MIN_SIZE_RATIO; 0 = never). A dump that lost most of its tables still exits 0.
 */
export function sizeDropWarning(bytes: number, previous: Pick<PreviousBackup, 'bytes' | 'dir'> | undefined, ratio: number): string | undefined {
  if (!previous || ratio <= 0 || bytes >= previous.bytes * ratio) return undefined;
  const pct = Math.floor((bytes / previous.bytes) * 100); // 49.9% is not "50%" of a 0.5 limit
  return `the backup is ${formatBytes(bytes)} (${bytes} bytes), ${pct}% of the previous one's ${formatBytes(previous.bytes)} (${previous.bytes} bytes, ${previous.dir}); MIN_SIZE_RATIO is ${ratio}`;
}

/**
 * Below this many bytes free for unprivileged writers (statfs f_bavail: df's "Avail") when a
 * script exits 0, its files may be cut short: a tool that buffers its output (pg_dump,
 * pg_dumpall, many a drop-in's) checks its writes but not the last one, flushed as it exits, and
 * exits 0 without that tail. On ext4 root keeps writing into the reserved blocks after a non-root
 * dump tool (pg_dump as postgres) got ENOSPC, so batt's own manifest still fits. The margin covers
 * stdio buffers of one filesystem block up to ZFS's 128 KiB records.
 */
export const FULL_BELOW = 1 << 20;

/** Why a filesystem with these statfs figures counts as full when a script ended, or undefined. */
export function filledUp(st: { bavail: number; bsize: number; blocks: number } | undefined): string | undefined {
  if (!st || st.blocks <= 0 || st.bsize <= 0) return undefined; // a filesystem that reports no size (some FUSE) cannot tell
  const free = st.bavail * st.bsize;
  if (free >= FULL_BELOW) return undefined;
  return `${formatBytes(free)} free on its filesystem (for non-root writers) when the script ended, so a file may be cut short (a tool such as pg_dump exits 0 when its last write fails)`;
}

export interface BackupResult {
  service: string;
  status: BackupStatus;
  dest?: string;
  files: number;
  bytes: number;
  durationMs: number;
  error?: string;
  /** Why the status is 'warning' ("<service>: ..."). */
  warning?: string;
  noSpace?: boolean;
  /** When the last try ended (ISO). */
  finishedAt?: string;
  /** Tries made (1 unless RETRIES allowed more and a try failed). */
  tries?: number;
  /** Failed: another try may go better (not interrupted, not a script that cannot start, not a full disk, not a timeout). */
  retryable?: boolean;
  /** Failed: the last lines the script printed (no control characters), for notifications. */
  lastLines?: string[];
}

export function scriptEnv(
  job: BackupJob,
  ctx: Pick<RunContext, 'baseEnv' | 'homeRoot' | 'runId' | 'now' | 'onProgress'>,
  staging: string,
  tmpdir: string,
  previous?: Previous | { reason: string },
): Record<string, string> {
  const prev = previous && 'backup' in previous ? previous : undefined;
  return composeEnv(ctx.baseEnv, job.conf, job.input, {
    // a chain (`# batt: levels`): what to build on, or why there is nothing (docs/script-contract.md)
    BATT_PREVIOUS: prev?.backup.dir,
    BATT_PREVIOUS_ID: prev?.backup.id,
    BATT_PREVIOUS_FULL_TIME: prev?.fullStartedAt,
    BATT_NO_PREVIOUS: previous && 'reason' in previous ? previous.reason : undefined,
    TMPDIR: tmpdir,
    BATT_DEST: staging,
    BATT_SERVICE: job.service,
    BATT_HOME: ctx.homeRoot,
    BATT_RUN_ID: ctx.runId,
    BATT_TIME: ctx.now.toISOString(),
    BATT_CONF_FILE: job.confFile,
    // The script runs in its staging folder: a relative path typed on the command line means
    // relative to where batt was run. Always set here, so a caller's own BATT_CWD never counts.
    BATT_CWD: callerCwd() ?? '',
    // Someone watches a terminal: an estimate ("batt: expect BYTES") is worth its cost. A cron
    // run leaves it unset, and the built-in scripts then skip their du or size query altogether.
    BATT_PROGRESS: ctx.onProgress ? '1' : undefined,
  });
}

const NO_SPACE = /no space left on device|ENOSPC|disk quota exceeded/i;

/** A line a script printed, fit for batt's own messages: no colours, no control characters. */
const plain = (l: string) => l.replace(/\x1b\[[0-9;?]*[ -\/]*[@-~]/g, '').replace(/[\x00-\x1f\x7f]/g, ' ').trim();

/** A line of the script's own words: not empty, and not its estimate ("batt: expect BYTES"). */
const spoken = (l: string) => l !== '' && parseExpectLine(l) === undefined;
/** A script's last words, fit for batt's own one-line message. */
export function lastWords(tail: string[]): string | undefined {
  return tail.map(plain).filter(spoken).slice(-1)[0]?.slice(0, 300);
}

/** The #! line of a script (its first 256 bytes, up to the first newline), or '' when unreadable. */
function shebang(file: string): string {
  try {
    const fd = openSync(file, 'r');
    try {
      const buf = Buffer.alloc(256);
      const n = readSync(fd, buf, 0, buf.length, 0);
      return buf.toString('latin1', 0, n).split('\n')[0]!;
    } finally {
      closeSync(fd);
    }
  } catch {
    return '';
  }
}

/** Why a script could not be started, from the spawn error (the script itself was checked). */
export function startFailure(spawnError: string, file: string): string {
  const first = spawnError.split('\n')[0]!;
  if (!/\bENOENT\b|No such file or directory/.test(first)) return first;
  // ENOENT from exec means its #! interpreter is missing: "bash\r" is, when the file has CRLF endings.
  if (shebang(file).endsWith('\r')) {
    return "its #! line ends in a carriage return (CRLF line endings; convert with dos2unix or sed -i 's/\\r$//')";
  }
  return 'the interpreter on its #! line was not found';
}


/** Lines of a script's output kept for notifications. */
const LAST_LINES = 10;

/** A failure another try cannot mend (it is not retried). */
class FinalError extends FailedError {}

/** What the script's failure looks like in one line. */
function scriptFailure(job: BackupJob, r: Awaited<ReturnType<typeof runScript>>): BattError {
  const { service } = job;
  const last = lastWords(r.tail);
  const said = last ? `: ${last}` : '';
  if (r.spawnError) return new FinalError(`${service}: cannot start script: ${startFailure(r.spawnError, job.script)}`);
  if (r.timedOut) {
    // A service's own limit is named: the sysadmin knows which setting to change.
    const from = job.timeoutFrom === 'BACKUP_TIMEOUT' ? ' (BACKUP_TIMEOUT)' : '';
    return new FinalError(`${service}: timed out after ${Math.round(job.timeoutMs / 1000)}s${from} and was stopped${said}`);
  }
  if (r.aborted) return new FinalError(`${service}: interrupted`);
  if (r.tail.some((l) => NO_SPACE.test(l))) {
    return new NoSpaceError(`${service}: no space left on device while writing the backup${said}`);
  }
  const how = r.signal ? `was killed by ${r.signal}` : `exited with code ${r.exitCode}`;
  return new FailedError(`${service}: backup script ${how}${said}`);
}

/**
 * The file a script of a chain writes into its staging folder to say that it built on
 * BATT_PREVIOUS (that folder, one line). batt takes it out and names the base in the manifest.
 */
export const BASE_FILE = 'batt-base';

/** The backup the script built on (its batt-base file, taken out of the staging folder), if any. */
async function takeBase(staging: string, service: string, previous: Previous | { reason: string } | undefined): Promise<Previous | undefined> {
  const file = path.join(staging, BASE_FILE);
  let said: string;
  try {
    said = await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const offered = previous && 'backup' in previous ? previous : undefined;
  const named = said.replace(/\n$/, '');
  if (!offered) throw new FinalError(`${service}: the script wrote ${BASE_FILE} (${named.slice(0, 200)}), but batt offered no previous backup to build on`);
  if (path.resolve(named) !== offered.backup.dir) {
    throw new FinalError(`${service}: the script's ${BASE_FILE} names ${named.slice(0, 200)}, not the previous backup ${offered.backup.dir} that batt offered`);
  }
  await fs.rm(file);
  return offered;
}

/** Files sealed (hashed + fsynced) at once: enough to overlap I/O, bounded for memory and fds. */
const SEAL_CONCURRENCY = 4;

/**
 * The hash of a file the script left: taken on from its hash-ahead cursor when that cursor still
 * follows the same inode and the file did not shrink, otherwise read from byte 0.
 */
async function hashSealed(abs: string, st: { dev: number; ino: number; size: number }, ahead?: HashCursor) {
  if (ahead && ahead.dev === st.dev && ahead.ino === st.ino && ahead.offset <= st.size) return ahead.finish();
  await ahead?.close();
  return hashFile(abs, undefined, { check: true });
}

/** Checks what a script left and returns its files with sizes and hashes. */
async function sealFiles(staging: string, service: string, ahead: Map<string, HashCursor>): Promise<FileEntry[]> {
  const entries = await walk(staging);
  const odd = entries.find((e) => e.kind === 'other');
  if (odd) throw new FinalError(`${service}: the script left ${odd.rel}, which is not a regular file or folder`);
  // batt's own names: a script's file by one of them would be overwritten by batt's (or, for the
  // copies sidecar, never verified), so the backup would not hold what the script wrote.
  const taken = entries.find((e) => SIDECARS.includes(e.rel) || e.rel === BASE_FILE);
  if (taken) throw new FinalError(`${service}: the script left ${taken.rel}, a name batt keeps for its own file; use another name`);
  const files = entries.filter((e) => e.kind === 'file');
  if (files.length === 0) throw new FailedError(`${service}: the script exited 0 but wrote no file`);
  // hash-ahead cursors by inode: a file renamed after it was written is still matched
  const byInode = new Map([...ahead.values()].map((c) => [`${c.dev}:${c.ino}`, c]));
  // Each file is flushed to disk (fsync) while it is hashed from the page cache, and up to
  // SEAL_CONCURRENCY files are sealed at once: the seal costs about one read of the output, not a
  // read plus a wait for the disk per file. Order follows the walk; the first error wins, but only
  // after every file in flight has settled (the caller removes the staging folder).
  const out = await mapBounded(files, SEAL_CONCURRENCY, async (f): Promise<FileEntry> => {
    const abs = path.join(staging, f.rel);
    // A hard link shares its inode with a live file: chmod would change the live file, and the
    // "backup" would change with it. A backup must hold its own copy.
    const st = await fs.lstat(abs);
    const key = `${st.dev}:${st.ino}`;
    const cursor = byInode.get(key);
    byInode.delete(key);
    if (st.nlink > 1) {
      await cursor?.close();
      throw new FinalError(`${service}: the script left ${f.rel} as a hard link (${st.nlink} names); a backup must hold its own copy`);
    }
    await fs.chmod(abs, 0o600);
    const [{ size, sha256, streamProblem }] = await Promise.all([hashSealed(abs, st, cursor), fsyncPath(abs)]);
    if (size === 0) throw new FailedError(`${service}: the script exited 0 but ${f.rel} is empty`);
    // `dump | gzip > f` whose dump failed: the compressor exited 0 on an empty or cut stream
    if (streamProblem) throw new FailedError(`${service}: the script exited 0 but ${f.rel} ${streamProblem}`);
    return { path: f.rel, size, sha256 };
  }).finally(() => Promise.all([...byInode.values()].map((c) => c.close())));
  for (const d of entries.filter((e) => e.kind === 'dir')) {
    await fs.chmod(path.join(staging, d.rel), 0o700); // a script may have made it 0755
    await fsyncPath(path.join(staging, d.rel));
  }
  return out;
}

async function freeFolder(base: string, service: string): Promise<string> {
  for (let attempt = 1; attempt < 1000; attempt++) {
    const dir = serviceFolder(base, service, attempt);
    if (!(await exists(dir))) return dir;
  }
  throw new FailedError(`${service}: too many backups in ${base}`);
}

/** One try of a service's backup; try 2 and later write into a staging folder of their own. */
export async function backupService(job: BackupJob, ctx: RunContext, attempt = 1): Promise<BackupResult> {
  const started = new Date();
  const t0 = Date.now();
  const staging = path.join(ctx.base, `${STAGING_PREFIX}${job.service}-${ctx.runId}${attempt > 1 ? `-try${attempt}` : ''}`);
  let lastLines: string[] | undefined;
  const log = (line: string) => ctx.log.write(job.service, line);
  let status: BackupStatus = 'failed';
  let scratch: Scratch | undefined;
  let ahead = new Map<string, HashCursor>();
  try {
    try {
      scratch = await makeScratch(job.service);
      await mkdirPrivate(ctx.base);
      await fs.mkdir(staging, { mode: 0o700 }); // fails on anything already there, links included
    } catch (err) {
      throw fromSystemError(err, staging);
    }
    let previous: Previous | { reason: string } | undefined;
    if (job.levels) {
      const root = ctx.root ?? ctx.base;
      previous = await findPrevious(root, (await scanRoot(root)).backups, job.service, ctx.now);
      log('backup' in previous ? `previous backup to build on: ${previous.backup.id}` : `no previous backup to build on: ${previous.reason}`);
    }
    log(`start ${job.script} -> ${staging}`);
    const writeback = startWriteback(staging, { hashAhead: job.appendOnly });
    let expected: number | undefined; // what the script announced ("batt: expect BYTES"), if anything
    const onProgress = ctx.onProgress;
    // the last backup's output / estimate: looked up in the background, on a terminal, once the
    // script announced an estimate
    let ratio: number | undefined;
    let lookedUp = false;
    const announced = (n: number) => {
      expected = n;
      if (lookedUp || !ctx.estimateRatio) return;
      lookedUp = true;
      ctx.estimateRatio(job.service, JSON.stringify(redactOptions(job.input))).then((r) => (ratio = r), () => {});
    };
    const progress = onProgress && sampleProgress(
      () => {
        const bytes = writeback.written();
        return bytes === undefined ? undefined : { bytes, total: expected && Math.round(expected * (ratio ?? 1)) };
      },
      (text) => onProgress(job.service, text),
    );
    const r = await runScript({
      file: job.script,
      args: job.input.args,
      env: scriptEnv(job, ctx, staging, scratch.dir, previous),
      cwd: staging,
      timeoutMs: job.timeoutMs,
      killAfterMs: ctx.killAfterMs,
      signal: ctx.signal,
      onLine: (line, stream) => {
        log(`${stream === 'stderr' ? '!' : '>'} ${line}`);
        const n = stream === 'stdout' ? parseExpectLine(line) : undefined;
        if (n) announced(n);
      },
      priority: { nice: job.run?.nice, ioniceClass: job.run?.ioniceClass, ioniceLevel: job.run?.ioniceLevel },
    }).finally(async () => {
      progress?.stop();
      ahead = await writeback.stop();
      await scratch?.remove();
    });
    if (r.exitCode !== 0 || r.timedOut || r.aborted || r.spawnError) {
      lastLines = r.tail.map(plain).filter(spoken).slice(-LAST_LINES);
      if (r.timedOut) status = 'timeout';
      throw scriptFailure(job, r);
    }
    if (ctx.signal?.aborted) throw new FailedError(`${job.service}: interrupted`);
    const full = filledUp(await fs.statfs(staging).catch(() => undefined));
    if (full) throw new NoSpaceError(`${job.service}: no space left on device while writing the backup: ${full}`);
    const aheadBytes = [...ahead.values()].reduce((n, c) => n + c.offset, 0);
    const built = await takeBase(staging, job.service, previous).catch((err) => {
      throw err instanceof BattError ? err : fromSystemError(err, staging);
    });
    const files = await sealFiles(staging, job.service, ahead).catch((err) => {
      throw fromSystemError(err, staging);
    });
    const dest = await freeFolder(ctx.base, job.service);
    const manifest: Manifest = {
      format: 1,
      service: job.service,
      host: ctx.host ?? os.hostname(),
      runId: ctx.runId,
      startedAt: started.toISOString(),
      finishedAt: new Date().toISOString(),
      status: 'ok',
      exitCode: 0,
      battVersion: ctx.version,
      script: job.script,
      options: redactOptions(job.input),
      files,
      totalBytes: files.reduce((s, f) => s + f.size, 0),
      ...(built ? { base: path.relative(dest, built.backup.dir) } : {}),
      ...(expected ? { expectedBytes: expected } : {}),
    };
    try {
      await writeManifest(staging, manifest);
      await fs.rename(staging, dest);
      await fsyncPath(ctx.base);
    } catch (err) {
      throw fromSystemError(err, dest);
    }
    if (job.appendOnly) log(`seal: ${aheadBytes} of ${manifest.totalBytes} bytes were hashed while the script ran`);
    if (built) log(`incremental on ${built.backup.id}`);
    const compared = comparableBackup(ctx.previous?.get(job.service), JSON.stringify(manifest.options), compressionKinds(files.map((f) => f.path)));
    if (!built && compared.skipped) log(compared.skipped);
    const warnings = [
      r.stderrLast && `the script exited 0 but wrote to stderr: ${plain(r.stderrLast).slice(0, 300)}`,
      // an incremental holds only the change: its size says nothing against the previous backup's
      built ? undefined : sizeDropWarning(manifest.totalBytes, compared.previous, job.minSizeRatio ?? 0),
    ].filter((w): w is string => !!w);
    const warning = warnings.length ? `${job.service}: ${warnings.join('; ')}` : undefined;
    log(`${warning ? 'warn' : 'ok'} ${plural(files.length, 'file')} ${plural(manifest.totalBytes, 'byte')} -> ${dest}`);
    if (warning) log(`WARNING ${warning}`);
    return {
      service: job.service,
      status: warning ? 'warning' : 'ok',
      dest,
      files: files.length,
      bytes: manifest.totalBytes,
      durationMs: Date.now() - t0,
      ...(warning ? { warning } : {}),
    };
  } catch (err) {
    await Promise.all([...ahead.values()].map((c) => c.close())); // closing twice is harmless
    await scratch?.remove().catch(() => {});
    await fs.rm(staging, { recursive: true, force: true }).catch(() => {});
    const error = describeError(err);
    log(`FAILED ${error}`);
    return {
      service: job.service,
      status: ctx.signal?.aborted ? 'interrupted' : status,
      files: 0,
      bytes: 0,
      durationMs: Date.now() - t0,
      error: error.startsWith(`${job.service}:`) ? error : `${job.service}: ${error}`,
      noSpace: err instanceof NoSpaceError,
      retryable: !ctx.signal?.aborted && !(err instanceof FinalError) && !(err instanceof NoSpaceError) && (!(err instanceof BattError) || err instanceof FailedError),
      ...(lastLines?.length ? { lastLines } : {}),
    };
  }
}
