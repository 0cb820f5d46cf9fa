import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatAge, parseDuration, sleep } from '../../src/core/duration.js';

test('parseDuration: units, sums, bare seconds; anything else is undefined', () => {
  const cases: [string, number | undefined][] = [
    ['26h', 93600],
    ['90m', 5400],
    ['45s', 45],
    ['1d12h', 129600],
    ['1w', 604800],
    ['3600', 3600],
    ['0', 0],
    [' 2D ', 172800],
    ['1h30m15s', 5415],
    ['', undefined],
    ['26 h', undefined],
    ['1y', undefined],
    ['h', undefined],
    ['-5m', undefined],
    ['1.5h', undefined],
    ['25h30', undefined],
  ];
  for (const [text, want] of cases) assert.equal(parseDuration(text), want, JSON.stringify(text));
});

test('formatAge: the largest units, rounded down', () => {
  const cases: [number, string][] = [
    [0, '0s'],
    [59, '59s'],
    [60, '1m'],
    [3599, '59m'],
    [3600, '1h'],
    [5400, '1h30m'],
    [18000, '5h'],
    [36000 + 1800, '10h'],
    [86400, '1d'],
    [93600, '1d2h'],
    [-5, '0s'],
  ];
  for (const [s, want] of cases) assert.equal(formatAge(s), want, String(s));
});

test('sleep ends early when its signal aborts, and at once when it already has', async () => {
  const ac = new AbortController();
  const t0 = Date.now();
  setTimeout(() => ac.abort(), 20);
  await sleep(10_000, ac.signal);
  await sleep(10_000, ac.signal);
  assert.ok(Date.now() - t0 < 2000);
});
