// A restic repository as a target (TYPE=restic): each sealed backup folder becomes one snapshot,
// made by Debian's restic from inside the folder (paths relative, the same every day), tagged
// `batt`, id=, service=, run=, started=... and with the backup's host (--host). restic writes a
// snapshot only at the very end, so a backup cut off (SIGINT/SIGTERM/SIGKILL, a failure) is never
// a copy; batt-copies.json records it only after restic exited 0. The password reaches restic as
// a file (RESTIC_PASSWORD_FILE), the repository string in RESTIC_REPOSITORY: never in argv. restic
// runs through runner.ts's runCommand and is stopped with SIGINT, on which it removes its lock;
// the locks a killed restic leaves are removed by `restic unlock` (only stale ones: a dead process
// of this host, or 30 minutes without refresh) before any other step takes the repository.
import fs from 'node:fs/promises';
import path from 'node:path';
import { runCommand, type CommandResult } from '../run/runner.js';
import { makeScratch } from '../run/scratch.js';
import { describeProblem, readManifest, verifyFolder, type Manifest } from '../catalog/manifest.js';
import { UsageError } from '../core/errors.js';
import { passphraseFile, requireFile } from '../config/conffiles.js';
import type { TargetConf } from './config.js';
import { intKey } from './config.js';
import { firstFreeCopyId } from './copy.js';
import type { CopyProblem, CopyPutOptions, CopyTarget } from './copytarget.js';
import type { SweepResult } from './sweep.js';
import { DEFAULT_RETRY, DownloadInterruptedError, TargetError, TargetInterruptedError, UploadInterruptedError, withRetry } from './retry.js';
import {
  BATT_TAG,
  baseOfCopy,
  copyOfSnapshot,
  publicRepository,
  resticTime,
  sftpCommand,
  snapshotFiles,
  snapshotTags,
  validDataSubset,
  type ResticCopy,
  type ResticSnapshot,
} from './resticsnap.js';

const RESTIC = () => process.env.BATT_RESTIC || 'restic';

export interface ResticOptions {
  repository: string;
  passwordFile: string;
  sshKey?: string;
  knownHosts?: string;
  port?: number;
  caFile?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
}

/** A TYPE=restic conf, its keys already checked (open.ts), to a target; PASSWORD_FILE must be private and not empty. */
export async function openResticTarget(t: TargetConf): Promise<ResticTarget> {
  const c = t.conf;
  await requireFile(passphraseFile, 'PASSWORD_FILE', c.PASSWORD_FILE!, t.file);
  return new ResticTarget(t.name, t, {
    repository: c.REPOSITORY!,
    passwordFile: c.PASSWORD_FILE!,
    sshKey: c.SSH_KEY || undefined,
    knownHosts: c.KNOWN_HOSTS || undefined,
    port: c.PORT ? intKey(t, 'PORT', 22) : undefined,
    caFile: c.CA_FILE || undefined,
    accessKeyId: c.ACCESS_KEY_ID || undefined,
    secretAccessKey: c.SECRET_ACCESS_KEY || undefined,
  });
}

/** What restic said went wrong: its Fatal: line, else its last line on stderr. */
function resticSays(r: CommandResult): string {
  const lines = r.stderr.split('\n').map((l) => l.trim()).filter(Boolean);
  return lines.find((l) => l.startsWith('Fatal:'))?.replace(/^Fatal:\s*/, '') ?? lines[lines.length - 1] ?? `exit ${r.exitCode}`;
}

export class ResticTarget implements CopyTarget {
  readonly kind = 'restic';
  private readonly global: string[];
  private unlocked = false;

  constructor(
    readonly name: string,
    readonly conf: TargetConf,
    private readonly o: ResticOptions,
  ) {
    let cmd: string | undefined;
    try {
      cmd = sftpCommand(o.repository, o);
    } catch (err) {
      throw new TargetError(`${conf.file}: ${(err as Error).message}`);
    }
    this.global = [...(cmd ? ['-o', `sftp.command=${cmd}`] : []), ...(o.caFile ? ['--cacert', o.caFile] : [])];
  }

