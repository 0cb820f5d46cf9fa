// The debug log: <home>/log/batt.log, with each script's output, rotated by size.
// Lines are appended synchronously so a crash loses nothing already said.
import fs from 'node:fs';
import path from 'node:path';

const MAX_BYTES = 10 * 1024 * 1024;
const KEEP = 5;

export interface Logger {
  file: string | undefined;
  write(scope: string, line: string): void;
}

function rotate(file: string): void {
  try {
    if (fs.statSync(file).size < MAX_BYTES) return;
  } catch {
    return;
  }
  for (let i = KEEP - 1; i >= 1; i--) {
    try {
      fs.renameSync(`${file}.${i}`, `${file}.${i + 1}`);
    } catch {
      /* missing generation */
    }
  }
  fs.renameSync(file, `${file}.1`);
}

/** A logger writing to dir/batt.log; when the folder cannot be written it logs nowhere. */
export function openLog(dir: string): Logger {
  const file = path.join(dir, 'batt.log');
  let fd: number | undefined;
  try {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    rotate(file);
    fd = fs.openSync(file, 'a', 0o600);
  } catch {
    return { file: undefined, write: () => {} };
  }
  return {
    file,
    write(scope, line) {
      try {
        fs.writeSync(fd!, `${new Date().toISOString()} [${process.pid}] ${scope}: ${line}\n`);
      } catch {
        /* a full disk must not turn into a crash of the logger */
      }
    },
  };
}
