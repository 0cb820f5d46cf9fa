// restic repository targets (TYPE=restic) with Debian's restic: a repository on disk, over the
// tests' real sshd (sftp:) and in s3rver (s3:). Each sealed backup folder becomes one snapshot;
// batt lists, restores, verifies and purges through restic; an interrupted restic never counts
// as a copy and the next run leaves the repository healthy (restic check clean, stale locks gone).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFile, execFileSync, spawnSync } from 'node:child_process';
import { promisify } from 'node:util';
import { HOST, REPO, sandbox, batt, writeScript, listFiles, REQUIRE_SERVERS, type Sandbox, writeTargetConf } from '../helpers/batt.js';
import { SSHD, startSshd, type Sshd } from '../helpers/sshd.js';
import { startS3, S3_KEY, S3_SECRET, type S3Server } from '../helpers/s3.js';
import { resolveHome } from '../../src/core/home.js';
import { loadTarget } from '../../src/targets/config.js';
import { openCopyTarget } from '../../src/targets/open.js';

const execFileAsync = promisify(execFile);
const RESTIC = spawnSync('restic', ['version'], { encoding: 'utf8' }).status === 0;
const skip = !RESTIC && !REQUIRE_SERVERS ? 'restic not installed (Debian package restic)' : false;
const skipSsh = skip || (!SSHD && !REQUIRE_SERVERS ? 'sshd not installed (openssh-server)' : false);

const PASSWORD = 'correct-horse-restic-7781';
let sb: Sandbox;
let pwFile: string;
let repo: string;
let cache: string;

const conf = (name: string, text: string) => writeTargetConf(sb.home, name, text);
const target = async (name: string) => openCopyTarget(await loadTarget(resolveHome(sb.home, {}), name));

/** restic run by the test itself, as a person would, on `repository` (extra: sftp.command...). */
async function restic(repository: string, args: string[], extra: { env?: Record<string, string>; global?: string[] } = {}): Promise<string> {
  // not execFileSync: s3rver answers from this very process
  const r = await execFileAsync('restic', [...(extra.global ?? []), ...args], {
    encoding: 'utf8',
    env: { ...process.env, RESTIC_REPOSITORY: repository, RESTIC_PASSWORD_FILE: pwFile, RESTIC_CACHE_DIR: cache, ...extra.env },
    maxBuffer: 64 << 20,
  });
  return r.stdout;
}
const snapshots = async (repository: string, extra?: Parameters<typeof restic>[2]) =>
  JSON.parse(await restic(repository, ['snapshots', '--json'], extra)) as { id: string; hostname: string; tags: string[]; paths: string[] }[];
const env = () => ({ RESTIC_CACHE_DIR: cache });
const manifestsOf = (service: string) =>
  listFiles(sb.root)
    .filter((f) => new RegExp(`/${service}(\\.\\d+)?/batt-manifest\\.json$`).test(f))
    .map((f) => path.dirname(path.join(sb.root, f)));

before(async () => {
  if (skip) return;
  sb = sandbox();
  cache = path.join(sb.dir, 'restic-cache');
  pwFile = path.join(sb.dir, 'restic.pw');
  fs.writeFileSync(pwFile, `${PASSWORD}\n`, { mode: 0o600 });
  repo = path.join(sb.dir, 'repo');
  await restic(repo, ['init', '--repository-version', '2']);
  writeScript(sb.home, 'demo', 'printf "hello restic\\n" > "$BATT_DEST/a.txt"; mkdir -p "$BATT_DEST/d"; head -c 3000000 /dev/urandom > "$BATT_DEST/d/big.bin"');
  writeScript(sb.home, 'demo', 'cp -r "$BATT_BACKUP/." "$BATT_RESTORE_TO/"', 'restore');
  conf('r', `TYPE=restic\nREPOSITORY=${repo}\nPASSWORD_FILE=${pwFile}\n`);
});
after(() => sb?.cleanup());