  describe(id: string): string {
    const repo = `restic:${publicRepository(this.o.repository)}`;
    return id ? `${repo} id=${id}` : repo;
  }

  /** One restic command; a stop (`signal`) sends SIGINT, on which restic removes its lock. */
  private run(args: string[], opts: { cwd?: string; signal?: AbortSignal } = {}): Promise<CommandResult> {
    return runCommand(RESTIC(), [...this.global, ...args], {
      cwd: opts.cwd,
      signal: opts.signal,
      killSignal: 'SIGINT',
      env: {
        RESTIC_REPOSITORY: this.o.repository,
        RESTIC_PASSWORD_FILE: this.o.passwordFile,
        // what the user's shell may hold must not pick another repository or password
        RESTIC_REPOSITORY_FILE: undefined,
        RESTIC_PASSWORD: undefined,
        RESTIC_PASSWORD_COMMAND: undefined,
        ...(this.o.accessKeyId ? { AWS_ACCESS_KEY_ID: this.o.accessKeyId, AWS_SECRET_ACCESS_KEY: this.o.secretAccessKey } : {}),
      },
    });
  }

  /** run, and a TargetError with restic's own words when it fails; `what` names the step. */
  private async ok(what: string, args: string[], opts: { cwd?: string; signal?: AbortSignal } = {}): Promise<string> {
    const r = await this.run(args, opts);
    if (opts.signal?.aborted) throw new TargetInterruptedError(`${this.name}: restic ${what} interrupted`);
    if (r.exitCode !== 0) {
      const said = resticSays(r);
      const hint = /Is there a repository at the following location|unable to open config file/i.test(r.stderr)
        ? ` (create it once: restic init --repository-version 2, with RESTIC_REPOSITORY and RESTIC_PASSWORD_FILE set as in ${this.conf.file})`
        : '';
      throw new TargetError(`${this.name}: restic ${what}: ${said}${hint}`);
    }
    return r.stdout;
  }

  /** `restic unlock` once per opening, before the first step that needs the repository to itself. */
  private async removeStaleLocks(signal?: AbortSignal): Promise<void> {
    if (this.unlocked) return;
    await this.ok('unlock', ['unlock'], { signal });
    this.unlocked = true;
  }

  private async snapshots(signal?: AbortSignal): Promise<ResticCopy[]> {
    const out = await this.ok('snapshots', ['snapshots', '--json', '--no-lock', '--tag', BATT_TAG], { signal });
    let list: ResticSnapshot[];
    try {
      list = (JSON.parse(out || '[]') as ResticSnapshot[] | null) ?? [];
    } catch {
      throw new TargetError(`${this.name}: restic snapshots printed no JSON`);
    }
    return list
      .map(copyOfSnapshot)
      .filter((c): c is ResticCopy => !!c)
      .sort((a, b) => Date.parse(a.startedAt) - Date.parse(b.startedAt) || a.id.localeCompare(b.id));
  }

  async list(signal?: AbortSignal): Promise<ResticCopy[]> {
    try {
      return await this.snapshots(signal);
    } catch (err) {
      throw signal?.aborted ? new TargetInterruptedError(`${this.name}: listing the copies interrupted`) : err;
    }
  }

  async probe(signal?: AbortSignal): Promise<number> {
    return (await this.list(signal)).length;
  }

  /** The snapshot of copy `id` (the newest, should there be several). */
  private async snapshotOf(id: string, signal?: AbortSignal): Promise<ResticCopy> {
    const found = (await this.snapshots(signal)).filter((c) => c.id === id);
    if (!found.length) throw new TargetError(`${this.name}: no copy named ${id}`);
    return found[found.length - 1]!;
  }

