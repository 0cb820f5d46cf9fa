// Private scratch folders (0700, under $TMPDIR, named after the batt process that made them):
// scripts' TMPDIR, where a credentials file a script writes (mysqldump's defaults file, a
// PGPASSFILE) is removed when the script ends; the downloads of `restore --from` and `verify
// --from` (decrypted backup data); an upload's encrypted files and, for a passphrase target, the
// copy's secret key while it is sealed; rsync's index files. Each is removed by whoever made it,
// and by the next run when batt was killed (SIGKILL, a crash) before it could clean up.
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from './log.js';
import { pidExists } from './proc.js';

const PREFIX = 'batt-scratch-';

export interface Scratch {
  dir: string;
  remove(): Promise<void>;
}

export async function makeScratch(label: string, tmp = os.tmpdir()): Promise<Scratch> {
  const dir = await fs.mkdtemp(path.join(tmp, `${PREFIX}${process.pid}-${label}-`));
  await fs.chmod(dir, 0o700);
  return { dir, remove: () => fs.rm(dir, { recursive: true, force: true }) };
}

/** Removes scratch folders whose batt process is gone; returns them. */
export async function removeStaleScratch(tmp = os.tmpdir()): Promise<string[]> {
  const removed: string[] = [];
  let names: string[];
  try {
    names = await fs.readdir(tmp);
  } catch {
    return removed;
  }
  for (const name of names) {
    const m = name.startsWith(PREFIX) ? /^(\d+)-/.exec(name.slice(PREFIX.length)) : null;
    if (!m || pidExists(Number(m[1]))) continue;
    const dir = path.join(tmp, name);
    const st = await fs.lstat(dir).catch(() => null);
    if (!st?.isDirectory() || st.uid !== process.getuid?.()) continue; // only our own, never through a link
    await fs.rm(dir, { recursive: true, force: true });
    removed.push(dir);
  }
  return removed;
}

/** removeStaleScratch, with a batt.log line for each folder removed. */
export async function sweepStaleScratch(log: Logger): Promise<void> {
  for (const dir of await removeStaleScratch()) log.write('batt', `removed ${dir}, a scratch folder left by a killed batt`);
}
