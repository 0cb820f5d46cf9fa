// FTP and FTPS (basic-ftp). Upload to a temporary name, compare SIZE, then RNFR/RNTO.
// Plain FTP sends the password in clear: use SECURE=yes (explicit TLS) outside a trusted network.
// SIGINT/SIGTERM close the client mid-file: the temp file may stay behind (a later upload's sweep
// removes it once it is a day old), the final name never appears. A download is cut the same way,
// and so are a connection still being opened (TCP, greeting, TLS, login) and a listing, so a server
// that stopped answering is not waited out (TIMEOUT).
import fs from 'node:fs/promises';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { Client, FileType, type FileInfo } from 'basic-ftp';
import { Session } from './session.js';
import { DownloadInterruptedError, TargetError, UploadInterruptedError } from './retry.js';
import { REMOTE_INDEX } from './copy.js';
import { isTempName, tempName, type Backend, type Leftover, type PutFileOptions, type RemoteStat, type TreeEntry, type FolderEntry, walkTree } from './backend.js';

export interface FtpOptions {
  host: string;
  port: number;
  user: string;
  password: string;
  secure: boolean | 'implicit';
  caFile?: string;
  path: string;
  timeoutS: number;
}

export class FtpBackend implements Backend {
  readonly kind = 'ftp';
  // closing the client destroys its sockets: it is both the end and the cut
  private readonly session: Session<Client>;
  constructor(readonly o: FtpOptions) {
    this.session = new Session<Client>((signal) => this.connect(signal), (c) => c.close(), (c) => c.close(), this.describe(''));
  }

  private abs(rel: string): string {
    return path.posix.join(this.o.path, rel);
  }

  describe(rel: string): string {
    return `ftp://${this.o.user}@${this.o.host}:${this.o.port}${this.abs(rel)}`;
  }

  /** `signal`: the connection is no longer wanted (SIGINT/SIGTERM while connecting): close its sockets. */
  private async connect(signal: AbortSignal): Promise<Client> {
    const ca = this.o.caFile ? await fs.readFile(this.o.caFile) : undefined;
    signal.throwIfAborted();
    const c = new Client(this.o.timeoutS * 1000);
    const cut = () => c.close();
    signal.addEventListener('abort', cut, { once: true });
    try {
      await c.access({
        host: this.o.host,
        port: this.o.port,
        user: this.o.user,
        password: this.o.password,
        secure: this.o.secure,
        secureOptions: ca ? { ca } : undefined,
      });
    } finally {
      signal.removeEventListener('abort', cut);
    }
    return c;
  }

  /** `signal` (SIGINT/SIGTERM) closes the client under fn, or the one connecting, and fails it at once. */
  private op<T>(fn: (c: Client) => Promise<T>, signal?: AbortSignal): Promise<T> {
    return this.session.use(fn, (err) => err instanceof TargetError || isNotFound(err), signal);
  }

  private async mkdirs(c: Client, dir: string): Promise<void> {
    await c.ensureDir(dir); // changes the working folder; every other call uses absolute paths
    await c.cd('/');
  }

  async putFile(local: string, rel: string, size: number, { signal, onBytes }: PutFileOptions = {}): Promise<void> {
    const dest = this.abs(rel);
    const tmp = path.posix.join(path.posix.dirname(dest), tempName(path.posix.basename(dest), true));
    // the signal closes the client (op), which destroys its sockets and fails the transfer at once
    await this.op(async (c) => {
      try {
        if (signal?.aborted) throw new UploadInterruptedError(`${this.describe(rel)}: upload interrupted`);
        await this.mkdirs(c, path.posix.dirname(dest));
        if (onBytes) c.trackProgress((info) => onBytes(info.bytes));
        await c.uploadFrom(local, tmp).finally(() => onBytes && c.trackProgress());
        const got = await c.size(tmp);
        if (got !== size) throw new TargetError(`${this.describe(rel)}: ${got} bytes arrived, expected ${size}`);
        if (signal?.aborted) throw new UploadInterruptedError(`${this.describe(rel)}: upload interrupted`);
        await c.remove(dest, true);
        await c.rename(tmp, dest);
      } catch (err) {
        if (!signal?.aborted) await c.remove(tmp, true).catch(() => {});
        throw err;
      }
    }, signal);
  }

  async claim(rel: string, signal?: AbortSignal): Promise<boolean> {
    const dest = this.abs(rel);
    const parent = path.posix.dirname(dest);
    const there = async (c: Client) => (await c.list(parent)).some((e) => e.name === path.posix.basename(dest));
    return this.op(async (c) => {
      await this.mkdirs(c, parent);
      if (await there(c)) return false;
      try {
        await c.send(`MKD ${dest}`); // fails when it exists: one upload gets it
        return true;
      } catch (err) {
        if (await there(c)) return false;
        throw err;
      }
    }, signal);
  }

