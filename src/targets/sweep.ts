// The sweep of a target: which folders are copies cut off before their index and abandoned, and
// the words for what a sweep did.
import path from 'node:path';
import { REMOTE_INDEX } from './copy.js';
import { STALE_AFTER_MS, type TreeEntry } from './backend.js';


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