test('a run backs the sealed folder up as one snapshot: relative paths, tagged batt/id/service, the backup host; recorded only then', { skip }, async () => {
  const r = await batt(['demo', '--target', 'r', '--path', sb.pattern], { home: sb.home, env: env() });
  assert.equal(r.code, 0, r.stderr);
  const [dir] = manifestsOf('demo');
  const id = `${HOST}/${path.relative(sb.root, dir!)}`; // the copy's id: host folder first (issue 22)
  const manifest = JSON.parse(fs.readFileSync(path.join(dir!, 'batt-manifest.json'), 'utf8'));
  const snaps = await snapshots(repo);
  assert.equal(snaps.length, 1);
  assert.equal(snaps[0]!.hostname, manifest.host);
  for (const t of ['batt', `id=${id}`, 'service=demo', `run=${manifest.runId}`, `started=${manifest.startedAt}`, 'files=2']) assert.ok(snaps[0]!.tags.includes(t), t);
  const ls = (await restic(repo, ['ls', snaps[0]!.id])).split('\n').slice(1).filter(Boolean).sort();
  assert.deepEqual(ls, ['/a.txt', '/batt-manifest.json', '/d', '/d/big.bin']);
  const copies = JSON.parse(fs.readFileSync(path.join(dir!, 'batt-copies.json'), 'utf8')).copies;
  assert.equal(copies.length, 1);
  assert.equal(copies[0].kind, 'restic');
  assert.equal(copies[0].encryption, 'restic');
  assert.equal(copies[0].location, `restic:${repo} id=${id}`);
  // copied to a local folder first, the folder holds batt-copies.json when restic runs: it never goes into a snapshot
  conf('usb', `TYPE=local\nPATH=${path.join(sb.dir, 'usb')}\n`);
  const again = await batt(['demo', '--target', 'usb', '--target', 'r', '--path', sb.pattern], { home: sb.home, env: env() });
  assert.equal(again.code, 0, again.stderr);
  const latest = (await snapshots(repo)).at(-1)!;
  assert.deepEqual((await restic(repo, ['ls', latest.id])).split('\n').slice(1).filter(Boolean).sort(), ['/a.txt', '/batt-manifest.json', '/d', '/d/big.bin']);
  const dir2 = path.join(sb.root, latest.tags.find((t) => t.startsWith('id='))!.slice(3 + HOST.length + 1));
  assert.deepEqual(JSON.parse(fs.readFileSync(path.join(dir2, 'batt-copies.json'), 'utf8')).copies.map((c: { target: string }) => c.target), ['usb', 'r']);
});

test('backups --from lists the copies; restore --from restores the snapshot, checks it, runs the restore script', { skip }, async () => {
  const list = await batt(['backups', '--from', 'r', '--json'], { home: sb.home, env: env() });
  assert.equal(list.code, 0, list.stderr);
  const backups = JSON.parse(list.stdout).backups;
  assert.ok(backups.length >= 1);
  assert.deepEqual(Object.keys(backups[0]).sort(), ['bytes', 'encryption', 'files', 'host', 'id', 'service', 'startedAt', 'uploadedAt']);
  assert.equal(backups[0].files, 2);
  assert.equal(backups[0].encryption, 'restic');
  const plain = await batt(['backups', '--from', 'r'], { home: sb.home, env: env() });
  assert.match(plain.stdout, /restic/);
  const id = backups[0].id;
  const to = path.join(sb.dir, 'restored');
  fs.mkdirSync(to);
  const res = await batt(['restore', 'demo', id, '--from', 'r', '--to', to], { home: sb.home, env: env() });
  assert.equal(res.code, 0, res.stderr);
  assert.equal(fs.readFileSync(path.join(to, 'a.txt'), 'utf8'), 'hello restic\n');
  assert.deepEqual(fs.readFileSync(path.join(to, 'd/big.bin')), fs.readFileSync(path.join(sb.root, id.slice(HOST.length + 1), 'd/big.bin')));
  const none = await batt(['restore', 'demo', '1999/01/01/demo', '--from', 'r', '--to', to], { home: sb.home, env: env() });
  assert.equal(none.code, 2, none.stderr);
});

