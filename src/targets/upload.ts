// After a run: copy each successful service folder to the configured targets. What went where is
// recorded in batt-copies.json beside the manifest (the manifest itself is never rewritten).
// A failed copy fails the run; the local backup stays as it is. SIGINT/SIGTERM (req.signal) stop the
// file in transfer at once and copy nothing more: that copy never gets its index.
import fs from 'node:fs/promises';
import path from 'node:path';
import { backupIdPattern } from '../core/destination.js';
import { writeFileAtomic } from '../core/fsutil.js';
import { COPIES } from '../catalog/manifest.js';
import { plural } from '../core/output.js';
import { progressText, sampleProgress, statusLine } from '../core/progress.js';
import type { Home } from '../core/home.js';
import { errText } from './retry.js';
import { sweepWords } from './sweep.js';
import { baseCopyId, copyIdFor, type Copy, type RemoteIndex } from './copy.js';
import { hostFolder } from '../config/config.js';
import { type CopyTarget } from './copytarget.js';
import { listTargetNames, loadTarget } from './config.js';
import { openCopyTarget } from './open.js';

export interface CopyRecord {
  target: string;
  kind: string;
  /** Where the copy lives (no credentials). */
  location: string;
  /** The copy's id on the target: `<host>/<backup id>`, or the next free one (`.2`...) when that was taken. */
  id: string;
  /** The host the copy was uploaded as (its index's `host`). */
  host?: string;
  /** SHA-256 of the batt-remote.json written: restore and verify --from refuse a copy whose index differs. */
  indexSha256?: string;
  uploadedAt: string;
  encryption: RemoteIndex['encryption'];
  files: { path: string; size: number; sha256: string; remote: string; remoteSize: number; remoteSha256: string }[];
}

export interface UploadOutcome {
  service: string;
  target: string;
  ok: boolean;
  location?: string;
  error?: string;
  /** Transient errors retried on the way (the target's RETRIES); absent when none. */
  retries?: number;
}

export interface UploadJob {
  service: string;
  /** The finished backup folder. */
  dir: string;
}

export interface UploadRequest {
  home: Home;
  root: string;
  /** The destination pattern the jobs were made with: the layout of copies on a target (the sweep's). */
  pattern?: string;
  jobs: UploadJob[];
  /** --target names; empty = every configured target. */
  targets?: string[];
  /** This host's name (thisHost): the first folder of its copies and their index's `host`. */
  host: string;
  log: (msg: string) => void;
  signal?: AbortSignal;
  /** Progress only: bytes of the copy in transfer (`what`: "SERVICE -> TARGET") copied so far, of `total`. */
  onProgress?: (what: string, done: number, total: number) => void;
}

/** Which targets a run copies to: the named ones (each must exist), else all configured. */
export async function selectTargets(home: Home, named: string[] | undefined): Promise<string[]> {
  if (named && named.length) {
    for (const n of named) await loadTarget(home, n); // fails early on an unknown name
    return [...new Set(named)];
  }
  return listTargetNames(home);
}

export async function readCopies(dir: string): Promise<CopyRecord[]> {
  try {
    const v = JSON.parse(await fs.readFile(path.join(dir, COPIES), 'utf8')) as { copies?: CopyRecord[] };
    return Array.isArray(v.copies) ? v.copies : [];
  } catch {
    return [];
  }
}

async function recordCopy(dir: string, rec: CopyRecord): Promise<void> {
  const copies = (await readCopies(dir)).filter((c) => !(c.target === rec.target && c.id === rec.id));
  copies.push(rec);
  await writeFileAtomic(path.join(dir, COPIES), JSON.stringify({ format: 1, copies }, null, 2) + '\n');
}

/**
 * Before copying to a target: remove what interrupted uploads left there (batt's own temp files and
 * S3 multipart uploads untouched for a day; with `pattern`, the destination pattern, also copies in
 * its layout cut off before their index and untouched for a day). Never fails the upload: trouble is
 * only logged, and so is each such copy removed or kept.
 */
export async function sweepTarget(target: CopyTarget, log: (msg: string) => void, signal?: AbortSignal, pattern?: string, host?: string): Promise<void> {
  try {
    const r = await target.sweep({ signal, isCopyId: copyIdMatcher(pattern, host) });
    if (r.removed.length) log(`target ${target.name}: removed ${plural(r.removed.length, 'leftover')} of interrupted uploads: ${r.removed.join(', ')}`);
    for (const c of r.copies) log(`target ${target.name}: removed ${c.rel}, ${sweepWords.copy(c)}`);
    for (const k of r.kept) log(`target ${target.name}: ${k.rel}: ${k.why}`);
    for (const f of r.failed) log(`target ${target.name}: ${sweepWords.failed(f)}`);
  } catch (err) {
    if (!signal?.aborted) log(`target ${target.name}: ${sweepWords.unlisted(errText(err))}`);
  }
}

/**
 * The ids of copies this host makes with this destination pattern (`<host>/<backup id>`), and those
 * of the layout before host folders (`<backup id>` at the top); none without a pattern. Another
 * host's folder is never matched: its cut-off copies are left to it.
 */
export function copyIdMatcher(pattern: string | undefined, host?: string): ((rel: string) => boolean) | undefined {
  if (!pattern) return undefined;
  const re = backupIdPattern(pattern);
  const own = host ? `${host}/` : undefined;
  return (rel) => {
    const id = baseCopyId(rel);
    return re.test(id) || (!!own && id.startsWith(own) && re.test(id.slice(own.length)));
  };
}

