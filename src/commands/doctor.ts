// `batt doctor`: can the next run work? The tools each enabled service needs are on PATH, the
// conf files pass `batt config check`, each enabled script's check mode passes (BATT_CHECK=1), the
// destination root is writable and has free space, each off-site target answers, and the schedule
// batt installed can fire.
// One line per check, ok or FAIL; exit 1 on any failure.
import fs from 'node:fs/promises';
import { constants as fsc } from 'node:fs';
import path from 'node:path';
import { checkConfig } from '../config/configcheck.js';
import { loadGlobalSettings } from '../config/config.js';
import { checkServices } from '../run/check.js';
import { installedSchedules } from '../ops/scheduler.js';
import { EXIT, describeError } from '../core/errors.js';
import { resolveHome } from '../core/home.js';
import { createOutput, formatBytes, plural, table } from '../core/output.js';
import { TRAITS_HEAD, enabledServices, headerLinesPastHead, listServices, scriptHead, scriptName } from '../services/registry.js';
import { last, makeContext, type CommonArgs } from './context.js';
import { checkNamedFiles, gatherConf } from './config.js';

/** Tools of the built-in services; "a|b" means either will do; VAR=... names the script's override. */
export const SERVICE_TOOLS: Record<string, string[]> = {
  mysql: ['MYSQLDUMP=mariadb-dump|mysqldump', 'MYSQL=mariadb|mysql', 'ZSTD=zstd'],
  postgresql: ['PG_DUMP=pg_dump', 'PG_DUMPALL=pg_dumpall', 'ZSTD=zstd'],
  redis: ['REDIS_CLI=redis-cli', 'ZSTD=zstd'],
  file: ['TAR=tar', 'ZSTD=zstd'],
  sqlite: ['SQLITE3=sqlite3', 'ZSTD=zstd'],
  mongodb: ['MONGODUMP=mongodump'],
  couchdb: ['CURL=curl', 'JQ=jq', 'ZSTD=zstd'],
};

/** Debian packages that provide a tool, for the hint. */
const PACKAGES: Record<string, string> = {
  'mariadb-dump': 'mariadb-client',
  mariadb: 'mariadb-client',
  mysqldump: 'mariadb-client',
  pg_dump: 'postgresql-client',
  pg_dumpall: 'postgresql-client',
  'redis-cli': 'redis-tools',
  zstd: 'zstd',
  tar: 'tar',
  sqlite3: 'sqlite3',
  mongodump: 'mongodb-database-tools',
  curl: 'curl',
  jq: 'jq',
};

/** Tools a script declares in a header comment near its top (registry.ts scriptHead): `# batt-requires: tool1 tool2|alt`. */
export function declaredTools(script: string): string[] {
  const out: string[] = [];
  for (const line of scriptHead(Buffer.from(script)).split('\n')) {
    const m = /^#\s*batt-requires:\s*(.*)$/.exec(line.trim());
    if (m) out.push(...m[1]!.split(/\s+/).filter(Boolean));
  }
  return out;
}

/** The tools a service needs: its built-in list plus what its script declares. */
export function requiredTools(service: string, script: string): string[] {
  return [...new Set([...(SERVICE_TOOLS[service] ?? []), ...declaredTools(script)])];
}

export async function which(tool: string, envPath = process.env.PATH ?? ''): Promise<string | undefined> {
  const candidates = tool.includes('/') ? [tool] : envPath.split(':').filter(Boolean).map((d) => path.join(d, tool));
  for (const c of candidates) {
    try {
      const st = await fs.stat(c);
      if (!st.isFile()) continue;
      await fs.access(c, fsc.X_OK);
      return c;
    } catch {
      /* next */
    }
  }
  return undefined;
}

export interface DoctorCheck {
  check: string;
  ok: boolean;
  detail: string;
}

/** Below this much free space the destination check fails. */
const MIN_FREE = 1024 ** 3;

async function nearestExisting(dir: string): Promise<string> {
  let cur = path.resolve(dir);
  for (;;) {
    try {
      await fs.lstat(cur);
      return cur;
    } catch {
      const up = path.dirname(cur);
      if (up === cur) return cur;
      cur = up;
    }
  }
}