  async stat(rel: string, signal?: AbortSignal): Promise<RemoteStat | undefined> {
    try {
      return await this.op(async (c) => ({ size: await c.size(this.abs(rel)) }), signal);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async getFile(rel: string, local: string, { signal }: { signal?: AbortSignal } = {}): Promise<void> {
    // closing the client (op) fails the transfer at once
    await this.op(async (c) => {
      if (signal?.aborted) throw new DownloadInterruptedError(`${this.describe(rel)}: download interrupted`);
      await c.downloadTo(local, this.abs(rel));
      if (signal?.aborted) throw new DownloadInterruptedError(`${this.describe(rel)}: download interrupted`);
    }, signal);
  }

  async readText(rel: string, signal?: AbortSignal): Promise<string | undefined> {
    const chunks: Buffer[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _e, cb) {
        chunks.push(chunk);
        cb();
      },
    });
    try {
      await this.op((c) => c.downloadTo(sink, this.abs(rel)), signal);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
    return Buffer.concat(chunks).toString('utf8');
  }

  async writeText(rel: string, text: string): Promise<void> {
    const dest = this.abs(rel);
    const tmp = path.posix.join(path.posix.dirname(dest), tempName(path.posix.basename(dest), true));
    await this.op(async (c) => {
      await this.mkdirs(c, path.posix.dirname(dest));
      await c.uploadFrom(Readable.from([Buffer.from(text)]), tmp);
      await c.remove(dest, true);
      await c.rename(tmp, dest);
    });
  }

  /** Plain files under the base (links are neither followed nor listed) that `want`, with what LIST said of each. */
  private async walk(c: Client, want: (name: string) => boolean, signal?: AbortSignal): Promise<{ rel: string; info: FileInfo }[]> {
    const out: { rel: string; info: FileInfo }[] = [];
    const visit = async (rel: string, depth: number) => {
      signal?.throwIfAborted();
      let list;
      try {
        list = await c.list(this.abs(rel));
      } catch (err) {
        if (isNotFound(err)) return;
        throw err;
      }
      for (const e of list) {
        const r = rel ? `${rel}/${e.name}` : e.name;
        if (e.type === FileType.File && want(e.name)) out.push({ rel: r, info: e });
        else if (e.type === FileType.Directory && depth < 12 && e.name !== '.' && e.name !== '..') await visit(r, depth + 1);
      }
    };
    await visit('', 0);
    return out.sort((a, b) => a.rel.localeCompare(b.rel));
  }

  async findIndexes(signal?: AbortSignal): Promise<string[]> {
    return this.op(async (c) => (await this.walk(c, (name) => name === REMOTE_INDEX, signal)).map((f) => f.rel), signal);
  }

  async findLeftovers(signal?: AbortSignal): Promise<Leftover[]> {
    return this.op(async (c) => {
      const out: Leftover[] = [];
      for (const { rel, info } of await this.walk(c, isTempName, signal)) {
        // MLSD gives the time; a LIST line's date is too coarse, so ask MDTM (UTC). No time, no removal.
        const mtime = info.modifiedAt ?? (await c.lastMod(this.abs(rel)).catch(() => undefined));
        out.push({ rel, mtimeMs: mtime ? mtime.getTime() : NaN });
      }
      return out;
    }, signal);
  }

  async listTree(signal?: AbortSignal): Promise<TreeEntry[]> {
    return this.op(
      (c) =>
        walkTree(async (rel) => {
          let list;
          try {
            list = (await c.list(this.abs(rel))).filter((e) => e.name !== '.' && e.name !== '..');
          } catch (err) {
            if (!isNotFound(err)) throw err;
            return rel ? undefined : [];
          }
          return list.map((e): FolderEntry => {
            const type = e.type === FileType.File ? 'file' : e.type === FileType.Directory ? 'dir' : 'other';
            if (type === 'other') return { name: e.name, type };
            // MLSD gives times; else MDTM (files only, UTC); a LIST line's date is too coarse. No time: kept.
            const abs = this.abs(rel ? `${rel}/${e.name}` : e.name);
            const lastMod = type === 'file' ? () => c.lastMod(abs).then((d) => d.getTime(), () => undefined) : undefined;
            return { name: e.name, type, mtimeMs: e.modifiedAt?.getTime(), time: lastMod };
          });
        }, signal),
      signal,
    );
  }

  async removeLeftover(l: Leftover): Promise<void> {
    const p = this.abs(l.rel);
    if (!isTempName(path.posix.basename(p))) throw new TargetError(`${p}: not a temp file of batt`);
    // DELE removes a file (or a link itself), never a folder nor what a link points to
    await this.op((c) => c.remove(p));
  }

  async removeTree(rel: string): Promise<void> {
    await this.op(async (c) => {
      try {
        await c.remove(this.abs(rel));
        return;
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
      try {
        await c.removeDir(this.abs(rel));
      } catch (err) {
        if (!isNotFound(err)) throw err;
      }
      await c.cd('/');
    });
  }

  async close(): Promise<void> {
    await this.session.close();
  }
}

/** FTP 550: no such file (or not a plain file). */
function isNotFound(err: unknown): boolean {
  return (err as { code?: number })?.code === 550;
}
