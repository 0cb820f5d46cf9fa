// The remote copies of one target as commands see them: `batt backups --from T`,
// `batt restore SERVICE [ID] --from T` (download, check, decrypt into a private temp folder, then
// the normal restore) and `batt purge --target T` (retention applied to that target's copies).
import path from 'node:path';
import type { Backup } from '../catalog/catalog.js';
import { retentionConf } from '../retention/conf.js';
import { makeScratch } from '../run/scratch.js';
import { UsageError, describeError } from '../core/errors.js';
import type { Home } from '../core/home.js';
import type { Logger } from '../core/log.js';
import type { Output } from '../core/output.js';
import { formatBytes, plural, table } from '../core/output.js';
import { applyPolicy, POLICY_KEYS, type RetentionPolicy } from '../retention/policy.js';
import { loadTarget } from './config.js';
import { openCopyTarget, type OpenedTarget } from './open.js';
import { copyIdMatcher } from './upload.js';
import { sweepWords, type SweepResult } from './sweep.js';
import { backupFileCount, type RemoteIndex } from './copy.js';
import type { CopyTarget } from './copytarget.js';

export async function openNamed(home: Home, name: string): Promise<OpenedTarget<CopyTarget>> {
  return openCopyTarget(await loadTarget(home, name));
}

export interface RemoteFilter {
  service?: string;
  since?: Date;
  until?: Date;
}

/** `signal` (SIGINT/SIGTERM/SIGHUP) stops the connecting, listing and index reads at once (TargetInterruptedError). */
export async function listRemote(home: Home, name: string, f: RemoteFilter = {}, signal?: AbortSignal): Promise<RemoteIndex[]> {
  const { target } = await openNamed(home, name);
  try {
    return (await target.list(signal)).filter((c) => {
      const t = Date.parse(c.startedAt);
      return (!f.service || c.service === f.service) && (!f.since || t >= f.since.getTime()) && (!f.until || t <= f.until.getTime());
    });
  } finally {
    await target.close();
  }
}

/**
 * `batt backups --from NAME`. `signal` stops the listing (TargetInterruptedError); once it has
 * aborted, nothing is printed, even if the listing was done.
 */
export async function printRemoteBackups(out: Output, home: Home, name: string, f: RemoteFilter, signal?: AbortSignal): Promise<void> {
  const copies = await listRemote(home, name, f, signal);
  signal?.throwIfAborted();
  if (out.json) {
    out.data({
      target: name,
      backups: copies.map((c) => ({
        id: c.id,
        service: c.service,
        host: c.host,
        startedAt: c.startedAt,
        uploadedAt: c.uploadedAt,
        files: backupFileCount(c),
        bytes: c.totalBytes,
        encryption: c.encryption,
      })),
    });
  } else if (!copies.length) {
    out.info(`no backups on target ${name}`);
  } else {
    const rows = [['ID', 'SERVICE', 'STARTED', 'FILES', 'SIZE', 'ENCRYPTION']];
    for (const c of copies) rows.push([c.id, c.service, c.startedAt, String(backupFileCount(c)), formatBytes(c.totalBytes), c.encryption]);
    for (const l of table(rows)) out.info(l);
  }
}

export interface FetchedBackup {
  backup: Backup;
  cleanup(): Promise<void>;
}

/**
 * Downloads the newest copy of SERVICE (or the one with ID) from a target into a private temp
 * folder, checked against the remote index (ciphertext and plaintext hashes) and decrypted.
 * `signal` (SIGINT/SIGTERM) stops the connecting, listing, download, decryption or hashing in
 * progress; the temp folder is then removed and the error thrown (TargetInterruptedError).
 */
