// What every kind of target does with whole backup folders, whatever it stores them as: the
// file-level targets (local, rsync, SFTP, S3, FTP: target.ts on top of a Backend) write each file
// and an index last; a restic repository (restic.ts) makes one snapshot of the folder. The run's
// uploads (upload.ts), `backups/restore/verify --from` and `purge --target` (remote.ts) see only this.
import type { Manifest } from '../catalog/manifest.js';
import type { TargetConf } from './config.js';
import type { Encryption } from './crypto.js';
import type { Copy } from './copy.js';
import type { SweepResult } from './sweep.js';
import type { RetryPolicy } from './retry.js';

/** What put takes (target.ts PutOptions is the file-level targets' own view of it). */
export interface CopyPutOptions {
  /** The host the copy belongs to; default the manifest's. */
  host?: string;
  encryption?: Encryption;
  retry?: RetryPolicy;
  onRetry?: (msg: string) => void;
  tmpDir?: string;
  /** SIGINT/SIGTERM: stop the transfer at once; nothing counts as a copy. */
  signal?: AbortSignal;
  /**
   * Progress only (a terminal's status line): bytes of the backup's files copied so far, of
   * `total`. The file-level targets report it; restic does not (its line shows nothing).
   */
  onProgress?: (done: number, total: number) => void;
}

export interface CopyProblem {
  path: string;
  problem: string;
}

export interface CopyTarget {
  readonly name: string;
  readonly kind: string;
  readonly conf: TargetConf;
  /** Where the copy `id` lives, for humans (no credentials). */
  describe(id: string): string;
  /**
   * Copies a sealed backup folder as `id`; it counts as a copy only once this resolves (an
   * interrupted or failed put leaves nothing that lists as a copy).
   */
  put(localDir: string, id: string, opts?: CopyPutOptions): Promise<Copy>;
  /** Complete copies, oldest first. */
  list(signal?: AbortSignal): Promise<Copy[]>;
  /**
   * The copy `id` into `localDir` (which must not exist yet), checked: the result is a backup folder.
   * `indexSha256` (from list): a copy whose index changed since is refused (where there is an index).
   */
  get(id: string, localDir: string, opts?: { encryption?: Encryption; tmpDir?: string; signal?: AbortSignal; indexSha256?: string }): Promise<Manifest>;
  /** What is wrong with one copy (deep: its data re-read and hashed). */
  verify(id: string, opts?: { deep?: boolean; tmpDir?: string; signal?: AbortSignal }): Promise<CopyProblem[]>;
  /**
   * A check of the whole store, once before the copies are verified one by one (restic check);
   * absent where each copy stands alone. `readDataSubset`: restic's --read-data-subset.
   */
  checkStore?(opts: { readDataSubset?: string; signal?: AbortSignal }): Promise<CopyProblem[]>;
  remove(id: string): Promise<void>;
  /** After `purge --target` removed copies: give their space back (restic prune); absent where remove does. */
  compact?(signal?: AbortSignal): Promise<void>;
  /** Removes what interrupted uploads left (temp files, multipart uploads, restic's stale locks). */
  sweep(opts?: { now?: Date; maxAgeMs?: number; dryRun?: boolean; signal?: AbortSignal; isCopyId?: (rel: string) => boolean }): Promise<SweepResult>;
  /** How many copies there are, read the cheapest way: proves the target answers (batt doctor). */
  probe(signal?: AbortSignal): Promise<number>;
  close(): Promise<void>;
}
