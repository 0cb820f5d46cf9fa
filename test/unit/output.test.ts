import { test } from 'node:test';
import assert from 'node:assert/strict';
import { plural } from '../../src/core/output.js';

test('plural: one thing, no s; zero or many, the plural (irregular when given)', () => {
  assert.equal(plural(1, 'backup'), '1 backup');
  assert.equal(plural(0, 'backup'), '0 backups');
  assert.equal(plural(2, 'conf file'), '2 conf files');
  assert.equal(plural(1, 'copy', 'copies'), '1 copy');
  assert.equal(plural(3, 'copy', 'copies'), '3 copies');
});
