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
import { copyIdMatcher, readCopies, type CopyRecord } from './upload.js';
import { sweepWords, type SweepResult } from './sweep.js';
import { REMOTE_INDEX, backupFileCount, namesCopy, ofHost, type Copy, type HostFilter } from './copy.js';
import type { CopyTarget } from './copytarget.js';
import { scanRoot } from '../catalog/catalog.js';
import { chainOf } from '../catalog/chain.js';
import { FailedError } from '../core/errors.js';

export async function openNamed(home: Home, name: string): Promise<OpenedTarget<CopyTarget>> {
  return openCopyTarget(await loadTarget(home, name));
}

export interface RemoteFilter {
  service?: string;
  since?: Date;
  until?: Date;
}

export const hostWords = (f: HostFilter) => ('all' in f ? 'any host' : `host ${f.host}`);

/** The head of a listing of a target's copies for --json: whose copies, and how many were left out. */
export function listingHead(name: string, hosts: HostFilter, others: number) {
  return { target: name, hosts: 'all' in hosts ? 'all' : hosts.host, otherHosts: others };
}

/** A listing's last line when other hosts' copies were left out; nothing when none were. */
export function printOthers(out: Output, others: number): void {
  if (others) out.info(`(${others === 1 ? '1 copy' : `${others} copies`} of other hosts not shown: --all-hosts, or --host NAME)`);
}

/**
 * The copies on a target that pass `f`: those of the chosen host(s) in `copies`, and how many of
 * other hosts were left out. `signal` (SIGINT/SIGTERM/SIGHUP) stops the connecting, listing and
 * index reads at once (TargetInterruptedError).
 */
export async function listRemote(home: Home, name: string, f: RemoteFilter, hosts: HostFilter, signal?: AbortSignal): Promise<{ copies: Copy[]; others: number }> {
  const { target } = await openNamed(home, name);
  try {
    const all = (await target.list(signal)).filter((c) => {
      const t = Date.parse(c.startedAt);
      return (!f.service || c.service === f.service) && (!f.since || t >= f.since.getTime()) && (!f.until || t <= f.until.getTime());
    });
    const copies = all.filter(ofHost(hosts));
    return { copies, others: all.length - copies.length };
  } finally {
    await target.close();
  }
}

/** A hint for when the chosen host has nothing: how many copies other hosts have there. */
function othersHint(name: string, others: number): string {
  return others ? `${others === 1 ? '1 copy' : `${others} copies`} of other hosts on ${name}: batt backups --from ${name} --all-hosts lists them; --host NAME takes one host's` : `batt backups --from ${name} --all-hosts lists them`;
}

/**
 * The copy `want` names among `copies` (this host's, or the chosen one's); when it names only a
 * copy of another host, a UsageError that says whose it is and how to take it.
 */
function pickNamed(name: string, all: Copy[], hosts: HostFilter, want: string): Copy | undefined {
  const mine = all.filter(ofHost(hosts));
  const found = mine.find((c) => namesCopy(c, want));
  if (found) return found;
  const other = all.find((c) => namesCopy(c, want));
  if (other) throw new UsageError(`${name}:${other.id} is a copy of host ${other.host}, not of ${hostWords(hosts)}`, `add --host ${other.host} to take it`);
  return undefined;
}

/**
 * The check of copies against what this host recorded uploading to target `name` (batt-copies.json
 * beside each local backup under `root`, read once): a recorded copy must be that one, its index
 * hashing to what was written then (records made before indexSha256: the same upload time and file
 * hashes). The check throws a FailedError for a replaced copy; a copy without a record (another
 * host's, or its local backup purged) has nothing to compare.
 */
export async function recordedCopies(root: string | undefined, name: string): Promise<(c: Copy) => void> {
  const records = new Map<string, { rec: CopyRecord; dir: string; id: string }>();
  for (const b of root ? (await scanRoot(root).catch(() => ({ backups: [] }))).backups : []) {
    for (const rec of await readCopies(b.dir)) if (rec.target === name) records.set(rec.id, { rec, dir: b.dir, id: b.id });
  }
  return (c) => {
    const r = records.get(c.id);
    if (!r) return;
    const { rec } = r;
    const same = rec.indexSha256
      ? rec.indexSha256 === c.indexSha256
      : rec.uploadedAt === c.uploadedAt && rec.files.map((f) => f.remoteSha256).join() === c.files.map((f) => f.remoteSha256).join();
    if (!same) {
      throw new FailedError(
        `${name}:${c.id} is not the copy this host uploaded: its ${REMOTE_INDEX} differs from the one recorded in ${path.join(r.dir, 'batt-copies.json')} (replaced on the target since); refusing it`,
        `the local backup ${r.id} is the one this host made`,
      );
    }
  };
}

