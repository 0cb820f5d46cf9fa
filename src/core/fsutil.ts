// Durable file operations: write to a temporary name, fsync, rename, fsync the folder.
import fs from 'node:fs/promises';
import path from 'node:path';

export async function fsyncPath(p: string): Promise<void> {
  const fh = await fs.open(p, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Writes a file atomically: readers see the old content or the whole new content; `mode` whatever the umask. */
export async function writeFileAtomic(file: string, data: string, mode = 0o600): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  const fh = await fs.open(tmp, 'wx', mode);
  try {
    if (mode & ~0o600) await fh.chmod(mode); // open() applied the umask: a 0644 file stays 0644
    await fh.writeFile(data);
    await fh.sync();
  } catch (err) {
    await fh.close();
    await fs.rm(tmp, { force: true });
    throw err;
  }
  await fh.close();
  await fs.rename(tmp, file);
  await fsyncPath(path.dirname(file));
}

/** mkdir -p where every folder batt creates is 0700 (umask notwithstanding). */
export async function mkdirPrivate(dir: string): Promise<void> {
  const missing: string[] = [];
  let cur = path.resolve(dir);
  for (;;) {
    try {
      const st = await fs.stat(cur);
      if (!st.isDirectory()) {
        throw Object.assign(new Error(`ENOTDIR: ${cur} is not a folder`), { code: 'ENOTDIR', path: cur });
      }
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      missing.unshift(cur);
      const up = path.dirname(cur);
      if (up === cur) break;
      cur = up;
    }
  }
  for (const d of missing) {
    try {
      await fs.mkdir(d, { mode: 0o700 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    await fs.chmod(d, 0o700);
  }
}

export async function exists(p: string): Promise<boolean> {
  try {
    await fs.lstat(p);
    return true;
  } catch {
    return false;
  }
}
