// Monitoring from outside (issue 23): METRICS_DIR/batt.prom for node_exporter's textfile
// collector, parsed by promtool as Prometheus would, and `batt status` as Nagios/Icinga run it.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { REQUIRE_SERVERS, batt, sandbox, writeScript, type Sandbox } from '../helpers/batt.js';

const promtool = spawnSync('promtool', ['--version'], { stdio: 'ignore' }).status === 0;
if (!promtool && REQUIRE_SERVERS) throw new Error('promtool is missing (apt-get install prometheus)');

/** The metrics file, checked by promtool (when installed), as "name{labels}" -> value. */
function metrics(file: string): Map<string, number> {
  const text = fs.readFileSync(file, 'utf8');
  if (promtool) {
    const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    assert.equal(r.status, 0, `promtool check metrics: ${r.stdout}${r.stderr}\n${text}`);
  }
  const out = new Map<string, number>();
  for (const l of text.split('\n')) if (l && !l.startsWith('#')) out.set(l.slice(0, l.lastIndexOf(' ')), Number(l.slice(l.lastIndexOf(' ') + 1)));
  return out;
}
const linesOf = (m: Map<string, number>, service: string) => [...m].filter(([k]) => k.includes(`service="${service}"`));

describe('Prometheus textfile metrics', () => {
  let s: Sandbox;
  let prom: string;
  let file: string;
  const fail = () => path.join(s.dir, 'fail-b');
  before(() => {
    s = sandbox();
    prom = path.join(s.dir, 'textfile');
    fs.mkdirSync(prom);
    file = path.join(prom, 'batt.prom');
    fs.writeFileSync(path.join(s.home, 'conf', 'batt.conf'), `METRICS_DIR=${prom}\n`);
    writeScript(s.home, 'a', 'printf "hello\\n" > "$BATT_DEST/a.txt"; printf "x" > "$BATT_DEST/b.txt"');
    writeScript(s.home, 'b', `if [ -e ${fail()} ]; then echo "dump failed" >&2; exit 4; fi\necho data > "$BATT_DEST/b.txt"`);
    const off = path.join(s.dir, 'offsite');
    fs.mkdirSync(off);
    fs.mkdirSync(path.join(s.home, 'conf', 'targets'), { mode: 0o700 });
    fs.writeFileSync(path.join(s.home, 'conf', 'targets', 'off.conf'), `TYPE=local\nPATH=${off}\n`, { mode: 0o600 });
  });
  after(() => s.cleanup());

  test('after an ok run: every metric of each service, 0644, and a copy per target', async () => {
    const t0 = Math.floor(Date.now() / 1000);
    const r = await batt(['a', 'b', '--path', `${s.root}/%Y/%m/%d/%H%M%S`], { home: s.home });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(fs.statSync(file).mode & 0o777, 0o644);
    assert.deepEqual(fs.readdirSync(prom), ['batt.prom'], 'no temp file left');
    const m = metrics(file);
    assert.equal(m.get('batt_backup_last_status{service="a"}'), 0);
    assert.equal(m.get('batt_backup_last_bytes{service="a"}'), 7);
    assert.equal(m.get('batt_backup_last_files{service="a"}'), 2);
    assert.equal(m.get('batt_backups{service="a"}'), 1);
    const success = m.get('batt_backup_last_success_timestamp_seconds{service="b"}')!;
    assert.ok(success >= t0 && success <= Date.now() / 1000, String(success));
    assert.equal(m.get('batt_backup_last_run_timestamp_seconds{service="b"}'), success);
    assert.ok(m.get('batt_backup_last_duration_seconds{service="b"}')! < 60);
    assert.ok(m.get('batt_copy_last_success_timestamp_seconds{service="a",target="off"}')! >= t0);
  });

  test('after a failed run: status 2, last run moved, last success and the other service kept', async () => {
    const before = metrics(file);
    fs.writeFileSync(fail(), '');
    await new Promise((r) => setTimeout(r, 1100)); // a later second than the good run
    const r = await batt(['b', '--path', `${s.root}/%Y/%m/%d/%H%M%S`], { home: s.home });
    assert.equal(r.code, 1);
    const m = metrics(file);
    assert.equal(m.get('batt_backup_last_status{service="b"}'), 2);
    assert.equal(m.get('batt_backup_last_bytes{service="b"}'), 0);
    assert.equal(m.get('batt_backup_last_success_timestamp_seconds{service="b"}'), before.get('batt_backup_last_success_timestamp_seconds{service="b"}'));
    assert.ok(m.get('batt_backup_last_run_timestamp_seconds{service="b"}')! > before.get('batt_backup_last_run_timestamp_seconds{service="b"}')!);
    assert.equal(m.get('batt_backups{service="b"}'), 1);
    assert.deepEqual(linesOf(m, 'a'), linesOf(before, 'a'), 'a run of b alone keeps every line of a');
  });

  test('a run of one service, verify and purge each rewrite the file; the others\' lines stay', async () => {
    const before = metrics(file);
    assert.equal((await batt(['a', '--path', `${s.root}/%Y/%m/%d/%H%M%S`], { home: s.home })).code, 0);
    let m = metrics(file);
    assert.equal(m.get('batt_backups{service="a"}'), 2);
    assert.deepEqual(linesOf(m, 'b'), linesOf(before, 'b'));
    assert.equal(m.get('batt_verify_last_success_timestamp_seconds{service="a"}'), undefined);
    const v = await batt(['verify', '--path', `${s.root}/%Y/%m/%d/%H%M%S`], { home: s.home });
    assert.equal(v.code, 0, v.stderr);
    m = metrics(file);
    assert.ok(m.get('batt_verify_last_success_timestamp_seconds{service="a"}')! >= before.get('batt_backup_last_run_timestamp_seconds{service="a"}')!);
    assert.ok(m.has('batt_verify_last_success_timestamp_seconds{service="b"}'));
    const p = await batt(['purge', 'a', '--keep-last', '1', '--path', `${s.root}/%Y/%m/%d/%H%M%S`], { home: s.home });
    assert.equal(p.code, 0, p.stderr);
    m = metrics(file);
    assert.equal(m.get('batt_backups{service="a"}'), 1);
  });

  test('an unwritable METRICS_DIR is a warning; the run still succeeds', async () => {
    fs.writeFileSync(path.join(s.home, 'conf', 'batt.conf'), `METRICS_DIR=${path.join(s.dir, 'missing')}\n`);
    try {
      const r = await batt(['a', '--path', `${s.root}/%Y/%m/%d/%H%M%S`], { home: s.home });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /warning: cannot write metrics to .*missing\/batt\.prom: ENOENT/);
    } finally {
      fs.writeFileSync(path.join(s.home, 'conf', 'batt.conf'), `METRICS_DIR=${prom}\n`);
    }
  });
});