async function destinationChecks(root: string): Promise<DoctorCheck[]> {
  const at = await nearestExisting(root);
  const note = at === root ? '' : ` (${root} does not exist yet; batt creates it in ${at})`;
  const st = await fs.stat(at).catch(() => null);
  if (!st?.isDirectory()) return [{ check: 'destination', ok: false, detail: `${at} is not a folder, so ${root} cannot be created` }];
  const checks: DoctorCheck[] = [];
  const probe = path.join(at, `.batt-doctor-${process.pid}`);
  try {
    await fs.writeFile(probe, 'x', { flag: 'wx', mode: 0o600 });
    await fs.rm(probe, { force: true });
    checks.push({ check: 'destination', ok: true, detail: `${at} is writable${note}` });
  } catch (err) {
    checks.push({ check: 'destination', ok: false, detail: `${at} is not writable: ${(err as NodeJS.ErrnoException).code ?? describeError(err)}${note}` });
  }
  const fsst = await fs.statfs(at);
  const free = fsst.bavail * fsst.bsize;
  const total = fsst.blocks * fsst.bsize;
  checks.push({
    check: 'free space',
    ok: free >= MIN_FREE,
    detail: `${formatBytes(free)} free of ${formatBytes(total)} on the file system of ${at}${free >= MIN_FREE ? '' : ` (less than ${formatBytes(MIN_FREE)})`}`,
  });
  return checks;
}

