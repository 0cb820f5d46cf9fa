// The fleet view of a shared target (issue 23 item 7): copies grouped by host and service with the
// newest of each and its age, and one Nagios verdict over them with the local check's status line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ageCell, judgeFleet, summarizeCopies, type CopyFacts, type FleetRow } from '../../src/ops/fleet.js';

const NOW = Date.parse('2026-11-29T08:00:00Z');
const H = 3600_000;
const at = (msAgo: number) => new Date(NOW - msAgo).toISOString();
const copy = (host: string, service: string, hoursAgo: number, id = `${host}/${at(hoursAgo * H).slice(0, 10).replaceAll('-', '/')}/${service}`): CopyFacts => ({
  id,
  host,
  service,
  startedAt: at(hoursAgo * H),
});
/** A row as [host, service, newest id, age in seconds, copies]. */
type Row = [string, string, string | undefined, number | undefined, number];
const rowsOf = (rows: FleetRow[]): Row[] => rows.map((r) => [r.host, r.service, r.newest?.id, r.ageSeconds, r.copies]);

test('summarizeCopies: one row per host and service, sorted by host then service, the newest copy by its start and how many', () => {
  const cases: [string, CopyFacts[], Row[]][] = [
    ['nothing', [], []],
    ['one copy', [copy('web-a', 'mysql', 3)], [['web-a', 'mysql', 'web-a/2026/11/29/mysql', 3 * 3600, 1]]],
    [
      'two hosts, the same service, listed oldest first as targets do',
      [copy('web-b', 'file', 50, 'web-b/1'), copy('web-a', 'file', 49, 'web-a/1'), copy('web-b', 'file', 26, 'web-b/2'), copy('web-a', 'file', 2, 'web-a/2')],
      [
        ['web-a', 'file', 'web-a/2', 2 * 3600, 2],
        ['web-b', 'file', 'web-b/2', 26 * 3600, 2],
      ],
    ],
    [
      'the newest wins whatever the order of the listing',
      [copy('db', 'pg', 1, 'db/new'), copy('db', 'pg', 30, 'db/old'), copy('db', 'pg', 5, 'db/mid')],
      [['db', 'pg', 'db/new', 3600, 3]],
    ],
    [
      'the same start: the greater id (a later ~N)',
      [copy('db', 'pg', 4, 'db/2026/11/29/pg~2'), copy('db', 'pg', 4, 'db/2026/11/29/pg'), copy('db', 'pg', 4, 'db/2026/11/29/pg~3')],
      [['db', 'pg', 'db/2026/11/29/pg~3', 4 * 3600, 3]],
    ],
    [
      'services of one host sorted, hosts sorted',
      [copy('z', 'b', 1, 'z/b'), copy('a', 'mysql', 1, 'a/mysql'), copy('z', 'a', 1, 'z/a'), copy('a', 'file', 1, 'a/file')],
      [
        ['a', 'file', 'a/file', 3600, 1],
        ['a', 'mysql', 'a/mysql', 3600, 1],
        ['z', 'a', 'z/a', 3600, 1],
        ['z', 'b', 'z/b', 3600, 1],
      ],
    ],
    [
      'an unreadable start counts as a copy, never as the newest',
      [{ id: 'h/x', host: 'h', service: 's', startedAt: 'yesterday' }, copy('h', 's', 7, 'h/ok')],
      [['h', 's', 'h/ok', 7 * 3600, 2]],
    ],
    ['only unreadable starts: no newest, no age', [{ id: 'h/x', host: 'h', service: 's', startedAt: '' }], [['h', 's', undefined, undefined, 1]]],
    ['a start in the future (a clock ahead) is 0 seconds old', [copy('h', 's', -2, 'h/s')], [['h', 's', 'h/s', 0, 1]]],
  ];
  for (const [name, copies, want] of cases) assert.deepEqual(rowsOf(summarizeCopies(copies, NOW)), want, name);
});

