// The fleet view (issue 23 item 7, docs/operating.md "Watching a fleet"): two hosts (HOST_NAME in
// their batt.conf) upload to one local folder; one host's copy is made 30 hours old in its index.
// `batt backups --from T --all-hosts --summary` lists host, service, newest copy and its age;
// `batt status --from T --all-hosts` is one Nagios verdict for both, UNKNOWN when T cannot be read.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { batt, listFiles, sandbox, writeScript, writeTargetConf, type BattResult, type Sandbox } from '../helpers/batt.js';

describe('a fleet sharing one target', () => {
  let a: Sandbox;
  let b: Sandbox;
  let shared: string;
  /** batt on host web-a, the one that watches the fleet */
  const onA = (...args: string[]) => batt([...args, '--path', a.pattern], { home: a.home });
  const json = (r: BattResult) => {
    assert.ok(r.code === 0 || r.code === 2, r.stderr + r.stdout);
    return JSON.parse(r.stdout);
  };
  /** The id of a host's backup of `service` (YYYY/MM/DD/service, the day of its run), read from its root. */
  const idOf = (sb: Sandbox, service: string) => path.dirname(listFiles(sb.root).find((f) => f.endsWith(`/${service}/batt-manifest.json`))!);
  /** Each copy's id on the target: <host>/<backup id>. */
  const ids: Record<'aDb' | 'aDemo' | 'bDemo', string> = {} as never;

  before(async () => {
    a = sandbox();
    b = sandbox();
    shared = path.join(a.dir, 'shared');
    for (const [sb, name] of [
      [a, 'web-a'],
      [b, 'web-b'],
    ] as const) {
      fs.writeFileSync(path.join(sb.home, 'conf', 'batt.conf'), `HOST_NAME=${name}\n`);
      writeScript(sb.home, 'demo', `echo "demo of ${name}" > "$BATT_DEST/data.txt"`);
      writeScript(sb.home, 'db', `echo "db of ${name}" > "$BATT_DEST/dump.sql"`);
      writeTargetConf(sb.home, 'shared', `TYPE=local\nPATH=${shared}\n`);
    }
    let r = await batt(['demo', 'db', '--path', a.pattern], { home: a.home });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    r = await batt(['demo', '--path', b.pattern], { home: b.home });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    ids.aDb = `web-a/${idOf(a, 'db')}`;
    ids.aDemo = `web-a/${idOf(a, 'demo')}`;
    ids.bDemo = `web-b/${idOf(b, 'demo')}`;
    // web-b stopped uploading 30 hours ago: its only copy started then
    const index = path.join(shared, ids.bDemo, 'batt-remote.json');
    const idx = JSON.parse(fs.readFileSync(index, 'utf8'));
    idx.startedAt = new Date(Date.now() - 30 * 3600_000).toISOString();
    fs.writeFileSync(index, JSON.stringify(idx));
    // targets that cannot be read, and one that holds nothing
    writeTargetConf(a.home, 'broken', 'TYPE=sftp\nHOST=127.0.0.1\nPORT=1\nUSER=x\nSSH_KEY=/nonexistent/key\nKNOWN_HOSTS=/nonexistent/known_hosts\nPATH=/b\n');
    writeTargetConf(a.home, 'empty', `TYPE=local\nPATH=${path.join(a.dir, 'empty')}\n`);
    fs.mkdirSync(path.join(a.dir, 'empty'));
  });
  after(() => {
    a?.cleanup();
    b?.cleanup();
  });

  test('backups --summary: one line per host and service, its newest copy, age and count', async () => {
    let r = await onA('backups', '--from', 'shared', '--all-hosts', '--summary');
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const lines = r.stdout.trimEnd().split('\n');
    assert.match(lines[0]!, /^HOST +SERVICE +NEWEST +STARTED +AGE +COPIES$/);
    assert.equal(lines.length, 4, r.stdout);
    assert.match(lines[1]!, new RegExp(`^web-a +db +${ids.aDb} +\\d{4}-\\d\\d-\\d\\dT\\S+ +\\d+[sm] +1$`));
    assert.match(lines[2]!, new RegExp(`^web-a +demo +${ids.aDemo} +\\S+ +\\d+[sm] +1$`));
    assert.match(lines[3]!, new RegExp(`^web-b +demo +${ids.bDemo} +\\S+ +1d6h +1$`));
    // this host's alone, and a word about the others
    r = await onA('backups', '--from', 'shared', '--summary');
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(
      r.stdout.trimEnd().split('\n').map((l) => l.split(/ +/).slice(0, 2).join(' ')),
      ['HOST SERVICE', 'web-a db', 'web-a demo', '(1 copy'],
    );
    r = await onA('backups', '--from', 'shared', '--host', 'web-b', '--summary');
    assert.match(r.stdout, /^web-b +demo +/m);
    assert.doesNotMatch(r.stdout, /^web-a/m);
    // a summary is of copies on a target
    r = await onA('backups', '--summary');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--summary sums up the copies on a target: use it with --from NAME/);
  });

  test('backups --summary --json: the same rows, ages in seconds', async () => {
    const doc = json(await onA('backups', '--from', 'shared', '--all-hosts', '--summary', '--json'));
    assert.equal(doc.target, 'shared');
    assert.equal(doc.hosts, 'all');
    assert.deepEqual(
      doc.services.map((s: { host: string; service: string; newest: string; copies: number }) => [s.host, s.service, s.newest, s.copies]),
      [
        ['web-a', 'db', ids.aDb, 1],
        ['web-a', 'demo', ids.aDemo, 1],
        ['web-b', 'demo', ids.bDemo, 1],
      ],
    );
    const stale = doc.services[2];
    assert.ok(stale.ageSeconds >= 30 * 3600 && stale.ageSeconds < 31 * 3600, String(stale.ageSeconds));
    assert.equal(stale.age, '1d6h');
    assert.ok(doc.services[0].ageSeconds < 3600);
    assert.ok(Date.parse(stale.startedAt) < Date.now() - 29 * 3600_000);
  });

  test('status --from --all-hosts: CRITICAL (2) naming the stale host and service, OK (0) under a longer --max-age', async () => {
    let r = await onA('status', '--from', 'shared', '--all-hosts', '--max-age', '26h');
    assert.equal(r.code, 2, r.stderr + r.stdout);
    const [line, ...rest] = r.stdout.trimEnd().split('\n');
    assert.match(line!, /^BATT CRITICAL - web-b\/demo: last good backup 1d6h ago \(max 1d2h\) \| web_a_db_age=\d+s;;93600;0 web_a_demo_age=\d+s;;93600;0 web_b_demo_age=108\d{3}s;;93600;0$/);
    assert.deepEqual(
      rest.map((l) => l.split(':')[0]),
      ['OK       web-a/db', 'OK       web-a/demo', 'CRITICAL web-b/demo'],
    );
    r = await onA('status', '--from', 'shared', '--all-hosts', '--max-age', '2d', '--warn-age', '1d');
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stdout, /^BATT WARNING - web-b\/demo: last good backup 1d6h ago \(warn 1d\) \|/);
    r = await onA('status', '--from', 'shared', '--all-hosts', '--max-age', '2d');
    assert.equal(r.code, 0, r.stdout);
    assert.match(r.stdout, /^BATT OK - 2 hosts, 3 services, oldest good backup 1d6h ago \| web_a_db_age=\d+s;;172800;0 /);
    // this host's copies alone are fresh
    r = await onA('status', '--from', 'shared', '--max-age', '26h');
    assert.equal(r.code, 0, r.stdout);
    assert.match(r.stdout, /^BATT OK - 1 host, 2 services, oldest good backup \d+[sm] ago \| web_a_db_age=\d+s;;93600;0 web_a_demo_age=\d+s;;93600;0$/m);
    r = await onA('status', '--from', 'shared', '--host', 'web-b');
    assert.equal(r.code, 2, r.stdout);
    assert.match(r.stdout, /^BATT CRITICAL - web-b\/demo: /);
  });

  test('status --from --all-hosts --json: the verdict and each host and service', async () => {
    const doc = json(await onA('status', '--from', 'shared', '--all-hosts', '--max-age', '26h', '--json'));
    assert.equal(doc.state, 'CRITICAL');
    assert.equal(doc.exitCode, 2);
    assert.match(doc.line, /^BATT CRITICAL - web-b\/demo/);
    assert.deepEqual(
      doc.services.map((s: { host: string; service: string; state: string; newest: string; copies: number; maxAgeSeconds: number }) => [s.host, s.service, s.state, s.newest, s.copies, s.maxAgeSeconds]),
      [
        ['web-a', 'db', 'OK', ids.aDb, 1, 93600],
        ['web-a', 'demo', 'OK', ids.aDemo, 1, 93600],
        ['web-b', 'demo', 'CRITICAL', ids.bDemo, 1, 93600],
      ],
    );
    assert.ok(doc.services[2].ageSeconds >= 30 * 3600);
  });

  test('status --from: a target that cannot be read, or holds no copy, is UNKNOWN (3) with its one line', async () => {
    let r = await onA('status', '--from', 'broken', '--all-hosts');
    assert.equal(r.code, 3, r.stderr + r.stdout);
    assert.match(r.stdout, /^BATT UNKNOWN - .*\/nonexistent\/key/);
    assert.equal(r.stdout.split('\n').length, 2, r.stdout);
    r = await onA('status', '--from', 'nosuch', '--all-hosts');
    assert.equal(r.code, 3);
    assert.match(r.stdout, /^BATT UNKNOWN - no target named nosuch/);
    r = await onA('status', '--from', 'empty', '--all-hosts');
    assert.equal(r.code, 3);
    assert.equal(r.stdout, 'BATT UNKNOWN - no copies on target empty\n');
    r = await onA('status', '--from', 'empty', '--json');
    assert.equal(r.code, 3);
    assert.equal(JSON.parse(r.stdout).line, 'BATT UNKNOWN - no copies of host web-a on target empty');
    r = await onA('status', '--all-hosts');
    assert.equal(r.code, 3);
    assert.match(r.stdout, /^BATT UNKNOWN - --all-hosts chooses copies on a target: use it with --from NAME/);
  });
});
