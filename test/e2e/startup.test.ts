// The start-up fast path for `batt list` must answer exactly as the yargs route does.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { batt, sandbox, writeScript } from '../helpers/batt.js';

test('batt list answers the same through the fast path and through yargs', async () => {
  const sb = sandbox();
  try {
    writeScript(sb.home, 'alpha', 'true');
    writeScript(sb.home, 'beta', 'true');
    fs.symlinkSync('../scripts-available/backup-alpha', path.join(sb.home, 'scripts-enabled', 'backup-alpha'));
    fs.symlinkSync('../scripts-available/backup-gone', path.join(sb.home, 'scripts-enabled', 'backup-gone'));
    // `--json` and `--home X` take the fast path; `--json=true` and `--home=X` after `--` do not.
    const fastJson = await batt(['list', '--json', '--home', sb.home], { env: { BATT_HOME: undefined } });
    const slowJson = await batt(['list', '--json=true', '--home', sb.home], { env: { BATT_HOME: undefined } });
    assert.equal(fastJson.code, slowJson.code);
    assert.equal(fastJson.code, 1, 'an enabled service with a problem fails the list');
    assert.deepEqual(JSON.parse(fastJson.stdout), JSON.parse(slowJson.stdout));
    const names = JSON.parse(fastJson.stdout).services.map((s: { name: string }) => s.name);
    assert.ok(names.includes('alpha') && names.includes('beta') && names.includes('gone'), names.join(','));
    const fastText = await batt(['list'], { home: sb.home });
    const slowText = await batt(['list', '--json=false'], { home: sb.home });
    assert.equal(fastText.stdout, slowText.stdout);
    assert.equal(fastText.stderr, slowText.stderr);
    assert.equal(fastText.code, slowText.code);
    assert.match(fastText.stdout, /alpha\s+yes/);
    // A home that does not exist: the same one-line error and exit code either way.
    const fastBad = await batt(['list', '--home', path.join(sb.dir, 'nope')]);
    const slowBad = await batt(['list', '--json=false', '--home', path.join(sb.dir, 'nope')]);
    assert.equal(fastBad.code, slowBad.code);
    assert.equal(fastBad.stderr, slowBad.stderr);
  } finally {
    sb.cleanup();
  }
});
