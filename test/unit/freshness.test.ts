// batt status: the verdict of each service and of the check, by Nagios plugin conventions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { judge, judgeService, type ServiceFacts } from '../../src/ops/freshness.js';

const NOW = Date.parse('2026-11-29T08:00:00Z');
const H = 3600_000;
const facts = (f: Partial<ServiceFacts>): ServiceFacts => ({ service: 'mysql', maxAgeSeconds: 26 * 3600, ...f });

test('judgeService: age, last run and thresholds give OK, WARNING or CRITICAL', () => {
  const cases: [string, Partial<ServiceFacts>, string, string][] = [
    ['fresh', { lastGoodMs: NOW - 5 * H }, 'OK', 'last good backup 5h ago'],
    ['fresh, last run ok', { lastGoodMs: NOW - 5 * H, lastRun: { status: 'ok', atMs: NOW - 5 * H } }, 'OK', 'last good backup 5h ago'],
    ['never', {}, 'CRITICAL', 'no good backup'],
    ['too old', { lastGoodMs: NOW - 30 * H }, 'CRITICAL', 'last good backup 1d6h ago (max 1d2h)'],
    ['exactly max is still fine', { lastGoodMs: NOW - 26 * H }, 'OK', 'last good backup 1d2h ago'],
    ['older than warn', { lastGoodMs: NOW - 25 * H, warnAgeSeconds: 24 * 3600 }, 'WARNING', 'last good backup 1d1h ago (warn 1d)'],
    ['failed after the good one', { lastGoodMs: NOW - 5 * H, lastRun: { status: 'failed', atMs: NOW - 2 * H } }, 'WARNING', 'last run failed 2h ago, last good backup 5h ago'],
    ['timed out after the good one', { lastGoodMs: NOW - 5 * H, lastRun: { status: 'timeout', atMs: NOW - H } }, 'WARNING', 'last run timeout 1h ago, last good backup 5h ago'],
    ['a warning run', { lastGoodMs: NOW - H, lastRun: { status: 'warning', atMs: NOW - H } }, 'WARNING', 'last run had warnings, last good backup 1h ago'],
    ['failed and too old', { lastGoodMs: NOW - 30 * H, lastRun: { status: 'failed', atMs: NOW - H } }, 'CRITICAL', 'last good backup 1d6h ago (max 1d2h)'],
    ['a service\'s own weekly MAX_AGE', { lastGoodMs: NOW - 100 * H, maxAgeSeconds: 8 * 86400 }, 'OK', 'last good backup 4d4h ago'],
    ['broken entry', { problem: 'scripts-enabled/backup-x points to a missing script' }, 'CRITICAL', 'scripts-enabled/backup-x points to a missing script'],
  ];
  for (const [name, f, state, why] of cases) {
    const v = judgeService(facts(f), NOW);
    assert.deepEqual([v.state, v.why], [state, why], name);
  }
});

test('judge: the worst state wins, one status line with perfdata, Nagios exit codes', () => {
  const cases: [string, Partial<ServiceFacts>[], number, string][] = [
    [
      'all fresh',
      [{ service: 'mysql', lastGoodMs: NOW - 5 * H }, { service: 'file', lastGoodMs: NOW - 2 * H, warnAgeSeconds: 86400 }],
      0,
      'BATT OK - 2 services, oldest good backup 5h ago | mysql_age=18000s;;93600;0 file_age=7200s;86400;93600;0',
    ],
    ['one', [{ lastGoodMs: NOW - 90_000 }], 0, 'BATT OK - 1 service, oldest good backup 1m ago | mysql_age=90s;;93600;0'],
    [
      'warning and critical',
      [{ service: 'a', lastGoodMs: NOW - H, lastRun: { status: 'failed', atMs: NOW - 1000 } }, { service: 'b-c.d' }, { service: 'ok', lastGoodMs: NOW }],
      2,
      'BATT CRITICAL - b-c.d: no good backup; a: last run failed 1s ago, last good backup 1h ago | a_age=3600s;;93600;0 b_c_d_age=U;;93600;0 ok_age=0s;;93600;0',
    ],
    ['warning', [{ lastGoodMs: NOW - H, warnAgeSeconds: 60 }], 1, 'BATT WARNING - mysql: last good backup 1h ago (warn 1m) | mysql_age=3600s;60;93600;0'],
    ['nothing enabled', [], 3, 'BATT UNKNOWN - no service is enabled'],
  ];
  for (const [name, fs, code, line] of cases) {
    const v = judge(fs.map(facts), NOW);
    assert.deepEqual([v.exitCode, v.line], [code, line], name);
  }
});
