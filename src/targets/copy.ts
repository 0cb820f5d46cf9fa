// A copy on a target: the index file that makes a folder a copy (written last, after every file
// was uploaded and checked), and what that index holds.


export const REMOTE_INDEX = 'batt-remote.json';
export const ENC_SUFFIX = '.age';
/** Passphrase mode: the copy's own age key, itself encrypted with the passphrase (one scrypt per copy). */
export const COPY_KEY = 'batt-key.age';

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
  /** restic: the repository's own encryption (restic.ts). */
  encryption: 'none' | 'age' | 'restic';
  /** Set in passphrase mode: the file holding the copy's key (see COPY_KEY). */
  keyFile?: string;
  /** Every file of the copy, the manifest last; empty in a restic listing, which has fileCount. */
  files: RemoteFile[];
  /** restic: the backup's file count, from the snapshot's tags (a listing reads no file list). */
  fileCount?: number;
  totalBytes: number;
  /** An incremental: the id (on this target) of the copy it builds on. */
  base?: string;
}

/** How many files a copy's backup holds (the manifest, which travels as a file too, not counted). */
export function backupFileCount(c: Pick<RemoteIndex, 'files' | 'fileCount'>): number {
  return c.fileCount ?? c.files.length - 1;
}

/**
 * A copy as listed or just written: its index, and the SHA-256 of the index file (what
 * batt-copies.json records); a restic snapshot has no index file, so none.
 */
export type Copy = RemoteIndex & { indexSha256?: string };

// ---- whose copy: the layout of a target shared by several hosts --------------------------------

/**
 * Where a host's copy of a local backup goes on a target: `<host>/<backup id>`, so hosts sharing a
 * target (one bucket, one SFTP folder) never write into each other's folders. Copies made before
 * this layout sit at `<backup id>` directly under the base; they belong to the host their index names.
 */
export function copyIdFor(host: string, backupId: string): string {
  return `${host}/${backupId}`;
}

/**
 * The next id to try when `id` is taken on the target: `x` -> `x~2` -> `x~3`. Not `x.2`: that is
 * the id of a second local run's folder, which its own upload would then find taken in turn.
 */
export function nextCopyId(id: string): string {
  const m = /^(.+)~([1-9]\d*)$/.exec(id);
  return m ? `${m[1]}~${Number(m[2]) + 1}` : `${id}~2`;
}

/** The first of `id`, `id~2`, `id~3`... that `taken` does not hold (a repository listed whole: restic). */
export function firstFreeCopyId(id: string, taken: ReadonlySet<string>): string {
  let want = id;
  while (taken.has(want)) want = nextCopyId(want);
  return want;
}

/** A copy id without the `~N` that nextCopyId adds: the backup id it was made from. */
export function baseCopyId(id: string): string {
  return id.replace(/~[1-9]\d*$/, '');
}

/** Which hosts' copies a command takes: one host's (by default this host's), or every host's. */
export type HostFilter = { host: string } | { all: true };

export function ofHost(filter: HostFilter): (c: Pick<RemoteIndex, 'host'>) => boolean {
  return 'all' in filter ? () => true : (c) => c.host === filter.host;
}

/** Does `want` (as typed: with or without the host's folder, slashes trimmed) name this copy? */
export function namesCopy(c: Pick<RemoteIndex, 'id' | 'host'>, want: string): boolean {
  const w = want.replace(/^\/+|\/+$/g, '');
  return c.id === w || c.id === `${c.host}/${w}`;
}
