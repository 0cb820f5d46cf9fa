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
