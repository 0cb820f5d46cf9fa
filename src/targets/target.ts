// Off-site targets: where finished backup folders are copied. Each kind is a small Backend that
// moves single files (backend.ts); the Target here turns that into folder copies with one rule: a
// remote copy counts only when its index file (batt-remote.json, copy.ts) exists, and the index is
// written last, after every file was uploaded and checked.
import type { CopyPutOptions } from './copytarget.js';
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { makeScratch, type Scratch } from '../run/scratch.js';
import { hashFile, readManifest, MANIFEST, type Manifest } from '../catalog/manifest.js';
import { canDecrypt, decryptFile, encryptFile, openCopyKey, sealCopyKey, type Encryption } from './crypto.js';
import type { TargetConf } from './config.js';
import { type Backend, type TreeEntry, staleLeftovers } from './backend.js';
import { COPY_KEY, ENC_SUFFIX, REMOTE_INDEX, nextCopyId, type Copy, type RemoteFile, type RemoteIndex } from './copy.js';
import { DEFAULT_RETRY, DownloadInterruptedError, TargetError, TargetInterruptedError, UploadInterruptedError, errText, withRetry } from './retry.js';
import { type SweepResult, abandonedCopies } from './sweep.js';
import type { CopyTarget } from './copytarget.js';


/** How many ids (x, x~2 ... ) an upload tries before it gives up on a copy. */
const MAX_TAKEN = 50;

/** What Target.put takes: the same as every copy target's put (copytarget.ts). */
export type PutOptions = CopyPutOptions;

/** A configured target: folder-level put/list/get/remove/verify on top of a Backend. */
export class Target implements CopyTarget {
  constructor(
    readonly name: string,
    readonly backend: Backend,
    readonly conf: TargetConf,
  ) {}

  get kind(): string {
    return this.backend.kind;
  }

  describe(id: string): string {
    return this.backend.describe(id);
  }

  async probe(signal?: AbortSignal): Promise<number> {
    return (await this.backend.findIndexes(signal)).length;
  }

