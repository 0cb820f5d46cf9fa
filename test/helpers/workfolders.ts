// Work folders of physical restores (restore-mysql, restore-postgresql) planted beside a data
// directory: one of a killed restore (a pid that cannot exist) that the next restore removes, and
// two it must leave: one named after a live process (this test's), one in the form before names
// carried a pid (nothing tells whose it is).
import fs from 'node:fs';
import path from 'node:path';
import { statFields } from '../../src/core/proc.js';

export interface PlantedWork {
  dead: string;
  keep: string[];
}

export function plantWorkFolders(parent: string, kind: 'mysql' | 'postgresql'): PlantedWork {
  const start = statFields(process.pid)?.[19];
  if (!start) throw new Error('no start time in /proc/self/stat');
  const dead = path.join(parent, `.batt-restore-${kind}.4194400-12345.Dead0001`); // above pid_max's limit
  const keep = [path.join(parent, `.batt-restore-${kind}.${process.pid}-${start}.Live0001`), path.join(parent, `.batt-restore-${kind}.Old00001`)];
  for (const d of [dead, ...keep]) {
    fs.mkdirSync(d, { recursive: true });
    fs.writeFileSync(path.join(d, 'ibdata1'), 'half of a database');
  }
  return { dead, keep };
}

/** Checks what the restore did with them, then removes the kept ones (they are the test's). */
export function checkWorkFolders(p: PlantedWork, output: string): void {
  if (fs.existsSync(p.dead)) throw new Error(`${p.dead}: the killed restore's work folder is still there`);
  if (!output.includes(`removed ${p.dead}, the work folder of a restore that was killed`)) throw new Error(`the restore did not say it removed ${p.dead}:\n${output}`);
  for (const k of p.keep) {
    if (!fs.existsSync(path.join(k, 'ibdata1'))) throw new Error(`${k} was removed: not a dead restore's`);
    fs.rmSync(k, { recursive: true });
  }
}
