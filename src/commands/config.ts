// `batt config check`: validate batt.conf, every <service>.conf and targets/*.conf, and the files
// they name (as a run would when it opens them), then run each enabled script's check mode; print
// each finding as file:line: KEY what is wrong. Exit 3 on any error, 0 with warnings only.
import fs from 'node:fs/promises';
import path from 'node:path';
import { checkConfig, fileRefs, formatFinding, type ConfFile, type Finding } from '../config/configcheck.js';
import { EXIT, UsageError, fromSystemError } from '../core/errors.js';
import { resolveHome, type Home } from '../core/home.js';
import { createOutput, plural } from '../core/output.js';
import { SERVICE_NAME, enabledServices, listServices } from '../services/registry.js';
import { loadGlobalSettings, serviceConfPath } from '../config/config.js';
import { checkServices } from '../run/check.js';
import { last, type CommonArgs } from './context.js';

export interface ConfigArgs extends CommonArgs {
  action?: string;
}

async function readConf(file: string, kind: ConfFile['kind'], name: string): Promise<ConfFile | null> {
  try {
    const st = await fs.stat(file);
    if (!st.isFile()) return null;
    return { file, kind, name, text: await fs.readFile(file, 'utf8'), mode: st.mode };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw fromSystemError(err, file);
  }
}

async function confNames(dir: string): Promise<string[]> {
  try {
    return (await fs.readdir(dir)).filter((f) => f.endsWith('.conf')).sort();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw fromSystemError(err, dir);
  }
}

/** Every conf file under <home>/conf, with its kind. */
export async function gatherConf(home: Home): Promise<{ files: ConfFile[]; odd: string[] }> {
  const files: ConfFile[] = [];
  const odd: string[] = [];
  for (const f of await confNames(home.conf)) {
    const name = f.slice(0, -'.conf'.length);
    const file = path.join(home.conf, f);
    if (name !== 'batt' && !SERVICE_NAME.test(name)) {
      odd.push(file);
      continue;
    }
    const c = await readConf(file, name === 'batt' ? 'global' : 'service', name);
    if (c) files.push(c);
  }
  const targets = path.join(home.conf, 'targets');
  for (const f of await confNames(targets)) {
    const c = await readConf(path.join(targets, f), 'target', f.slice(0, -'.conf'.length));
    if (c) files.push(c);
  }
  return { files, odd };
}

/** What the run would refuse in the files the confs name (conffiles.ts); never their contents. */
export async function checkNamedFiles(files: ConfFile[]): Promise<Finding[]> {
  const out: Finding[] = [];
  for (const r of fileRefs(files)) {
    const p = await r.check(r.file);
    if (p) out.push({ level: 'error', file: r.conf, line: r.line, key: r.key, message: p.fix ? `${p.why}: ${p.fix}` : p.why });
  }
  return out;
}

export async function configCommand(args: ConfigArgs): Promise<number> {
  if ((args.action ?? 'check') !== 'check') throw new UsageError(`unknown config action "${args.action}"`, 'use batt config check');
  const out = createOutput({ json: !!last(args.json) });
  const home = resolveHome(last(args.home), process.env);
  const { files, odd } = await gatherConf(home);
  const services = (await listServices(home)).filter((s) => s.available).map((s) => s.name);
  const findings = checkConfig(files, services, await checkNamedFiles(files));
  // Each enabled service's check mode (BATT_CHECK=1) sees what the static rules cannot: a file
  // service with no path, a database that does not exist, a server that refuses the credentials.
  // Only when the confs themselves load: their errors are already above, once.
  if (!findings.some((f) => f.level === 'error')) {
    const enabled = (await enabledServices(home)).filter((s) => !s.problem).map((s) => s.name);
    const settings = await loadGlobalSettings(home);
    for (const v of await checkServices(home, enabled, { homeRoot: home.root, baseEnv: process.env, globalTimeout: settings.timeoutSeconds })) {
      if (v.ran && !v.ok) findings.push({ level: 'error', file: serviceConfPath(home, v.service), message: `${v.service} check mode: ${v.problem}` });
    }
  }
  for (const f of odd) findings.push({ level: 'warning', file: f, message: 'is not batt.conf and not named after a service; batt ignores it' });
  const errors = findings.filter((f) => f.level === 'error').length;
  const warnings = findings.length - errors;
  if (out.json) {
    out.data({ ok: errors === 0, files: files.map((f) => f.file), errors, warnings, findings });
  } else {
    for (const f of findings) (f.level === 'error' ? out.error : out.warn)(formatFinding(f).replace(/^(error|warning): /, ''));
    const summary = `${plural(files.length, 'conf file')} in ${home.conf}: ${plural(errors, 'error')}, ${plural(warnings, 'warning')}`;
    if (errors) out.error(summary);
    else out.info(files.length ? `ok: ${summary}` : `no conf files in ${home.conf}; every setting has its default`);
  }
  return errors ? EXIT.CONFIG : EXIT.OK;
}