/**
 * `batt backups --from NAME`. `signal` stops the listing (TargetInterruptedError); once it has
 * aborted, nothing is printed, even if the listing was done.
 */
export async function printRemoteBackups(out: Output, home: Home, name: string, f: RemoteFilter, hosts: HostFilter, signal?: AbortSignal): Promise<void> {
  const { copies, others } = await listRemote(home, name, f, hosts, signal);
  signal?.throwIfAborted();
  if (out.json) {
    out.data({
      ...listingHead(name, hosts, others),
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
  } else {
    if (!copies.length) out.info(`no backups of ${hostWords(hosts)} on target ${name}`);
    else {
      const rows = [['ID', 'HOST', 'SERVICE', 'STARTED', 'FILES', 'SIZE', 'ENCRYPTION']];
      for (const c of copies) rows.push([c.id, c.host, c.service, c.startedAt, String(backupFileCount(c)), formatBytes(c.totalBytes), c.encryption]);
      for (const l of table(rows)) out.info(l);
    }
    printOthers(out, others);
  }
}

export interface FetchedBackup {
  backup: Backup;
  /** What a restore applies in order: the full first, `backup` last (just `backup` when it is a full). */
  chain: Backup[];
  /** The host the copy belongs to (its index's `host`). */
  host: string;
  cleanup(): Promise<void>;
}

/**
 * Downloads the newest copy of SERVICE (or the one with ID) from a target into a private temp
 * folder, checked against the remote index (ciphertext and plaintext hashes) and decrypted. An
 * incremental comes with its whole chain (each copy's `base`, down to the full), one folder a level;
 * a base missing on the target fails before anything is downloaded.
 * `signal` (SIGINT/SIGTERM) stops the connecting, listing, download, decryption or hashing in
 * progress; the temp folder is then removed and the error thrown (TargetInterruptedError).
 */
export async function fetchRemoteBackup(
  home: Home,
  name: string,
  service: string,
  id: string | undefined,
  opts: { hosts: HostFilter; root?: string; tmpRoot?: string; signal?: AbortSignal },
): Promise<FetchedBackup> {
  const { signal, hosts } = opts;
  const { target, encryption } = await openNamed(home, name);
  // a scratch folder (batt-scratch-<pid>-T<start>-from-*): if batt is killed (SIGKILL, a crash)
  // before it can remove the download, the next `batt run` does
  const { dir, remove: cleanup } = await makeScratch('from', opts.tmpRoot);
  try {
    const all = (await target.list(signal)).filter((c) => c.service === service);
    const mine = all.filter(ofHost(hosts));
    const copy = id ? pickNamed(name, all, hosts, id) : mine[mine.length - 1];
    if (!copy) {
      const what = id ? `no ${service} backup "${id}" of ${hostWords(hosts)}` : `no ${service} backup of ${hostWords(hosts)}`;
      throw new UsageError(`${what} on target ${name}`, othersHint(name, all.length - mine.length));
    }
    // the chain among the copies of the same host (a base is always the same host's)
    const sameHost = new Map(all.filter((c) => c.host === copy.host).map((c) => [c.id, c]));
    const chain = chainOf(sameHost, copy.id);
    if (chain.broken) {
      throw new FailedError(`${name}:${copy.id} cannot be restored: ${chain.broken} on ${name}`, 'restore a full, or an incremental whose chain is whole on the target, or restore from the local root');
    }
    const check = await recordedCopies(opts.root, name);
    const copies = chain.ids.map((cid) => sameHost.get(cid)!);
    for (const c of copies) check(c);
    const backups: Backup[] = [];
    for (const [i, c] of copies.entries()) {
      const local = path.join(dir, copies.length > 1 ? `level-${i}` : 'backup');
      const manifest = await target.get(c.id, local, { encryption, tmpDir: dir, signal, indexSha256: c.indexSha256 });
      if (manifest.service !== service) throw new UsageError(`${name}:${c.id} is a ${manifest.service} backup, not ${service}`);
      // the level the listing promised: a full at the bottom, incrementals above it
      if (i === 0 && manifest.base !== undefined) {
        throw new FailedError(
          `${name}:${c.id} is an incremental, but its copy does not name its base (copied by a batt that did not record bases on this kind of target)`,
          'restore it from the local root, or restore a full',
        );
      }
      if (i > 0 && manifest.base === undefined) throw new FailedError(`${name}:${c.id} does not match its listing: its manifest is a full, its listing names a base`);
      backups.push({ dir: local, id: `${name}:${c.id}`, manifest });
    }
    return { backup: backups[backups.length - 1]!, chain: backups, host: copy.host, cleanup };
  } catch (err) {
    await cleanup();
    throw err;
  } finally {
    await target.close();
  }
}

export interface RemotePurgeResult {
  target: string;
  /** The host whose copies retention was applied to. */
  host: string;
  keep: { id: string; host: string; service: string; reasons: string[] }[];
  remove: { id: string; host: string; service: string; reason: string; removed?: boolean; error?: string }[];
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
  /** Whose copies retention applies to (only ever one host's), and this host (for the sweep). */
  hosts: { host: string; self: string };
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
  const host = p.hosts.host;
  const result: RemotePurgeResult = { target: p.name, host, keep: [], remove: [], leftovers: { removed: [], failed: [], copies: [], kept: [] } };
  try {
    // one host's copies only: another host's series is never thinned by this one's policy
    const copies = (await target.list(p.signal)).filter((c) => c.host === host && (!p.services.length || p.services.includes(c.service)));
    const byService = new Map<string, Copy[]>();
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
      for (const k of r.keep) result.keep.push({ id: k.id, host, service, reasons: k.reasons });
      for (const c of future) result.keep.push({ id: c.id, host, service, reasons: ['dated in the future: never touched'] });
      for (const x of r.remove) {
        const entry: RemotePurgeResult['remove'][number] = { id: x.id, host, service, reason: x.reason };
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
      if (!p.signal?.aborted) result.leftovers = await target.sweep({ now: p.now, dryRun: p.dryRun, isCopyId: copyIdMatcher(p.pattern, p.hosts.self), signal: p.signal });
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
  if (!r.keep.length && !r.remove.length) out.info(`no backups of host ${r.host} on target ${r.target}`);
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
  opts: { service?: string; hosts: HostFilter; root?: string; readDataSubset?: string },
  signal?: AbortSignal,
): Promise<number> {
  const { target } = await openNamed(home, name);
  if (opts.readDataSubset !== undefined && !target.checkStore) throw new UsageError(`--read-data-subset applies to a restic target; ${name} is ${target.kind}`);
  // the downloads go in here (batt-scratch-<pid>-T<start>-verify-*), removed by the next `batt run` if batt is killed
  const scratch = await makeScratch('verify');
  try {
    const all = (await target.list(signal)).filter((c) => !opts.service || c.service === opts.service);
    let copies = all.filter(ofHost(opts.hosts));
    if (ids.length) {
      const named = ids.map((i) => ({ i, c: pickNamed(name, all, opts.hosts, i) }));
      const missing = named.filter((n) => !n.c).map((n) => n.i);
      if (missing.length) throw new UsageError(`no backup ${missing.join(', ')} of ${hostWords(opts.hosts)} on target ${name}`, othersHint(name, all.length - copies.length));
      copies = copies.filter((c) => named.some((n) => n.c === c));
    } else if (!copies.length && all.length) {
      throw new UsageError(`no backups of ${hostWords(opts.hosts)} on target ${name}`, othersHint(name, all.length));
    }
    const check = await recordedCopies(opts.root, name);
    const report = [];
    let bad = 0;
    // a restic repository is checked whole first (restic check); each copy is then restored and re-hashed
    const storeProblems = (await target.checkStore?.({ readDataSubset: opts.readDataSubset, signal })) ?? [];
    for (const p of storeProblems) out.error(`${name}: ${p.path}: ${p.problem}`);
    if (storeProblems.length) bad++;
    for (const c of copies) {
      const problems = await target.verify(c.id, { deep: true, signal, tmpDir: scratch.dir });
      try {
        check(c);
      } catch (err) {
        problems.unshift({ path: REMOTE_INDEX, problem: (err as Error).message.replace(`${name}:${c.id} `, '') });
      }
      report.push({ id: c.id, host: c.host, service: c.service, ok: problems.length === 0, problems });
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