test('restore without batt: the doc\'s restic block, run literally, restores the copy and its manifest check passes', { skip }, async () => {
  const doc = fs.readFileSync(path.join(REPO, 'docs', 'restore-without-batt.md'), 'utf8');
  let block = /```sh\n# by hand: restic\n([\s\S]*?)```/.exec(doc)?.[1];
  assert.ok(block, 'no "# by hand: restic" block in docs/restore-without-batt.md');
  const id = (await snapshots(repo)).map((x) => x.tags.find((t) => t.startsWith('id='))!.slice(3))[0]!;
  const to = path.join(sb.dir, 'by-hand');
  for (const [k, v] of Object.entries({ RESTIC_REPOSITORY: repo, RESTIC_PASSWORD_FILE: pwFile, ID: id, TO: to })) {
    assert.match(block, new RegExp(`^${k}=`, 'm'), `no ${k}= line`);
    block = block.replace(new RegExp(`^${k}=.*$`, 'm'), `${k}=${JSON.stringify(v)}`);
  }
  const clean = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('RESTIC_')));
  const r = spawnSync('bash', ['-e', '-c', block], { encoding: 'utf8', cwd: sb.dir, env: { ...clean, RESTIC_CACHE_DIR: cache } });
  assert.equal(r.status, 0, r.stderr + r.stdout);
  assert.match(r.stdout, /a\.txt: OK/);
  assert.match(r.stdout, /d\/big\.bin: OK/);
  assert.deepEqual(fs.readFileSync(path.join(to, 'd/big.bin')), fs.readFileSync(path.join(sb.root, id.slice(HOST.length + 1), 'd/big.bin')));
});

test('the same id twice (another host or run): the second snapshot is id~2 (as on every target; id.2 is the next local run), never ambiguous', { skip }, async () => {
  const { target: t } = await target('r');
  const before = await t.list();
  const id = before[0]!.id;
  const dir = path.join(sb.root, id.slice(HOST.length + 1));
  const idx = await t.put(dir, id, { host: 'web2' });
  // the next free one of id~2, id~3...; never id.2, which is the id of the day's second local run
  assert.equal(idx.id, `${id}~${before.filter((c) => c.id.startsWith(`${id}~`)).length + 2}`);
  assert.ok(!before.some((c) => c.id === idx.id));
  const after = await t.list();
  assert.equal(after.length, before.length + 1);
  assert.equal(after.find((c) => c.id === idx.id)?.host, 'web2');
  await t.remove(idx.id);
  assert.equal((await t.list()).length, before.length);
});

test('verify --from: restic check and every copy restored and re-hashed; a damaged pack fails it; --read-data-subset', { skip }, async () => {
  const ok = await batt(['verify', '--from', 'r', '--read-data-subset', '1/1'], { home: sb.home, env: env() });
  assert.equal(ok.code, 0, ok.stderr);
  assert.match(ok.stdout, /verified \d+ cop/);
  const bad = await batt(['verify', '--from', 'r', '--read-data-subset', 'half'], { home: sb.home, env: env() });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--read-data-subset must be/);
  const notRestic = await batt(['verify', '--read-data-subset', '1/2'], { home: sb.home, env: env() });
  assert.equal(notRestic.code, 2);
  // flip one byte in the middle of the biggest pack (a copy of the repository, so the others stay whole)
  const broken = path.join(sb.dir, 'repo-broken');
  fs.cpSync(repo, broken, { recursive: true });
  const packs = listFiles(path.join(broken, 'data')).map((f) => path.join(broken, 'data', f));
  const big = packs.sort((a, b) => fs.statSync(b).size - fs.statSync(a).size)[0]!;
  fs.chmodSync(big, 0o600);
  const fd = fs.openSync(big, 'r+');
  const b = Buffer.alloc(1);
  const at = Math.floor(fs.statSync(big).size / 2);
  fs.readSync(fd, b, 0, 1, at);
  fs.writeSync(fd, Buffer.from([b[0]! ^ 0xff]), 0, 1, at);
  fs.closeSync(fd);
  conf('broken', `TYPE=restic\nREPOSITORY=${broken}\nPASSWORD_FILE=${pwFile}\n`);
  const v = await batt(['verify', '--from', 'broken', '--read-data-subset', '1/1'], { home: sb.home, env: env() });
  assert.equal(v.code, 1, v.stdout);
  assert.match(v.stderr, /broken: repository: restic check/);
});

