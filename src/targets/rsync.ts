// rsync to a local folder or over ssh (key auth, strict host key checking against a given
// known_hosts file). rsync writes into a temporary name and renames, so a broken transfer never
// leaves a file that looks complete; its own whole-file checksum checks what arrived. SIGINT/SIGTERM
// stop rsync mid-file (SIGTERM), upload or download, which removes its temp file; a listing or an
// index read (ssh still connecting included) is stopped the same way.
import fs from 'node:fs/promises';
import path from 'node:path';
import { runCommand } from '../run/runner.js';
import { makeScratch } from '../run/scratch.js';
import { TargetError, UploadInterruptedError } from './retry.js';
import { REMOTE_INDEX } from './copy.js';
import { type Backend, type PutFileOptions, type RemoteStat } from './backend.js';

export interface RsyncOptions {
  /** Remote folder, or a local one when host is empty. */
  path: string;
  host?: string;
  user?: string;
  port?: number;
  sshKey?: string;
  knownHosts?: string;
  timeoutS?: number;
}

const RSYNC = () => process.env.BATT_RSYNC || 'rsync';

/** Error codes of rsync worth a retry: socket/IO/timeouts/partial transfer by vanished peer. */
const TRANSIENT = new Set([10, 12, 23, 30, 35, 255]);

export class RsyncError extends TargetError {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

export class RsyncBackend implements Backend {
  readonly kind = 'rsync';
  constructor(readonly o: RsyncOptions) {
    for (const v of [o.sshKey, o.knownHosts]) {
      if (v && /\s/.test(v)) throw new TargetError(`rsync: ${v}: paths with spaces are not supported for keys`);
    }
  }

  private loc(rel: string): string {
    const p = path.posix.join(this.o.path, rel);
    if (!this.o.host) return p;
    return `${this.o.user ? `${this.o.user}@` : ''}${this.o.host}:${p}`;
  }

  describe(rel: string): string {
    return `rsync:${this.loc(rel)}`;
  }

  private async run(args: string[], what: string, signal?: AbortSignal): Promise<string> {
    const base = ['--timeout', String(this.o.timeoutS ?? 120)];
    if (this.o.host) {
      const ssh = ['ssh', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=yes', '-o', 'ConnectTimeout=30'];
      if (this.o.port) ssh.push('-p', String(this.o.port));
      if (this.o.sshKey) ssh.push('-i', this.o.sshKey, '-o', 'IdentitiesOnly=yes');
      if (this.o.knownHosts) ssh.push('-o', `UserKnownHostsFile=${this.o.knownHosts}`);
      base.push('-e', ssh.join(' '));
    }
    const r = await runCommand(RSYNC(), [...base, ...args], { signal });
    if (signal?.aborted) throw new UploadInterruptedError(`rsync ${what}: interrupted`);
    if (r.exitCode !== 0) {
      const msg = r.stderr.split('\n').find((l) => l.trim()) ?? `exit ${r.exitCode}`;
      const err = new RsyncError(`rsync ${what}: ${msg}`, TRANSIENT.has(r.exitCode ?? -1) ? 'ECONNRESET' : `RSYNC_${r.exitCode}`);
      throw err;
    }
    return r.stdout;
  }

  async putFile(local: string, rel: string, _size?: number, { signal }: PutFileOptions = {}): Promise<void> {
    await this.run(['--mkpath', '--times', '--chmod=D700,F600', '--', local, this.loc(rel)], `upload ${rel}`, signal);
  }

  /** rsync can only look: anything listed under `rel` (a file or a folder) means taken. */
  async claim(rel: string, signal?: AbortSignal): Promise<boolean> {
    try {
      return !(await this.run(['--list-only', '--', this.loc(rel)], `look at ${rel}`, signal)).trim();
    } catch (err) {
      if (err instanceof RsyncError && /No such file|change_dir|link_stat/.test(err.message)) return true;
      throw err;
    }
  }

  async stat(rel: string, signal?: AbortSignal): Promise<RemoteStat | undefined> {
    let out: string;
    try {
      out = await this.run(['--list-only', '--', this.loc(rel)], `stat ${rel}`, signal);
    } catch (err) {
      if (err instanceof RsyncError && err.code === 'ECONNRESET' && /No such file|change_dir|link_stat/.test(err.message)) return undefined;
      throw err;
    }
    const line = out.split('\n').find((l) => l.startsWith('-'));
    if (!line) return undefined;
    const size = Number(line.trim().split(/\s+/)[1]!.replace(/[,.]/g, ''));
    return { size };
  }

  async getFile(rel: string, local: string, { signal }: { signal?: AbortSignal } = {}): Promise<void> {
    await this.run(['--', this.loc(rel), local], `download ${rel}`, signal);
  }

  async readText(rel: string, signal?: AbortSignal): Promise<string | undefined> {
    if (!(await this.stat(rel, signal))) return undefined;
    const scratch = await makeScratch('rsync');
    const tmp = scratch.dir;
    try {
      await this.getFile(rel, path.join(tmp, 'f'), { signal });
      return await fs.readFile(path.join(tmp, 'f'), 'utf8');
    } finally {
      await scratch.remove();
    }
  }

  async writeText(rel: string, text: string): Promise<void> {
    const scratch = await makeScratch('rsync');
    const tmp = scratch.dir;
    try {
      await fs.writeFile(path.join(tmp, 'f'), text, { mode: 0o600 });
      await this.putFile(path.join(tmp, 'f'), rel);
    } finally {
      await scratch.remove();
    }
  }

  async findIndexes(signal?: AbortSignal): Promise<string[]> {
    let out: string;
    try {
      out = await this.run(
        ['--list-only', '--recursive', '--include=*/', `--include=${REMOTE_INDEX}`, '--exclude=*', '--', this.loc('') + '/'],
        'list',
        signal,
      );
    } catch (err) {
      if (err instanceof RsyncError && /No such file|change_dir/.test(err.message)) return [];
      throw err;
    }
    return out
      .split('\n')
      .filter((l) => l.startsWith('-'))
      .map((l) => l.trim().split(/\s+/).slice(4).join(' '))
      .filter((p) => path.posix.basename(p) === REMOTE_INDEX)
      .sort();
  }

  /** rsync has no rm: sync an empty folder over the parent, deleting just that one entry. */
  async removeTree(rel: string): Promise<void> {
    const parent = path.posix.dirname(rel);
    const name = path.posix.basename(rel);
    const scratch = await makeScratch('rsync');
    const empty = scratch.dir;
    try {
      await this.run(
        ['--recursive', '--delete', `--include=/${name}`, `--include=/${name}/***`, '--exclude=*', '--', empty + '/', this.loc(parent === '.' ? '' : parent) + '/'],
        `remove ${rel}`,
      );
    } catch (err) {
      if (err instanceof RsyncError && /No such file|change_dir/.test(err.message)) return;
      throw err;
    } finally {
      await scratch.remove();
    }
  }

  async close(): Promise<void> {}
}
