// Prometheus textfile metrics: METRICS_DIR/batt.prom for node_exporter's textfile collector,
// rendered from the state (state.ts) and the catalog after every run, purge and verify, and
// replaced atomically (temp file + rename, 0644) so the collector never reads half a file.
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Backup } from '../catalog/catalog.js';
import { scanRoot } from '../catalog/catalog.js';
import type { Home } from '../core/home.js';
import { writeFileAtomic } from '../core/fsutil.js';
import { isSuccess, readState, writeState, type BattState } from './state.js';

export const METRICS_FILE = 'batt.prom';

/** batt_backup_last_status: 0 ok, 1 warning, 2 failed (timeouts and interruptions too). */
export function statusValue(status: string): 0 | 1 | 2 {
  if (status === 'ok') return 0;
  if (status === 'warning') return 1;
  return 2;
}

/** What the catalog says per service: how many good backups, and when the newest one finished (ms). */
export function catalogCounts(backups: Backup[]): Map<string, { count: number; newestMs: number }> {
  const out = new Map<string, { count: number; newestMs: number }>();
  for (const b of backups) {
    const m = b.manifest;
    if (!isSuccess(m.status)) continue;
    const c = out.get(m.service) ?? { count: 0, newestMs: 0 };
    c.count++;
    c.newestMs = Math.max(c.newestMs, Date.parse(m.finishedAt) || 0);
    out.set(m.service, c);
  }
  return out;
}

const label = (v: string) => v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
const seconds = (iso: string | undefined) => (iso ? Math.floor(Date.parse(iso) / 1000) : undefined);

const HELP: [string, string][] = [
  ['batt_backup_last_success_timestamp_seconds', 'When the last good backup of the service finished (0: never).'],
  ['batt_backup_last_run_timestamp_seconds', 'When the last backup run of the service finished, good or not.'],
  ['batt_backup_last_status', 'Status of the last backup run: 0 ok, 1 warning, 2 failed.'],
  ['batt_backup_last_duration_seconds', 'How long the last backup run of the service took.'],
  ['batt_backup_last_bytes', 'Bytes the last backup run of the service wrote (0 when it failed).'],
  ['batt_backup_last_files', 'Files the last backup run of the service wrote (0 when it failed).'],
  ['batt_backups', 'Good backups of the service in the local catalog.'],
  ['batt_verify_last_success_timestamp_seconds', 'When batt verify last found every checked backup of the service sound.'],
  ['batt_copy_last_success_timestamp_seconds', 'When a copy of the service to the target last completed.'],
];

/** The text of batt.prom: every metric family with HELP and TYPE, then one line per service (and target). Pure. */
export function renderMetrics(state: BattState, counts: Map<string, { count: number; newestMs: number }>): string {
  const services = [...new Set([...Object.keys(state.services), ...counts.keys()])].sort();
  const lines = new Map<string, string[]>(HELP.map(([name]) => [name, []]));
  const put = (name: string, labels: Record<string, string>, value: number | undefined) => {
    if (value === undefined || !Number.isFinite(value)) return;
    const l = Object.entries(labels).map(([k, v]) => `${k}="${label(v)}"`).join(',');
    lines.get(name)!.push(`${name}{${l}} ${value}`);
  };
  for (const service of services) {
    const s = state.services[service] ?? {};
    const c = counts.get(service);
    const l = { service };
    // A success before the state existed (an upgrade, a lost state file) is in the catalog.
    const success = Math.max(seconds(s.lastSuccess?.at) ?? 0, Math.floor((c?.newestMs ?? 0) / 1000));
    put('batt_backup_last_success_timestamp_seconds', l, success);
    const run = s.lastRun;
    if (run) {
      put('batt_backup_last_run_timestamp_seconds', l, seconds(run.at));
      put('batt_backup_last_status', l, statusValue(run.status));
      put('batt_backup_last_duration_seconds', l, Math.round(run.durationMs) / 1000);
      put('batt_backup_last_bytes', l, run.bytes);
      put('batt_backup_last_files', l, run.files);
    }
    put('batt_backups', l, c?.count ?? 0);
    put('batt_verify_last_success_timestamp_seconds', l, seconds(s.lastVerified));
    for (const [target, at] of Object.entries(state.copies[service] ?? {}).sort()) {
      put('batt_copy_last_success_timestamp_seconds', { service, target }, seconds(at));
    }
  }
  const out: string[] = [];
  for (const [name, help] of HELP) {
    const ls = lines.get(name)!;
    if (!ls.length) continue;
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} gauge`, ...ls);
  }
  return out.join('\n') + (out.length ? '\n' : '');
}

/**
 * Writes METRICS_DIR/batt.prom from the state and the catalog under root. Throws when the folder
 * cannot be written; the caller reports it (metrics never change a command's exit code).
 */
export async function writeMetrics(dir: string, home: Home, root: string, state?: BattState): Promise<string> {
  const [st, scan] = await Promise.all([state ?? readState(home), scanRoot(root)]);
  const file = path.join(dir, METRICS_FILE);
  await fs.access(dir, fs.constants.W_OK);
  await writeFileAtomic(file, renderMetrics(st, catalogCounts(scan.backups)), 0o644);
  return file;
}

/**
 * After a run, verify or purge: the state updated by `update` (none: unchanged), then batt.prom
 * when METRICS_DIR is set. Trouble is reported (stderr) and never changes the exit code.
 */
export async function recordOutcome(p: {
  home: Home;
  root: string;
  metricsDir?: string;
  update?: (s: BattState) => BattState;
  report: (line: string) => void;
}): Promise<void> {
  let state = await readState(p.home);
  if (p.update) {
    state = p.update(state);
    await writeState(p.home, state).catch((err: NodeJS.ErrnoException) => p.report(`cannot record the run in ${p.home.log}: ${err.code ?? err.message}`));
  }
  if (!p.metricsDir) return;
  await writeMetrics(p.metricsDir, p.home, p.root, state).catch((err: NodeJS.ErrnoException) =>
    p.report(`cannot write metrics to ${path.join(p.metricsDir!, METRICS_FILE)}: ${err.code ?? err.message}`),
  );
}
