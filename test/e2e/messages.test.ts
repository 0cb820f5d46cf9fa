// Messages a newcomer meets first: each one line on stderr that says what is wrong and what to do.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { batt, sandbox, writeScript } from '../helpers/batt.js';

test('batt restore with no service: one clear line, exit 2', async () => {
  const sb = sandbox({ builtins: true });
  try {
    const r = await batt(['restore'], { home: sb.home });
    assert.equal(r.code, 2);
    assert.equal(r.stdout, '');
    assert.match(r.stderr, /^batt: batt restore needs the service to restore \(batt restore SERVICE \[BACKUP\]; batt backups lists the backups\)$/m);
    assert.doesNotMatch(r.stderr, /non-option arguments/);
  } finally {
    sb.cleanup();
  }
});

test('batt restore of a service that backs up but has no restore script says so, not "unknown service"', async () => {
  const sb = sandbox({ builtins: true });
  try {
    writeScript(sb.home, 'hello', 'echo hi > "$BATT_DEST/a"');
    const r = await batt(['restore', 'hello'], { home: sb.home });
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^batt: hello has no restore script \(.*\/scripts-available\/restore-hello\)/m);
    assert.doesNotMatch(r.stderr, /unknown service/);
    const u = await batt(['restore', 'nosuch'], { home: sb.home });
    assert.equal(u.code, 2);
    assert.match(u.stderr, /^batt: unknown service "nosuch": no restore script .*\(available: .*hello/m);
  } finally {
    sb.cleanup();
  }
});
