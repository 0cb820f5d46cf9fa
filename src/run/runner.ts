// The one place that spawns processes. Scripts run in their own process group so a timeout or
// an interrupt stops the whole pipeline (bash, mysqldump, zstd...), not just the shell. Each
// script has a watchdog (see `watch`) that ends its group when batt dies without doing so.
import { spawn } from 'node:child_process';
import { readdir, readFile, readlink } from 'node:fs/promises';
import { execa } from 'execa';
import { statFields } from '../core/proc.js';

export interface ScriptRun {
  file: string;
  args: string[];
  env: Record<string, string>;
  cwd?: string;
  /** 0 = no timeout */
  timeoutMs: number;
  /** Grace between SIGTERM and SIGKILL. */
  killAfterMs?: number;
  signal?: AbortSignal;
  /** Each line the script prints, stdout and stderr interleaved. */
  onLine?: (line: string, stream: 'stdout' | 'stderr') => void;
  /** CPU and I/O priority of the script and everything it starts (NICE, IONICE_*). */
  priority?: Priority;
  /** Once started: its pid, which is also its process group's id. */
  onSpawn?: (pid: number) => void;
}

export interface Priority {
  /** nice(1) adjustment, -20..19 */
  nice?: number;
  /** ionice(1) class: 0 none, 1 realtime, 2 best-effort, 3 idle */
  ioniceClass?: number;
  /** ionice(1) level 0..7 (best-effort and realtime only) */
  ioniceLevel?: number;
}

/**
 * The command that runs `file` with a priority: nice(1) and ionice(1) set it, then exec the script
 * in the same process, so every child it starts inherits both. No priority, no wrapper.
 */
export function withPriority(file: string, args: string[], p: Priority = {}): { file: string; args: string[] } {
  const prefix: string[] = [];
  if (p.nice !== undefined) prefix.push('nice', '-n', String(p.nice));
  const cls = p.ioniceClass ?? (p.ioniceLevel !== undefined ? 2 : 0);
  if (cls > 0) {
    prefix.push('ionice', '-c', String(cls));
    // the idle class has no levels (ionice warns about one); best-effort's default level is 4
    if (cls !== 3 && p.ioniceLevel !== undefined) prefix.push('-n', String(p.ioniceLevel));
  }
  if (!prefix.length) return { file, args };
  return { file: prefix[0]!, args: [...prefix.slice(1), '--', file, ...args] };
}

export interface ScriptResult {
  exitCode: number | undefined;
  signal: string | undefined;
  timedOut: boolean;
  aborted: boolean;
  durationMs: number;
  /** The last lines of stderr (or stdout when stderr was silent), for the error message. */
  tail: string[];
  /** The last non-blank line the script wrote to stderr (a script that exits 0 gets a warning for it). */
  stderrLast?: string;
  spawnError?: string;
}

const TAIL = 20;
/** setTimeout fires at once (with a warning) for a delay above 2^31-1 ms (24.8 days): clamp. */
const MAX_TIMER_MS = 2 ** 31 - 1;

function killGroup(pid: number | undefined, sig: NodeJS.Signals): void {
  if (!pid) return;
  try {
    process.kill(-pid, sig);
  } catch {
    /* already gone */
  }
}

/**
 * A watchdog for the process group `pgid`: a `sh` in its own session that reads a pipe from batt.
 * When batt dies in any way (SIGKILL of batt or of its whole process group, an OOM kill, a crash)
 * the kernel closes batt's end, the read sees end-of-file and the watchdog kills the group, so no
 * dump outlives the batt that started it. When the script has ended, `done` tells it to leave
 * the group alone. Why not PR_SET_PDEATHSIG: it reaches only the direct child (the script's
 * shell), never the mysqldump or zstd below it, and node cannot set it anyway. Costs one `sh`
 * (builtins only: read, kill) per script, about a millisecond.
 */
function watch(pgid: number): { done(): void } {
  let wd: ReturnType<typeof spawn> | undefined;
  try {
    wd = spawn('/bin/sh', ['-c', 'read -r word; [ "$word" = done ] || kill -s KILL -- "-$1" 2>/dev/null', 'batt-watchdog', String(pgid)], {
      stdio: ['pipe', 'ignore', 'ignore'],
      detached: true, // its own session: a signal to batt's group or terminal does not reach it
      env: {},
    });
    wd.on('error', () => {}); // no /bin/sh: the next run's stopLeftoverScripts is the fallback
    wd.stdin?.on('error', () => {});
    wd.unref();
  } catch {
    wd = undefined;
  }
  return {
    done() {
      wd?.stdin?.end('done\n');
    },
  };
}

function lineSplitter(cb: (line: string) => void) {
  let rest = '';
  return {
    push(chunk: Buffer | string) {
      rest += chunk.toString();
      let i;
      while ((i = rest.indexOf('\n')) >= 0) {
        cb(rest.slice(0, i));
        rest = rest.slice(i + 1);
      }
      if (rest.length > 64 * 1024) {
        cb(rest);
        rest = '';
      }
    },
    end() {
      if (rest) cb(rest);
      rest = '';
    },
  };
}

