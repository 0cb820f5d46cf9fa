// Several hosts sharing one target (docs/targets.md "Hosts sharing a target"): two batt homes under
// different host names (each run in its own UTS namespace with `unshare --uts` where root may, else
// HOST_NAME in batt.conf) back up the same service on the same day to one s3rver bucket (same
// PREFIX), one SFTP folder and one rsync-over-ssh folder on a real sshd, and one local folder. Each
// host's upload, listing, restore, verify and purge leave the other's copies as they are and never
// return them unless asked for with --host / --all-hosts.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { sandbox, batt, writeScript, listFiles, canSetHostname, REQUIRE_SERVERS, type Sandbox, type BattResult, writeTargetConf } from '../helpers/batt.js';
import { SSHD, startSshd, type Sshd } from '../helpers/sshd.js';
import { startS3, S3_KEY, S3_SECRET, type S3Server } from '../helpers/s3.js';

const skip = !SSHD && !REQUIRE_SERVERS ? 'sshd not installed (openssh-server)' : false;
const UTS = canSetHostname();
const TARGETS = ['s3', 'sftp', 'rsync', 'disk'] as const;

let s3: S3Server;
let sshd: Sshd;
let shared: string;
const hosts: Record<'a' | 'b', { name: string; sb: Sandbox }> = {} as never;

/** batt as host `who`: in its own UTS namespace when possible, else by HOST_NAME (written in before()). */
const as = (who: 'a' | 'b', args: string[]): Promise<BattResult> => {
  const h = hosts[who];
  return batt([...args, '--path', h.sb.pattern], { home: h.sb.home, hostname: UTS ? h.name : undefined });
};
const json = (r: BattResult) => {
  assert.equal(r.code, 0, r.stderr + r.stdout);
  return JSON.parse(r.stdout);
};

before(async () => {
  if (skip) return;
  s3 = await startS3();
  sshd = await startSshd();
  shared = fs.mkdtempSync(path.join(sshd.data, 'shared-'));
  for (const who of ['a', 'b'] as const) {
    const name = `web-${who}`;
    const sb = sandbox();
    hosts[who] = { name, sb };
    if (!UTS) fs.writeFileSync(path.join(sb.home, 'conf', 'batt.conf'), `HOST_NAME=${name}\n`);
    // the same service, the same local id (YYYY/MM/DD/demo), different data
    writeScript(sb.home, 'demo', `printf 'data of ${name} %s\\n' "$BATT_RUN_ID" > "$BATT_DEST/data.txt"`);
    writeScript(sb.home, 'demo', 'mkdir -p "$BATT_RESTORE_TO" && cp "$BATT_BACKUP/data.txt" "$BATT_RESTORE_TO/"', 'restore');
    const ssh = `HOST=127.0.0.1\nPORT=${sshd.port}\nUSER=${sshd.user}\nSSH_KEY=${sshd.keyFile}\nKNOWN_HOSTS=${sshd.knownHosts}\n`;
    writeTargetConf(sb.home, 's3', `TYPE=s3\nENDPOINT=${s3.endpoint}\nBUCKET=${s3.bucket}\nPREFIX=shared\nACCESS_KEY_ID=${S3_KEY}\nSECRET_ACCESS_KEY=${S3_SECRET}\n`);
    writeTargetConf(sb.home, 'sftp', `TYPE=sftp\n${ssh}PATH=${shared}/sftp\n`);
    writeTargetConf(sb.home, 'rsync', `TYPE=rsync\n${ssh}PATH=${shared}/rsync\n`);
    writeTargetConf(sb.home, 'disk', `TYPE=local\nPATH=${shared}/disk\n`);
  }
});
after(async () => {
  await sshd?.stop();
  await s3?.stop();
  for (const h of Object.values(hosts)) h.sb.cleanup();
});

/** The data.txt a restore from `target` on host `who` (with extra flags) puts into a new folder. */
async function restored(who: 'a' | 'b', target: string, extra: string[] = []): Promise<{ data: string; r: BattResult }> {
  const to = fs.mkdtempSync(path.join(hosts[who].sb.dir, 'restore-'));
  fs.rmdirSync(to);
  const r = await as(who, ['restore', 'demo', '--from', target, '--to', to, ...extra]);
  assert.equal(r.code, 0, `${target}: ${r.stderr}${r.stdout}`);
  return { data: fs.readFileSync(path.join(to, 'data.txt'), 'utf8'), r };
}

