// `batt schedule install|show|remove`: a systemd timer + service where systemd is the init,
// an /etc/cron.d/batt entry otherwise. --root points at another tree (tests); systemctl only
// runs when the tree is / and systemd is running.
import fs from 'node:fs/promises';
import { realpathSync } from 'node:fs';
import path from 'node:path';
import { EXIT, FailedError, UsageError, fromSystemError } from '../core/errors.js';
import { exists, writeFileAtomic } from '../core/fsutil.js';
import { resolveHome } from '../core/home.js';
import { createOutput, type Output } from '../core/output.js';
import { runCommand } from '../run/runner.js';
import { MARKER, parseSchedule, quoteArg, readInstalled, renderCron, renderService, renderTimer } from '../ops/schedule.js';
import { schedulerProblem } from '../ops/scheduler.js';
import { last, type CommonArgs } from './context.js';

export interface ScheduleArgs extends CommonArgs {
  action?: string;
  at?: string | string[];
  systemd?: boolean;
  cron?: boolean;
  root?: string | string[];
  force?: boolean;
}

type Kind = 'systemd' | 'cron';

interface Layout {
  root: string;
  service: string;
  timer: string;
  cron: string;
  /** systemctl may run: the tree is / and systemd is the init */
  live: boolean;
  systemdInit: boolean;
}

async function layout(args: ScheduleArgs): Promise<Layout> {
  const given = last(args.root);
  // An empty --root (an unset shell variable) must not silently mean the real /.
  if (given !== undefined && String(given).trim() === '') throw new UsageError('--root needs a folder (it was empty)');
  const root = path.resolve(given ?? '/');
  const systemdInit = root === '/' && (await exists('/run/systemd/system'));
  const unitDir = path.join(root, 'etc/systemd/system');
  return {
    root,
    service: path.join(unitDir, 'batt.service'),
    timer: path.join(unitDir, 'batt.timer'),
    cron: path.join(root, 'etc/cron.d/batt'),
    live: systemdInit,
    systemdInit,
  };
}

async function readOrNull(file: string): Promise<string | null> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw fromSystemError(err, file);
  }
}

/** A file batt may replace or delete: missing, or written by batt (or --force). */
async function checkOurs(file: string, force: boolean): Promise<string | null> {
  const text = await readOrNull(file);
  if (text !== null && !text.startsWith(MARKER) && !force) {
    throw new UsageError(`${file} exists and was not written by batt; not touching it`, 'move it away, or use --force');
  }
  return text;
}

async function systemctl(out: Output, args: string[]): Promise<void> {
  const r = await runCommand('systemctl', args);
  if (r.exitCode !== 0) throw new FailedError(`systemctl ${args.join(' ')} failed: ${(r.stderr || r.stdout).split('\n')[0]}`);
  out.info(`ran systemctl ${args.join(' ')}`);
}

function battCommand(): string {
  const entry = process.argv[1] ? realpathSync(process.argv[1]) : 'batt';
  return `${quoteArg(process.execPath)} ${quoteArg(entry)}`;
}

async function write(file: string, text: string): Promise<boolean> {
  if ((await readOrNull(file)) === text) return false;
  try {
    await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o755 });
    await writeFileAtomic(file, text, 0o644);
    await fs.chmod(file, 0o644); // cron ignores files others can write; units must be readable
  } catch (err) {
    throw fromSystemError(err, file);
  }
  return true;
}

