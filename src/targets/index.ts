// Off-site targets: where finished backup folders are copied. Each kind (local folder, rsync,
// SFTP, S3, FTP) is a small Backend that moves single files; the Target here turns that into
// folder copies with one rule: a remote copy counts only when its index file (batt-remote.json)
// exists, and the index is written last, after every file was uploaded and checked.
import fs from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { FailedError } from '../errors.js';
import { makeScratch, type Scratch } from '../scratch.js';
import { hashFile, readManifest, MANIFEST, type Manifest } from '../manifest.js';
import { canDecrypt, decryptFile, encryptFile, openCopyKey, sealCopyKey, type Encryption } from '../crypto.js';
import type { TargetConf } from './config.js';

export const REMOTE_INDEX = 'batt-remote.json';
export const ENC_SUFFIX = '.age';
/** Passphrase mode: the copy's own age key, itself encrypted with the passphrase (one scrypt per copy). */
export const COPY_KEY = 'batt-key.age';

/**
 * How old a leftover of an interrupted upload (a temp file, an S3 multipart upload) must be before
 * a later upload or purge removes it. A live upload keeps its temp file's mtime (S3: its newest
 * part) fresh, however long the whole file takes, so this only has to exceed the clock skew between
 * hosts and the moment between the last write and the rename: a day is far beyond both, and keeps
 * the sweep away from another host's batt uploading to the same target right now.
 */
export const STALE_AFTER_MS = 24 * 3600_000;

const TEMP_TAG = '.batt-tmp-';
/** NAME.batt-tmp-XXXXXXXX, or with `hidden` (FTP) .batt-tmp-XXXXXXXX-NAME: nothing else matches. */
const TEMP_NAME = /^(?:.+\.batt-tmp-[0-9a-f]{8}|\.batt-tmp-[0-9a-f]{8}-.+)$/;

/** The temporary name a file is written under before its rename over `name`. */
export function tempName(name: string, hidden = false): string {
  const tag = `${TEMP_TAG}${randomBytes(4).toString('hex')}`;
  return hidden ? `${tag}-${name}` : `${name}${tag}`;
}

/** Is this file name one that tempName makes (and so batt's own)? */
export function isTempName(name: string): boolean {
  return TEMP_NAME.test(name);
}

/** What an interrupted upload left on a target: a temp file, or (S3) a multipart upload never completed. */
export interface Leftover {
  /** Relative to the target's base. */
  rel: string;
  /** Last written (the server's clock): a temp file's mtime; a multipart upload's newest part, else its start. */
  mtimeMs: number;
  /** S3: the multipart upload to abort. */
  uploadId?: string;
}

/** The leftovers last written more than `maxAgeMs` before `nowMs`; an unknown time is never stale. */
export function staleLeftovers(found: Leftover[], nowMs: number, maxAgeMs = STALE_AFTER_MS): Leftover[] {
  return found.filter((l) => Number.isFinite(l.mtimeMs) && nowMs - l.mtimeMs > maxAgeMs);
}

/** One entry of a listing of a target (Backend.listTree), relative to its base. */
export interface TreeEntry {
  rel: string;
  /**
   * file: a plain file; dir: a folder; other: a link, device... (never followed); unread: a folder
   * whose content is unknown (it could not be listed, or lies too deep).
   */
  type: 'file' | 'dir' | 'other' | 'unread';
  /** Last written, by the server's clock; NaN or absent: unknown. */
  mtimeMs?: number;
}

/** One entry of a folder as a backend lists it (for walkTree): a link is 'other', never followed. */
export interface FolderEntry {
  name: string;
  type: 'file' | 'dir' | 'other';
  /** Last written, when the listing says; otherwise `time` is asked, if given (null: gone since). */
  mtimeMs?: number;
  time?: () => Promise<number | undefined | null>;
}

/**
 * Backend.listTree's walk, the same for every backend: each folder is listed once through `list`
 * (undefined: it could not be listed, an 'unread' entry; the backend returns [] for a base that
 * does not exist yet). A folder holding REMOTE_INDEX is a copy: only its index is listed, nothing
 * inside is looked at. Below 64 levels a folder is 'unread'. `signal` stops the walk.
 */