test('purge --target: forgets what the policy drops, prunes, never the newest; --dry-run forgets nothing', { skip }, async () => {
  const count = async () => (await snapshots(repo)).length;
  for (let i = await count(); i < 3; i++) assert.equal((await batt(['demo', '--target', 'r', '--path', sb.pattern], { home: sb.home, env: env() })).code, 0);
  const n = await count();
  const dry = await batt(['purge', '--target', 'r', '--keep-last', '1', '--dry-run'], { home: sb.home, env: env() });
  assert.equal(dry.code, 0, dry.stderr);
  assert.equal((dry.stdout.match(/would remove r:/g) ?? []).length, n - 1);
  assert.equal(await count(), n);
  const newest = (await snapshots(repo)).at(-1)!;
  const packsBefore = listFiles(path.join(repo, 'data')).length;
  const r = await batt(['purge', '--target', 'r', '--keep-last', '1'], { home: sb.home, env: env() });
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual((await snapshots(repo)).map((s) => s.id), [newest.id]);
  assert.ok(listFiles(path.join(repo, 'data')).length < packsBefore, 'prune removed the data of the forgotten snapshots');
  assert.match(await restic(repo, ['check']), /no errors were found/);
  // an empty policy is refused, as for local backups
  const empty = await batt(['purge', '--target', 'r'], { home: sb.home, env: env() });
  assert.notEqual(empty.code, 0);
  assert.equal(await count(), 1);
});

test('incrementals (FULL_EVERY) on a restic target: each snapshot tags its base, purge --target keeps the chain, restore --from restores the chain', { skip }, async () => {
  const own = sandbox({ builtins: true });
  try {
    const r = path.join(own.dir, 'repo');
    await restic(r, ['init', '--repository-version', '2']);
    writeTargetConf(own.home, 'r', `TYPE=restic\nREPOSITORY=${r}\nPASSWORD_FILE=${pwFile}\n`);
    const tree = path.join(own.dir, 'www');
    fs.mkdirSync(tree);
    fs.writeFileSync(path.join(tree, 'index.html'), 'v1\n');
    fs.writeFileSync(path.join(tree, 'gone.txt'), 'deleted on day 2\n');
    const year = new Date().getFullYear();
    const day = (n: number) => `${own.root}/%Y/d${n}`;
    const id = (n: number) => `${HOST}/${year}/d${n}/file`;
    const run = async (n: number) => {
      const b = await batt(['--path', day(n), '--file', tree, '--file-full-every', '7', '--target', 'r'], { home: own.home, env: env() });
      assert.equal(b.code, 0, b.stderr + b.stdout);
    };
    await run(1);
    fs.writeFileSync(path.join(tree, 'index.html'), 'v2\n');
    fs.rmSync(path.join(tree, 'gone.txt'));
    await run(2);
    fs.writeFileSync(path.join(tree, 'new.txt'), 'day 3\n');
    await run(3);
    const tags = (await snapshots(r)).map((x) => x.tags.find((t) => t.startsWith('base=')));
    assert.deepEqual(tags, [undefined, `base=${id(1)}`, `base=${id(2)}`]);
    // the newest alone by policy, but it needs its whole chain
    const dry = await batt(['purge', '--target', 'r', '--keep-last', '1', '--dry-run', '--path', day(1)], { home: own.home, env: env() });
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, new RegExp(`keep +r:${id(1)} +base of ${id(2)}`));
    assert.doesNotMatch(dry.stdout, /would remove r:/);
    const p = await batt(['purge', '--target', 'r', '--keep-last', '1', '--path', day(1)], { home: own.home, env: env() });
    assert.equal(p.code, 0, p.stderr);
    assert.equal((await snapshots(r)).length, 3, 'nothing of the chain forgotten');
    // the local backups gone: the repository alone gives day 3 back, day 2's deletion applied
    fs.rmSync(own.root, { recursive: true });
    const to = path.join(own.dir, 'restored');
    const res = await batt(['restore', 'file', `${year}/d3/file`, '--from', 'r', '--to', to, '--path', day(1)], { home: own.home, env: env() });
    assert.equal(res.code, 0, res.stderr + res.stdout);
    assert.deepEqual(listFiles(path.join(to, tree.slice(1))).sort(), ['index.html', 'new.txt']);
    assert.equal(fs.readFileSync(path.join(to, tree.slice(1), 'index.html'), 'utf8'), 'v2\n');
    // a snapshot of an incremental without base= (made by a batt before it tagged them): refused, said why
    const d3 = (await snapshots(r)).find((x) => x.tags.includes(`id=${id(3)}`))!;
    await restic(r, ['tag', '--remove', `base=${id(2)}`, d3.id]);
    const old = await batt(['restore', 'file', `${year}/d3/file`, '--from', 'r', '--to', path.join(own.dir, 'r-old'), '--path', day(1)], { home: own.home, env: env() });
    assert.equal(old.code, 1, old.stdout);
    assert.match(old.stderr, /is an incremental, but its copy does not name its base/);
  } finally {
    own.cleanup();
  }
});

