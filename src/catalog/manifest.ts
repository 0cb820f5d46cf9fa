// The manifest: the last file written into a backup folder, naming every file with its size
// and SHA-256. A folder without a valid manifest is not a backup.
import fs from 'node:fs/promises';
import { constants } from 'node:fs';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { FailedError } from '../core/errors.js';
import { writeFileAtomic } from '../core/fsutil.js';
import type { ServiceInput } from '../services/options.js';
import { SNIFF_BYTES, streamChecker, type StreamChecker } from './streamcheck.js';

export const MANIFEST = 'batt-manifest.json';
export const MANIFEST_FORMAT = 1;
/** Sidecar written after the backup by the upload step: where copies went (not part of the data). */
export const COPIES = 'batt-copies.json';
/** Sidecar written by `batt drill`: the last drill of this backup (src/catalog/drillrecord.ts). Not part of the data. */
export const DRILL = 'batt-drill.json';
/** batt's own files beside the data: never sealed, verified or copied as data. */
export const SIDECARS: readonly string[] = [MANIFEST, COPIES, DRILL];

export interface FileEntry {
  path: string;
  size: number;
  sha256: string;
}

export interface Manifest {
  format: number;
  service: string;
  host: string;
  runId: string;
  startedAt: string;
  finishedAt: string;
  status: 'ok';
  exitCode: number;
  battVersion: string;
  script: string;
  options: ServiceInput;
  files: FileEntry[];
  totalBytes: number;
  /** A level of a chain (src/catalog/chain.ts): the backup this one builds on, as a path
   *  relative to this backup's folder ("../../05/file"). Absent: a full, or no chain at all. */
  base?: string;
  /**
   * What the script announced it would write ("batt: expect BYTES", docs/script-contract.md),
   * when it did: the next run's percentage scales its estimate by totalBytes / expectedBytes.
   */
  expectedBytes?: number;
}

const CHUNK = 1 << 20;

/** Hashing stopped by its AbortSignal (SIGINT/SIGTERM), between two chunks. */
export class HashInterruptedError extends FailedError {}

/** A file's size and SHA-256, and with `check`, what is wrong with its compressed stream (streamcheck.ts). */
export interface FileHash {
  size: number;
  sha256: string;
  streamProblem?: string;
}

/**
 * A SHA-256 that follows one file (one inode, through an open descriptor) from its start to its
 * current end, and can be taken further as the file grows. Two fixed 1 MB buffers take turns (the
 * next read runs while the current one is hashed): memory stays flat whatever the size, where a
 * read stream would leave a fresh buffer of garbage per MB for the GC. With `check`, the same
 * bytes also go through the stream check of a compressed file (told by its first bytes).
 */
export class HashCursor {
  private readonly h = createHash('sha256');
  private bufs: Buffer[] | undefined;
  /** Bytes hashed so far: the next byte to read. */
  offset = 0;
  /** 'sniff': the first bytes are still to be read; undefined: no check (or not a known format). */
  private check: 'sniff' | StreamChecker | undefined;

  private constructor(
    private readonly fh: fs.FileHandle,
    readonly dev: number,
    readonly ino: number,
    check: boolean,
  ) {
    this.check = check ? 'sniff' : undefined;
  }

  /** Opens a regular file without following a link or blocking on a FIFO; undefined for anything else. */
  static async open(file: string, opts: { check?: boolean } = {}): Promise<HashCursor | undefined> {
    const fh = await fs.open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
    const st = await fh.stat().catch(async (err) => {
      await fh.close();
      throw err;
    });
    if (!st.isFile()) {
      await fh.close();
      return undefined;
    }
    return new HashCursor(fh, st.dev, st.ino, !!opts.check);
  }

  /** The file's size now (it may still be growing). */
  async size(): Promise<number> {
    return (await this.fh.stat()).size;
  }

  /**
   * Hashes what was written since the last call, up to the current end of the file. `signal` is
   * looked at between two chunks (no read is then in flight): HashInterruptedError. `final`: the
   * file is complete (the seal), so a file too short to tell its format is judged as it is.
   */
  async advance(signal?: AbortSignal, final = false): Promise<void> {
    if (signal?.aborted) throw new HashInterruptedError('hashing interrupted');
    if (this.check === 'sniff') {
      const head = Buffer.alloc(SNIFF_BYTES);
      const { bytesRead } = await this.fh.read(head, 0, SNIFF_BYTES, 0);
      if (bytesRead < SNIFF_BYTES && !final) return; // a file just begun: hashed on a later call
      this.check = streamChecker(head.subarray(0, bytesRead));
    }
    const check = this.check;
    const bufs = (this.bufs ??= [Buffer.allocUnsafe(CHUNK), Buffer.allocUnsafe(CHUNK)]);
    let turn = 0;
    let pos = this.offset;
    let reading = this.fh.read(bufs[0]!, 0, CHUNK, pos);
    // the stream check of the chunk before: its buffer is read into next, so it must be done with it
    let checking: void | Promise<void> = undefined;
    try {
      for (;;) {
        const { bytesRead } = await reading;
        if (bytesRead === 0) break;
        if (signal?.aborted) throw new HashInterruptedError('hashing interrupted');
        const cur = bufs[turn]!.subarray(0, bytesRead);
        turn ^= 1;
        pos += bytesRead;
        await checking;
        reading = this.fh.read(bufs[turn]!, 0, CHUNK, pos);
        this.h.update(cur);
        checking = check?.feed(cur);
        this.offset = pos;
      }
    } finally {
      await checking;
    }
  }