test('two hosts back up the same service the same day to one bucket, SFTP, rsync and local folder: neither copy replaces the other', { skip }, async () => {
  for (const who of ['a', 'b'] as const) {
    const r = await as(who, ['demo']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
  }
  const id = path.relative(hosts.a.sb.root, path.dirname(path.join(hosts.a.sb.root, listFiles(hosts.a.sb.root).find((f) => f.endsWith('/demo/batt-manifest.json'))!)));
  assert.equal(id, path.relative(hosts.b.sb.root, path.dirname(path.join(hosts.b.sb.root, listFiles(hosts.b.sb.root).find((f) => f.endsWith('/demo/batt-manifest.json'))!))));
  // each host's copy in its own folder, on the file targets where the test can look
  for (const t of ['sftp', 'rsync', 'disk']) {
    for (const who of ['a', 'b'] as const) {
      const dir = path.join(shared, t, hosts[who].name, id);
      assert.match(fs.readFileSync(path.join(dir, 'data.txt'), 'utf8'), new RegExp(`^data of ${hosts[who].name} `), `${t}: ${dir}`);
      assert.equal(JSON.parse(fs.readFileSync(path.join(dir, 'batt-remote.json'), 'utf8')).host, hosts[who].name);
    }
  }
  for (const t of TARGETS) {
    // the listing: this host's copy by default, with the host column; both with --all-hosts
    for (const who of ['a', 'b'] as const) {
      const own = json(await as(who, ['backups', '--from', t, '--json']));
      assert.deepEqual(own.backups.map((c: { id: string; host: string }) => [c.id, c.host]), [[`${hosts[who].name}/${id}`, hosts[who].name]], t);
      assert.equal(own.otherHosts, 1, t);
    }
    const all = json(await as('a', ['backups', '--from', t, '--json', '--all-hosts']));
    assert.deepEqual(all.backups.map((c: { host: string }) => c.host).sort(), ['web-a', 'web-b'], t);
    const theirs = json(await as('a', ['backups', '--from', t, '--json', '--host', 'web-b']));
    assert.deepEqual(theirs.backups.map((c: { host: string }) => c.host), ['web-b'], t);
    const text = await as('a', ['backups', '--from', t]);
    assert.match(text.stdout, /^ID +HOST +SERVICE/m, t);
    assert.match(text.stdout, new RegExp(`^web-a/${id} +web-a +demo `, 'm'), t);
    assert.match(text.stdout, /1 copy of other hosts not shown/, t);
  }
});

test('restore --from and verify --from take this host\'s copy; another host\'s only with --host, and said so', { skip }, async () => {
  for (const t of TARGETS) {
    for (const who of ['a', 'b'] as const) {
      const own = await restored(who, t);
      assert.match(own.data, new RegExp(`^data of ${hosts[who].name} `), t);
      assert.doesNotMatch(own.r.stderr, /copy of host/, t);
      const v = json(await as(who, ['verify', '--from', t, '--json']));
      assert.deepEqual(v.backups.map((c: { host: string; ok: boolean }) => [c.host, c.ok]), [[hosts[who].name, true]], t);
    }
    {
      const [who, other] = ['a', 'b'] as const;
      const theirs = await restored(who, t, ['--host', hosts[other].name]);
      assert.match(theirs.data, new RegExp(`^data of ${hosts[other].name} `), t);
      assert.match(theirs.r.stderr, new RegExp(`is a copy of host ${hosts[other].name}, not of this host \\(${hosts[who].name}\\)`), t);
      assert.match(theirs.r.stdout, new RegExp(`\\(a copy of host ${hosts[other].name}\\)`), t);
      // naming the other host's copy by id without --host is refused, with the way to take it
      const named = await as(who, ['restore', 'demo', `${hosts[other].name}/${listIdOf(who)}`, '--from', t, '--to', path.join(hosts[who].sb.dir, 'never')]);
      assert.equal(named.code, 2, named.stderr);
      assert.match(named.stderr, new RegExp(`is a copy of host ${hosts[other].name}, not of host ${hosts[who].name}`), t);
      assert.ok(!fs.existsSync(path.join(hosts[who].sb.dir, 'never')));
      const va = json(await as(who, ['verify', '--from', t, '--json', '--all-hosts']));
      assert.deepEqual(va.backups.map((c: { host: string }) => c.host).sort(), ['web-a', 'web-b'], t);
    }
  }
});

/** The local backup id of host `who`'s (first) demo backup. */
function listIdOf(who: 'a' | 'b'): string {
  const m = listFiles(hosts[who].sb.root).find((f) => f.endsWith('/demo/batt-manifest.json'))!;
  return path.dirname(m);
}

test('purge --target thins only this host\'s copies, keeping its newest; the other host\'s series is untouched unless named with --host', { skip }, async () => {
  // a second run on each host: two copies each, per target
  for (const who of ['a', 'b'] as const) assert.equal((await as(who, ['demo'])).code, 0);
  for (const t of TARGETS) {
    const before = json(await as('a', ['backups', '--from', t, '--json', '--all-hosts'])).backups.map((c: { id: string }) => c.id).sort();
    assert.equal(before.length, 4, `${t}: ${before}`);
    const p = json(await as('b', ['purge', '--target', t, '--keep-last', '1', '--json']));
    assert.equal(p.host, 'web-b');
    assert.deepEqual(p.remove.map((x: { id: string; removed: boolean }) => [x.id.split('/')[0], x.removed]), [['web-b', true]], t);
    const after = json(await as('a', ['backups', '--from', t, '--json', '--all-hosts'])).backups.map((c: { id: string }) => c.id).sort();
    // both of web-a's copies stay; web-b kept its newest
    assert.deepEqual(after.filter((i: string) => i.startsWith('web-a/')), before.filter((i: string) => i.startsWith('web-a/')), t);
    assert.equal(after.filter((i: string) => i.startsWith('web-b/')).length, 1, t);
    assert.equal(json(await as('a', ['verify', '--from', t, '--json'])).ok, true, t);
    // named explicitly, another host's copies are purged by its policy, its newest kept
    const q = json(await as('b', ['purge', '--target', t, '--keep-last', '1', '--host', 'web-a', '--dry-run', '--json']));
    assert.deepEqual(q.remove.map((x: { host: string }) => x.host), ['web-a'], t);
    assert.deepEqual(q.keep.map((x: { host: string }) => x.host), ['web-a'], t);
  }
});

test('a copy replaced on the target behind this host\'s back is refused by restore and verify (its index differs from batt-copies.json)', { skip }, async () => {
  const t = 'disk';
  const [newest] = json(await as('a', ['backups', '--from', t, '--json'])).backups.slice(-1);
  const index = path.join(shared, t, newest.id, 'batt-remote.json');
  const original = fs.readFileSync(index, 'utf8');
  const idx = JSON.parse(original);
  idx.uploadedAt = new Date(0).toISOString();
  fs.writeFileSync(index, JSON.stringify(idx, null, 2) + '\n');
  const to = path.join(hosts.a.sb.dir, 'replaced');
  const r = await as('a', ['restore', 'demo', '--from', t, '--to', to]);
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /is not the copy this host uploaded: its batt-remote\.json differs from the one recorded in .*batt-copies\.json/);
  assert.ok(!fs.existsSync(to));
  const v = await as('a', ['verify', '--from', t, '--json']);
  assert.equal(v.code, 1);
  const bad = JSON.parse(v.stdout).backups.find((c: { id: string }) => c.id === newest.id);
  assert.match(bad.problems[0].problem, /not the copy this host uploaded/);
  fs.writeFileSync(index, original);
  assert.equal(json(await as('a', ['verify', '--from', t, '--json'])).ok, true);
});