/** Runs batt (a backup of `big` to `name`) and sends `sig` to batt, or to restic itself, once restic holds its lock. */
async function interrupt(name: string, lockDir: string, sig: NodeJS.Signals, whom: 'batt' | 'restic') {
  let child: import('node:child_process').ChildProcess | undefined;
  const run = batt(['big', '--target', name, '--path', sb.pattern], { home: sb.home, env: env(), onSpawn: (c) => (child = c) });
  const t0 = Date.now();
  while (Date.now() - t0 < 60_000) {
    if (fs.existsSync(lockDir) && fs.readdirSync(lockDir).length) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  assert.ok(fs.readdirSync(lockDir).length, 'restic took its lock');
  await new Promise((r) => setTimeout(r, 300)); // restic is inside the backup: packs being written
  if (whom === 'batt') child!.kill(sig);
  else {
    const pid = execFileSync('pgrep', ['-P', String(child!.pid), '-x', 'restic'], { encoding: 'utf8' }).trim();
    process.kill(Number(pid), sig);
  }
  return run;
}

for (const [sig, whom, code] of [
  ['SIGTERM', 'batt', 143],
  ['SIGINT', 'batt', 130],
  ['SIGKILL', 'restic', 1],
] as const) {
  test(`${sig} to ${whom} during restic backup: no snapshot, no copy recorded, no restic left; the next run leaves the repository healthy`, { skip }, async () => {
    const repo2 = path.join(sb.dir, `repo-${sig}`);
    await restic(repo2, ['init', '--repository-version', '2']);
    conf(`i${sig.toLowerCase()}`, `TYPE=restic\nREPOSITORY=${repo2}\nPASSWORD_FILE=${pwFile}\n`);
    writeScript(sb.home, 'big', 'head -c 400000000 /dev/urandom > "$BATT_DEST/big.bin"');
    const res = await interrupt(`i${sig.toLowerCase()}`, path.join(repo2, 'locks'), sig, whom);
    assert.equal(res.code, code, res.stderr);
    if (whom === 'batt') assert.match(res.stderr, /upload interrupted, no copy made/);
    else assert.match(res.stderr, /upload failed/);
    assert.deepEqual(await snapshots(repo2), []);
    for (const dir of manifestsOf('big')) {
      const copies = fs.existsSync(path.join(dir, 'batt-copies.json')) ? JSON.parse(fs.readFileSync(path.join(dir, 'batt-copies.json'), 'utf8')).copies : [];
      assert.ok(!copies.some((c: { target: string }) => c.target === `i${sig.toLowerCase()}`), 'an interrupted copy is not recorded');
    }
    assert.equal(spawnSync('pgrep', ['-x', 'restic']).status === 0 && execFileSync('pgrep', ['-a', '-x', 'restic'], { encoding: 'utf8' }).includes(repo2), false, 'no restic left');
    if (sig === 'SIGINT') assert.deepEqual(fs.readdirSync(path.join(repo2, 'locks')), [], 'restic removed its lock on SIGINT');
    if (sig === 'SIGKILL') assert.equal(fs.readdirSync(path.join(repo2, 'locks')).length, 1, 'a killed restic leaves its lock');
    writeScript(sb.home, 'big', 'head -c 2000000 /dev/urandom > "$BATT_DEST/big.bin"');
    const next = await batt(['big', '--target', `i${sig.toLowerCase()}`, '--path', sb.pattern], { home: sb.home, env: env() });
    assert.equal(next.code, 0, next.stderr);
    assert.equal((await snapshots(repo2)).length, 1);
    assert.deepEqual(fs.readdirSync(path.join(repo2, 'locks')), [], 'the stale lock is gone');
    assert.match(await restic(repo2, ['check']), /no errors were found/);
  });
}

test('the password reaches restic only as a file: never in its argv or environment', { skip }, async () => {
  const log = path.join(sb.dir, 'restic-calls');
  const wrapper = path.join(sb.dir, 'restic-wrapper');
  fs.writeFileSync(wrapper, `#!/bin/bash\n{ printf '%s\\n' "$*"; env; } >> '${log}'\nexec restic "$@"\n`, { mode: 0o755 });
  const r = await batt(['demo', '--target', 'r', '--path', sb.pattern], { home: sb.home, env: { ...env(), BATT_RESTIC: wrapper } });
  assert.equal(r.code, 0, r.stderr);
  const calls = fs.readFileSync(log, 'utf8');
  assert.match(calls, /^backup --json --files-from-verbatim /m);
  assert.match(calls, new RegExp(`^RESTIC_PASSWORD_FILE=${pwFile}$`, 'm'));
  assert.ok(!calls.includes(PASSWORD), 'the password is in argv or the environment');
  assert.ok(!fs.readFileSync(path.join(sb.home, 'log', 'batt.log'), 'utf8').includes(PASSWORD));
});

test('a repository that does not exist: the run fails loudly, says how to create it, keeps the local backup', { skip }, async () => {
  conf('nowhere', `TYPE=restic\nREPOSITORY=${path.join(sb.dir, 'no-repo')}\nPASSWORD_FILE=${pwFile}\n`);
  const n = manifestsOf('demo').length;
  const r = await batt(['demo', '--target', 'nowhere', '--path', sb.pattern], { home: sb.home, env: env() });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /restic init --repository-version 2/);
  assert.equal(manifestsOf('demo').length, n + 1);
  fs.chmodSync(pwFile, 0o644);
  try {
    const open = await batt(['demo', '--target', 'r', '--path', sb.pattern], { home: sb.home, env: env() });
    assert.equal(open.code, 1);
    assert.match(open.stderr, /PASSWORD_FILE .* is readable by others/);
  } finally {
    fs.chmodSync(pwFile, 0o600);
  }
});