  /**
   * Copies a finished backup folder to `wanted` (its id, e.g. web1/2026/11/28/mysql) or, when
   * something is there already (another host's or another run's copy, or its upload in progress),
   * to the next free id (web1/2026/11/28/mysql~2 ...): nothing an upload did not write in this run
   * is ever replaced. The index (with the copy's id and `host`) is written last, and only when no
   * index appeared there meanwhile.
   */
  async put(localDir: string, wanted: string, opts: PutOptions = {}): Promise<Copy> {
    const manifest = await readManifest(localDir);
    const retry = opts.retry ?? DEFAULT_RETRY;
    let enc = opts.encryption;
    const signal = opts.signal;
    const r = <T>(what: string, fn: () => Promise<T>) => withRetry(`${this.name}: ${what}`, fn, retry, opts.onRetry, signal, UploadInterruptedError);
    // encryption stopped by the signal ends the upload the way a transfer cut by it does
    const interrupted = (err: unknown): never => {
      throw signal?.aborted ? new UploadInterruptedError(`${this.name}: upload interrupted`) : err;
    };
    const remoteName = await this.claimFree(wanted, r, signal);
    const rel = (p: string) => `${remoteName}/${p}`;
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
      const total = entries.reduce((n, f) => n + f.size, 0);
      let done = 0; // bytes of the files already up
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
          const onBytes = opts.onProgress && ((sent: number) => opts.onProgress!(done + Math.min(sent, f.size), total));
          await this.backend.putFile(src, rel(remote), remoteSize, { sha256: remoteSha256, signal, onBytes });
          const st = await this.backend.stat(rel(remote), signal);
          if (!st) throw new TargetError(`${this.name}: ${remote} is missing on the target after upload`);
          if (st.size !== remoteSize) {
            throw new TargetError(`${this.name}: ${remote} has ${st.size} bytes on the target, expected ${remoteSize}`);
          }
        });
        if (enc) await fs.rm(src, { force: true });
        done += f.size;
        opts.onProgress?.(done, total);
        files.push({ path: f.path, remote, size: f.size, sha256: f.sha256, remoteSize, remoteSha256 });
      }
      const index: RemoteIndex = {
        format: 1,
        id: remoteName,
        service: manifest.service,
        host: opts.host ?? manifest.host,
        runId: manifest.runId,
        startedAt: manifest.startedAt,
        uploadedAt: new Date().toISOString(),
        encryption: enc ? 'age' : 'none',
        keyFile,
        files,
        totalBytes: manifest.totalBytes,
        // an incremental: the copy it builds on, by its id on the target (purge keeps chains whole)
        ...(manifest.base !== undefined ? { base: path.posix.join(remoteName, manifest.base) } : {}),
      };
      // the last check: an interrupted upload never gets its index, even with every file there
      if (signal?.aborted) throw new UploadInterruptedError(`${this.name}: upload interrupted`);
      if (await r('look for an index', () => this.backend.stat(rel(REMOTE_INDEX), signal))) {
        throw new TargetError(`${this.name}: ${remoteName}: another upload wrote a copy there at the same time (two hosts with one host name?); this copy is not complete`);
      }
      const text = JSON.stringify(index, null, 2) + '\n';
      await r('write index', () => this.backend.writeText(rel(REMOTE_INDEX), text));
      return { ...index, indexSha256: sha256(text) };
    } finally {
      await scratch.remove();
    }
  }

  /** The first of `wanted`, wanted~2, wanted~3... that nothing on the target holds, made this upload's (Backend.claim). */
  private async claimFree(wanted: string, r: <T>(what: string, fn: () => Promise<T>) => Promise<T>, signal?: AbortSignal): Promise<string> {
    let id = wanted;
    for (let i = 0; i < MAX_TAKEN; i++, id = nextCopyId(id)) {
      if (await r(`claim ${id}`, () => this.backend.claim(id, signal))) return id;
    }
    throw new TargetError(`${this.name}: ${wanted} and the ${MAX_TAKEN - 1} ids after it are taken on the target; nothing was uploaded`);
  }

  /**
   * Complete remote copies (those with an index), oldest first. `signal` (SIGINT/SIGTERM) stops
   * the listing and the index reads, connecting included: TargetInterruptedError at once.
   */
  async list(signal?: AbortSignal): Promise<Copy[]> {
    const interrupted = () => new TargetInterruptedError(`${this.name}: listing the copies interrupted`);
    const out: Copy[] = [];
    try {
      for (const rel of await this.backend.findIndexes(signal)) {
        if (signal?.aborted) throw interrupted();
        const text = await this.backend.readText(rel, signal);
        if (!text) continue;
        try {
          const idx = JSON.parse(text) as RemoteIndex;
          if (idx.format === 1 && Array.isArray(idx.files)) out.push({ ...idx, id: path.posix.dirname(rel), indexSha256: sha256(text) });
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
  async index(remoteName: string, signal?: AbortSignal): Promise<Copy> {
    const text = await this.backend.readText(`${remoteName}/${REMOTE_INDEX}`, signal);
    if (!text) throw new TargetError(`${this.name}: no complete copy named ${remoteName}`);
    return { ...(JSON.parse(text) as RemoteIndex), id: remoteName, indexSha256: sha256(text) };
  }

  /**
   * Downloads a copy into localDir (which must not exist yet), checks every ciphertext hash,
   * decrypts, and checks every plaintext hash against the index: the result is a backup folder.
   * With `indexSha256` (from list()), an index that changed since is refused. `signal`
   * (SIGINT/SIGTERM) stops the download, decryption or hashing in progress:
   * DownloadInterruptedError; localDir then holds a partial copy the caller removes (its temp
   * files here are removed).
   */
  async get(remoteName: string, localDir: string, opts: { encryption?: Encryption; tmpDir?: string; signal?: AbortSignal; indexSha256?: string } = {}): Promise<Manifest> {
    const signal = opts.signal;
    try {
      return await this.download(remoteName, localDir, opts.encryption, opts.tmpDir, signal, opts.indexSha256);
    } catch (err) {
      if (signal?.aborted) throw new DownloadInterruptedError(`${this.name}: download of ${remoteName} interrupted`);
      throw err;
    }
  }

  /** Downloads one file of a copy into `local`, retrying transient failures. */
  private fetch(remoteName: string, rel: string, local: string, signal: AbortSignal | undefined): Promise<void> {
    return withRetry(`${this.name}: download ${rel}`, () => this.backend.getFile(`${remoteName}/${rel}`, local, { signal }), DEFAULT_RETRY, undefined, signal, DownloadInterruptedError);
  }

  private async download(
    remoteName: string,
    localDir: string,
    encryption: Encryption | undefined,
    tmpDir: string | undefined,
    signal: AbortSignal | undefined,
    indexSha256: string | undefined,
  ): Promise<Manifest> {
    const get = (rel: string, local: string) => this.fetch(remoteName, rel, local, signal);
    const idx = await this.index(remoteName, signal);
    if (indexSha256 && idx.indexSha256 !== indexSha256) throw new TargetError(`${this.name}: ${remoteName}: its ${REMOTE_INDEX} changed since it was listed (another upload replaced it?); nothing was restored`);
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

export const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

async function manifestEntry(dir: string): Promise<{ path: string; size: number; sha256: string }> {
  const h = await hashFile(path.join(dir, MANIFEST));
  return { path: MANIFEST, ...h };
}
