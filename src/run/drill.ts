// Restore drills: prove that a backup restores, and measure how long it takes. A drill verifies
// the backup against its manifest, then runs the service's restore script with BATT_DRILL=1 into
// a scratch place batt makes (BATT_RESTORE_TO: an empty private folder; BATT_DRILL_NAME: the name
// of scratch databases, batt_drill_<pid>_<start>_<random>), and the script checks what came out
// (docs/script-contract.md). The result and the restore time go to batt-drill.json beside the
// backup (catalog/drillrecord.ts).
//
// Nothing of a drill outlives it: the scratch folder is removed whatever happens, and a script
// that makes scratch databases (`# batt: drill-drop`) is run once more with BATT_DRILL=drop after
// any drill that did not end cleanly. The scratch folder holds the drill's record (scratch.ts
// DRILL_RECORD) until then, so after a SIGKILL the next run (sweepStaleDrills) finds the dead
// drill by its pid and start time, drops exactly its databases, and only then removes the folder.
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { type Backup } from '../catalog/catalog.js';
import { writeDrill, type DrillRecord } from '../catalog/drillrecord.js';
import { effectiveTimeout, loadConfFile, serviceConfPath, serviceTimeout, type Conf } from '../config/config.js';
import { describeError } from '../core/errors.js';
import { exists } from '../core/fsutil.js';
import type { Home } from '../core/home.js';
import type { Logger } from '../core/log.js';
import { startTime } from '../core/proc.js';
import { readScriptTraits, resolveScript, scriptName } from '../services/registry.js';
import { composeEnv } from '../services/scriptenv.js';
import { chooseBackup, restoreBackup, verifyBeforeRestore } from './restore.js';
import { runScript } from './runner.js';
import { DRILL_RECORD, listStaleScratch, makeScratch } from './scratch.js';

export type DrillStatus = 'ok' | 'failed' | 'no drill';

export interface DrillResult {
  service: string;
  status: DrillStatus;
  /** The backup drilled (its id). */
  backup?: string;
  /** How long the restore took. */
  durationMs?: number;
  /** Why it failed, or why there is no drill. */
  error?: string;
  interrupted?: boolean;
}

export interface DrillJob {
  home: Home;
  root: string;
  service: string;
  /** A backup id; default the newest backup of the service. */
  backupId?: string;
  baseEnv: NodeJS.ProcessEnv;
  /** batt.conf TIMEOUT (seconds), under the service's BACKUP_TIMEOUT. */
  globalTimeoutSeconds?: number;
  log: Logger;
  signal?: AbortSignal;
  now?: () => Date;
}

/** What a drill's scratch folder records while it lives (scratch.ts DRILL_RECORD). */
interface Record_ {
  service: string;
  /** BATT_DRILL_NAME */
  name: string;
  /** The script makes scratch databases: BATT_DRILL=drop must run before the folder goes. */
  drop: boolean;
}

/** The scratch database name of one drill: lower-case, under PostgreSQL's 63 and MySQL's 64. */
export function drillName(pid: number, start: string | undefined, random: string): string {
  return `batt_drill_${pid}_${start ?? '0'}_${random}`.toLowerCase().replace(/[^a-z0-9_]/g, '');
}

/**
 * Whether a service with this last drill (or none) is due for one, DRILL_EVERY = everyMs: never
 * drilled, drilled longer ago, or the last drill failed (then every run drills again, and fails
 * again, until a backup drills ok: a failure is not forgotten for DRILL_EVERY).
 */
export function isDrillDue(last: { at: string; ok: boolean } | undefined, everyMs: number | undefined, now: Date): boolean {
  if (!everyMs) return false;
  if (!last || !last.ok) return true;
  const t = Date.parse(last.at);
  return Number.isNaN(t) || now.getTime() - t >= everyMs;
}

/** Runs the restore script with BATT_DRILL=drop for a drill's scratch databases; true when it dropped them. */
async function dropScratchDatabases(home: Home, rec: Record_, dir: string, baseEnv: NodeJS.ProcessEnv, log: Logger): Promise<boolean> {
  const say = (l: string) => log.write(`drill ${rec.service}`, l);
  let script: string;
  try {
    script = await resolveScript(home, rec.service, 'restore');
  } catch (err) {
    say(`cannot drop the scratch databases ${rec.name}*: ${describeError(err)}`);
    return false;
  }
  const conf = await loadConfFile(serviceConfPath(home, rec.service)).catch((): Conf => ({}));
  const r = await runScript({
    file: script,
    args: [],
    env: composeEnv(baseEnv, conf, { options: {}, args: [] }, {
      TMPDIR: dir,
      BATT_BACKUP: dir,
      BATT_DRILL: 'drop',
      BATT_DRILL_NAME: rec.name,
      BATT_SERVICE: rec.service,
      BATT_HOME: home.root,
    }),
    cwd: dir,
    timeoutMs: 120_000,
    onLine: (line, stream) => say(`${stream === 'stderr' ? '!' : '>'} ${line}`),
  });
  if (r.exitCode === 0) return true;
  say(`dropping the scratch databases ${rec.name}* failed (exit ${r.exitCode ?? r.signal})`);
  return false;
}

