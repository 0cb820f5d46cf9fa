// Pure parts of a target shared by several hosts (docs/targets.md "Hosts sharing a target"): where
// a host's copy goes, the next id when one is taken, which copies a host filter takes and which ids
// name a copy, which folders the sweep may judge, and the rule for HOST_NAME and --host.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import { baseCopyId, copyIdFor, firstFreeCopyId, namesCopy, nextCopyId, ofHost } from '../../src/targets/copy.js';
import { copyIdMatcher } from '../../src/targets/upload.js';
import { hostName } from '../../src/config/confkeys.js';
import { hostFolder, thisHost } from '../../src/config/config.js';
import { ConfigError } from '../../src/core/errors.js';

test('copyIdFor and nextCopyId: <host>/<backup id>, then ~2, ~3 ... (never .N, the next local run\'s id)', () => {
  assert.equal(copyIdFor('web1', '2026/12/06/file'), 'web1/2026/12/06/file');
  const cases: [string, string][] = [
    ['web1/2026/12/06/file', 'web1/2026/12/06/file~2'],
    ['web1/2026/12/06/file~2', 'web1/2026/12/06/file~3'],
    ['web1/2026/12/06/file.2', 'web1/2026/12/06/file.2~2'],
    ['web1/2026/12/06/file.3~19', 'web1/2026/12/06/file.3~20'],
    ['web1.example.net/2026/12/06/mysql', 'web1.example.net/2026/12/06/mysql~2'],
  ];
  for (const [id, next] of cases) {
    assert.equal(nextCopyId(id), next, id);
    assert.equal(baseCopyId(next), id.replace(/~\d+$/, ''), next);
  }
});

test('ofHost and namesCopy: one host\'s copies, or all; an id with or without the host folder', () => {
  const a = { id: 'web-a/2026/12/06/file', host: 'web-a' };
  const b = { id: 'web-b/2026/12/06/file', host: 'web-b' };
  const legacy = { id: '2026/12/01/file', host: 'web-a' }; // the layout before host folders
  assert.deepEqual([a, b, legacy].filter(ofHost({ host: 'web-a' })), [a, legacy]);
  assert.deepEqual([a, b, legacy].filter(ofHost({ all: true })), [a, b, legacy]);
  const cases: [typeof a, string, boolean][] = [
    [a, 'web-a/2026/12/06/file', true],
    [a, '2026/12/06/file', true],
    [a, '/2026/12/06/file/', true],
    [b, '2026/12/06/file', true],
    [a, 'web-b/2026/12/06/file', false],
    [a, '2026/12/06/file.2', false],
    [legacy, '2026/12/01/file', true],
    [legacy, 'web-a/2026/12/01/file', false], // named by where it lies
  ];
  for (const [c, want, yes] of cases) assert.equal(namesCopy(c, want), yes, `${c.id} ${want}`);
});

test('copyIdMatcher: this host\'s folder and the old top-level layout, never another host\'s folder', () => {
  const is = copyIdMatcher('/opt/backup/%Y/%m/%d', 'web-a')!;
  const cases: [string, boolean][] = [
    ['web-a/2026/12/06/file', true],
    ['web-a/2026/12/06/file.2', true],
    ['web-a/2026/12/06/file.2~3', true], // the next free id of a taken one
    ['2026/12/06/file~2', true],
    ['web-a/2026/12/06/file~x', false],
    ['2026/12/06/file', true], // written by batt before host folders
    ['web-b/2026/12/06/file', false],
    ['web-a/2026/12/06', false],
    ['web-a', false],
    ['web-a/web-a/2026/12/06/file', false],
  ];
  for (const [rel, yes] of cases) assert.equal(is(rel), yes, rel);
  assert.equal(copyIdMatcher(undefined, 'web-a'), undefined);
});

test('HOST_NAME and --host: one folder name, letters and digits first; thisHost prefers HOST_NAME', () => {
  for (const ok of ['web1', 'web1.example.net', 'db_2', 'A-1', '10.0.0.1']) assert.deepEqual(hostName(ok), { ok: true, value: ok }, ok);
  for (const bad of ['', '.', '..', '-x', 'a/b', 'a b', '../x', 'x'.repeat(254)]) assert.equal(hostName(bad).ok, false, bad);
  assert.equal(thisHost({ hostName: 'renamed' }), 'renamed');
  assert.equal(thisHost({}), os.hostname());
  assert.throws(() => hostFolder('a/b'), (e: unknown) => e instanceof ConfigError && /set HOST_NAME in batt\.conf/.test(String((e as ConfigError).hint)));
});

test('firstFreeCopyId: x, then x~2, x~3 ... past every taken one; a taken x.2 (the next local run) is not skipped to', () => {
  const cases: [string, string[], string][] = [
    ['h/2026/12/06/mysql', [], 'h/2026/12/06/mysql'],
    ['h/2026/12/06/mysql', ['h/2026/12/06/mysql'], 'h/2026/12/06/mysql~2'],
    ['h/2026/12/06/mysql', ['h/2026/12/06/mysql', 'h/2026/12/06/mysql~2', 'h/2026/12/06/mysql.2'], 'h/2026/12/06/mysql~3'],
    ['h/2026/12/06/mysql.2', ['h/2026/12/06/mysql.2'], 'h/2026/12/06/mysql.2~2'],
  ];
  for (const [id, taken, want] of cases) assert.equal(firstFreeCopyId(id, new Set(taken)), want, `${id} with ${taken.join(' ')}`);
});