export async function fetchRemoteBackup(
  home: Home,
  name: string,
  service: string,
  id: string | undefined,
  opts: { tmpRoot?: string; signal?: AbortSignal } = {},
): Promise<FetchedBackup> {
  const { signal } = opts;
  const { target, encryption } = await openNamed(home, name);
  // a scratch folder (batt-scratch-<pid>-T<start>-from-*): if batt is killed (SIGKILL, a crash)
  // before it can remove the download, the next `batt run` does
  const { dir, remove: cleanup } = await makeScratch('from', opts.tmpRoot);
  try {
    const copies = (await target.list(signal)).filter((c) => c.service === service);
    const copy = id ? copies.find((c) => c.id === id.replace(/^\/+|\/+$/g, '')) : copies[copies.length - 1];
    if (!copy) {
      throw new UsageError(id ? `no ${service} backup "${id}" on target ${name}` : `no ${service} backup on target ${name}`, `batt backups --from ${name} lists them`);
    }
    const local = path.join(dir, 'backup');
    const manifest = await target.get(copy.id, local, { encryption, tmpDir: dir, signal });
    if (manifest.service !== service) throw new UsageError(`${name}:${copy.id} is a ${manifest.service} backup, not ${service}`);
    return { backup: { dir: local, id: `${name}:${copy.id}`, manifest }, cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  } finally {
    await target.close();
  }
}

export interface RemotePurgeResult {
  target: string;
  keep: { id: string; service: string; reasons: string[] }[];
  remove: { id: string; service: string; reason: string; removed?: boolean; error?: string }[];
  /**
   * Leftovers of interrupted uploads (batt's temp files, S3 multipart uploads) a day old, and copies
   * cut off before their index untouched for a day: removed, or would be.
   */
  leftovers: SweepResult;
}

/**
 * Retention on one target's copies, per service. The policy is the service's (batt.conf <
 * <service>.conf < command line), with KEEP_* keys of the target's conf in between, so each
 * target can keep more or less than the local disk.
 */
export async function purgeRemote(p: {
  home: Home;
  name: string;
  /** The destination pattern: the layout of copies on the target (for the sweep of cut-off copies). */
  pattern?: string;
  services: string[];
  policyFor: (service: string) => Promise<{ policy: RetentionPolicy; weekStart: 'mon' | 'sun' }>;
  cliPolicy: Partial<Record<string, number>>;
  dryRun: boolean;
  now: Date;
  log?: Logger;
  /** SIGINT/SIGTERM/SIGHUP: stops listing and connecting at once, and removals between two copies. */
  signal?: AbortSignal;
}): Promise<RemotePurgeResult> {
  const t = await loadTarget(p.home, p.name);
  const targetPolicy = retentionConf(t.conf, t.file);
  const { target } = await openCopyTarget(t);
  const result: RemotePurgeResult = { target: p.name, keep: [], remove: [], leftovers: { removed: [], failed: [], copies: [], kept: [] } };
  try {
    const copies = (await target.list(p.signal)).filter((c) => !p.services.length || p.services.includes(c.service));
    const byService = new Map<string, RemoteIndex[]>();
    for (const c of copies) byService.set(c.service, [...(byService.get(c.service) ?? []), c]);
    for (const [service, list] of byService) {
      const sp = await p.policyFor(service);
      const policy: RetentionPolicy = { ...sp.policy };
      const hasTargetPolicy = POLICY_KEYS.some((b) => targetPolicy[b] !== undefined);
      if (hasTargetPolicy) {
        for (const b of POLICY_KEYS) {
          if (p.cliPolicy[b] !== undefined) continue;
          if (targetPolicy[b] !== undefined) policy[b] = targetPolicy[b];
          else delete policy[b];
        }
      }
      const future = list.filter((c) => Date.parse(c.startedAt) > p.now.getTime() + 10 * 60_000);
      const candidates = list
        .filter((c) => !future.includes(c))
        .map((c) => ({ id: c.id, time: new Date(c.startedAt), service, ok: true, base: c.base })); // chains stay whole
      const r = applyPolicy(candidates, policy, { weekStart: targetPolicy.weekStart ?? sp.weekStart, now: p.now });
      for (const k of r.keep) result.keep.push({ id: k.id, service, reasons: k.reasons });
      for (const c of future) result.keep.push({ id: c.id, service, reasons: ['dated in the future: never touched'] });
      for (const x of r.remove) {
        const entry: RemotePurgeResult['remove'][number] = { id: x.id, service, reason: x.reason };
        result.remove.push(entry);
        if (p.dryRun || p.signal?.aborted) continue; // a copy is removed whole or not at all
        try {
          await target.remove(x.id);
          entry.removed = true;
          p.log?.write('purge', `removed ${p.name}:${x.id} (${x.reason})`);
        } catch (err) {
          entry.error = describeError(err);
          p.log?.write('purge', `could not remove ${p.name}:${x.id}: ${entry.error}`);
        }
      }
    }
    let compactFailed: string | undefined;
    if (target.compact && !p.dryRun && !p.signal?.aborted && result.remove.some((x) => x.removed)) {
      // restic: the forgotten snapshots' data goes now (prune)
      try {
        await target.compact(p.signal);
        p.log?.write('purge', `${p.name}: pruned the repository`);
      } catch (err) {
        if (!p.signal?.aborted) compactFailed = `prune: ${describeError(err)}`;
      }
    }
    try {
      if (!p.signal?.aborted) result.leftovers = await target.sweep({ now: p.now, dryRun: p.dryRun, isCopyId: copyIdMatcher(p.pattern), signal: p.signal });
    } catch (err) {
      if (!p.signal?.aborted) result.leftovers.failed.push({ rel: '', error: sweepWords.unlisted(describeError(err)) });
    }
    if (compactFailed) result.leftovers.failed.push({ rel: '', error: compactFailed });
    if (!p.dryRun) for (const rel of result.leftovers.removed) p.log?.write('purge', `removed ${p.name}:${rel} (${sweepWords.leftover})`);
    if (!p.dryRun) for (const c of result.leftovers.copies) p.log?.write('purge', `removed ${p.name}:${c.rel}, ${sweepWords.copy(c)}`);
    for (const k of result.leftovers.kept) p.log?.write('purge', `${p.name}:${k.rel}: ${k.why}`);
    for (const f of result.leftovers.failed) p.log?.write('purge', `${p.name}: ${sweepWords.failed(f)}`);
    return result;
  } finally {
    await target.close();
  }
}

export function printRemotePurge(out: Output, r: RemotePurgeResult, dryRun: boolean): void {
  if (out.json) {
    out.data({ ok: !r.remove.some((x) => x.error), dryRun, ...r });
    return;
  }
  for (const k of r.keep) out.info(`keep   ${r.target}:${k.id}  ${k.reasons.join(', ')}`);
  for (const x of r.remove) {
    if (x.error) out.error(`could not remove ${r.target}:${x.id}: ${x.error}`);
    else out.info(`${dryRun ? 'would remove' : 'removed'} ${r.target}:${x.id}  ${x.reason}`);
  }
  for (const rel of r.leftovers.removed) out.info(`${dryRun ? 'would remove' : 'removed'} ${r.target}:${rel}  ${sweepWords.leftover}`);
  for (const c of r.leftovers.copies) out.info(`${dryRun ? 'would remove' : 'removed'} ${r.target}:${c.rel}  ${sweepWords.copy(c)}`);
  for (const k of r.leftovers.kept) out.info(`keep   ${r.target}:${k.rel}  ${k.why}`);
  for (const f of r.leftovers.failed) out.error(`${r.target}: ${sweepWords.failed(f)}`);
  if (!r.keep.length && !r.remove.length) out.info(`no backups on target ${r.target}`);
}

/**
 * `batt verify --from NAME [ID...]`: every copy (or the named ones) re-read and re-hashed. `signal`
 * (SIGINT/SIGTERM) stops the connecting, listing, download or hashing in progress
 * (TargetInterruptedError); what was downloaded is removed.
 */
export async function verifyRemote(
  out: Output,
  home: Home,
  name: string,
  ids: string[],
  service?: string,
  signal?: AbortSignal,
  opts: { readDataSubset?: string } = {},
): Promise<number> {
  const { target } = await openNamed(home, name);
  if (opts.readDataSubset !== undefined && !target.checkStore) throw new UsageError(`--read-data-subset applies to a restic target; ${name} is ${target.kind}`);
  // the downloads go in here (batt-scratch-<pid>-T<start>-verify-*), removed by the next `batt run` if batt is killed
  const scratch = await makeScratch('verify');
  try {
    let copies = (await target.list(signal)).filter((c) => !service || c.service === service);
    if (ids.length) {
      const want = ids.map((i) => i.replace(/^\/+|\/+$/g, ''));
      const missing = want.filter((i) => !copies.some((c) => c.id === i));
      if (missing.length) throw new UsageError(`no backup ${missing.join(', ')} on target ${name}`, `batt backups --from ${name} lists them`);
      copies = copies.filter((c) => want.includes(c.id));
    }
    const report = [];
    let bad = 0;
    // a restic repository is checked whole first (restic check); each copy is then restored and re-hashed
    const storeProblems = (await target.checkStore?.({ readDataSubset: opts.readDataSubset, signal })) ?? [];
    for (const p of storeProblems) out.error(`${name}: ${p.path}: ${p.problem}`);
    if (storeProblems.length) bad++;
    for (const c of copies) {
      const problems = await target.verify(c.id, { deep: true, signal, tmpDir: scratch.dir });
      report.push({ id: c.id, service: c.service, ok: problems.length === 0, problems });
      if (problems.length) {
        bad++;
        for (const p of problems) out.error(`${name}:${c.id}: ${p.path}: ${p.problem}`);
      } else if (!out.json) out.info(`ok ${name}:${c.id} (${plural(backupFileCount(c) + 1, 'file')})`);
    }
    if (out.json) out.data({ ok: bad === 0, target: name, backups: report, ...(target.checkStore ? { repository: { ok: !storeProblems.length, problems: storeProblems } } : {}) });
    else if (storeProblems.length) out.error(`verify failed: the repository of ${name} has problems (restic check)`);
    else if (bad) out.error(`verify failed: ${bad} of ${plural(copies.length, 'copy', 'copies')} on ${name} ${bad === 1 ? 'has' : 'have'} problems`);
    else out.info(`verified ${plural(copies.length, 'copy', 'copies')} on ${name}`);
    return bad ? 1 : 0;
  } finally {
    await scratch.remove();
    await target.close();
  }
}
