import { test } from 'node:test';
import assert from 'node:assert/strict';
import { patternRoot, renderPattern, serviceFolder, validatePattern } from '../../src/core/destination.js';
import { UsageError } from '../../src/core/errors.js';

const when = new Date(2026, 1, 3, 4, 5, 6); // local time: 2026-02-03 04:05:06

test('renderPattern fills strftime conversions', () => {
  const cases: [string, string][] = [
    ['/opt/backup/%Y/%m/%d', '/opt/backup/2026/02/03'],
    ['/srv/b/%Y-%m-%d_%H%M%S', '/srv/b/2026-02-03_040506'],
    ['/srv/b/%F', '/srv/b/2026-02-03'],
    ['/srv/b/fixed/', '/srv/b/fixed'],
    ['/srv//b/%Y', '/srv/b/2026'],
    ['/srv/b/%%Y', '/srv/b/%Y'],
  ];
  for (const [pattern, want] of cases) assert.equal(renderPattern(pattern, when), want, pattern);
});

test('patternRoot is the fixed prefix before the first conversion', () => {
  const cases: [string, string][] = [
    ['/opt/backup/%Y/%m/%d', '/opt/backup'],
    ['/opt/backup/host-%Y/x', '/opt/backup'],
    ['/a/b/c', '/a/b/c'],
    ['/data/%F', '/data'],
  ];
  for (const [pattern, want] of cases) assert.equal(patternRoot(pattern), want, pattern);
});

test('validatePattern refuses unsafe or meaningless patterns', () => {
  const bad = ['', 'relative/%Y', '/%Y/%m', '/opt/../etc/%Y', '/opt/./%Y', '/opt/%Q', '/opt/%', '/opt/%D', '/opt/%c', '/opt/\0/%Y'];
  for (const p of bad) assert.throws(() => validatePattern(p), UsageError, JSON.stringify(p));
});

test('serviceFolder appends the service, and .N for a second backup in the same folder', () => {
  assert.equal(serviceFolder('/b/2026', 'mysql'), '/b/2026/mysql');
  assert.equal(serviceFolder('/b/2026', 'mysql', 2), '/b/2026/mysql.2');
});
