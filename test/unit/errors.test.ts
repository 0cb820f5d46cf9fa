// How a Node system error reaches the sysadmin: the message and the exit code (README: Exit codes).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { describeError, exitCodeFor } from '../../src/errors.js';

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
