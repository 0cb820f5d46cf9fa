// End-to-end helpers: a temp home and destination, and the built batt run as a child process.
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const BATT = path.join(REPO, 'dist', 'batt.js');

export interface Sandbox {
  dir: string;
  home: string;
  /** the backup root; the default pattern is `${root}/%Y/%m/%d` */
  root: string;
  pattern: string;
  cleanup(): void;
}

/** A temp home with the repo's scripts-available (or none) and a temp backup root. */
export function sandbox(opts: { builtins?: boolean } = {}): Sandbox {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'batt-test-'));
  const home = path.join(dir, 'home');
  const root = path.join(dir, 'backup');
  fs.mkdirSync(path.join(home, 'scripts-available'), { recursive: true });
  fs.mkdirSync(path.join(home, 'scripts-enabled'), { recursive: true });
  fs.mkdirSync(path.join(home, 'conf'), { recursive: true, mode: 0o700 });
  if (opts.builtins) {
    for (const f of fs.readdirSync(path.join(REPO, 'scripts-available'))) {
      fs.copyFileSync(path.join(REPO, 'scripts-available', f), path.join(home, 'scripts-available', f));
      fs.chmodSync(path.join(home, 'scripts-available', f), 0o755);
    }
  }
  return {
    dir,
    home,
    root,
    pattern: `${root}/%Y/%m/%d`,
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}

/** Writes an executable script scripts-available/<kind>-<service>. */
export function writeScript(home: string, service: string, body: string, kind = 'backup', mode = 0o755): string {
  const file = path.join(home, 'scripts-available', `${kind}-${service}`);
  fs.writeFileSync(file, body.startsWith('#!') ? body : `#!/usr/bin/env bash\nset -euo pipefail\n${body}\n`);
  fs.chmodSync(file, mode);
  return file;
}

export interface BattResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface BattOptions {
  home?: string;
  env?: Record<string, string | undefined>;
  timeoutMs?: number;
  /** The folder batt runs in (default: the test's). */
  cwd?: string;
  /** Run batt in its own UTS namespace (`unshare --uts`, root only) with this system host name. */
  hostname?: string;
  /** Called with the child once spawned (to kill it, for example). */
  onSpawn?: (child: import('node:child_process').ChildProcess) => void;
}

export function batt(args: string[], opts: BattOptions = {}): Promise<BattResult> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...process.env, NO_COLOR: '1', ...opts.env })) {
    if (v !== undefined && !(k.startsWith('BATT_') && opts.env?.[k] === undefined && k !== 'BATT_HOME')) env[k] = v;
  }
  if (opts.home) env.BATT_HOME = opts.home;
  return new Promise((resolve, reject) => {
    const [cmd, argv] = opts.hostname
      ? ['unshare', ['--uts', '--', 'sh', '-c', 'hostname "$0" && exec "$@"', opts.hostname, process.execPath, BATT, ...args]]
      : [process.execPath, [BATT, ...args]];
    const child = spawn(cmd, argv, { env, cwd: opts.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 120_000);
    opts.onSpawn?.(child);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
  });
}

/** Makes `p` and everything below it readable (and folders enterable) by every user. */
function shareTree(p: string): void {
  const st = fs.statSync(p);
  fs.chmodSync(p, st.isDirectory() ? 0o755 : 0o644);
  if (st.isDirectory()) for (const e of fs.readdirSync(p)) shareTree(path.join(p, e));
}

/**
 * For a test that runs batt as another user (nobody, uid 65534): the checkout may sit in a folder
 * that user cannot enter (a clone in /root, in a 0700 `mktemp -d`), so the built bundle is copied
 * into `dir` (made 0755; it should be under os.tmpdir()) and shared. Returns the copy's batt.js,
 * or why that user still cannot run it (node itself out of reach, a private TMPDIR): the reason
 * to skip with (under BATT_REQUIRE_SERVERS=1 a failure instead). Run as root.
 */
export function battForOtherUser(dir: string, uid = 65534): { batt: string } | { skip: string } {
  const dist = path.join(dir, 'dist');
  fs.cpSync(path.dirname(BATT), dist, { recursive: true });
  fs.chmodSync(dir, 0o755);
  shareTree(dist);
  const copy = path.join(dist, 'batt.js');
  const probe = spawnSync(process.execPath, [copy, '--version'], { uid, gid: uid, encoding: 'utf8', env: { PATH: process.env.PATH } });
  if (probe.status === 0) return { batt: copy };
  const why = (probe.error?.message ?? probe.stderr.trim().split('\n')[0]) || `exit ${probe.status}`;
  const skip = `uid ${uid} cannot run ${process.execPath} ${copy} (${why}): a folder above it is private`;
  if (REQUIRE_SERVERS) throw new Error(`BATT_REQUIRE_SERVERS=1 but ${skip}`);
  return { skip };
}

/** Writes <home>/conf/targets/NAME.conf (0600, in a 0700 folder, as batt requires of a conf with keys). */
export function writeTargetConf(home: string, name: string, text: string): void {
  const f = path.join(home, 'conf', 'targets', `${name}.conf`);
  fs.mkdirSync(path.dirname(f), { recursive: true, mode: 0o700 });
  fs.writeFileSync(f, text, { mode: 0o600 });
}

/** A conf value in double quotes, as batt's conf reader takes it: \\, ", $ and ` escaped. */
export const confValue = (s: string) => `"${s.replace(/([\\"$`])/g, '\\$1')}"`;