export async function walkTree(list: (rel: string) => Promise<FolderEntry[] | undefined>, signal?: AbortSignal): Promise<TreeEntry[]> {
  const out: TreeEntry[] = [];
  const visit = async (rel: string, depth: number) => {
    signal?.throwIfAborted();
    const entries = await list(rel);
    if (!entries) {
      out.push({ rel, type: 'unread' });
      return;
    }
    const at = (name: string) => (rel ? `${rel}/${name}` : name);
    if (rel && entries.some((e) => e.type === 'file' && e.name === REMOTE_INDEX)) {
      out.push({ rel: at(REMOTE_INDEX), type: 'file' });
      return;
    }
    for (const e of entries) {
      const r = at(e.name);
      let mtimeMs: number | undefined | null = e.mtimeMs;
      if (mtimeMs === undefined && e.time) mtimeMs = await e.time();
      if (mtimeMs === null) continue; // gone meanwhile
      out.push({ rel: r, type: e.type, mtimeMs });
      if (e.type !== 'dir') continue;
      if (depth < 64) await visit(r, depth + 1);
      else out.push({ rel: r, type: 'unread' });
    }
  };
  await visit('', 0);
  return out;
}

/** A folder on a target and what the sweep made of it. */
export interface CopyVerdict {
  rel: string;
  why: string;
}

const hours = (ms: number) => `${(ms / 3600_000).toFixed(1)} h`;

/**
 * Which folders of a target are copies cut off before their index (SIGTERM, network loss, a crash)
 * and abandoned: a folder whose path `isCopyId` (batt's own layout: backupIdPattern), holding no
 * REMOTE_INDEX, not inside a folder that does (nor inside another such folder), whose newest file
 * (temp files count: a live upload keeps its own fresh) was last written more than `maxAgeMs` before
 * `nowMs`. A folder without any file is dated by its folders. Kept, with the reason: one not old
 * enough (another host may be uploading it now), or whose age or content cannot be established
 * (a file or folder without a time, a link or special file, which batt never writes, a folder not
 * listed, an index deeper down). Folders outside the layout are neither listed nor touched.
 */
export function abandonedCopies(
  entries: TreeEntry[],
  isCopyId: (rel: string) => boolean,
  nowMs: number,
  maxAgeMs = STALE_AFTER_MS,
): { abandoned: CopyVerdict[]; kept: CopyVerdict[] } {
  const folders = new Set<string>();
  const indexed = new Set<string>();
  const ancestors = (rel: string) => rel.split('/').slice(0, -1).map((_, i, a) => a.slice(0, i + 1).join('/'));
  for (const e of entries) {
    for (const a of ancestors(e.rel)) folders.add(a);
    if (e.type === 'dir' || e.type === 'unread') folders.add(e.rel);
    if (e.type === 'file' && path.posix.basename(e.rel) === REMOTE_INDEX) indexed.add(path.posix.dirname(e.rel));
  }
  const abandoned: CopyVerdict[] = [];
  const kept: CopyVerdict[] = [];
  const keep = (rel: string, why: string) => kept.push({ rel, why: `no ${REMOTE_INDEX}, but ${why}: kept` });
  for (const rel of [...folders].sort()) {
    if (!isCopyId(rel) || indexed.has(rel)) continue;
    if (ancestors(rel).some((a) => indexed.has(a) || isCopyId(a))) continue; // content of a copy
    const self = entries.find((e) => e.rel === rel);
    const inside = entries.filter((e) => e.rel.startsWith(`${rel}/`));
    const known = (e: TreeEntry) => e.mtimeMs !== undefined && Number.isFinite(e.mtimeMs);
    const nested = inside.find((e) => e.type === 'file' && path.posix.basename(e.rel) === REMOTE_INDEX);
    const odd = inside.find((e) => e.type === 'other');
    const unread = entries.find((e) => e.type === 'unread' && (e.rel === rel || e.rel.startsWith(`${rel}/`)));
    if (nested) keep(rel, `it holds ${nested.rel}, the index of a copy`);
    else if (odd) keep(rel, `it holds ${odd.rel}, which is neither a plain file nor a folder (batt writes none)`);
    else if (unread) keep(rel, `${unread.rel} could not be listed`);
    else {
      const files = inside.filter((e) => e.type === 'file');
      const dated = files.length ? files : [self, ...inside].filter((e): e is TreeEntry => e?.type === 'dir');
      const what = files.length ? 'file' : 'folder';
      const unknown = dated.find((e) => !known(e));
      if (!dated.length) keep(rel, 'it holds no file and its folder has no time: its age is unknown');
      else if (unknown) keep(rel, `the time of ${unknown.rel} is unknown`);
      else {
        const age = nowMs - dated.reduce((newest, e) => Math.max(newest, e.mtimeMs!), -Infinity);
        if (age < 0) keep(rel, `its newest ${what} is dated ${hours(-age)} in the future`);
        else if (age <= maxAgeMs) keep(rel, `its newest ${what} is ${hours(age)} old (an upload may be in progress)`);
        else abandoned.push({ rel, why: `no ${REMOTE_INDEX}, newest ${what} ${hours(age)} old` });
      }
    }
  }
  return { abandoned, kept };
}

