import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SYSTEM_PATH, withHome, withSystemPath } from '../../src/core/syspath.js';

test("withSystemPath: the standard folders PATH lacks are appended in Debian's order; what is there stays first and once", () => {
  const all = SYSTEM_PATH.join(':');
  const cases: [string | undefined, string][] = [
    [undefined, all],
    ['', all],
    ['/usr/bin:/bin', '/usr/bin:/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/sbin'],
    [all, all],
    ['/opt/x/bin:/usr/bin', '/opt/x/bin:/usr/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/sbin:/bin'],
    ['/usr/sbin/:/usr/bin', '/usr/sbin/:/usr/bin:/usr/local/sbin:/usr/local/bin:/sbin:/bin'], // a trailing slash is the same folder
    ['/usr/bin::/bin', '/usr/bin:/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/sbin'], // an empty entry (the current folder) is dropped
    ['/bin:/usr/bin:/bin', '/bin:/usr/bin:/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/sbin'], // the caller's repeats are theirs
  ];
  for (const [given, want] of cases) assert.equal(withSystemPath(given), want, String(given));
});

test('withHome: a HOME that is set stays; an unset or empty one becomes the account\'s home; no account, no HOME', () => {
  const cases: [string | undefined, () => string | undefined, string | undefined][] = [
    ['/home/me', () => '/root', '/home/me'],
    [undefined, () => '/root', '/root'],
    ['', () => '/root', '/root'],
    [undefined, () => '', undefined],
    [undefined, () => {
      throw new Error('ENOENT: no such user');
    }, undefined],
  ];
  for (const [given, account, want] of cases) assert.equal(withHome(given, account), want, String(given));
});
