import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fastRoute, listRoute } from '../../src/entry/fastpath.js';

test('fastRoute takes only the plain forms of batt list', () => {
  const cases: [string[], ReturnType<typeof fastRoute>][] = [
    [['list'], { command: 'list', args: {} }],
    [['list', '--json'], { command: 'list', args: { json: true } }],
    [['--json', 'list'], { command: 'list', args: { json: true } }],
    [['list', '--home', '/h'], { command: 'list', args: { home: '/h' } }],
    [['--home=/h', 'list', '--json'], { command: 'list', args: { home: '/h', json: true } }],
    [['list', '--home', '/a', '--home', '/b'], { command: 'list', args: { home: '/b' } }],
    // Everything else is yargs' business.
    [['ls'], undefined],
    [['backups'], undefined],
    [['list', 'enabled'], { command: 'list', args: { which: 'enabled' } }],
    [['list', 'disabled', '--json'], { command: 'list', args: { which: 'disabled', json: true } }],
    [['list', 'extra'], { command: 'list', args: { which: 'extra' } }], // refused by the command, as through yargs
    [['list', 'enabled', 'extra'], undefined],
    [['list', '--help'], undefined],
    [['list', '-h'], undefined],
    [['list', '--version'], undefined],
    [['list', '--json=true'], undefined],
    [['list', '--jsonx'], undefined],
    [['list', '--home'], undefined],
    [['list', '--home='], undefined],
    [['list', '--home', '--json'], undefined],
    [['list', '--dry-run'], undefined],
    [['list', '--'], undefined],
    [['--file', '/srv', 'list'], undefined],
    [['list', '--jobs', '2'], undefined],
    [['list', '--path', '/x/%Y'], undefined],
  ];
  for (const [argv, want] of cases) assert.deepEqual(fastRoute(argv), want, argv.join(' '));
  // The entry (src/entry/bin.ts) chooses the list bundle with listRoute, which knows no run flags: it
  // must take exactly the forms fastRoute takes for list, and nothing a run would take.
  for (const [argv, want] of cases) assert.deepEqual(listRoute(argv), want, `listRoute ${argv.join(' ')}`);
  for (const argv of [[], ['file'], ['run', 'list'], ['--json'], ['--home', '/h', 'file'], ['ls']]) {
    assert.equal(listRoute(argv), undefined, `listRoute ${argv.join(' ') || '(none)'}`);
  }
});

test('fastRoute gives a plain run the arguments yargs would give it, and leaves the rest to yargs', () => {
  const run = (args: Record<string, unknown>) => ({ command: 'run' as const, args });
  const cases: [string[], ReturnType<typeof fastRoute>][] = [
    [[], run({})],
    [['mysql', 'file'], run({ services: ['mysql', 'file'] })],
    [['run', 'file'], run({ services: ['file'] })],
    [['run'], run({})],
    [['run', 'list'], run({ services: ['list'] })], // a service named like a command
    [['--file', '/srv/www'], run({ file: '/srv/www' })],
    [['--file', '/a', '--file=/b c', '--mysql-db', 'wp'], run({ file: ['/a', '/b c'], 'mysql-db': 'wp' })],
    [['--mysql-db', 'wp', 'file', '--json'], run({ 'mysql-db': 'wp', json: true, services: ['file'] })],
    [['--dry-run', 'redis'], run({ 'dry-run': true, services: ['redis'] })],
    [['--home', '/h', '--path', '/b/%Y', '--path=/c/%Y'], run({ home: '/h', path: ['/b/%Y', '/c/%Y'] })],
    [['--home', 'list'], run({ home: 'list' })], // yargs reads it the same way: the home is "list"
    [['--file', 'true', '--x-y', '007'], run({ file: 'true', 'x-y': '007' })], // strings, as yargs (parse-numbers off)
    // yargs' business: other batt flags, help, short flags, odd values and names
    [['--jobs', '2'], undefined],
    [['--timeout', '60', 'file'], undefined],
    [['--target', 'nas'], undefined],
    [['--keep-daily', '7', '--purge'], undefined],
    [['--wait'], undefined],
    [['--help'], undefined],
    [['--version'], undefined],
    [['-n'], undefined],
    [['-j', '2'], undefined],
    [['--json=false'], undefined],
    [['--dry-run=true'], undefined],
    [['--file'], undefined],
    [['--file', ''], undefined],
    [['--file', '-x'], undefined],
    [['--file='], undefined],
    [['--File', '/x'], undefined],
    [['--file.x', '/x'], undefined],
    [['--', 'file'], undefined],
    [['enable', 'file'], undefined],
    [['restore', 'file'], undefined],
    [['help'], undefined],
    [['completion'], undefined],
    [['--get-yargs-completions', 'batt', ''], undefined], // the shell asking for completions
    [['--show-hidden'], undefined],
  ];
  for (const [argv, want] of cases) assert.deepEqual(fastRoute(argv), want, argv.join(' ') || '(none)');
});
