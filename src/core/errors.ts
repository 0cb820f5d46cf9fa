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

/** What a file-system call was doing, in words ("cannot create /x"), by the syscall Node names. */
const DOING: Record<string, string> = {
  mkdir: 'create', mkdtemp: 'create', symlink: 'create', link: 'create', copyfile: 'copy',
  open: 'open', read: 'read', readdir: 'read', scandir: 'read', opendir: 'read', readlink: 'read', stat: 'read', lstat: 'read',
  write: 'write', fsync: 'write', rename: 'rename', unlink: 'remove', rmdir: 'remove', rm: 'remove',
  chmod: 'change', fchmod: 'change', chown: 'change', utime: 'change', access: 'access', realpath: 'resolve',
};
/** Why, in words, for the file-system errors a sysadmin meets (others keep Node's message). */
const WHY: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EEXIST: 'it already exists',
  EISDIR: 'it is a folder',
  ENOTEMPTY: 'the folder is not empty',
  ELOOP: 'too many levels of symbolic links',
  ENAMETOOLONG: 'the name is too long',
  EIO: 'input/output error (a failing disk?)',
  EBUSY: 'it is busy (a mount point?)',
  EXDEV: 'it is on another file system',
  EMFILE: 'too many open files',
  ENFILE: 'too many open files on the system',
};

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
    default: {
      // a file-system call (not a connection): "cannot create /proc/batt: no such file or
      // directory" rather than Node's "ENOENT: no such file or directory, mkdir '/proc/batt'"
      // the call's own path, when it has one: "cannot open" of the file that was opened, not of
      // the folder the caller was working on
      const doing = err.syscall ? DOING[err.syscall] : undefined;
      const why = WHY[err.code!];
      const target = err.path ?? where;
      if (!doing || !why || !target) return err;
      return new FailedError(`cannot ${doing} ${target}: ${why}`);
    }
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
