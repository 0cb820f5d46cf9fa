// The catalog: every backup found under a root, read from the manifests that live with the data.
// Nothing outside the root is read, links are not followed, staging folders are skipped.
import fs from 'node:fs/promises';
import path from 'node:path';
import { MANIFEST, readManifest, type Manifest } from './manifest.js';

export const STAGING_PREFIX = '.batt-staging-';
const MAX_DEPTH = 12;

export interface Backup {
  dir: string;
  /** dir relative to the root, the backup's id on the command line */
  id: string;
  manifest: Manifest;
}

export interface Scan {
  backups: Backup[];
  /** Folders with an unreadable manifest. */
  invalid: { dir: string; error: string }[];
  /** Staging folders left by interrupted runs. */
  staging: string[];
}

/**
 * Every backup (and leftover staging folder) under root. With `manifests: false` the manifests
 * are found but not read: a run looking only for leftovers does not parse years of catalog;
 * `want` then names the backup folders whose manifests are read all the same.
 */
export async function scanRoot(root: string, opts: { manifests?: boolean; want?: (dir: string) => boolean } = {}): Promise<Scan> {
  const readManifests = opts.manifests ?? true;
  const scan: Scan = { backups: [], invalid: [], staging: [] };
  const visit = async (dir: string, depth: number) => {
    let entries;
    try {
      entries = await fs.readdir(dir, { withFileTypes: true });
    } catch {
      return;
    }
    if (entries.some((e) => e.isFile() && e.name === MANIFEST)) {
      if (!readManifests && !opts.want?.(dir)) return;
      try {
        const manifest = await readManifest(dir);
        scan.backups.push({ dir, id: path.relative(root, dir), manifest });
      } catch (err) {
        scan.invalid.push({ dir, error: (err as Error).message });
      }
      return; // a backup folder holds data, not more backups
    }
    if (depth >= MAX_DEPTH) return;
    for (const e of entries) {
      if (!e.isDirectory()) continue; // links (isDirectory is false for them) and files are skipped
      const sub = path.join(dir, e.name);
      if (e.name.startsWith(STAGING_PREFIX)) scan.staging.push(sub);
      else await visit(sub, depth + 1);
    }
  };
  await visit(root, 0);
  scan.backups.sort(
    (a, b) => Date.parse(a.manifest.startedAt) - Date.parse(b.manifest.startedAt) || a.id.localeCompare(b.id),
  );
  return scan;
}

export interface BackupFilter {
  service?: string;
  since?: Date;
  until?: Date;
}

export function filterBackups(backups: Backup[], f: BackupFilter): Backup[] {
  return backups.filter((b) => {
    const t = Date.parse(b.manifest.startedAt);
    if (f.service && b.manifest.service !== f.service) return false;
    if (f.since && t < f.since.getTime()) return false;
    if (f.until && t > f.until.getTime()) return false;
    return true;
  });
}

/** Finds backups by id (path relative to root, or absolute path inside root). */
export function selectBackups(root: string, backups: Backup[], ids: string[]): { found: Backup[]; missing: string[] } {
  const found: Backup[] = [];
  const missing: string[] = [];
  for (const id of ids) {
    const abs = path.resolve(root, id);
    const b = backups.find((x) => x.dir === abs);
    if (b) found.push(b);
    else missing.push(id);
  }
  return { found, missing };
}

/**
 * How far a script's announced estimate ("batt: expect BYTES") was from what it wrote, in the
 * newest backup of `service` made with the same options (`options`: the manifest's, as JSON) that
 * recorded one: totalBytes / expectedBytes. A file backup announces its source bytes and writes
 * them compressed, so this is its compression ratio. Undefined when no such backup exists.
 */
export function estimateRatio(backups: Backup[], service: string, options: string): number | undefined {
  for (let i = backups.length - 1; i >= 0; i--) {
    const m = backups[i]!.manifest;
    if (m.service !== service || JSON.stringify(m.options) !== options) continue;
    if (!m.expectedBytes || m.expectedBytes <= 0 || !(m.totalBytes > 0)) continue;
    return m.totalBytes / m.expectedBytes;
  }
  return undefined;
}