export async function uploadBackups(req: UploadRequest): Promise<UploadOutcome[]> {
  const names = await selectTargets(req.home, req.targets);
  const outcomes: UploadOutcome[] = [];
  if (!names.length || !req.jobs.length) return outcomes;
  const interruptedText = (service: string, target: string) => `${service} -> ${target}: upload interrupted, no copy made`;
  const interrupted = (service: string, target: string) => outcomes.push({ service, target, ok: false, error: interruptedText(service, target) });
  for (const name of names) {
    if (req.signal?.aborted) {
      for (const j of req.jobs) interrupted(j.service, name);
      continue;
    }
    let opened;
    try {
      opened = await openCopyTarget(await loadTarget(req.home, name));
    } catch (err) {
      for (const j of req.jobs) outcomes.push({ service: j.service, target: name, ok: false, error: `${name}: ${errText(err)}` });
      req.log(`target ${name}: ${errText(err)}`);
      continue;
    }
    const { target, encryption, retry } = opened;
    try {
      hostFolder(req.host); // a system host name that cannot name a folder fails each copy, clearly
      await sweepTarget(target, req.log, req.signal, req.pattern, req.host);
      for (const j of req.jobs) {
        if (req.signal?.aborted) {
          interrupted(j.service, name);
          continue;
        }
        const wanted = copyIdFor(req.host, path.relative(req.root, j.dir).split(path.sep).join('/'));
        req.log(`copy ${wanted} -> ${name} (${target.describe(wanted)})${encryption ? ' encrypted with age' : ''}`);
        let retries = 0;
        const onRetry = (msg: string) => {
          retries++;
          req.log(msg);
        };
        try {
          const onProgress = req.onProgress && ((done: number, total: number) => req.onProgress!(`${j.service} -> ${name}`, done, total));
          const idx: Copy = await target.put(j.dir, wanted, { host: req.host, encryption, retry, onRetry, signal: req.signal, onProgress });
          const id = idx.id;
          if (id !== wanted) req.log(`${name}: ${wanted} is taken on the target (not this run's): copied to ${id} instead`);
          await recordCopy(j.dir, {
            target: name,
            kind: target.kind,
            location: target.describe(id),
            id,
            host: idx.host,
            indexSha256: idx.indexSha256,
            uploadedAt: idx.uploadedAt,
            encryption: idx.encryption,
            files: idx.files,
          });
          outcomes.push({ service: j.service, target: name, ok: true, location: target.describe(id), ...(retries ? { retries } : {}) });
          req.log(`copied ${id} -> ${name}: ${plural(idx.files.length, 'file')}${retries ? ` (ok after ${plural(retries, 'retry', 'retries')})` : ''}`);
        } catch (err) {
          const error = req.signal?.aborted ? interruptedText(j.service, name) : `${j.service} -> ${name}: upload failed: ${errText(err)}`;
          req.log(error);
          outcomes.push({ service: j.service, target: name, ok: false, error, ...(retries ? { retries } : {}) });
        }
      }
    } catch (err) {
      // only hostFolder throws here: every copy to this target fails with its words
      for (const j of req.jobs) outcomes.push({ service: j.service, target: name, ok: false, error: `${j.service} -> ${name}: ${errText(err)}` });
      req.log(`target ${name}: ${errText(err)}`);
    } finally {
      await target.close();
    }
  }
  return outcomes;
}

export interface RunUploads {
  outcomes: UploadOutcome[];
  failed: number;
}

/**
 * The run's post-backup step: copies the successful services' folders, logs each step, prints
 * failures loudly on stderr. Nothing is copied when the run was interrupted.
 */
export async function uploadRunResults(p: {
  home: Home;
  root: string;
  host: string;
  pattern?: string;
  targets: string[];
  results: { service: string; status: string; dest?: string }[];
  log: { write(source: string, line: string): void };
  out: { error(line: string): void; info(line: string): void; json: boolean; tty?: boolean };
  interrupted: boolean;
  signal?: AbortSignal;
}): Promise<RunUploads> {
  if (!p.targets.length || p.interrupted) return { outcomes: [], failed: 0 };
  const jobs = p.results.filter((r) => (r.status === 'ok' || r.status === 'warning') && r.dest).map((r) => ({ service: r.service, dir: r.dest! }));
  // On a terminal, one line rewritten about once a second: the copy in transfer, bytes, rate, percentage
  let now: { what: string; bytes: number; total: number } | undefined;
  const status = p.out.tty && !p.out.json ? statusLine() : undefined;
  const sampler = status && sampleProgress(() => now && { bytes: now.bytes, total: now.total, exact: true }, (text) => status.show(`copy ${now!.what}: ${text}`, true));
  const onProgress = status && ((what: string, bytes: number, total: number) => {
    const first = now?.what !== what; // a new copy is named at once, not a second later
    now = { what, bytes, total };
    if (first) status.show(`copy ${what}: ${progressText({ bytes, total, exact: true })}`, true);
  });
  const outcomes = await uploadBackups({ home: p.home, root: p.root, host: p.host, pattern: p.pattern, jobs, targets: p.targets, log: (m) => p.log.write('upload', m), signal: p.signal, onProgress }).finally(() => {
    sampler?.stop();
    status?.done();
  });
  const failed = outcomes.filter((o) => !o.ok);
  for (const o of failed) p.out.error(o.error ?? `${o.service} -> ${o.target}: upload failed`);
  if (failed.length) p.out.error(`off-site copy incomplete: ${failed.length} of ${outcomes.length} failed; the local backups are kept`);
  else if (outcomes.length && !p.out.json) {
    const retried = outcomes.filter((o) => o.retries).map((o) => `${o.service} -> ${o.target} ok after ${plural(o.retries!, 'retry', 'retries')}`);
    p.out.info(`copied ${plural(jobs.length, 'backup')} to ${p.targets.join(', ')}${retried.length ? ` (${retried.join(', ')})` : ''}`);
  }
  return { outcomes, failed: failed.length };
}