export interface SweepResult {
  /** Removed (or with dryRun: would be removed), as paths relative to the target's base. */
  removed: string[];
  failed: { rel: string; error: string }[];
  /** Copies cut off before their index and abandoned (abandonedCopies): removed, or with dryRun would be. */
  copies: CopyVerdict[];
  /** Folders in batt's layout without an index that were kept, and why. */
  kept: CopyVerdict[];
}

/**
 * The words for what a sweep did, in one place for the three that report it: batt.log after a
 * run's uploads (sweepTarget: `target T: removed REL, <copy>`), batt.log of `purge --target`
 * (purgeRemote: `removed T:REL, <copy>`) and that command's output (printRemotePurge:
 * `removed T:REL  <copy>`). Each keeps its own frame, like the lines around it; the words are the same.
 */
export const sweepWords = {
  /** A batt temp file or S3 multipart upload removed. */
  leftover: 'left by an interrupted upload',
  /** A folder in batt's layout removed: it never got its index and was abandoned. */
  copy: (c: CopyVerdict): string => `a copy cut off before its index (${c.why})`,
  /** One entry of SweepResult.failed: a removal that failed, or (no rel) a listing that did. */
  failed: (f: SweepResult['failed'][number]): string => (f.rel ? `could not remove ${f.rel}: ${f.error}` : f.error),
  /** The sweep could not list the target's leftovers at all (it threw). */
  unlisted: (error: string): string => `could not look for leftovers of interrupted uploads: ${error}`,
};

export interface RemoteStat {
  size: number;
}

/** What Target.put knows about a file it hands to a Backend. */
export interface PutFileOptions {
  /** The file's sha256 when already known (saves reading it again). */
  sha256?: string;
  /**
   * SIGINT/SIGTERM: stop inside the transfer (abort the request, cut the connection, kill the
   * process) and reject; the file must then not exist under `rel` (a temp name may stay behind).
   */
  signal?: AbortSignal;
}

/** One file at a time; every path is relative to the target's base (prefix, folder...). */
export interface Backend {
  readonly kind: string;
  /** Where a copy lives, for humans (no credentials). */
  describe(rel: string): string;
  /** Uploads so that `rel` is either absent/old or complete: temp name + rename, or one object. */
  putFile(local: string, rel: string, size: number, opts?: PutFileOptions): Promise<void>;
  /**
   * `signal` (SIGINT/SIGTERM), here and in readText, findIndexes, findLeftovers and listTree, stops
   * the step wherever it is, connecting included (the request aborted, the connection cut, the
   * process killed): it rejects at once instead of waiting out a server that stopped answering.
   */
  stat(rel: string, signal?: AbortSignal): Promise<RemoteStat | undefined>;
  /**
   * Downloads `rel` into the file `local`. `signal` (SIGINT/SIGTERM) stops it inside the transfer
   * (abort the request, cut the connection, kill the process, stop the copy) and rejects; what was
   * written of `local` may stay: it lives in the caller's temp folder.
   */
  getFile(rel: string, local: string, opts?: { signal?: AbortSignal }): Promise<void>;
  readText(rel: string, signal?: AbortSignal): Promise<string | undefined>;
  writeText(rel: string, text: string): Promise<void>;
  /** Relative paths of every REMOTE_INDEX file (any depth). */
  findIndexes(signal?: AbortSignal): Promise<string[]>;
  /** Removes the folder (or every object under the prefix) `rel`. */
  removeTree(rel: string): Promise<void>;
  /**
   * What interrupted uploads left anywhere under the base: regular files whose name isTempName
   * (links are never followed nor listed), or on S3 the multipart uploads never completed. Absent
   * where the transfer tool removes its own (rsync). `signal` stops the walk.
   */
  findLeftovers?(signal?: AbortSignal): Promise<Leftover[]>;
  /** Removes one leftover found by findLeftovers (a file: only if it still is a plain file). */
  removeLeftover?(l: Leftover): Promise<void>;
  /**
   * Every plain file (with its time), folder and other entry under the base, for abandonedCopies;
   * links are listed as 'other', never followed. A folder holding REMOTE_INDEX is a copy: only
   * its index is listed. Absent where file times do not tell when a copy was written (rsync keeps
   * the local files' times). `signal` stops the walk.
   */
  listTree?(signal?: AbortSignal): Promise<TreeEntry[]>;
  close(): Promise<void>;
}

