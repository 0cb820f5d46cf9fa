// How a Node system error reaches the sysadmin: the message and the exit code (docs/commands.md: Exit codes).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeError, exitCodeFor, fromSystemError } from '../../src/core/errors.js';

function sysError(code: string, p: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code}: something, mkdir '${p}'`), { code, path: p, syscall: 'mkdir' });
}

test('a read-only file system is named as such (a disk remounted read-only after errors), not as a permission problem', () => {
  const err = sysError('EROFS', '/mnt/backup/2026');
  assert.equal(exitCodeFor(err), 4);
  const msg = describeError(err);
  assert.match(msg, /^cannot write \/mnt\/backup\/2026: read-only file system/);
  assert.doesNotMatch(msg, /permission denied|run as root/);
});

test('permission errors keep their message and exit 4', () => {
  for (const code of ['EACCES', 'EPERM']) {
    const err = sysError(code, '/opt/backup');
    assert.equal(exitCodeFor(err), 4);
    assert.match(describeError(err), /^cannot write \/opt\/backup: permission denied \(run as root/);
  }
});

test('other file-system errors say what could not be done, to which path, and why in words', () => {
  const err = sysError('ENOENT', '/proc/batt');
  assert.equal(describeError(err), 'cannot create /proc/batt: no such file or directory');
  assert.equal(exitCodeFor(err), 1);
  const rename = Object.assign(new Error("EXDEV: cross-device link not permitted, rename '/a' -> '/b'"), { code: 'EXDEV', path: '/a', syscall: 'rename' });
  assert.equal(describeError(rename), 'cannot rename /a: it is on another file system');
  // named after the file the call failed on, not the folder the caller was working on
  const open = Object.assign(new Error("EEXIST: file already exists, open '/d/.m.tmp'"), { code: 'EEXIST', path: '/d/.m.tmp', syscall: 'open' });
  assert.equal(describeError(fromSystemError(open, '/d')), 'cannot open /d/.m.tmp: it already exists');
  // the errors mapped before keep their message and code
  assert.equal(describeError(sysError('ENOSPC', '/x')), 'no space left on device while writing /x');
  assert.equal(exitCodeFor(sysError('ENOSPC', '/x')), 5);
  assert.equal(describeError(sysError('ENOTDIR', '/x')), 'cannot write /x: a part of that path is not a folder');
});

test('errors that are not about a file keep their own message', () => {
  const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED', syscall: 'connect', address: '127.0.0.1', port: 1 });
  assert.equal(describeError(refused), 'connect ECONNREFUSED 127.0.0.1:1');
  assert.equal(exitCodeFor(refused), 1);
  const spawn = Object.assign(new Error('spawn zstd ENOENT'), { code: 'ENOENT', syscall: 'spawn zstd', path: 'zstd' });
  assert.equal(describeError(spawn), 'spawn zstd ENOENT');
});
