// Every failure batt reports is one of these classes; main.ts maps them to exit codes
// in one place, so scripts calling batt can tell "bad input" from "backup failed" from "locked".

export const EXIT = {
  OK: 0,
  FAILED: 1, // a backup, verify or restore did not succeed
  USAGE: 2, // bad input: unknown service, invalid name or pattern, wrong option
  CONFIG: 3, // a conf file is wrong or unsafe
  PERMISSION: 4, // not allowed: unwritable home/destination, unsafe script, not root
  NO_SPACE: 5, // the destination filled up
  LOCKED: 11, // another batt run holds the lock
  INTERRUPTED: 130, // SIGINT/SIGTERM
} as const;

export class BattError extends Error {
  readonly exitCode: number = EXIT.FAILED;
  constructor(
    message: string,
    readonly hint?: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

export class FailedError extends BattError {}
export class UsageError extends BattError {
  override readonly exitCode = EXIT.USAGE;
}
export class ConfigError extends BattError {
  override readonly exitCode = EXIT.CONFIG;
}
export class PermissionError extends BattError {
  override readonly exitCode = EXIT.PERMISSION;
}
export class NoSpaceError extends BattError {
  override readonly exitCode = EXIT.NO_SPACE;
}
export class LockedError extends BattError {
  override readonly exitCode = EXIT.LOCKED;
}
export class InterruptedError extends BattError {
  override readonly exitCode = EXIT.INTERRUPTED;
}

interface ErrnoLike {
  code?: string;
  path?: string;
  syscall?: string;
  message: string;
}

function isErrno(err: unknown): err is ErrnoLike {
  return typeof err === 'object' && err !== null && typeof (err as ErrnoLike).code === 'string';
}

/** Turns a Node system error into the typed error a user should see. */
export function fromSystemError(err: unknown, what?: string): unknown {
  if (!isErrno(err) || err instanceof BattError) return err;
  const where = what ?? err.path ?? '';
  switch (err.code) {
    case 'EROFS':
      // not a matter of who runs batt: a disk the kernel remounted read-only after I/O errors, a
      // share mounted ro. "permission denied (run as root...)" would send root looking elsewhere.
      return new PermissionError(
        `cannot write ${where}: read-only file system`,
        'remount it read-write, or point --path / BATT_HOME at another file system',
      );
    case 'EACCES':
    case 'EPERM':
      return new PermissionError(
        `cannot write ${where}: permission denied`,
        'run as root, or point BATT_HOME / --path at a folder you own',
      );
    case 'ENOTDIR':
      return new PermissionError(
        `cannot write ${where}: ${err.path && err.path !== where ? err.path : 'a part of that path'} is not a folder`,
      );
    case 'ENOSPC':
    case 'EDQUOT':
      return new NoSpaceError(`no space left on device while writing ${where}`);
    default:
      return err;
  }
}

export function exitCodeFor(err: unknown): number {
  const mapped = fromSystemError(err);
  if (mapped instanceof BattError) return mapped.exitCode;
  return EXIT.FAILED;
}

/** One line, for stderr. */
export function describeError(err: unknown): string {
  const mapped = fromSystemError(err);
  if (mapped instanceof BattError) {
    return mapped.hint ? `${mapped.message} (${mapped.hint})` : mapped.message;
  }
  if (mapped instanceof Error) return mapped.message.split('\n')[0] ?? String(mapped);
  return String(mapped);
}