  /**
   * One snapshot of the folder, tagged as copy `id` (or id.2, id.3... when a snapshot of another
   * host or run has that id already: nothing is ever made ambiguous). A restic that did not exit 0
   * made no copy: exit 3 (some file unreadable) still wrote a snapshot, which is forgotten at once.
   */
  async put(localDir: string, id: string, opts: CopyPutOptions = {}): Promise<ResticCopy> {
    const { signal } = opts;
    const m = await readManifest(localDir);
    const host = opts.host ?? m.host;
    const interrupted = () => new UploadInterruptedError(`${this.name}: upload interrupted`);
    const r = <T>(what: string, fn: () => Promise<T>) =>
      withRetry(`${this.name}: ${what}`, fn, opts.retry ?? DEFAULT_RETRY, opts.onRetry, signal, UploadInterruptedError).catch((err) => {
        throw signal?.aborted ? interrupted() : err;
      });
    const taken = new Set((await r('list snapshots', () => this.snapshots(signal))).map((c) => c.id));
    const copyId = firstFreeCopyId(id, taken);
    const uploadedAt = new Date().toISOString();
    let tags: string[];
    let files: string[];
    try {
      tags = snapshotTags(copyId, m, uploadedAt);
      files = snapshotFiles(m);
    } catch (err) {
      throw new TargetError(`${this.name}: ${copyId}: ${(err as Error).message}`);
    }
    const scratch = await makeScratch('restic', opts.tmpDir);
    try {
      const list = path.join(scratch.dir, 'files');
      await fs.writeFile(list, files.join('\n') + '\n', { mode: 0o600 });
      const args = ['backup', '--json', '--files-from-verbatim', list, '--host', host, '--time', resticTime(m.startedAt), ...tags.flatMap((t) => ['--tag', t])];
      const snapshot = await r(`backup ${copyId}`, async () => {
        const res = await this.run(args, { cwd: localDir, signal });
        if (signal?.aborted) throw interrupted();
        const summary = res.stdout
          .split('\n')
          .filter((l) => l.startsWith('{') && l.includes('"summary"'))
          .map((l) => JSON.parse(l) as { snapshot_id?: string })
          .pop();
        if (res.exitCode === 3 && summary?.snapshot_id) {
          await this.ok('forget', ['forget', summary.snapshot_id]).catch(() => {});
          throw new TargetError(`${this.name}: restic backup could not read every file: ${resticSays(res)}; its snapshot was forgotten`);
        }
        if (res.exitCode !== 0 || !summary?.snapshot_id) throw new TargetError(`${this.name}: restic backup: ${resticSays(res)}`);
        return summary.snapshot_id;
      });
      return {
        format: 1,
        id: copyId,
        service: m.service,
        host,
        runId: m.runId,
        startedAt: m.startedAt,
        uploadedAt,
        encryption: 'restic',
        files: m.files.map((f) => ({ ...f, remote: f.path, remoteSize: f.size, remoteSha256: f.sha256 })),
        fileCount: m.files.length,
        totalBytes: m.totalBytes,
        ...(baseOfCopy(copyId, m) !== undefined ? { base: baseOfCopy(copyId, m) } : {}),
        snapshot,
      };
    } finally {
      await scratch.remove();
    }
  }

  /** The snapshot of copy `id` restored into `dir` (made here, 0700); its manifest. */
  private async restoreInto(id: string, dir: string, signal?: AbortSignal): Promise<Manifest> {
    const snap = await this.snapshotOf(id, signal);
    await fs.mkdir(dir, { mode: 0o700 });
    await this.ok(`restore ${id}`, ['restore', '--no-lock', snap.snapshot, '--target', dir], { signal });
    return readManifest(dir);
  }

