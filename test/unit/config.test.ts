import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { confEnv, loadConfFile, parseConf } from '../../src/config.js';
import { ConfigError } from '../../src/errors.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'batt-conf-'));
after(() => fs.rmSync(dir, { recursive: true, force: true }));

test('parseConf reads KEY=value lines without expanding anything', () => {
  const cases: [string, Record<string, string>][] = [
    ['A=1\nB=two words\n', { A: '1', B: 'two words' }],
    ['# comment\n\n  C = spaced  \r\n', { C: 'spaced' }],
    ['export D=x', { D: 'x' }],
    ['E="quoted # not a comment"', { E: 'quoted # not a comment' }],
    ["F='$HOME $(id)'", { F: '$HOME $(id)' }],
    ['G="a\\"b\\\\c"', { G: 'a"b\\c' }],
    ['H=$(rm -rf /)', { H: '$(rm -rf /)' }],
    ['I=a=b=c', { I: 'a=b=c' }],
    ['J=', { J: '' }],
    ['K=1\nK=2', { K: '2' }],
  ];
  for (const [text, want] of cases) assert.deepEqual(parseConf(text, 'x.conf'), want, JSON.stringify(text));
});

test('parseConf refuses malformed lines and names file and line', () => {
  const cases: [string, RegExp][] = [
    ['A=1\njust words', /x\.conf:2: expected KEY=value/],
    ['lower=1', /x\.conf:1: "lower" is not a valid key/],
    ['1A=1', /not a valid key/],
    ['A-B=1', /not a valid key/],
    ['A="open', /x\.conf:1: unterminated quote in A/],
    ["A='", /unterminated quote/],
  ];
  for (const [text, msg] of cases) {
    assert.throws(() => parseConf(text, 'x.conf'), (e: unknown) => e instanceof ConfigError && msg.test(e.message), text);
  }
});

test('loadConfFile refuses secrets in a file others can read, naming the file', async () => {
  const cases: [string, string, number, boolean][] = [
    ['password 0644', 'PASSWORD=s3cret\n', 0o644, false],
    ['password 0640', 'DB_PASS=s3cret\n', 0o640, false],
    ['token 0604', 'API_TOKEN=t\n', 0o604, false],
    ['secret 0600', 'PASSWORD=s3cret\n', 0o600, true],
    ['no secret 0644', 'USER=bob\n', 0o644, true],
    ['empty secret 0644', 'PASSWORD=\n', 0o644, true],
  ];
  for (const [name, text, mode, ok] of cases) {
    const file = path.join(dir, `${name.replace(/\W/g, '_')}.conf`);
    fs.writeFileSync(file, text);
    fs.chmodSync(file, mode);
    if (ok) {
      await assert.doesNotReject(loadConfFile(file), name);
    } else {
      await assert.rejects(loadConfFile(file), (e: unknown) => {
        assert.ok(e instanceof ConfigError, name);
        assert.ok(e.message.includes(file), `${name}: ${e.message}`);
        assert.doesNotMatch(e.message, /s3cret/, 'the secret itself is not in the message');
        return true;
      });
    }
  }
});

test('loadConfFile: a missing file is empty; an unreadable path is a ConfigError', async () => {
  assert.deepEqual(await loadConfFile(path.join(dir, 'missing.conf')), {});
  await assert.rejects(loadConfFile(dir), ConfigError); // a folder: EISDIR
});

test('confEnv prefixes keys with BATT_CONF_', () => {
  assert.deepEqual(confEnv({ USER: 'bob', PASSWORD: 'x' }), { BATT_CONF_USER: 'bob', BATT_CONF_PASSWORD: 'x' });
});