  /** Hashes the rest of the file and closes it: the file's size and SHA-256 (and stream problem, with `check`). */
  async finish(signal?: AbortSignal): Promise<FileHash> {
    try {
      await this.advance(signal, true);
      const out: FileHash = { size: this.offset, sha256: this.h.digest('hex') };
      const check = this.check === 'sniff' ? undefined : this.check;
      const problem = await check?.finish(this.offset, async (position, length) => {
        const b = Buffer.alloc(length);
        const { bytesRead } = await this.fh.read(b, 0, length, position);
        return b.subarray(0, bytesRead);
      });
      if (problem) out.streamProblem = problem;
      return out;
    } finally {
      await this.close();
    }
  }

  async close(): Promise<void> {
    this.bufs = undefined;
    if (this.check && this.check !== 'sniff') this.check.dispose?.();
    await this.fh.close().catch(() => {});
  }
}

/**
 * SHA-256 and size of a regular file (a link, FIFO or device is an error, never followed or read).
 * `signal` (SIGINT/SIGTERM) stops it between two 1 MB chunks: HashInterruptedError.
 */
export async function hashFile(file: string, signal?: AbortSignal, opts: { check?: boolean } = {}): Promise<FileHash> {
  const cursor = await HashCursor.open(file, opts);
  if (!cursor) throw Object.assign(new Error(`${file} is not a regular file`), { code: 'EINVAL', path: file });
  return cursor.finish(signal);
}

export interface WalkEntry {
  rel: string;
  kind: 'file' | 'dir' | 'other';
}

/** Every entry below dir (relative paths, sorted), without following links. */
export async function walk(dir: string): Promise<WalkEntry[]> {
  const out: WalkEntry[] = [];
  const visit = async (rel: string) => {
    const entries = await fs.readdir(path.join(dir, rel), { withFileTypes: true });
    for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        out.push({ rel: r, kind: 'dir' });
        await visit(r);
      } else out.push({ rel: r, kind: e.isFile() ? 'file' : 'other' });
    }
  };
  await visit('');
  return out;
}

export async function writeManifest(dir: string, m: Manifest): Promise<void> {
  await writeFileAtomic(path.join(dir, MANIFEST), JSON.stringify(m, null, 2) + '\n');
}

export class ManifestError extends Error {}

export async function readManifest(dir: string): Promise<Manifest> {
  const file = path.join(dir, MANIFEST);
  let m: Manifest;
  try {
    m = JSON.parse(await fs.readFile(file, 'utf8')) as Manifest;
  } catch (err) {
    throw new ManifestError(`${file}: ${(err as Error).message}`);
  }
  if (
    typeof m !== 'object' ||
    m === null ||
    m.format !== MANIFEST_FORMAT ||
    typeof m.service !== 'string' ||
    typeof m.startedAt !== 'string' ||
    Number.isNaN(Date.parse(m.startedAt)) ||
    !Array.isArray(m.files) ||
    (m.base !== undefined && (typeof m.base !== 'string' || m.base === '' || path.isAbsolute(m.base))) ||
    m.files.some((f) => typeof f?.path !== 'string' || typeof f.sha256 !== 'string' || typeof f.size !== 'number' || f.path.split('/').includes('..') || path.isAbsolute(f.path))
  ) {
    throw new ManifestError(`${file}: not a batt manifest (format ${MANIFEST_FORMAT})`);
  }
  return m;
}

/** A quick look at the files (no hashing): every listed file is a regular file of its size. */
export async function quickCheck(dir: string, m: Manifest): Promise<string | undefined> {
  for (const f of m.files) {
    let st;
    try {
      st = await fs.lstat(path.join(dir, f.path));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return `${f.path} is missing`;
      throw err;
    }
    if (!st.isFile()) return `${f.path} is not a regular file`;
    if (st.size !== f.size) return `${f.path} has ${st.size} bytes, the manifest says ${f.size}`;
  }
  if (m.files.length === 0) return 'the manifest lists no files';
  return undefined;
}

export interface VerifyProblem {
  path: string;
  problem: 'missing' | 'extra' | 'size' | 'checksum' | 'not a file';
  detail?: string;
}

/**
 * One problem in words, after the file's path: "size 123 bytes, expected 456", "checksum (sha256 X found,
 * Y expected by the manifest)",
 * "missing". `brief` leaves out a checksum's hash (one line of an error that points to batt verify).
 */
export function describeProblem(p: VerifyProblem, opts: { brief?: boolean } = {}): string {
  if (!p.detail) return p.problem;
  if (p.problem === 'size') return `size ${p.detail}`;
  return opts.brief ? p.problem : `${p.problem} (${p.detail})`;
}

/** Re-reads every file of a backup and compares it with the manifest; `signal` stops it (HashInterruptedError). */
export async function verifyFolder(dir: string, m: Manifest, signal?: AbortSignal): Promise<VerifyProblem[]> {
  const problems: VerifyProblem[] = [];
  const listed = new Set(m.files.map((f) => f.path));
  for (const f of m.files) {
    const abs = path.join(dir, f.path);
    let st;
    try {
      st = await fs.lstat(abs);
    } catch {
      problems.push({ path: f.path, problem: 'missing' });
      continue;
    }
    if (!st.isFile()) {
      problems.push({ path: f.path, problem: 'not a file' });
      continue;
    }
    if (st.size !== f.size) {
      problems.push({ path: f.path, problem: 'size', detail: `${st.size} bytes, expected ${f.size}` });
      continue;
    }
    const { sha256 } = await hashFile(abs, signal);
    if (sha256 !== f.sha256) problems.push({ path: f.path, problem: 'checksum', detail: `sha256 ${sha256} found, ${f.sha256} expected by the manifest` });
  }
  for (const e of await walk(dir)) {
    if (e.kind === 'dir' || SIDECARS.includes(e.rel)) continue;
    if (!listed.has(e.rel)) problems.push({ path: e.rel, problem: 'extra' });
  }
  return problems;
}