  /** Restores copy `id` into localDir and checks every file against its manifest: the result is a backup folder. */
  async get(id: string, localDir: string, opts: { tmpDir?: string; signal?: AbortSignal } = {}): Promise<Manifest> {
    const { signal } = opts;
    try {
      const m = await this.restoreInto(id, localDir, signal);
      const problems = await verifyFolder(localDir, m, signal);
      if (problems.length) throw new TargetError(`${this.name}: ${id}: ${problems[0]!.path}: ${describeProblem(problems[0]!)} (the snapshot does not match its manifest)`);
      return m;
    } catch (err) {
      throw signal?.aborted ? new DownloadInterruptedError(`${this.name}: download of ${id} interrupted`) : err;
    }
  }

  /** Restores copy `id` into a scratch folder and re-hashes it against its manifest. */
  async verify(id: string, opts: { deep?: boolean; tmpDir?: string; signal?: AbortSignal } = {}): Promise<CopyProblem[]> {
    const { signal } = opts;
    const scratch = await makeScratch('verify', opts.tmpDir);
    try {
      const dir = path.join(scratch.dir, 'copy');
      const m = await this.restoreInto(id, dir, signal);
      return (await verifyFolder(dir, m, signal)).map((p) => ({ path: p.path, problem: describeProblem(p) }));
    } catch (err) {
      throw signal?.aborted ? new DownloadInterruptedError(`${this.name}: verify of ${id} interrupted`) : err;
    } finally {
      await scratch.remove();
    }
  }

  /** `restic check`, with --read-data-subset when asked (every pack's data read back and checked). */
  async checkStore(opts: { readDataSubset?: string; signal?: AbortSignal } = {}): Promise<CopyProblem[]> {
    const { readDataSubset: subset, signal } = opts;
    if (subset !== undefined && !validDataSubset(subset)) {
      throw new UsageError(`--read-data-subset must be n/t, a percentage or a size (1/5, 10%, 500M), got "${subset}"`);
    }
    await this.removeStaleLocks(signal);
    const r = await this.run(['check', ...(subset ? ['--read-data-subset', subset] : [])], { signal });
    if (signal?.aborted) throw new DownloadInterruptedError(`${this.name}: restic check interrupted`);
    if (r.exitCode === 0) return [];
    const lines = `${r.stdout}\n${r.stderr}`
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && /error|Fatal|damaged|missing|not referenced|invalid/i.test(l));
    return (lines.length ? lines : [resticSays(r)]).map((l) => ({ path: 'repository', problem: `restic check: ${l}` }));
  }

  /** Forgets the snapshot(s) of copy `id`; their data goes with compact (prune). */
  async remove(id: string): Promise<void> {
    const snaps = (await this.snapshots()).filter((c) => c.id === id).map((c) => c.snapshot);
    if (!snaps.length) return;
    await this.removeStaleLocks();
    await this.ok(`forget ${id}`, ['forget', ...snaps]);
  }

  async compact(signal?: AbortSignal): Promise<void> {
    await this.removeStaleLocks(signal);
    await this.ok('prune', ['prune'], { signal });
  }

  /**
   * The locks of interrupted restic runs: `restic unlock` removes only stale ones (a dead process
   * of this host, or 30 minutes without refresh), never a live run's of another host. Reported as
   * the lock files gone between before and after. A dry run removes nothing (restic cannot say
   * which would go).
   */
  async sweep(opts: { dryRun?: boolean; signal?: AbortSignal } = {}): Promise<SweepResult> {
    const result: SweepResult = { removed: [], failed: [], copies: [], kept: [] };
    if (opts.dryRun) return result;
    const locks = async () => new Set((await this.ok('list locks', ['list', 'locks', '--no-lock'], { signal: opts.signal })).split('\n').filter(Boolean));
    const before = await locks();
    if (!before.size) {
      this.unlocked = true;
      return result;
    }
    this.unlocked = false;
    await this.removeStaleLocks(opts.signal);
    const after = await locks();
    for (const l of before) if (!after.has(l)) result.removed.push(`locks/${l.slice(0, 8)} (a stale restic lock)`);
    return result;
  }

  async close(): Promise<void> {}
}
