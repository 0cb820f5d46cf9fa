// The debug log: <home>/log/batt.log, with each script's output, rotated by size: when it is
// opened and while it is written, so that one run (a script printing hundreds of MB) cannot grow
// it past MAX_BYTES either. Lines are appended synchronously so a crash loses nothing already said.
import fs from 'node:fs';
import path from 'node:path';

const MAX_BYTES = 10 * 1024 * 1024;
const KEEP = 5;
/** Bytes this process writes between two looks at the file's real size (fstat). */
const RESYNC_BYTES = 64 * 1024;

export interface Logger {
  file: string | undefined;
  write(scope: string, line: string): void;
}

/** Rotates when `room` more bytes would take the file past MAX_BYTES; true when it did. */
function rotate(file: string, room = 0): boolean {
  try {
    const size = fs.statSync(file).size;
    if (size === 0 || size + room <= MAX_BYTES) return false;
  } catch {
    return false;
  }
  for (let i = KEEP - 1; i >= 1; i--) {
    try {
      fs.renameSync(`${file}.${i}`, `${file}.${i + 1}`);
    } catch {
      /* missing generation */
    }
  }
  fs.renameSync(file, `${file}.1`);
  return true;
}

/** A logger writing to dir/batt.log; when the folder cannot be written it logs nowhere. */
export function openLog(dir: string): Logger {
  const file = path.join(dir, 'batt.log');
  let fd: number;
  /** The file's size as last seen plus what this process wrote since; `unseen`: that part. */
  let size: number;
  let unseen = 0;
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    rotate(file);
    fd = fs.openSync(file, 'a', 0o600);
    size = fs.fstatSync(fd).size;
  } catch {
    return { file: undefined, write: () => {} };
  }
  return {
    file,
    write(scope, line) {
      const text = `${new Date().toISOString()} [${process.pid}] ${scope}: ${line}\n`;
      const bytes = Buffer.byteLength(text);
      try {
        // The file's real size is looked at every RESYNC_BYTES (an fstat a line would double the
        // cost of a chatty script's logging) and before a rotation: another batt may write the
        // same log (a run on a nested root), or have rotated it (this descriptor then writes into
        // .1: follow the name). Alone, the bound is exact; beside another writer a file may pass
        // it by what that writer wrote since this one looked, at most RESYNC_BYTES.
        if (size + bytes > MAX_BYTES || unseen >= RESYNC_BYTES) {
          size = fs.fstatSync(fd).size;
          unseen = 0;
          if (size + bytes > MAX_BYTES) {
            const named = fs.statSync(file, { throwIfNoEntry: false });
            if (named?.ino !== fs.fstatSync(fd).ino || rotate(file, bytes)) {
              fs.closeSync(fd);
              fd = fs.openSync(file, 'a', 0o600);
              size = fs.fstatSync(fd).size;
            }
          }
        }
        fs.writeSync(fd, text);
        size += bytes;
        unseen += bytes;
      } catch {
        /* a full disk must not turn into a crash of the logger */
      }
    },
  };
}
