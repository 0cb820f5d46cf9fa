import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mapServiceOptions, optionEnv, optionEnvName, redactOptions } from '../../src/services/options.js';
import { UsageError } from '../../src/core/errors.js';

const KNOWN = new Set(['home', 'path', 'json', 'jobs', 'timeout', 'wait', 'dry-run', 'services']);
const SERVICES = ['mysql', 'file', 'my', 'my-svc', 'pg'];

type Want = Record<string, { options: Record<string, string[]>; args: string[] }>;

test('mapServiceOptions maps --<svc>-<key> and --<svc> to the right service', () => {
  const cases: [string, Record<string, unknown>, Want][] = [
    ['repeated option keeps order', { 'mysql-db': ['a', 'b'] }, { mysql: { options: { db: ['a', 'b'] }, args: [] } }],
    ['positional value', { file: '/var/www' }, { file: { options: {}, args: ['/var/www'] } }],
    ['repeated positional', { file: ['/a', '/b'] }, { file: { options: {}, args: ['/a', '/b'] } }],
    [
      'several services implied',
      { 'mysql-db': 'wp', file: '/etc', 'pg-host': 'h' },
      {
        mysql: { options: { db: ['wp'] }, args: [] },
        file: { options: {}, args: ['/etc'] },
        pg: { options: { host: ['h'] }, args: [] },
      },
    ],
    ['longest service name wins', { 'my-svc-db': 'x' }, { 'my-svc': { options: { db: ['x'] }, args: [] } }],
    ['shorter name with a dashed key', { 'my-other-key': 'y' }, { my: { options: { 'other-key': ['y'] }, args: [] } }],
    ['exact dashed service is positional', { 'my-svc': '/p' }, { 'my-svc': { options: {}, args: ['/p'] } }],
    ['numbers kept as strings', { 'mysql-port': '0012' }, { mysql: { options: { port: ['0012'] }, args: [] } }],
    ['a parsed number becomes its string', { 'mysql-port': 3306 }, { mysql: { options: { port: ['3306'] }, args: [] } }],
    ['empty value stays empty', { 'mysql-db': '' }, { mysql: { options: { db: [''] }, args: [] } }],
    ['batt flags and yargs keys are skipped', { _: ['x'], $0: 'batt', home: '/h', json: true, 'dry-run': true }, {}],
  ];
  for (const [name, raw, want] of cases) {
    const got = Object.fromEntries(mapServiceOptions(raw, KNOWN, SERVICES));
    assert.deepEqual(got, want, name);
  }
});

test('mapServiceOptions refuses unknown services, bad keys and flags without a value', () => {
  const cases: [string, Record<string, unknown>, RegExp][] = [
    ['unknown service', { 'x-y': '1' }, /unknown option --x-y: no service "x"/],
    ['unknown bare flag', { redis: '1' }, /unknown option --redis/],
    ['flag without value', { 'mysql-db': true }, /--mysql-db needs a value/],
    ['positional without value', { file: true }, /--file needs a value/],
    ['one value missing of several', { 'mysql-db': ['a', true] }, /--mysql-db needs a value/],
    ['key with invalid characters', { 'mysql-DB': 'x' }, /^invalid option --mysql-DB: "DB" is not an option key/],
    ['key with a dot', { 'mysql-db.x': 'x' }, /^invalid option --mysql-db\.x: "db\.x" is not an option key/],
    ['service name but empty key', { 'mysql-': 'x' }, /^invalid option --mysql-: "" is not an option key/],
    ['no service at all', { 'my_svc-x': 'x' }, /^unknown option --my_svc-x: no service "my_svc"/],
  ];
  for (const [name, raw, msg] of cases) {
    assert.throws(() => mapServiceOptions(raw, KNOWN, SERVICES), (e: unknown) => e instanceof UsageError && msg.test(e.message), name);
  }
  assert.throws(() => mapServiceOptions({ 'a-b': 'x' }, KNOWN, []), UsageError, 'no service at all');
});

test('optionEnv joins repeated values with newlines under BATT_OPT_<KEY>', () => {
  assert.equal(optionEnvName('db'), 'BATT_OPT_DB');
  assert.equal(optionEnvName('single-transaction'), 'BATT_OPT_SINGLE_TRANSACTION');
  assert.deepEqual(optionEnv({ options: { db: ['a', 'b'], 'no-data': ['1'] }, args: ['x'] }), {
    BATT_OPT_DB: 'a\nb',
    BATT_OPT_NO_DATA: '1',
  });
});

test('redactOptions masks secret-looking keys and keeps the rest', () => {
  const input = { options: { password: ['s3cret'], 'api-token': ['t'], db: ['wp'] }, args: ['/etc'] };
  assert.deepEqual(redactOptions(input), { options: { password: ['***'], 'api-token': ['***'], db: ['wp'] }, args: ['/etc'] });
  assert.deepEqual(input.options.password, ['s3cret'], 'the input is not changed');
});