async function removeFile(file: string): Promise<boolean> {
  try {
    await fs.unlink(file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw fromSystemError(err, file);
  }
}

async function install(args: ScheduleArgs, l: Layout, out: Output): Promise<number> {
  const at = last(args.at);
  if (at === undefined || at === '') throw new UsageError('schedule install needs --at', 'e.g. --at "daily 02:30" or --at "30 2 * * *"');
  const s = parseSchedule(String(at));
  if (args.systemd && args.cron) throw new UsageError('--systemd and --cron exclude each other');
  const kind: Kind = args.systemd ? 'systemd' : args.cron ? 'cron' : l.systemdInit ? 'systemd' : 'cron';
  const force = !!args.force;
  const home = resolveHome(last(args.home), process.env).root;
  const target = { command: battCommand(), home };
  // Check every file first so that a refusal leaves nothing half-done.
  for (const f of [l.service, l.timer, l.cron]) await checkOurs(f, force);

  const changed: string[] = [];
  const removed: string[] = [];
  if (kind === 'systemd') {
    if (await write(l.service, renderService(target))) changed.push(l.service);
    if (await write(l.timer, renderTimer(s))) changed.push(l.timer);
    if (await removeFile(l.cron)) removed.push(l.cron); // never two schedulers running batt
  } else {
    if (await write(l.cron, renderCron(s, target))) changed.push(l.cron);
    if (l.live && (await exists(l.timer))) await systemctl(out, ['disable', '--now', 'batt.timer']).catch(() => {});
    for (const f of [l.timer, l.service]) if (await removeFile(f)) removed.push(f);
  }
  const when = kind === 'systemd' ? `OnCalendar=${s.onCalendar}` : `cron "${s.cron}"`;
  const steps: string[] = [];
  if (kind === 'systemd') {
    if (l.live) {
      await systemctl(out, ['daemon-reload']);
      await systemctl(out, ['enable', '--now', 'batt.timer']);
    } else if (l.root === '/') {
      steps.push('systemctl daemon-reload', 'systemctl enable --now batt.timer');
    }
  }
  if (out.json) {
    out.data({ installed: true, kind, at: s.at, onCalendar: s.onCalendar, cron: s.cron, changed, removed, todo: steps });
  } else {
    for (const f of removed) out.info(`removed ${f}`);
    out.info(changed.length ? `installed ${kind} schedule ${s.at} (${when}): ${changed.join(', ')}` : `schedule ${s.at} (${when}) is already installed`);
    if (steps.length) out.info(`now run: ${steps.join(' && ')}`);
  }
  // Written either way (config management expects the file), but a schedule that cannot fire is said.
  const cannot = await schedulerProblem(kind, l.root);
  if (cannot) out.warn(`the schedule is installed but cannot fire: ${cannot}`);
  return EXIT.OK;
}

async function show(l: Layout, out: Output): Promise<number> {
  const timer = await readOrNull(l.timer);
  const cron = await readOrNull(l.cron);
  const found = [
    ...(timer !== null ? [{ kind: 'systemd' as const, files: [l.timer, l.service], ...readInstalled('systemd', timer) }] : []),
    ...(cron !== null ? [{ kind: 'cron' as const, files: [l.cron], ...readInstalled('cron', cron) }] : []),
  ];
  if (out.json) {
    out.data({ installed: found.length > 0, schedules: found });
  } else if (!found.length) {
    out.info(`no batt schedule installed (looked at ${l.timer} and ${l.cron})`);
  } else {
    for (const f of found) {
      const when = f.kind === 'systemd' ? `OnCalendar=${f.onCalendar}` : `cron "${f.cron}"`;
      out.info(`${f.kind}: ${f.at ?? '?'} (${when}) in ${f.files.join(', ')}`);
    }
    if (found.length > 1) out.warn('both a systemd timer and a cron entry exist: batt runs twice; reinstall or remove one');
  }
  return EXIT.OK;
}

async function remove(args: ScheduleArgs, l: Layout, out: Output): Promise<number> {
  const force = !!args.force;
  for (const f of [l.service, l.timer, l.cron]) await checkOurs(f, force);
  if (l.live && (await exists(l.timer))) await systemctl(out, ['disable', '--now', 'batt.timer']);
  const removed: string[] = [];
  for (const f of [l.timer, l.service, l.cron]) if (await removeFile(f)) removed.push(f);
  if (l.live && removed.length) await systemctl(out, ['daemon-reload']);
  if (out.json) out.data({ removed });
  else out.info(removed.length ? `removed ${removed.join(', ')}` : 'no batt schedule was installed');
  return EXIT.OK;
}

export async function scheduleCommand(args: ScheduleArgs): Promise<number> {
  const out = createOutput({ json: !!last(args.json) });
  const l = await layout(args);
  switch (args.action ?? 'show') {
    case 'install':
      return install(args, l, out);
    case 'show':
      return show(l, out);
    case 'remove':
      return remove(args, l, out);
    default:
      throw new UsageError(`unknown schedule action "${args.action}"`, 'use install, show or remove');
  }
}