export interface RemoteFile {
  path: string;
  /** Name on the target (path + .age when encrypted). */
  remote: string;
  size: number;
  sha256: string;
  remoteSize: number;
  remoteSha256: string;
}

/** batt-remote.json: what a complete remote copy holds. Never holds a key or passphrase. */
export interface RemoteIndex {
  format: 1;
  id: string;
  service: string;
  host: string;
  runId: string;
  startedAt: string;
  uploadedAt: string;
  encryption: 'none' | 'age';
  /** Set in passphrase mode: the file holding the copy's key (see COPY_KEY). */
  keyFile?: string;
  files: RemoteFile[];
  totalBytes: number;
}

export class TargetError extends FailedError {}

/**
 * A step on a target (connecting, listing, reading an index, a transfer) stopped because batt was
 * told to stop (SIGINT/SIGTERM), not because the target failed. Never worth a retry.
 */
export class TargetInterruptedError extends TargetError {}

/** The upload stopped because batt was told to stop (SIGINT/SIGTERM), not because the target failed. */
export class UploadInterruptedError extends TargetInterruptedError {}

/** A download (restore --from, verify --from) stopped because batt was told to stop (SIGINT/SIGTERM). */
export class DownloadInterruptedError extends TargetInterruptedError {}

/** Errors worth another try: network and server trouble, not "no such bucket" or "permission". */
export function isTransient(err: unknown): boolean {
  if (err instanceof TargetInterruptedError) return false;
  const name = (err as { name?: string })?.name;
  if (name === 'AbortError') return false; // a request or walk stopped by its signal
  const e = err as { code?: string; name?: string; $metadata?: { httpStatusCode?: number }; message?: string };
  const code = String(e?.code ?? '');
  if (/^(ECONNRESET|ECONNREFUSED|ETIMEDOUT|EPIPE|EHOSTUNREACH|ENETUNREACH|EAI_AGAIN|ERR_SSH|ERR_GENERIC_CLIENT|ECONNABORTED)$/.test(code)) return true;
  const status = e?.$metadata?.httpStatusCode;
  if (status !== undefined && (status >= 500 || status === 429 || status === 408)) return true;
  if (e?.name && /Timeout|NetworkingError|RequestTimeout|SlowDown|InternalError|ServiceUnavailable/.test(e.name)) return true;
  return /socket hang up|connection (?:lost|closed|reset)|not connected|ECONNRESET|ECONNREFUSED|timed out|No response from server|Client network socket disconnected|end of file/i.test(
    String(e?.message ?? ''),
  );
}

export interface RetryPolicy {
  attempts: number;
  baseDelayMs: number;
  maxDelayMs: number;
}

export const DEFAULT_RETRY: RetryPolicy = { attempts: 4, baseDelayMs: 1000, maxDelayMs: 30_000 };

/** Exponential backoff with jitter: attempt 1 -> base, 2 -> 2*base... capped. */
export function backoffMs(attempt: number, p: RetryPolicy, rand = Math.random): number {
  const exp = Math.min(p.maxDelayMs, p.baseDelayMs * 2 ** (attempt - 1));
  return Math.round(exp / 2 + (exp / 2) * rand());
}

/**
 * Retries transient failures with backoff; once `signal` is aborted, no further try (nor wait):
 * `Interrupted` is thrown, the class saying what was stopped (UploadInterruptedError for an
 * upload's steps, DownloadInterruptedError for a download's; the base class by default).
 */