/** Settles within ms or rejects; the caller closes what it opened either way. */
function deadline<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms / 1000}s`)), ms);
    timer.unref();
  });
  return Promise.race([p, t]).finally(() => clearTimeout(timer));
}

/** Each off-site target in conf/targets: its conf loads, and batt can list the copies on it. */
async function targetChecks(home: ReturnType<typeof resolveHome>): Promise<DoctorCheck[]> {
  const { listTargetNames, loadTarget } = await import('../targets/config.js');
  const out: DoctorCheck[] = [];
  for (const name of await listTargetNames(home)) {
    const check = `target ${name}`;
    let close: (() => Promise<void>) | undefined;
    try {
      const t = await loadTarget(home, name);
      if (t.kind === 'local' && t.conf.PATH) {
        const st = await fs.stat(t.conf.PATH).catch(() => null);
        if (!st?.isDirectory()) {
          out.push({ check, ok: false, detail: `local folder ${t.conf.PATH} does not exist (is it mounted?)` });
          continue;
        }
      }
      const { openCopyTarget } = await import('../targets/open.js');
      const { target } = await openCopyTarget(t);
      close = () => target.close();
      const copies = await deadline(target.probe(), 60_000, `${t.kind} target`);
      out.push({ check, ok: true, detail: `${t.kind} ${target.describe('')}: reachable, ${plural(copies, 'copy', 'copies')}` });
    } catch (err) {
      out.push({ check, ok: false, detail: describeError(err) });
    } finally {
      await close?.().catch(() => {});
    }
  }
  return out;
}

export async function doctorCommand(args: CommonArgs): Promise<number> {
  const out = createOutput({ json: !!last(args.json) });
  const home = resolveHome(last(args.home), process.env);
  const checks: DoctorCheck[] = [];

  // Conf first: a broken batt.conf also hides the destination.
  const { files } = await gatherConf(home);
  const services = (await listServices(home)).filter((s) => s.available).map((s) => s.name);
  const errors = checkConfig(files, services, await checkNamedFiles(files)).filter((f) => f.level === 'error');
  checks.push({
    check: 'conf',
    ok: errors.length === 0,
    detail: errors.length ? `${plural(errors.length, 'error')} in ${home.conf} (see batt config check)` : `${plural(files.length, 'conf file')} in ${home.conf} ${files.length === 1 ? 'passes' : 'pass'} batt config check`,
  });

  const enabled = await enabledServices(home);
  const settings = await loadGlobalSettings(home).catch(() => undefined); // its errors are the conf check's
  const verdicts = await checkServices(home, enabled.filter((s) => !s.problem).map((s) => s.name), {
    homeRoot: home.root,
    baseEnv: process.env,
    globalTimeout: settings?.timeoutSeconds,
  });
  if (enabled.length === 0) checks.push({ check: 'services', ok: false, detail: `no service is enabled in ${home.enabled} (batt enable SERVICE)` });
  for (const s of enabled) {
    if (s.problem) {
      checks.push({ check: `${s.name}`, ok: false, detail: s.problem });
      continue;
    }
    const scripts = await Promise.all(
      (['backup', 'restore'] as const).map(async (kind) => ({ kind, buf: await fs.readFile(path.join(home.available, scriptName(kind, s.name))).catch(() => Buffer.alloc(0)) })),
    );
    for (const { kind, buf } of scripts) {
      for (const l of headerLinesPastHead(buf)) {
        checks.push({ check: s.name, ok: false, detail: `${scriptName(kind, s.name)} line ${l.line}: "${l.text}" is past the first ${TRAITS_HEAD} bytes, where batt reads these lines, so it does nothing: move it to the top` });
      }
    }
    const tools = requiredTools(s.name, scripts[0]!.buf.toString('utf8'));
    if (tools.length === 0) checks.push({ check: s.name, ok: true, detail: 'script ok; it declares no tools (# batt-requires: ...)' });
    for (const spec of tools) {
      // "VAR=a|b": the script takes $VAR when set (a path or a name), else a or b from PATH.
      const eq = /^([A-Z][A-Z0-9_]*)=(.*)$/.exec(spec);
      const override = eq ? process.env[eq[1]!] : undefined;
      const t = override || (eq ? eq[2]! : spec);
      const alts = t.split('|');
      let found: string | undefined;
      for (const a of alts) if ((found = await which(a))) break;
      const pkg = override ? undefined : PACKAGES[alts[0]!];
      const label = override ? `${eq![1]}=${override}` : t;
      checks.push({
        check: `${s.name}`,
        ok: !!found,
        detail: found ? `${label}: ${found}` : `${label}: not found${override?.includes('/') ? '' : ' on PATH'}${pkg ? ` (apt-get install ${pkg})` : ''}`,
      });
    }
    // The script's own check mode (BATT_CHECK=1): its conf, options and connection, in its words.
    const v = verdicts.find((c) => c.service === s.name)!;
    if (!v.ok) checks.push({ check: s.name, ok: false, detail: v.problem ?? 'check mode failed' });
    else checks.push({ check: s.name, ok: true, detail: v.ran ? 'check mode: ok' : 'its script has no check mode (# batt: check), so its conf and connection are not checked' });
  }

  try {
    const ctx = await makeContext(args);
    checks.push(...(await destinationChecks(ctx.root)));
  } catch (err) {
    checks.push({ check: 'destination', ok: false, detail: describeError(err) });
  }
  checks.push(...(await targetChecks(home)));
  // A schedule batt installed that cannot fire (no cron daemon, no systemd): the backups silently
  // stop. BATT_SYSTEM_ROOT (tests only) points at another tree holding etc/, proc/ and run/.
  for (const s of await installedSchedules(process.env.BATT_SYSTEM_ROOT || '/')) {
    checks.push({ check: 'schedule', ok: !s.problem, detail: s.problem ? `${s.file}: ${s.problem}` : `${s.file}: ${s.kind === 'cron' ? 'a cron daemon' : 'systemd'} is running` });
  }

  const ok = checks.every((c) => c.ok);
  if (out.json) out.data({ ok, checks });
  else {
    // The whole report on stdout (one line per check); the verdict of a failure also on stderr.
    for (const l of table(checks.map((c) => [c.ok ? 'ok' : 'FAIL', c.check, c.detail]))) out.info(l);
    if (ok) out.info('doctor: every check passed');
    else out.error(`doctor: ${plural(checks.filter((c) => !c.ok).length, 'check')} failed`);
  }
  return ok ? EXIT.OK : EXIT.FAILED;
}
