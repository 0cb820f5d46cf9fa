// A plain folder (another disk, an NFS mount...): copy to a temp name, fsync, rename. Copies both
// ways are streamed (not copyFile, which cannot be stopped) so SIGINT/SIGTERM stop them mid-file;
// the temp file (or the partial download) is then removed (one left by a crash goes in a later
// upload's sweep, once a day old).
import { createReadStream, createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { mkdirPrivate } from '../core/fsutil.js';
import { REMOTE_INDEX } from './copy.js';
import { isTempName, tempName, type Backend, type Leftover, type PutFileOptions, type RemoteStat, type TreeEntry, type FolderEntry, walkTree } from './backend.js';

const CHUNK = 1024 * 1024;

export class LocalBackend implements Backend {
  readonly kind = 'local';
  constructor(readonly base: string) {}

  private abs(rel: string): string {
    const p = path.resolve(this.base, rel);
    if (p !== this.base && !p.startsWith(this.base + path.sep)) throw new Error(`path ${rel} leaves ${this.base}`);
    return p;
  }

  describe(rel: string): string {
    return this.abs(rel);
  }

  async putFile(local: string, rel: string, _size?: number, { signal, onBytes }: PutFileOptions = {}): Promise<void> {
    const dest = this.abs(rel);
    await mkdirPrivate(path.dirname(dest));
    const tmp = path.join(path.dirname(dest), tempName(path.basename(dest)));
    try {
      signal?.throwIfAborted();
      const source = createReadStream(local, { highWaterMark: CHUNK });
      let sent = 0;
      if (onBytes) source.on('data', (c) => onBytes((sent += c.length)));
      await pipeline(source, createWriteStream(tmp, { mode: 0o600, highWaterMark: CHUNK }), { signal });
      const fh = await fs.open(tmp, 'r');
      await fh.sync().finally(() => fh.close());
      signal?.throwIfAborted();
      await fs.rename(tmp, dest);
    } catch (err) {
      await fs.rm(tmp, { force: true });
      throw err;
    }
  }

  async claim(rel: string): Promise<boolean> {
    const dest = this.abs(rel);
    await mkdirPrivate(path.dirname(dest));
    try {
      await fs.mkdir(dest, { mode: 0o700 }); // fails when it exists: one upload gets it
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw err;
    }
  }

  async stat(rel: string): Promise<RemoteStat | undefined> {
    try {
      const st = await fs.stat(this.abs(rel));
      return st.isFile() ? { size: st.size } : undefined;
    } catch {
      return undefined;
    }
  }

  async getFile(rel: string, local: string, { signal }: { signal?: AbortSignal } = {}): Promise<void> {
    try {
      signal?.throwIfAborted();
      await pipeline(createReadStream(this.abs(rel), { highWaterMark: CHUNK }), createWriteStream(local, { mode: 0o600, highWaterMark: CHUNK }), { signal });
    } catch (err) {
      await fs.rm(local, { force: true });
      throw err;
    }
  }

  async readText(rel: string, signal?: AbortSignal): Promise<string | undefined> {
    signal?.throwIfAborted();
    try {
      return await fs.readFile(this.abs(rel), 'utf8');
    } catch {
      return undefined;
    }
  }

  async writeText(rel: string, text: string): Promise<void> {
    const dest = this.abs(rel);
    await mkdirPrivate(path.dirname(dest));
    const tmp = path.join(path.dirname(dest), tempName(path.basename(dest)));
    await fs.writeFile(tmp, text, { mode: 0o600 });
    await fs.rename(tmp, dest);
  }

  /** Every plain file under the base for which `want(name)` holds; links are neither followed nor listed. */
  private async walk(want: (name: string) => boolean, signal?: AbortSignal): Promise<string[]> {
    const out: string[] = [];
    const visit = async (rel: string, depth: number) => {
      signal?.throwIfAborted();
      let entries;
      try {
        entries = await fs.readdir(path.join(this.base, rel), { withFileTypes: true });
      } catch {
        return;
      }
      for (const e of entries) {
        const r = rel ? `${rel}/${e.name}` : e.name;
        if (e.isFile() && want(e.name)) out.push(r);
        else if (e.isDirectory() && depth < 12) await visit(r, depth + 1);
      }
    };
    await visit('', 0);
    return out.sort();
  }

  async findIndexes(signal?: AbortSignal): Promise<string[]> {
    return this.walk((name) => name === REMOTE_INDEX, signal);
  }

  async findLeftovers(signal?: AbortSignal): Promise<Leftover[]> {
    const out: Leftover[] = [];
    for (const rel of await this.walk(isTempName, signal)) {
      const st = await fs.lstat(this.abs(rel)).catch(() => undefined);
      if (st?.isFile()) out.push({ rel, mtimeMs: st.mtimeMs });
    }
    return out;
  }

  async removeLeftover(l: Leftover): Promise<void> {
    const p = this.abs(l.rel);
    if (!isTempName(path.basename(p)) || !(await fs.lstat(p)).isFile()) throw new Error(`${p}: not a temp file of batt`);
    await fs.unlink(p);
  }

  async listTree(signal?: AbortSignal): Promise<TreeEntry[]> {
    return walkTree(async (rel) => {
      let entries;
      try {
        entries = await fs.readdir(path.join(this.base, rel), { withFileTypes: true });
      } catch (err) {
        return rel || (err as NodeJS.ErrnoException).code !== 'ENOENT' ? undefined : [];
      }
      return entries.map((e): FolderEntry => {
        const type = e.isFile() ? 'file' : e.isDirectory() ? 'dir' : 'other';
        const abs = path.join(this.base, rel, e.name);
        return { name: e.name, type, time: type === 'other' ? undefined : () => fs.lstat(abs).then((st) => st.mtimeMs, () => null) };
      });
    }, signal);
  }

  async removeTree(rel: string): Promise<void> {
    await fs.rm(this.abs(rel), { recursive: true, force: true });
  }

  async close(): Promise<void> {}
}