test('summarizeCopies keeps the newest copy\'s start and upload time; ageCell is the human age', () => {
  const [r] = summarizeCopies([{ ...copy('h', 's', 50, 'h/s'), uploadedAt: at(49 * H) }], NOW);
  assert.deepEqual(r!.newest, { id: 'h/s', startedAt: at(50 * H), uploadedAt: at(49 * H) });
  const cases: [number | undefined, string][] = [
    [undefined, '-'],
    [45, '45s'],
    [3 * 3600, '3h'],
    [2 * 86400, '2d'],
    [50 * 3600, '2d2h'],
  ];
  for (const [ageSeconds, cell] of cases) assert.equal(ageCell({ ageSeconds }), cell, String(ageSeconds));
});

test('judgeFleet: every host and service must have a copy younger than max-age; the local check\'s line and perfdata', () => {
  const max = { maxAgeSeconds: 26 * 3600 };
  const cases: [string, CopyFacts[], { maxAgeSeconds: number; warnAgeSeconds?: number }, number, string][] = [
    [
      'all fresh',
      [copy('web-a', 'file', 5, 'a1'), copy('web-a', 'mysql', 3, 'a2'), copy('web-b', 'file', 2, 'b1')],
      max,
      0,
      'BATT OK - 2 hosts, 3 services, oldest good backup 5h ago | web_a_file_age=18000s;;93600;0 web_a_mysql_age=10800s;;93600;0 web_b_file_age=7200s;;93600;0',
    ],
    ['one host, one service', [copy('db', 'pg', 1, 'x')], max, 0, 'BATT OK - 1 host, 1 service, oldest good backup 1h ago | db_pg_age=3600s;;93600;0'],
    [
      'a host that stopped uploading goes stale by its old copies',
      [copy('web-a', 'file', 5, 'a1'), copy('web-b', 'file', 80, 'b0'), copy('web-b', 'file', 30, 'b1')],
      max,
      2,
      'BATT CRITICAL - web-b/file: last good backup 1d6h ago (max 1d2h) | web_a_file_age=18000s;;93600;0 web_b_file_age=108000s;;93600;0',
    ],
    [
      'each stale one named, with its age',
      [copy('a', 'x', 27, 'a1'), copy('b', 'y', 3, 'b1'), copy('c', 'z', 49, 'c1')],
      max,
      2,
      'BATT CRITICAL - a/x: last good backup 1d3h ago (max 1d2h); c/z: last good backup 2d1h ago (max 1d2h) | a_x_age=97200s;;93600;0 b_y_age=10800s;;93600;0 c_z_age=176400s;;93600;0',
    ],
    [
      'past warn-age: WARNING',
      [copy('a', 'x', 25, 'a1'), copy('b', 'y', 3, 'b1')],
      { maxAgeSeconds: 26 * 3600, warnAgeSeconds: 24 * 3600 },
      1,
      'BATT WARNING - a/x: last good backup 1d1h ago (warn 1d) | a_x_age=90000s;86400;93600;0 b_y_age=10800s;86400;93600;0',
    ],
    ['a longer max-age', [copy('a', 'x', 30, 'a1')], { maxAgeSeconds: 8 * 86400 }, 0, 'BATT OK - 1 host, 1 service, oldest good backup 1d6h ago | a_x_age=108000s;;691200;0'],
    ['no start time to judge', [{ id: 'a1', host: 'a', service: 'x', startedAt: 'never' }], max, 2, 'BATT CRITICAL - a/x: no good backup | a_x_age=U;;93600;0'],
    ['no copy at all: nothing to judge', [], max, 3, 'BATT UNKNOWN - no copies on target offsite'],
  ];
  for (const [name, copies, ages, code, line] of cases) {
    const v = judgeFleet(summarizeCopies(copies, NOW), ages, NOW, 'on target offsite');
    assert.deepEqual([v.exitCode, v.line], [code, line], name);
  }
  const v = judgeFleet(summarizeCopies([copy('a', 'x', 30, 'a1'), copy('b', 'x', 1, 'b1')], NOW), max, NOW, 'on target offsite');
  assert.deepEqual(
    v.services.map((s) => [s.service, s.state, s.ageSeconds]),
    [
      ['a/x', 'CRITICAL', 30 * 3600],
      ['b/x', 'OK', 3600],
    ],
  );
});