export async function withRetry<T>(
  what: string,
  fn: () => Promise<T>,
  p: RetryPolicy,
  onRetry?: (msg: string) => void,
  signal?: AbortSignal,
  Interrupted: new (message: string) => TargetInterruptedError = TargetInterruptedError,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    if (signal?.aborted) throw new Interrupted(`${what}: interrupted`);
    try {
      return await fn();
    } catch (err) {
      if (signal?.aborted) throw new Interrupted(`${what}: interrupted`);
      if (attempt >= p.attempts || !isTransient(err)) throw err;
      const wait = backoffMs(attempt, p);
      onRetry?.(`${what}: ${errText(err)}; retry ${attempt}/${p.attempts - 1} in ${Math.round(wait / 100) / 10}s`);
      await sleep(wait, signal);
    }
  }
}

/** setTimeout as a promise that resolves early when `signal` aborts (at once if it already has). */
function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    // an abort that came before this call fires no more event: the listener would wait it out
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

export function errText(err: unknown): string {
  const e = err as { message?: string; code?: string; name?: string };
  const msg = (e?.message ?? String(err)).split('\n')[0] ?? '';
  return msg || e?.name || e?.code || 'unknown error';
}

export interface PutOptions {
  encryption?: Encryption;
  retry?: RetryPolicy;
  onRetry?: (msg: string) => void;
  tmpDir?: string;
  /**
   * SIGINT/SIGTERM: the file in transfer is cut off (each Backend stops inside it), nothing more
   * is uploaded and the index is not written, so the remote folder is not a copy.
   */
  signal?: AbortSignal;
}

/** A configured target: folder-level put/list/get/remove/verify on top of a Backend. */
export class Target {
  constructor(
    readonly name: string,
    readonly backend: Backend,
    readonly conf: TargetConf,
  ) {}

  get kind(): string {
    return this.backend.kind;
  }

  /**
   * Copies a finished backup folder to `remoteName` (its id, e.g. 2026/11/28/mysql). The old
   * index is removed first, so a half-redone copy never looks complete; the new index is last.
   */
  async put(localDir: string, remoteName: string, opts: PutOptions = {}): Promise<RemoteIndex> {
    const manifest = await readManifest(localDir);
    const retry = opts.retry ?? DEFAULT_RETRY;
    let enc = opts.encryption;
    const rel = (p: string) => `${remoteName}/${p}`;
    const signal = opts.signal;
    const r = <T>(what: string, fn: () => Promise<T>) => withRetry(`${this.name}: ${what}`, fn, retry, opts.onRetry, signal, UploadInterruptedError);
    // encryption stopped by the signal ends the upload the way a transfer cut by it does
    const interrupted = (err: unknown): never => {
      throw signal?.aborted ? new UploadInterruptedError(`${this.name}: upload interrupted`) : err;
    };
    await r('remove old index', async () => {
      if (await this.backend.stat(rel(REMOTE_INDEX), signal)) await this.backend.removeTree(remoteName);
    });
    const scratch = await makeScratch('upload', opts.tmpDir);
    const tmp = scratch.dir;
    try {
      let keyFile: string | undefined;
      if (enc?.passphraseFile) {
        // a fresh key pair for this copy; its secret half travels sealed with the passphrase
        const sealed = await sealCopyKey(enc, tmp, signal).catch(interrupted);
        const size = (await fs.stat(sealed.file)).size;
        await r(`upload ${COPY_KEY}`, async () => {
          await this.backend.putFile(sealed.file, rel(COPY_KEY), size, { signal });
          if ((await this.backend.stat(rel(COPY_KEY), signal))?.size !== size) throw new TargetError(`${this.name}: ${COPY_KEY} did not arrive whole`);
        });
        keyFile = COPY_KEY;
        enc = { recipients: [sealed.recipient] };
      }
      const files: RemoteFile[] = [];
      const entries = [...manifest.files.map((f) => ({ path: f.path, size: f.size, sha256: f.sha256 })), await manifestEntry(localDir)];
      for (const f of entries) {
        if (signal?.aborted) throw new UploadInterruptedError(`${this.name}: upload interrupted`);
        let src = path.join(localDir, f.path);
        let remote = f.path;
        let remoteSize = f.size;
        let remoteSha256 = f.sha256;
        if (enc) {
          const out = path.join(tmp, `${files.length}.age`);
          await encryptFile(enc, src, out, signal).catch(interrupted); // SIGINT/SIGTERM stop age mid-file
          const h = await hashFile(out, signal).catch(interrupted);
          src = out;
          remote = f.path + ENC_SUFFIX;
          remoteSize = h.size;
          remoteSha256 = h.sha256;
        }
        await r(`upload ${remote}`, async () => {
          await this.backend.putFile(src, rel(remote), remoteSize, { sha256: remoteSha256, signal });
          const st = await this.backend.stat(rel(remote), signal);
          if (!st) throw new TargetError(`${this.name}: ${remote} is missing on the target after upload`);
          if (st.size !== remoteSize) {
            throw new TargetError(`${this.name}: ${remote} has ${st.size} bytes on the target, expected ${remoteSize}`);
          }
        });
        if (enc) await fs.rm(src, { force: true });
        files.push({ path: f.path, remote, size: f.size, sha256: f.sha256, remoteSize, remoteSha256 });
      }
      const index: RemoteIndex = {
        format: 1,
        id: remoteName,
        service: manifest.service,
        host: manifest.host,
        runId: manifest.runId,
        startedAt: manifest.startedAt,
        uploadedAt: new Date().toISOString(),
        encryption: enc ? 'age' : 'none',
        keyFile,
        files,
        totalBytes: manifest.totalBytes,
      };
      // the last check: an interrupted upload never gets its index, even with every file there
      if (signal?.aborted) throw new UploadInterruptedError(`${this.name}: upload interrupted`);
      await r('write index', () => this.backend.writeText(rel(REMOTE_INDEX), JSON.stringify(index, null, 2) + '\n'));
      return index;
    } finally {
      await scratch.remove();
    }
  }