describe('batt status, a Nagios/Icinga check', () => {
  let s: Sandbox;
  const fail = () => path.join(s.dir, 'fail-db');
  const status = (...args: string[]) => batt(['status', '--path', s.pattern, ...args], { home: s.home });
  before(async () => {
    s = sandbox();
    writeScript(s.home, 'files', 'echo x > "$BATT_DEST/x"');
    writeScript(s.home, 'db', `if [ -e ${fail()} ]; then echo "dump failed" >&2; exit 4; fi\necho x > "$BATT_DEST/x"`);
    writeScript(s.home, 'off', 'echo x > "$BATT_DEST/x"');
    assert.equal((await batt(['enable', 'files', 'db'], { home: s.home })).code, 0);
  });
  after(() => s.cleanup());

  test('no good backup: CRITICAL, exit 2', async () => {
    const r = await status();
    assert.equal(r.code, 2, r.stderr);
    assert.equal(r.stdout.split('\n')[0], 'BATT CRITICAL - db: no good backup; files: no good backup | db_age=U;;93600;0 files_age=U;;93600;0');
  });

  test('fresh backups: OK, exit 0; a failed last run: WARNING, exit 1', async () => {
    assert.equal((await batt(['--path', s.pattern], { home: s.home })).code, 0);
    let r = await status();
    assert.equal(r.code, 0, r.stdout);
    assert.match(r.stdout.split('\n')[0]!, /^BATT OK - 2 services, oldest good backup \d+s ago \| db_age=\d+s;;93600;0 files_age=\d+s;;93600;0$/);
    fs.writeFileSync(fail(), '');
    assert.equal((await batt(['db', '--path', s.pattern], { home: s.home })).code, 1);
    r = await status();
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stdout, /^BATT WARNING - db: last run failed \d+s ago, last good backup \d+s ago \|/);
    fs.rmSync(fail());
  });

  test('an old backup: CRITICAL over --max-age, WARNING over --warn-age; a service\'s own MAX_AGE wins', async () => {
    assert.equal((await batt(['db', '--path', s.pattern], { home: s.home })).code, 0);
    // make every backup of files 30 hours old
    for (const f of fs.readdirSync(s.root, { recursive: true }) as string[]) {
      if (!f.endsWith('files/batt-manifest.json')) continue;
      const m = JSON.parse(fs.readFileSync(path.join(s.root, f), 'utf8'));
      m.finishedAt = new Date(Date.now() - 30 * 3600_000).toISOString();
      fs.writeFileSync(path.join(s.root, f), JSON.stringify(m));
    }
    let r = await status();
    assert.equal(r.code, 2);
    assert.match(r.stdout, /^BATT CRITICAL - files: last good backup 1d6h ago \(max 1d2h\) \|/);
    r = await status('--max-age', '2d', '--warn-age', '1d');
    assert.equal(r.code, 1);
    assert.match(r.stdout, /^BATT WARNING - files: last good backup 1d6h ago \(warn 1d\) \| db_age=\d+s;86400;172800;0 files_age=108\d{3}s;86400;172800;0$/m);
    fs.writeFileSync(path.join(s.home, 'conf', 'files.conf'), 'MAX_AGE=8d\n');
    r = await status('--max-age', '26h', '--json');
    assert.equal(r.code, 0, r.stdout);
    const doc = JSON.parse(r.stdout);
    assert.equal(doc.state, 'OK');
    const files = doc.services.find((x: { service: string }) => x.service === 'files');
    assert.equal(files.maxAgeSeconds, 8 * 86400);
    assert.equal(files.lastRun.status, 'ok');
    assert.ok(files.ageSeconds >= 30 * 3600);
  });

  test('what the check cannot judge is UNKNOWN, exit 3, with its one line', async () => {
    let r = await status('--max-age', 'soon');
    assert.equal(r.code, 3);
    assert.equal(r.stdout, 'BATT UNKNOWN - --max-age takes a duration such as 26h, 90m, 1d12h or seconds, got "soon"\n');
    fs.writeFileSync(path.join(s.home, 'conf', 'db.conf'), 'MAX_AGE=a week\n');
    r = await status();
    assert.equal(r.code, 3);
    assert.match(r.stdout, /^BATT UNKNOWN - .*db\.conf: MAX_AGE must be a duration/);
    fs.rmSync(path.join(s.home, 'conf', 'db.conf'));
    r = await batt(['status'], { home: path.join(s.dir, 'nohome') });
    assert.equal(r.code, 3);
    assert.match(r.stdout, /^BATT UNKNOWN - .*is not a batt home/);
    assert.equal((await batt(['disable', 'files', 'db'], { home: s.home })).code, 0);
    r = await status();
    assert.equal(r.code, 3);
    assert.equal(r.stdout, 'BATT UNKNOWN - no service is enabled\n');
  });
});
