// SFTP over SSH (ssh2-sftp-client): key authentication only, and the server's host key must be in
// the configured known_hosts file (strict checking, no trust on first use). Uploads go to a
// temporary name, are checked for size, then renamed over the final name. SIGINT/SIGTERM cut the
// connection mid-file: the temp file may stay behind (a later upload's sweep removes it once it is
// a day old), the final name never appears. They cut a download (restore/verify --from) the same way,
// and a connection still being opened (TCP, ssh handshake) or a listing, so a server that stopped
// answering is not waited out (TIMEOUT).
import fs from 'node:fs/promises';
import path from 'node:path';
import { knownHostsKeys } from '../config/conffiles.js';
import SftpClient from 'ssh2-sftp-client';
import { Session } from './session.js';
import { DownloadInterruptedError, TargetError, UploadInterruptedError } from './retry.js';
import { REMOTE_INDEX } from './copy.js';
import { isTempName, tempName, type Backend, type Leftover, type PutFileOptions, type RemoteStat, type TreeEntry, type FolderEntry, walkTree } from './backend.js';

export interface SftpOptions {
  host: string;
  port: number;
  user: string;
  keyFile: string;
  knownHosts: string;
  path: string;
  timeoutS: number;
}

export { knownHostsKeys };

export class SftpBackend implements Backend {
  readonly kind = 'sftp';
  private readonly session: Session<SftpClient>;
  constructor(readonly o: SftpOptions) {
    // end() says goodbye first (and waits for it); a cut destroys the socket at once
    this.session = new Session<SftpClient>((signal) => this.connect(signal), (c) => c.end(), cutClient, this.describe(''));
  }

  private abs(rel: string): string {
    return path.posix.join(this.o.path, rel);
  }

  describe(rel: string): string {
    return `sftp://${this.o.user}@${this.o.host}:${this.o.port}${this.abs(rel)}`;
  }

  /** `signal`: the connection is no longer wanted (SIGINT/SIGTERM while connecting): cut its socket. */
  private async connect(signal: AbortSignal): Promise<SftpClient> {
    const [privateKey, known] = await Promise.all([fs.readFile(this.o.keyFile), fs.readFile(this.o.knownHosts, 'utf8')]);
    const trusted = knownHostsKeys(known, this.o.host, this.o.port);
    if (!trusted.length) throw new TargetError(`sftp: ${this.o.knownHosts} has no key for ${this.o.host}:${this.o.port}`);
    signal.throwIfAborted();
    // no global event callbacks: the library's defaults print "Global close listener: close event
    // raised" on stdout (and the like) when a connection is cut (a stop, a dropped link), which
    // would corrupt `--json` output; every failure already reaches batt through the operation's promise
    const c = new SftpClient('batt', {});
    let rejected = false;
    const cut = () => cutClient(c);
    signal.addEventListener('abort', cut, { once: true });
    try {
      await c.connect({
        host: this.o.host,
        port: this.o.port,
        username: this.o.user,
        privateKey,
        readyTimeout: this.o.timeoutS * 1000,
        hostVerifier: (key: Buffer) => {
          const ok = trusted.includes(key.toString('base64'));
          if (!ok) rejected = true;
          return ok;
        },
      } as SftpClient.ConnectOptions);
    } catch (err) {
      if (rejected) throw new TargetError(`sftp: the host key of ${this.o.host}:${this.o.port} is not in ${this.o.knownHosts}`);
      throw err;
    } finally {
      signal.removeEventListener('abort', cut);
    }
    return c;
  }

  /**
   * Runs op; a broken connection is dropped so the next try reconnects. `signal` (SIGINT/SIGTERM)
   * cuts the connection under it, or the one being opened, and fails it at once (fastPut, fastGet
   * and a listing cannot be cancelled otherwise).
   */
  private op<T>(fn: (c: SftpClient) => Promise<T>, signal?: AbortSignal): Promise<T> {
    return this.session.use(fn, (err) => err instanceof TargetError, signal);
  }

  async putFile(local: string, rel: string, size: number, { signal, onBytes }: PutFileOptions = {}): Promise<void> {
    const dest = this.abs(rel);
    const tmp = path.posix.join(path.posix.dirname(dest), tempName(path.posix.basename(dest)));
    // the signal cuts the connection under fastPut (op), which fails it at once; the next operation reconnects
    await this.op(async (c) => {
      try {
        if (signal?.aborted) throw new UploadInterruptedError(`${this.describe(rel)}: upload interrupted`);
        await c.mkdir(path.posix.dirname(dest), true);
        await c.fastPut(local, tmp, { mode: 0o600, ...(onBytes ? { step: (sent: number) => onBytes(sent) } : {}) } as never);
        const st = await c.stat(tmp);
        if (st.size !== size) throw new TargetError(`${this.describe(rel)}: ${st.size} bytes arrived, expected ${size}`);
        if (signal?.aborted) throw new UploadInterruptedError(`${this.describe(rel)}: upload interrupted`);
        await c.posixRename(tmp, dest);
      } catch (err) {
        if (!signal?.aborted) await c.delete(tmp, true).catch(() => {});
        throw err;
      }
    }, signal);
  }