/** Drills one service: never throws for a failed drill (the result says it); a bad name throws. */
export async function drillService(job: DrillJob): Promise<DrillResult> {
  const { service, log } = job;
  const now = job.now ?? (() => new Date());
  if (!(await exists(path.join(job.home.available, scriptName('restore', service))))) {
    return { service, status: 'no drill', error: `no ${scriptName('restore', service)} script` };
  }
  let backup: Backup;
  let script: string;
  try {
    script = await resolveScript(job.home, service, 'restore');
    if (!(await readScriptTraits(script)).drill) {
      return { service, status: 'no drill', error: `${scriptName('restore', service)} does not say "# batt: drill" (docs/script-contract.md)` };
    }
    backup = await chooseBackup(job.root, service, job.backupId);
  } catch (err) {
    return { service, status: 'failed', error: describeError(err) };
  }
  const record = async (rec: DrillRecord) => {
    // beside the manifest; a backup batt cannot write to (another owner) keeps no record
    await writeDrill(backup.dir, rec).catch((err) => log.write(`drill ${service}`, `cannot record the drill in ${backup.dir}: ${describeError(err)}`));
  };
  try {
    await verifyBeforeRestore(backup, job.signal);
  } catch (err) {
    const interrupted = !!job.signal?.aborted;
    if (!interrupted) await record({ ok: false, at: now().toISOString(), durationMs: 0, error: describeError(err) });
    return { service, status: 'failed', backup: backup.id, error: describeError(err), interrupted };
  }
  const traits = await readScriptTraits(script);
  const confFile = serviceConfPath(job.home, service);
  let conf: Conf;
  try {
    conf = await loadConfFile(confFile);
  } catch (err) {
    return { service, status: 'failed', backup: backup.id, error: describeError(err) };
  }
  const scratch = await makeScratch('drill');
  const rec: Record_ = { service, name: drillName(process.pid, startTime('self'), randomBytes(4).toString('hex')), drop: traits.drillDrop };
  let cleanEnd = false;
  try {
    // the record first: from here on a SIGKILL leaves something the next run can clean up
    await fs.writeFile(path.join(scratch.dir, DRILL_RECORD), JSON.stringify(rec) + '\n', { mode: 0o600 });
    const target = path.join(scratch.dir, 'target');
    await fs.mkdir(target, { mode: 0o700 });
    const timeout = effectiveTimeout({ service: serviceTimeout(conf, confFile), global: job.globalTimeoutSeconds });
    const { durationMs } = await restoreBackup({
      service,
      script,
      backup,
      to: target,
      force: false,
      input: { options: {}, args: [] },
      conf,
      confFile: Object.keys(conf).length ? confFile : undefined,
      homeRoot: job.home.root,
      baseEnv: job.baseEnv,
      timeoutMs: timeout.seconds * 1000,
      log,
      signal: job.signal,
      scratch,
      extraEnv: { BATT_DRILL: '1', BATT_DRILL_NAME: rec.name },
      verb: 'drill',
    });
    cleanEnd = true;
    await record({ ok: true, at: now().toISOString(), durationMs });
    return { service, status: 'ok', backup: backup.id, durationMs };
  } catch (err) {
    const interrupted = !!job.signal?.aborted;
    if (!interrupted) await record({ ok: false, at: now().toISOString(), durationMs: 0, error: describeError(err) });
    return { service, status: 'failed', backup: backup.id, error: describeError(err), interrupted };
  } finally {
    // a script that ended by itself dropped its databases (its EXIT trap); otherwise make sure
    const dropped = cleanEnd || !rec.drop || (await dropScratchDatabases(job.home, rec, scratch.dir, job.baseEnv, log));
    if (dropped) await scratch.remove();
    else log.write(`drill ${service}`, `kept ${scratch.dir}: the next run drops ${rec.name}* and removes it`);
  }
}

/**
 * After a SIGKILL: the scratch folders of dead drills, their scratch databases dropped first
 * (only those named in the record, by the service's own restore script), then the folder. A drop
 * that fails keeps the folder for the next run. Returns a line for each folder handled.
 */
export async function sweepStaleDrills(home: Home, baseEnv: NodeJS.ProcessEnv, log: Logger): Promise<string[]> {
  const said: string[] = [];
  for (const dir of await listStaleScratch()) {
    let rec: Record_;
    try {
      rec = JSON.parse(await fs.readFile(path.join(dir, DRILL_RECORD), 'utf8')) as Record_;
    } catch {
      continue; // not a drill's (the plain sweep removes it), or unreadable
    }
    if (rec.drop && !(await dropScratchDatabases(home, rec, dir, baseEnv, log))) {
      said.push(`could not drop the scratch databases ${rec.name}* of a killed drill of ${rec.service}; batt.log says why`);
      continue;
    }
    await fs.rm(dir, { recursive: true, force: true });
    const line = `removed ${dir}${rec.drop ? ` and the scratch databases ${rec.name}*` : ''}, left by a killed drill of ${rec.service}`;
    log.write('batt', line);
    said.push(line);
  }
  return said;
}
