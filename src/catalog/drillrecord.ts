// The last drill of a backup (batt drill, src/run/drill.ts): batt-drill.json beside the manifest.
// Not part of the sealed data: verify, the seal and uploads leave it out (manifest.ts SIDECARS),
// and a purge removes it with its backup.
import fs from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../core/fsutil.js';
import { formatDuration } from '../core/output.js';
import type { Backup } from './catalog.js';
import { DRILL } from './manifest.js';

export interface DrillRecord {
  ok: boolean;
  /** When the drill ended (ISO). */
  at: string;
  /** How long the restore (the restore script in drill mode, checks included) took. */
  durationMs: number;
  error?: string;
}

export async function readDrill(dir: string): Promise<DrillRecord | undefined> {
  try {
    const v = JSON.parse(await fs.readFile(path.join(dir, DRILL), 'utf8')) as Partial<DrillRecord>;
    if (typeof v.ok !== 'boolean' || typeof v.at !== 'string' || Number.isNaN(Date.parse(v.at)) || typeof v.durationMs !== 'number') return undefined;
    return { ok: v.ok, at: v.at, durationMs: v.durationMs, ...(typeof v.error === 'string' ? { error: v.error } : {}) };
  } catch {
    return undefined;
  }
}

export async function writeDrill(dir: string, rec: DrillRecord): Promise<void> {
  await writeFileAtomic(path.join(dir, DRILL), JSON.stringify({ format: 1, ...rec }, null, 2) + '\n');
}

/** A drill in a few words: "ok 2026-11-28 03:10, restored in 42s" or "FAILED 2026-11-28 03:10" (UTC). */
export function describeDrill(d: DrillRecord): string {
  const at = d.at.slice(0, 16).replace('T', ' ');
  return d.ok ? `ok ${at}, restored in ${formatDuration(d.durationMs)}` : `FAILED ${at}`;
}

/** The newest drill among these backups (of one service), with its backup. */
export async function lastDrill(backups: Backup[]): Promise<{ backup: Backup; drill: DrillRecord } | undefined> {
  let best: { backup: Backup; drill: DrillRecord } | undefined;
  for (const backup of backups) {
    const drill = await readDrill(backup.dir);
    if (drill && (!best || Date.parse(drill.at) > Date.parse(best.drill.at))) best = { backup, drill };
  }
  return best;
}
