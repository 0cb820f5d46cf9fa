// A Backend moves single files to and from one kind of target (local folder, rsync, SFTP, S3,
// FTP); here its interface and the pieces every backend shares: temp names for uploads in flight,
// the leftovers interrupted uploads leave, and the walk of a target's tree.
import { randomBytes } from 'node:crypto';
import { REMOTE_INDEX } from './copy.js';


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
  /**
   * Progress only: the bytes of this file sent so far, as often as the transfer can tell (after
   * each chunk, each part, or not at all: Target.put reports every file whole once it is up).
   */
  onBytes?: (sent: number) => void;
}

/** One file at a time; every path is relative to the target's base (prefix, folder...). */
export interface Backend {
  readonly kind: string;
  /** Where a copy lives, for humans (no credentials). */
  describe(rel: string): string;
  /**
   * Makes the folder `rel` this upload's before any file of a copy goes there: false when anything
   * already exists under that name (another host's or another run's copy, or its upload in
   * progress), which an upload never writes into. Local folder, SFTP and FTP create the folder, which
   * fails when it exists, so two uploads never both get it; rsync and S3 can only look first.
   */
  claim(rel: string, signal?: AbortSignal): Promise<boolean>;
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