  /**
   * Complete remote copies (those with an index), oldest first. `signal` (SIGINT/SIGTERM) stops
   * the listing and the index reads, connecting included: TargetInterruptedError at once.
   */
  async list(signal?: AbortSignal): Promise<RemoteIndex[]> {
    const interrupted = () => new TargetInterruptedError(`${this.name}: listing the copies interrupted`);
    const out: RemoteIndex[] = [];
    try {
      for (const rel of await this.backend.findIndexes(signal)) {
        if (signal?.aborted) throw interrupted();
        const text = await this.backend.readText(rel, signal);
        if (!text) continue;
        try {
          const idx = JSON.parse(text) as RemoteIndex;
          if (idx.format === 1 && Array.isArray(idx.files)) out.push({ ...idx, id: path.posix.dirname(rel) });
        } catch {
          /* an unreadable index is not a copy */
        }
      }
    } catch (err) {
      throw signal?.aborted ? interrupted() : err;
    }
    if (signal?.aborted) throw interrupted();
    return out.sort((a, b) => Date.parse(a.startedAt) - Date.parse(b.startedAt) || a.id.localeCompare(b.id));
  }

  /** The index of one copy; `signal` stops reading it (TargetInterruptedError, or the backend's abort). */
  async index(remoteName: string, signal?: AbortSignal): Promise<RemoteIndex> {
    const text = await this.backend.readText(`${remoteName}/${REMOTE_INDEX}`, signal);
    if (!text) throw new TargetError(`${this.name}: no complete copy named ${remoteName}`);
    return { ...(JSON.parse(text) as RemoteIndex), id: remoteName };
  }

  /**
   * Downloads a copy into localDir (which must not exist yet), checks every ciphertext hash,
   * decrypts, and checks every plaintext hash against the index: the result is a backup folder.
   * `signal` (SIGINT/SIGTERM) stops the download, decryption or hashing in progress:
   * DownloadInterruptedError; localDir then holds a partial copy the caller removes (its temp
   * files here are removed).
   */
  async get(remoteName: string, localDir: string, opts: { encryption?: Encryption; tmpDir?: string; signal?: AbortSignal } = {}): Promise<Manifest> {
    const signal = opts.signal;
    try {
      return await this.download(remoteName, localDir, opts.encryption, opts.tmpDir, signal);
    } catch (err) {
      if (signal?.aborted) throw new DownloadInterruptedError(`${this.name}: download of ${remoteName} interrupted`);
      throw err;
    }
  }