test('sftp: repository over the real sshd (its own key, known_hosts and port): run, list, restore, verify', { skip: skipSsh }, async () => {
  const sshd: Sshd = await startSshd();
  try {
    const where = `sftp:${sshd.user}@127.0.0.1:${sshd.data}/restic`;
    const ssh = `ssh -o BatchMode=yes -o StrictHostKeyChecking=yes -p ${sshd.port} -i ${sshd.keyFile} -o UserKnownHostsFile=${sshd.knownHosts} ${sshd.user}@127.0.0.1 -s sftp`;
    await restic(where, ['init', '--repository-version', '2'], { global: ['-o', `sftp.command=${ssh}`] });
    conf('sr', `TYPE=restic\nREPOSITORY=${where}\nPASSWORD_FILE=${pwFile}\nSSH_KEY=${sshd.keyFile}\nKNOWN_HOSTS=${sshd.knownHosts}\nPORT=${sshd.port}\n`);
    await roundTrip('sr', async () => (await snapshots(where, { global: ['-o', `sftp.command=${ssh}`] })).length);
    conf('srbad', `TYPE=restic\nREPOSITORY=${where}\nPASSWORD_FILE=${pwFile}\nSSH_KEY=${sshd.keyFile}\nKNOWN_HOSTS=${sshd.wrongKnownHosts}\nPORT=${sshd.port}\n`);
    const spoofed = await batt(['backups', '--from', 'srbad'], { home: sb.home, env: env() });
    assert.equal(spoofed.code, 1, 'a wrong host key is refused');
  } finally {
    await sshd.stop();
  }
});