export async function runScript(run: ScriptRun): Promise<ScriptResult> {
  const started = Date.now();
  const errTail: string[] = [];
  const outTail: string[] = [];
  const keep = (tail: string[], line: string) => {
    tail.push(line);
    if (tail.length > TAIL) tail.shift();
  };
  const cmd = withPriority(run.file, run.args, run.priority);
  const child = execa(cmd.file, cmd.args, {
    env: run.env,
    extendEnv: false,
    cwd: run.cwd,
    stdin: 'ignore',
    buffer: false,
    reject: false,
    detached: true,
    cleanup: false,
  });
  if (child.pid) run.onSpawn?.(child.pid);
  const out = lineSplitter((l) => {
    keep(outTail, l);
    run.onLine?.(l, 'stdout');
  });
  let stderrLast: string | undefined;
  const err = lineSplitter((l) => {
    keep(errTail, l);
    if (l.trim()) stderrLast = l;
    run.onLine?.(l, 'stderr');
  });
  const watchdog = child.pid ? watch(child.pid) : undefined;
  child.stdout?.on('data', (c: Buffer) => out.push(c));
  child.stderr?.on('data', (c: Buffer) => err.push(c));
  // execa resolves only when stdout/stderr close: a background child that inherited them would
  // keep batt waiting (for hours, until the timeout). End the group as soon as the script exits.
  child.once('exit', () => killGroup(child.pid, 'SIGKILL'));

  let timedOut = false;
  let aborted = false;
  let killTimer: NodeJS.Timeout | undefined;
  const stop = () => {
    killGroup(child.pid, 'SIGTERM');
    killTimer ??= setTimeout(() => killGroup(child.pid, 'SIGKILL'), run.killAfterMs ?? 10_000);
  };
  const timer =
    run.timeoutMs > 0
      ? setTimeout(() => {
          timedOut = true;
          stop();
        }, Math.min(run.timeoutMs, MAX_TIMER_MS))
      : undefined;
  const onAbort = () => {
    aborted = true;
    stop();
  };
  if (run.signal?.aborted) onAbort();
  run.signal?.addEventListener('abort', onAbort, { once: true });

  const result = await child;
  // The shell may be gone while a child it started still runs in the group: end them too.
  killGroup(child.pid, 'SIGKILL'); // nothing may write into staging after the script ended
  watchdog?.done();
  clearTimeout(timer);
  clearTimeout(killTimer);
  run.signal?.removeEventListener('abort', onAbort);
  out.end();
  err.end();
  let spawnError =
    result.failed && result.exitCode === undefined && !result.signal ? result.shortMessage : undefined;
  // Through nice/ionice, a script that cannot start is their complaint and exit 126/127.
  const wrapperSaid = errTail.at(-1);
  if (cmd.file !== run.file && (result.exitCode === 126 || result.exitCode === 127) && wrapperSaid && /^(nice|ionice): /.test(wrapperSaid)) {
    spawnError = wrapperSaid;
  }
  return {
    exitCode: result.exitCode,
    signal: result.signal,
    timedOut,
    aborted,
    durationMs: Date.now() - started,
    tail: errTail.length ? errTail : outTail,
    stderrLast,
    spawnError,
  };
}

/** The process group of pid (field 5 of /proc/<pid>/stat). */
function processGroup(pid: number | 'self'): number | undefined {
  const pgrp = Number(statFields(pid)?.[2]);
  return Number.isInteger(pgrp) && pgrp > 1 ? pgrp : undefined;
}

/**
 * Stops what a killed batt (SIGKILL, SIGHUP) left running: its scripts, which outlive it in their
 * own process groups. They run with their staging folder as cwd and BATT_DEST, so every process
 * with both is killed with its group. Returns the pids found.
 */
export async function stopLeftoverScripts(dir: string): Promise<number[]> {
  let names: string[];
  try {
    names = await readdir('/proc');
  } catch {
    return [];
  }
  const own = processGroup('self');
  const found: number[] = [];
  for (const name of names) {
    const pid = Number(name);
    if (!/^\d+$/.test(name) || pid === process.pid) continue;
    let cwd: string;
    try {
      cwd = await readlink(`/proc/${pid}/cwd`);
    } catch {
      continue; // gone, or a kernel thread
    }
    if (cwd !== dir && !cwd.startsWith(`${dir}/`)) continue;
    // Only batt's scripts: they carry BATT_DEST=<dir> (a shell someone opened there does not).
    const environ = await readFile(`/proc/${pid}/environ`, 'utf8').catch(() => '');
    if (!`\0${environ}`.includes(`\0BATT_DEST=${dir}\0`)) continue;
    found.push(pid);
    const pgrp = processGroup(pid);
    if (pgrp && pgrp !== own) killGroup(pgrp, 'SIGKILL');
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* already gone */
    }
  }
  return found;
}

export interface CommandResult {
  exitCode: number | undefined;
  stdout: string;
  stderr: string;
}

/**
 * A short command whose output batt reads (small output only); `signal` stops it with SIGTERM, or
 * `killSignal` for a tool that cleans up only on another one (restic: SIGINT), SIGKILL 5 s later.
 * An env value undefined removes that variable from what the command inherits.
 */
export async function runCommand(
  file: string,
  args: string[],
  opts: { env?: Record<string, string | undefined>; cwd?: string; input?: string; signal?: AbortSignal; killSignal?: NodeJS.Signals } = {},
): Promise<CommandResult> {
  const r = await execa(file, args, {
    env: opts.env,
    cwd: opts.cwd,
    input: opts.input,
    reject: false,
    stripFinalNewline: true,
    cancelSignal: opts.signal,
    killSignal: opts.killSignal ?? 'SIGTERM',
  });
  return { exitCode: r.exitCode, stdout: String(r.stdout ?? ''), stderr: String(r.stderr ?? '') };
}