/** Writes <home>/conf/SERVICE.conf (0600): one KEY="value" line each, quoted by confValue. */
export function writeServiceConf(home: string, service: string, lines: Record<string, string | number>): void {
  const body = Object.entries(lines).map(([k, v]) => `${k}=${confValue(String(v))}\n`).join('');
  fs.writeFileSync(path.join(home, 'conf', `${service}.conf`), body, { mode: 0o600 });
}

/** Every file below dir, relative, sorted. */
export function listFiles(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  const out: string[] = [];
  const visit = (rel: string) => {
    for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) visit(r);
      else out.push(r);
    }
  };
  visit('');
  return out.sort();
}

/** The system host name: the first folder of a sandbox's copies on a target (no HOST_NAME set). */
export const HOST = os.hostname();

/** Can this process give a child its own host name (`unshare --uts`: root, and namespaces allowed)? */
export function canSetHostname(): boolean {
  return spawnSync('unshare', ['--uts', '--', 'sh', '-c', 'hostname batt-probe && test "$(hostname)" = batt-probe']).status === 0;
}

/** True when the test must fail rather than skip for a missing server (set by .ci/run). */
export const REQUIRE_SERVERS = process.env.BATT_REQUIRE_SERVERS === '1';

/** The tools among `tools` that are not on PATH. */
export function missingTools(tools: string[]): string[] {
  return tools.filter((t) => spawnSync('sh', ['-c', 'command -v "$1"', 'sh', t], { stdio: 'ignore' }).status !== 0);
}

/**
 * The `skip` option of a test (or suite) that needs `tools` and any setup that runs them: the
 * reason when one is missing ("not installed: age, age-keygen"), else false. With
 * BATT_REQUIRE_SERVERS=1 (.ci/run) it is always false: the test runs and fails on the missing tool.
 */
export function skipWithout(tools: string[]): string | false {
  const missing = missingTools(tools);
  return missing.length && !REQUIRE_SERVERS ? `not installed: ${missing.join(', ')}` : false;
}

/**
 * Folders named prefix* that scripts made in their TMPDIR: batt gives each script a scratch
 * folder (tmp/batt-scratch-*) as TMPDIR, so look there as well as in tmp itself.
 */
export function tempDirs(tmp: string, prefix: string): string[] {
  const out: string[] = [];
  for (const name of fs.readdirSync(tmp)) {
    if (name.startsWith(prefix)) out.push(name);
    else if (name.startsWith('batt-scratch-')) {
      const inner = path.join(tmp, name);
      if (fs.statSync(inner).isDirectory()) {
        for (const n of fs.readdirSync(inner)) if (n.startsWith(prefix)) out.push(`${name}/${n}`);
      }
    }
  }
  return out;
}

/** Every file under the sandbox's backup root but the lock: what the runs left. */
export function backupsOf(sb: Sandbox): string[] {
  return listFiles(sb.root).filter((f) => !f.startsWith('.batt.lock'));
}

/** A file's text, or '' when it does not exist (yet). */
export function readText(file: string): string {
  return fs.existsSync(file) ? fs.readFileSync(file, 'utf8') : '';
}

/** A case of checkRefusals: extra arguments, extra conf keys, the one stderr line the script must say. */
export type Refusal = [args: string[], conf: Record<string, string | number>, said: RegExp];

/**
 * Each case from an empty backup root and log: `setConf(conf)`, then `runCase(args)` must exit 1
 * with exactly one line on the script's stderr (as batt.log shows it: "! " marks stderr) that
 * matches, with no client run (the `argvLog` that recording stand-ins append to stays empty) and
 * no backup kept.
 */
export async function checkRefusals(
  sb: Sandbox,
  cases: Refusal[],
  setConf: (conf: Record<string, string | number>) => void,
  runCase: (args: string[]) => Promise<BattResult>,
  argvLog: string,
): Promise<void> {
  const log = path.join(sb.home, 'log', 'batt.log');
  for (const [args, conf, want] of cases) {
    const what = `${args.join(' ')} ${JSON.stringify(conf)}`;
    fs.rmSync(sb.root, { recursive: true, force: true });
    fs.rmSync(log, { force: true });
    fs.writeFileSync(argvLog, '');
    setConf(conf);
    const r = await runCase(args);
    if (r.code !== 1) throw new Error(`${what}: exit ${r.code}: ${r.stdout}${r.stderr}`);
    const said = readText(log).split('\n').filter((l) => l.includes(': ! ')).map((l) => l.replace(/^.*?: ! /, ''));
    if (said.length !== 1 || !want.test(said[0]!)) throw new Error(`${what}: the script said ${JSON.stringify(said)}, not one line like ${want}`);
    if (readText(argvLog) !== '') throw new Error(`${what}: a client ran: ${readText(argvLog)}`);
    if (backupsOf(sb).length) throw new Error(`${what}: kept ${backupsOf(sb).join(', ')}`);
  }
}

/**
 * Rewrites a backup's manifest to match what its files now are (sizes, SHA-256): a backup whose
 * data was replaced after the seal that `batt verify` still passes, as a bad tool would leave.
 */
export function resealManifest(dir: string): void {
  const file = path.join(dir, 'batt-manifest.json');
  const m = JSON.parse(fs.readFileSync(file, 'utf8')) as { files: { path: string; size: number; sha256: string }[]; totalBytes: number };
  for (const f of m.files) {
    const data = fs.readFileSync(path.join(dir, f.path));
    f.size = data.length;
    f.sha256 = createHash('sha256').update(data).digest('hex');
  }
  m.totalBytes = m.files.reduce((n, f) => n + f.size, 0);
  fs.writeFileSync(file, JSON.stringify(m, null, 2) + '\n');
}