test('copies in the layout before host folders stay listed, restored and purged as their index\'s host\'s', { skip }, async () => {
  const t = 'disk';
  const [first] = json(await as('a', ['backups', '--from', t, '--json'])).backups;
  const legacy = first.id.slice('web-a/'.length).replace(/demo(\.\d+)?$/, 'demo.9');
  // as batt before host folders wrote it: <PATH>/<backup id>, the index naming its host
  fs.cpSync(path.join(shared, t, first.id), path.join(shared, t, legacy), { recursive: true });
  const mine = json(await as('a', ['backups', '--from', t, '--json'])).backups;
  assert.ok(mine.some((c: { id: string; host: string }) => c.id === legacy && c.host === 'web-a'), JSON.stringify(mine));
  assert.ok(!json(await as('b', ['backups', '--from', t, '--json'])).backups.some((c: { id: string }) => c.id === legacy));
  const to = path.join(hosts.a.sb.dir, 'legacy');
  const r = await as('a', ['restore', 'demo', legacy, '--from', t, '--to', to]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(fs.readFileSync(path.join(to, 'data.txt'), 'utf8'), /^data of web-a /);
  // web-b's purge never counts it; web-a's policy does
  const pb = json(await as('b', ['purge', '--target', t, '--keep-last', '1', '--dry-run', '--json']));
  assert.ok(![...pb.keep, ...pb.remove].some((x: { id: string }) => x.id === legacy));
  const pa = json(await as('a', ['purge', '--target', t, '--keep-last', '9', '--dry-run', '--json']));
  assert.ok(pa.keep.some((x: { id: string }) => x.id === legacy));
});

test('the sweep of copies cut off before their index leaves another host\'s folder alone; its own host sweeps it', { skip }, async () => {
  const t = 'disk';
  const old = new Date(Date.now() - 3 * 24 * 3600_000);
  const cut = (rel: string) => {
    const dir = path.join(shared, t, rel);
    fs.mkdirSync(dir, { recursive: true });
    fs.writeFileSync(path.join(dir, 'data.txt'), 'half');
    for (const p of [path.join(dir, 'data.txt'), dir]) fs.utimesSync(p, old, old);
  };
  cut('web-b/2020/01/01/demo');
  cut('web-a/2020/01/01/demo');
  const a = json(await as('a', ['purge', '--target', t, '--keep-last', '9', '--json']));
  assert.deepEqual(a.leftovers.copies.map((c: { rel: string }) => c.rel), ['web-a/2020/01/01/demo']);
  assert.ok(fs.existsSync(path.join(shared, t, 'web-b/2020/01/01/demo/data.txt')), 'web-a swept web-b\'s folder');
  assert.ok(!fs.existsSync(path.join(shared, t, 'web-a/2020/01/01/demo')));
  const b = json(await as('b', ['purge', '--target', t, '--keep-last', '9', '--json']));
  assert.deepEqual(b.leftovers.copies.map((c: { rel: string }) => c.rel), ['web-b/2020/01/01/demo']);
});

test('two homes with one host name (HOST_NAME) are one host: the second upload of a taken id goes to the next free id (~2), never over the first', { skip }, async () => {
  const twins = [sandbox(), sandbox()];
  try {
    for (const [i, sb] of twins.entries()) {
      fs.writeFileSync(path.join(sb.home, 'conf', 'batt.conf'), 'HOST_NAME=twin\n');
      writeScript(sb.home, 'demo', `echo "twin ${i}" > "$BATT_DEST/data.txt"`);
      writeTargetConf(sb.home, 'disk', `TYPE=local\nPATH=${shared}/twins\n`);
      writeTargetConf(sb.home, 's3', `TYPE=s3\nENDPOINT=${s3.endpoint}\nBUCKET=${s3.bucket}\nPREFIX=twins\nACCESS_KEY_ID=${S3_KEY}\nSECRET_ACCESS_KEY=${S3_SECRET}\n`);
      // HOST_NAME wins over the system host name (set to another one where the test can)
      const r = await batt(['demo', '--path', sb.pattern], { home: sb.home, hostname: UTS ? `system-${i}` : undefined });
      assert.equal(r.code, 0, r.stderr + r.stdout);
    }
    const id = path.dirname(listFiles(twins[0]!.root).find((f) => f.endsWith('/demo/batt-manifest.json'))!);
    assert.equal(fs.readFileSync(path.join(shared, 'twins', 'twin', id, 'data.txt'), 'utf8'), 'twin 0\n');
    assert.equal(fs.readFileSync(path.join(shared, 'twins', 'twin', `${id}~2`, 'data.txt'), 'utf8'), 'twin 1\n');
    assert.ok(!fs.existsSync(path.join(shared, 'twins', 'system-0')));
    const log = fs.readFileSync(path.join(twins[1]!.home, 'log', 'batt.log'), 'utf8');
    assert.match(log, new RegExp(`disk: twin/${id} is taken on the target \\(not this run's\\): copied to twin/${id}~2 instead`));
    assert.match(log, new RegExp(`s3: twin/${id} is taken on the target \\(not this run's\\): copied to twin/${id}~2 instead`));
    const dir1 = path.dirname(path.join(twins[1]!.root, listFiles(twins[1]!.root).find((f) => f.endsWith('/demo/batt-manifest.json'))!));
    const recs = JSON.parse(fs.readFileSync(path.join(dir1, 'batt-copies.json'), 'utf8')).copies;
    assert.deepEqual(recs.map((c: { id: string; host: string }) => [c.id, c.host]), [[`twin/${id}~2`, 'twin'], [`twin/${id}~2`, 'twin']]);
    for (const t of ['disk', 's3']) {
      const both = json(await batt(['backups', '--from', t, '--json', '--path', twins[0]!.pattern], { home: twins[0]!.home }));
      assert.deepEqual(both.backups.map((c: { id: string }) => c.id), [`twin/${id}`, `twin/${id}~2`], t);
      const v = json(await batt(['verify', '--from', t, '--json', '--path', twins[0]!.pattern], { home: twins[0]!.home }));
      assert.equal(v.ok, true, t);
    }
  } finally {
    for (const sb of twins) sb.cleanup();
  }
});