  /** Downloads one file of a copy into `local`, retrying transient failures. */
  private fetch(remoteName: string, rel: string, local: string, signal: AbortSignal | undefined): Promise<void> {
    return withRetry(`${this.name}: download ${rel}`, () => this.backend.getFile(`${remoteName}/${rel}`, local, { signal }), DEFAULT_RETRY, undefined, signal, DownloadInterruptedError);
  }

  private async download(remoteName: string, localDir: string, encryption: Encryption | undefined, tmpDir: string | undefined, signal: AbortSignal | undefined): Promise<Manifest> {
    const get = (rel: string, local: string) => this.fetch(remoteName, rel, local, signal);
    const idx = await this.index(remoteName, signal);
    if (idx.encryption === 'age' && !canDecrypt(encryption)) {
      throw new TargetError(`${this.name}: ${remoteName} is encrypted; set IDENTITY_FILE (or PASSPHRASE_FILE) in the target's conf to restore it`);
    }
    await fs.mkdir(localDir, { mode: 0o700 });
    const scratch = await makeScratch('download', tmpDir);
    const tmp = scratch.dir;
    let enc = encryption;
    try {
      if (idx.keyFile) {
        if (!enc?.passphraseFile) throw new TargetError(`${this.name}: ${remoteName} is sealed with a passphrase; set PASSPHRASE_FILE to restore it`);
        const sealed = path.join(tmp, 'key.age');
        await get(idx.keyFile, sealed);
        enc = { recipients: [], identityFile: await openCopyKey(enc, sealed, tmp, signal) };
      }
      for (const f of idx.files) {
        if (signal?.aborted) throw new DownloadInterruptedError(`${this.name}: download of ${remoteName} interrupted`);
        if (f.path.split('/').includes('..') || path.isAbsolute(f.path)) throw new TargetError(`${this.name}: unsafe path ${f.path} in index`);
        const final = path.join(localDir, f.path);
        await fs.mkdir(path.dirname(final), { recursive: true, mode: 0o700 });
        const dl = idx.encryption === 'age' ? path.join(tmp, 'c') : final;
        await get(f.remote, dl);
        const c = await hashFile(dl, signal);
        if (c.size !== f.remoteSize || c.sha256 !== f.remoteSha256) {
          throw new TargetError(`${this.name}: ${remoteName}/${f.remote} does not match its index (size or sha256)`);
        }
        if (idx.encryption === 'age') {
          await decryptFile(enc!, dl, final, signal); // SIGINT/SIGTERM stop age mid-file
          await fs.rm(dl, { force: true });
          const p = await hashFile(final, signal);
          if (p.size !== f.size || p.sha256 !== f.sha256) throw new TargetError(`${this.name}: ${f.path} decrypts to other data than was uploaded`);
        }
      }
    } finally {
      await scratch.remove();
    }
    if (signal?.aborted) throw new DownloadInterruptedError(`${this.name}: download of ${remoteName} interrupted`);
    return readManifest(localDir);
  }

  async remove(remoteName: string): Promise<void> {
    // index first: an interrupted removal leaves an incomplete copy, never a broken "complete" one
    await this.backend.removeTree(`${remoteName}/${REMOTE_INDEX}`).catch(() => {});
    await this.backend.removeTree(remoteName);
  }

  /**
   * Checks that every file of a copy is on the target with its size; `deep` also downloads each
   * file (to a temp folder, one at a time) and compares its SHA-256 with the index: for an
   * encrypted copy that is the ciphertext hash, so no key is needed. `signal` (SIGINT/SIGTERM)
   * stops the download or hashing in progress: DownloadInterruptedError, the temp folder removed.
   */
  async verify(remoteName: string, opts: { deep?: boolean; tmpDir?: string; signal?: AbortSignal } = {}): Promise<{ path: string; problem: string }[]> {
    const signal = opts.signal;
    const interrupted = () => new DownloadInterruptedError(`${this.name}: verify of ${remoteName} interrupted`);
    const stat = (rel: string) => this.backend.stat(`${remoteName}/${rel}`, signal).catch((err) => {
      throw signal?.aborted ? interrupted() : err;
    });
    const idx = await this.index(remoteName, signal).catch((err) => {
      throw signal?.aborted ? interrupted() : err;
    });
    const problems: { path: string; problem: string }[] = [];
    if (idx.keyFile && !(await stat(idx.keyFile))) problems.push({ path: idx.keyFile, problem: 'missing' });
    let scratch: Scratch | undefined; // deep: one file at a time in it
    try {
      for (const f of idx.files) {
        if (signal?.aborted) throw interrupted();
        const st = await stat(f.remote);
        if (!st) problems.push({ path: f.remote, problem: 'missing' });
        else if (st.size !== f.remoteSize) problems.push({ path: f.remote, problem: `size ${st.size}, index says ${f.remoteSize}` });
        else if (opts.deep) {
          scratch ??= await makeScratch('verify', opts.tmpDir);
          const file = path.join(scratch.dir, 'f');
          try {
            await this.fetch(remoteName, f.remote, file, signal);
            const h = await hashFile(file, signal);
            if (h.sha256 !== f.remoteSha256) problems.push({ path: f.remote, problem: `checksum: sha256 ${h.sha256}, index says ${f.remoteSha256}` });
          } catch (err) {
            throw signal?.aborted ? interrupted() : err;
          } finally {
            await fs.rm(file, { force: true });
          }
        }
      }
    } finally {
      await scratch?.remove();
    }
    return problems;
  }