test('s3: repository in s3rver over HTTPS with a private CA (CA_FILE): run, list, restore, verify', { skip }, async () => {
  // a CA and a server certificate for 127.0.0.1 (over plain HTTP restic's S3 client sends aws-chunked
  // uploads, which s3rver stores undecoded; real S3 and MinIO decode them)
  const tls = path.join(sb.dir, 'tls');
  fs.mkdirSync(tls);
  const ssl = (args: string[]) => execFileSync('openssl', args, { cwd: tls, stdio: 'ignore' });
  ssl(['req', '-x509', '-newkey', 'ed25519', '-nodes', '-keyout', 'ca.key', '-out', 'ca.pem', '-days', '2', '-subj', '/CN=batt-test-ca']);
  ssl(['req', '-newkey', 'ed25519', '-nodes', '-keyout', 'srv.key', '-out', 'srv.csr', '-subj', '/CN=127.0.0.1']);
  fs.writeFileSync(path.join(tls, 'ext'), 'subjectAltName=IP:127.0.0.1\n');
  ssl(['x509', '-req', '-in', 'srv.csr', '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'srv.pem', '-days', '2', '-extfile', 'ext']);
  const read = (f: string) => fs.readFileSync(path.join(tls, f), 'utf8');
  const s3: S3Server = await startS3('restic-bucket', { tls: { key: read('srv.key'), cert: read('srv.pem') } });
  try {
    const where = `s3:${s3.endpoint}/restic-bucket/web1`;
    const extra = { env: { AWS_ACCESS_KEY_ID: S3_KEY, AWS_SECRET_ACCESS_KEY: S3_SECRET }, global: ['--cacert', path.join(tls, 'ca.pem')] };
    await restic(where, ['init', '--repository-version', '2'], extra);
    conf('s3r', `TYPE=restic\nREPOSITORY=${where}\nPASSWORD_FILE=${pwFile}\nACCESS_KEY_ID=${S3_KEY}\nSECRET_ACCESS_KEY=${S3_SECRET}\nCA_FILE=${tls}/ca.pem\n`);
    await roundTrip('s3r', async () => (await snapshots(where, extra)).length);
  } finally {
    await s3.stop();
  }
});

/** A run to target `name`, then backups --from, restore --from and verify --from through it. */
async function roundTrip(name: string, count: () => Promise<number>) {
  const r = await batt(['demo', '--target', name, '--path', sb.pattern], { home: sb.home, env: env() });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(await count(), 1);
  const list = JSON.parse((await batt(['backups', '--from', name, '--json'], { home: sb.home, env: env() })).stdout).backups;
  assert.equal(list.length, 1);
  const to = path.join(sb.dir, `restored-${name}`);
  fs.mkdirSync(to);
  const res = await batt(['restore', 'demo', list[0].id, '--from', name, '--to', to], { home: sb.home, env: env() });
  assert.equal(res.code, 0, res.stderr);
  assert.deepEqual(fs.readFileSync(path.join(to, 'd/big.bin')), fs.readFileSync(path.join(sb.root, list[0].id.slice(HOST.length + 1), 'd/big.bin')));
  const v = await batt(['verify', '--from', name], { home: sb.home, env: env() });
  assert.equal(v.code, 0, v.stderr);
}