  async claim(rel: string, signal?: AbortSignal): Promise<boolean> {
    const dest = this.abs(rel);
    return this.op(async (c) => {
      if (await c.exists(dest)) return false;
      await c.mkdir(path.posix.dirname(dest), true);
      try {
        await c.mkdir(dest, false); // SSH_FXP_MKDIR fails when it exists: one upload gets it
        return true;
      } catch (err) {
        if (await c.exists(dest)) return false;
        throw err;
      }
    }, signal);
  }

  async stat(rel: string, signal?: AbortSignal): Promise<RemoteStat | undefined> {
    return this.op(async (c) => {
      const t = await c.exists(this.abs(rel));
      if (t !== '-') return undefined;
      return { size: (await c.stat(this.abs(rel))).size };
    }, signal);
  }

  async getFile(rel: string, local: string, { signal }: { signal?: AbortSignal } = {}): Promise<void> {
    // fastGet cannot be cancelled either: the same cut (op)
    await this.op(async (c) => {
      if (signal?.aborted) throw new DownloadInterruptedError(`${this.describe(rel)}: download interrupted`);
      await c.fastGet(this.abs(rel), local);
      if (signal?.aborted) throw new DownloadInterruptedError(`${this.describe(rel)}: download interrupted`);
    }, signal);
  }

  async readText(rel: string, signal?: AbortSignal): Promise<string | undefined> {
    return this.op(async (c) => {
      if ((await c.exists(this.abs(rel))) !== '-') return undefined;
      return ((await c.get(this.abs(rel))) as Buffer).toString('utf8');
    }, signal);
  }

  async writeText(rel: string, text: string): Promise<void> {
    const dest = this.abs(rel);
    const tmp = path.posix.join(path.posix.dirname(dest), tempName(path.posix.basename(dest)));
    await this.op(async (c) => {
      await c.mkdir(path.posix.dirname(dest), true);
      await c.put(Buffer.from(text), tmp, { writeStreamOptions: { mode: 0o600 } });
      await c.posixRename(tmp, dest);
    });
  }

  /** Plain files under the base (type '-': links are neither followed nor listed) that `want`. */
  private async walk(c: SftpClient, want: (name: string) => boolean, signal?: AbortSignal): Promise<{ rel: string; mtimeMs: number }[]> {
    const out: { rel: string; mtimeMs: number }[] = [];
    if ((await c.exists(this.o.path)) !== 'd') return out;
    const visit = async (rel: string, depth: number) => {
      signal?.throwIfAborted();
      for (const e of await c.list(this.abs(rel))) {
        const r = rel ? `${rel}/${e.name}` : e.name;
        if (e.type === '-' && want(e.name)) out.push({ rel: r, mtimeMs: e.modifyTime });
        else if (e.type === 'd' && depth < 12 && e.name !== '.' && e.name !== '..') await visit(r, depth + 1);
      }
    };
    await visit('', 0);
    return out.sort((a, b) => a.rel.localeCompare(b.rel));
  }

  async findIndexes(signal?: AbortSignal): Promise<string[]> {
    return this.op(async (c) => (await this.walk(c, (name) => name === REMOTE_INDEX, signal)).map((f) => f.rel), signal);
  }

  async findLeftovers(signal?: AbortSignal): Promise<Leftover[]> {
    return this.op((c) => this.walk(c, isTempName, signal), signal);
  }

  async listTree(signal?: AbortSignal): Promise<TreeEntry[]> {
    return this.op(async (c) => {
      if ((await c.exists(this.o.path)) !== 'd') return [];
      return walkTree(async (rel) =>
        (await c.list(this.abs(rel)))
          .filter((e) => e.name !== '.' && e.name !== '..')
          .map((e): FolderEntry => {
            // type from the listing (lstat): a link is 'l', never followed
            const type = e.type === '-' ? 'file' : e.type === 'd' ? 'dir' : 'other';
            return { name: e.name, type, mtimeMs: type === 'other' ? undefined : e.modifyTime };
          }),
      signal);
    }, signal);
  }

  async removeLeftover(l: Leftover): Promise<void> {
    const p = this.abs(l.rel);
    if (!isTempName(path.posix.basename(p))) throw new TargetError(`${p}: not a temp file of batt`);
    await this.op(async (c) => {
      // exists() is lstat-based: '-' is a plain file, a link is 'l'
      if ((await c.exists(p)) === '-') await c.delete(p);
    });
  }

  async removeTree(rel: string): Promise<void> {
    await this.op(async (c) => {
      const t = await c.exists(this.abs(rel));
      if (t === 'd') await c.rmdir(this.abs(rel), true);
      else if (t) await c.delete(this.abs(rel));
    });
  }

  async close(): Promise<void> {
    await this.session.close();
  }
}

/** Cuts c the hard way (a graceful end would first send what is buffered): what runs on it fails at once. */
function cutClient(c: SftpClient): void {
  (c as unknown as { client: { destroy(): void } }).client.destroy();
}
