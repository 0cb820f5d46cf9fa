// Chains of incremental backups: a backup whose manifest names a `base` builds on that backup
// (a level of GNU tar --listed-incremental, for the file service), which may build on another,
// down to a full. A backup is only as good as its whole chain: a missing or damaged base breaks
// every backup above it. The walking is pure (ids in, ids out); the catalog gives the links.
import path from 'node:path';
import type { Backup } from './catalog.js';
import { quickCheck } from './manifest.js';

/** One backup as the chain sees it: its id and the id of the backup it builds on. */
export interface Link {
  id: string;
  base?: string;
}

export interface Chain {
  /** The backups to apply in order: the full first, `id` last (as far as they exist). */
  ids: string[];
  /** Why the chain is broken (a base missing, a loop), or undefined when it is whole. */
  broken?: string;
}

/** The chain of `id`, walked down its bases through `byId`. */
export function chainOf(byId: ReadonlyMap<string, Link>, id: string): Chain {
  const down: string[] = [];
  const seen = new Set<string>();
  let cur: string | undefined = id;
  while (cur !== undefined) {
    if (seen.has(cur)) return { ids: down.reverse(), broken: `its chain loops back to ${cur}` };
    seen.add(cur);
    const link = byId.get(cur);
    if (!link) return { ids: down.reverse(), broken: `its base ${cur} is missing` };
    down.push(cur);
    cur = link.base;
  }
  return { ids: down.reverse() };
}

/** The id of the backup `b` builds on (its manifest's `base`, a path relative to its folder). */
export function baseId(root: string, b: Backup): string | undefined {
  const rel = b.manifest.base;
  if (rel === undefined) return undefined;
  return path.relative(root, path.resolve(b.dir, rel));
}

export function linksOf(root: string, backups: readonly Backup[]): Link[] {
  return backups.map((b) => ({ id: b.id, base: baseId(root, b) }));
}

/** "full" or "incremental on ID" (the base's id), for listings. */
export function describeLevel(root: string, b: Backup): string {
  const base = baseId(root, b);
  return base === undefined ? 'full' : `incremental on ${base}`;
}

export interface Previous {
  backup: Backup;
  /** When the full at the bottom of its chain started. */
  fullStartedAt: string;
}

/**
 * The backup a new incremental of `service` may build on: the newest of the service (not dated in
 * the future), provided its whole chain is there and each file of each level has its recorded
 * size (a flipped byte is found by batt verify, which then fails the whole chain). Otherwise the
 * reason there is none, which the next backup (a full) reports.
 */
export async function findPrevious(
  root: string,
  backups: readonly Backup[],
  service: string,
  now: Date,
): Promise<Previous | { reason: string }> {
  const mine = backups.filter((b) => b.manifest.service === service && Date.parse(b.manifest.startedAt) <= now.getTime());
  const newest = mine[mine.length - 1];
  if (!newest) return { reason: `no earlier ${service} backup under ${root}` };
  const byId = new Map(backups.map((b) => [b.id, b]));
  const chain = chainOf(new Map(linksOf(root, backups).map((l) => [l.id, l])), newest.id);
  if (chain.broken) return { reason: `the newest ${service} backup ${newest.id} cannot be built on: ${chain.broken}` };
  for (const id of chain.ids) {
    const b = byId.get(id)!;
    const problem = await quickCheck(b.dir, b.manifest);
    if (problem) {
      const whose = id === newest.id ? '' : ` (its base ${id})`;
      return { reason: `the newest ${service} backup ${newest.id} cannot be built on: ${problem}${whose}` };
    }
  }
  return { backup: newest, fullStartedAt: byId.get(chain.ids[0]!)!.manifest.startedAt };
}