  /**
   * Removes what interrupted uploads (SIGINT/SIGTERM, a network failure) left on the target: batt's
   * own temp files and S3 multipart uploads, only those untouched for more than `maxAgeMs` (so never
   * another run's upload in progress), never anything else. With `isCopyId` (backupIdPattern of the
   * destination pattern) also the copies cut off before their index and abandoned (abandonedCopies),
   * listed before the temp files go so those date the copy too. Best effort: a failure to remove one
   * is reported in `failed` and the sweep goes on; a failure to list leftovers throws. `signal`
   * (SIGINT/SIGTERM) stops it before the next removal: TargetInterruptedError.
   */
  async sweep(
    opts: { now?: Date; maxAgeMs?: number; dryRun?: boolean; signal?: AbortSignal; isCopyId?: (rel: string) => boolean } = {},
  ): Promise<SweepResult> {
    const result: SweepResult = { removed: [], failed: [], copies: [], kept: [] };
    const nowMs = (opts.now ?? new Date()).getTime();
    const interrupted = () => {
      // neither an upload nor a download: the sweep runs before uploads and in `purge --target`
      if (opts.signal?.aborted) throw new TargetInterruptedError(`${this.name}: sweep interrupted`);
    };
    let tree: TreeEntry[] | undefined;
    if (opts.isCopyId && this.backend.listTree) {
      try {
        tree = await this.backend.listTree(opts.signal);
      } catch (err) {
        interrupted();
        result.failed.push({ rel: '', error: `could not list the target for copies cut off before their index: ${errText(err)}` });
      }
    }
    if (this.backend.findLeftovers && this.backend.removeLeftover) {
      const found = await this.backend.findLeftovers(opts.signal).catch((err) => {
        interrupted();
        throw err;
      });
      for (const l of staleLeftovers(found, nowMs, opts.maxAgeMs)) {
        interrupted();
        try {
          if (!opts.dryRun) await this.backend.removeLeftover(l);
          result.removed.push(l.rel);
        } catch (err) {
          interrupted();
          result.failed.push({ rel: l.rel, error: errText(err) });
        }
      }
    }
    if (!tree || !opts.isCopyId) return result;
    const v = abandonedCopies(tree, opts.isCopyId, nowMs, opts.maxAgeMs);
    result.kept.push(...v.kept);
    for (const c of v.abandoned) {
      interrupted();
      try {
        if (!opts.dryRun) {
          // the index is written last: one that appeared since the listing makes a complete copy
          if (await this.backend.stat(`${c.rel}/${REMOTE_INDEX}`, opts.signal)) {
            result.kept.push({ rel: c.rel, why: `its ${REMOTE_INDEX} appeared during the sweep: kept` });
            continue;
          }
          await this.backend.removeTree(c.rel);
        }
        result.copies.push(c);
      } catch (err) {
        interrupted();
        result.failed.push({ rel: c.rel, error: errText(err) });
      }
    }
    return result;
  }

  async close(): Promise<void> {
    await this.backend.close();
  }
}

async function manifestEntry(dir: string): Promise<{ path: string; size: number; sha256: string }> {
  const h = await hashFile(path.join(dir, MANIFEST));
  return { path: MANIFEST, ...h };
}
