import { test } from 'node:test';
import assert from 'node:assert/strict';
import { RateMeter, formatEta, formatRate, parseExpectLine, percentOf, progressText } from '../../src/core/progress.js';
import { estimateRatio, type Backup } from '../../src/catalog/catalog.js';
import type { Manifest } from '../../src/catalog/manifest.js';

test('formatRate: bytes a second in the units of formatBytes, never negative', () => {
  const cases: [number, string][] = [
    [0, '0 B/s'],
    [512.4, '512 B/s'],
    [1024, '1.0 KiB/s'],
    [45.3 * 1024 * 1024, '45.3 MiB/s'],
    [-5, '0 B/s'],
  ];
  for (const [n, want] of cases) assert.equal(formatRate(n), want, String(n));
});

test('formatEta: seconds, then minutes and seconds, then hours and minutes; capped at 99 hours', () => {
  const cases: [number, string][] = [
    [0, '0s'],
    [0.2, '1s'],
    [59, '59s'],
    [60, '1m00s'],
    [245, '4m05s'],
    [3599, '59m59s'],
    [3600, '1h00m'],
    [7620, '2h07m'],
    [100 * 3600, '>99h'],
    [-3, '0s'],
  ];
  for (const [s, want] of cases) assert.equal(formatEta(s), want, String(s));
});

test('percentOf: whole percent, at most 99 (an estimate too small stays at 99), none without a total', () => {
  const cases: [number, number | undefined, number | undefined][] = [
    [0, 100, 0],
    [35, 100, 35],
    [999, 1000, 99],
    [1000, 1000, 99],
    [5000, 1000, 99],
    [5, undefined, undefined],
    [5, 0, undefined],
    [5, Infinity, undefined],
  ];
  for (const [b, t, want] of cases) assert.equal(percentOf(b, t), want, `${b} of ${t}`);
});

test('progressText: bytes, rate, and with a total the percentage and an ETA', () => {
  const MiB = 1024 * 1024;
  const cases: [Parameters<typeof progressText>[0], string][] = [
    [{ bytes: 0 }, '0 B'],
    [{ bytes: 10 * MiB, rate: 2 * MiB }, '10.0 MiB, 2.0 MiB/s'],
    [{ bytes: 10 * MiB, total: 40 * MiB }, '10.0 MiB of ~40.0 MiB, 25%'],
    [{ bytes: 10 * MiB, total: 40 * MiB, rate: 2 * MiB }, '10.0 MiB of ~40.0 MiB, 25%, 2.0 MiB/s, ETA 15s'],
    // past an estimate that was too small: no ETA, 99%
    [{ bytes: 50 * MiB, total: 40 * MiB, rate: 2 * MiB }, '50.0 MiB of ~40.0 MiB, 99%, 2.0 MiB/s'],
    // a stalled script: no ETA from a zero rate
    [{ bytes: 10 * MiB, total: 40 * MiB, rate: 0 }, '10.0 MiB of ~40.0 MiB, 25%, 0 B/s'],
  ];
  for (const [p, want] of cases) assert.equal(progressText(p), want, JSON.stringify(p));
});

test('RateMeter: the rate over the last window; none before half a second; a shrinking counter restarts it', () => {
  const m = new RateMeter(5000);
  assert.equal(m.rate(), undefined);
  m.add(0, 0);
  m.add(400, 400);
  assert.equal(m.rate(), undefined, 'under 0.5 s apart');
  m.add(1000, 1000);
  assert.equal(m.rate(), 1000);
  for (let t = 2000; t <= 10_000; t += 1000) m.add(t, 1000 + (t - 1000) * 3); // 3000 B/s from 1 s on
  assert.equal(m.rate(), 3000, 'the slow first second has left the window');
  m.add(11_000, 10);
  assert.equal(m.rate(), undefined, 'a file replaced: a new start');
  m.add(12_000, 2010);
  assert.equal(m.rate(), 2000);
});

test('parseExpectLine: exactly "batt: expect DIGITS"; anything else is an ordinary line', () => {
  const cases: [string, number | undefined][] = [
    ['batt: expect 12345', 12345],
    ['batt: expect 12345  ', 12345],
    ['batt: expect 0', undefined],
    ['batt: expect -5', undefined],
    ['batt: expect 1.5e9', undefined],
    ['batt: expect 12 GB', undefined],
    ['  batt: expect 12', undefined],
    ['batt:expect 12', undefined],
    ['archived /etc -> etc.tar.zst', undefined],
    ['batt: expect 9999999999999999999', undefined],
  ];
  for (const [line, want] of cases) assert.equal(parseExpectLine(line), want, line);
});

test('estimateRatio: the newest backup of the service with the same options that recorded an estimate', () => {
  const opts = (args: string[]) => ({ options: {}, args });
  const b = (service: string, args: string[], totalBytes: number, expectedBytes?: number): Backup => ({
    dir: '/x',
    id: 'x',
    manifest: { service, options: opts(args), totalBytes, expectedBytes } as unknown as Manifest,
  });
  const backups = [
    b('file', ['/etc'], 100, 400), // oldest
    b('file', ['/srv'], 900, 1000),
    b('file', ['/etc'], 300, 600),
    b('mysql', [], 50, 100),
    b('file', ['/etc'], 700), // newest, but recorded no estimate
  ];
  const cases: [string, string[], number | undefined][] = [
    ['file', ['/etc'], 0.5],
    ['file', ['/srv'], 0.9],
    ['mysql', [], 0.5],
    ['file', ['/var'], undefined],
    ['redis', [], undefined],
  ];
  for (const [service, args, want] of cases) assert.equal(estimateRatio(backups, service, JSON.stringify(opts(args))), want, `${service} ${args}`);
});
