import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fastRoute } from '../../src/fastpath.js';

test('fastRoute takes only the plain forms of batt list', () => {
  const cases: [string[], ReturnType<typeof fastRoute>][] = [
    [['list'], { command: 'list', args: {} }],
    [['list', '--json'], { command: 'list', args: { json: true } }],
    [['--json', 'list'], { command: 'list', args: { json: true } }],
    [['list', '--home', '/h'], { command: 'list', args: { home: '/h' } }],
    [['--home=/h', 'list', '--json'], { command: 'list', args: { home: '/h', json: true } }],
    [['list', '--home', '/a', '--home', '/b'], { command: 'list', args: { home: '/b' } }],
    // Everything else is yargs' business.
    [[], undefined],
    [['ls'], undefined],
    [['backups'], undefined],
    [['list', 'extra'], undefined],
    [['list', '--help'], undefined],
    [['list', '-h'], undefined],
    [['list', '--version'], undefined],
    [['list', '--json=true'], undefined],
    [['list', '--jsonx'], undefined],
    [['list', '--home'], undefined],
    [['list', '--home='], undefined],
    [['list', '--home', '--json'], undefined],
    [['--home', 'list'], undefined],
    [['list', '--'], undefined],
    [['--file', '/srv', 'list'], undefined],
  ];
  for (const [argv, want] of cases) assert.deepEqual(fastRoute(argv), want, argv.join(' '));
});
