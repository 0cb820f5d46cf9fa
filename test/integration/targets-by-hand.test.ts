// docs/restore-without-batt.md "Off-site copies": its `# by hand: copy ...` blocks are run
// literally with bash -e (only the lines that set the reader's parameters, DIR=, COPY=, SSH=...,
// get this test's values) against copies batt made as host web1 on a local folder, rsync over ssh
// and SFTP (the tests' real sshd) and S3 (s3rver): listed, fetched, checked, decrypted with an age
// key or a passphrase typed on a terminal, and checked again. The blocks are read from the doc, so
// the doc and the test cannot drift apart.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { REPO, REQUIRE_SERVERS, batt, listFiles, sandbox, writeScript, writeTargetConf, type Sandbox } from '../helpers/batt.js';
import { SSHD, startSshd, type Sshd } from '../helpers/sshd.js';
import { startS3, S3_KEY, S3_SECRET, type S3Server } from '../helpers/s3.js';

const have = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
// .ci/run installs them all; with BATT_REQUIRE_SERVERS=1 a missing one fails instead of skipping
const missing = REQUIRE_SERVERS ? [] : ['jq', 'sha256sum', 'age', 'age-keygen', 'rsync', 'sftp', 'scp', 'script', 'aws'].filter((t) => !have(t));
const skip = missing.length || (!SSHD && !REQUIRE_SERVERS) ? `missing ${[...missing, ...(SSHD ? [] : ['sshd'])].join(', ')}` : false;

const DOC = path.join(REPO, 'docs', 'restore-without-batt.md');
/** The doc's `# by hand: copy ...` blocks, by name. */
function blocks(): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of fs.readFileSync(DOC, 'utf8').matchAll(/```sh\n# by hand: (copy [^\n]+)\n([\s\S]*?)```/g)) out.set(m[1]!, m[2]!);
  return out;
}
const doc = blocks();

const PASSPHRASE = 'correct horse battery staple';
let sb: Sandbox;
let sshd: Sshd;
let s3: S3Server;
let identity: string;
/** The copy's id on every target: web1/<backup id>. */
let copy: string;
let local: string;

interface Ran {
  status: number | null;
  stdout: string;
  stderr: string;
}

/**
 * Block NAME with its parameter lines set to `params`, run with bash -e in `cwd` (under `script`,
 * which gives it a terminal, when `tty` is typed into it). Not spawnSync: s3rver answers from this
 * very process, so its event loop must keep running.
 */
function byHand(name: string, cwd: string, params: Record<string, string>, opts: { env?: Record<string, string>; tty?: string } = {}): Promise<Ran> {
  let text = doc.get(name);
  assert.ok(text, `no '# by hand: ${name}' block in ${DOC}`);
  for (const [k, v] of Object.entries(params)) {
    assert.match(text, new RegExp(`^${k}=`, 'm'), `${name}: no ${k}= line`);
    text = text.replace(new RegExp(`^${k}=.*$`, 'm'), `${k}=${JSON.stringify(v)}`);
  }
  const file = path.join(cwd, `${name.replace(/\W+/g, '-')}.sh`);
  fs.writeFileSync(file, text);
  const [cmd, args] = opts.tty === undefined ? ['bash', ['-e', file]] : ['script', ['-qec', `bash -e ${file}`, '/dev/null']];
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, env: { ...process.env, ...opts.env }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.stdin.end(opts.tty === undefined ? '' : `${opts.tty}\n`);
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}
async function ok(run: Promise<Ran>, what: string): Promise<string> {
  const r = await run;
  assert.equal(r.status, 0, `${what}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

before(async () => {
  if (skip) return;
  sshd = await startSshd();
  s3 = await startS3();
  sb = sandbox();
  fs.writeFileSync(path.join(sb.home, 'conf', 'batt.conf'), 'HOST_NAME=web1\n');
  writeScript(sb.home, 'demo', 'printf "hello by hand\\n" > "$BATT_DEST/a.txt"; mkdir -p "$BATT_DEST/sub"; head -c 200000 /dev/urandom > "$BATT_DEST/sub/b.bin"');
  identity = path.join(sb.dir, 'batt-age.key');
  execFileSync('age-keygen', ['-o', identity], { stdio: 'ignore' });
  const recipient = execFileSync('age-keygen', ['-y', identity], { encoding: 'utf8' }).trim();
  const pass = path.join(sb.dir, 'box.pass');
  fs.writeFileSync(pass, `${PASSPHRASE}\n`, { mode: 0o600 });
  const ssh = `HOST=127.0.0.1\nPORT=${sshd.port}\nUSER=${sshd.user}\nSSH_KEY=${sshd.keyFile}\nKNOWN_HOSTS=${sshd.knownHosts}\n`;
  writeTargetConf(sb.home, 'usb', `TYPE=local\nPATH=${sb.dir}/usb\nRECIPIENT=${recipient}\n`);
  writeTargetConf(sb.home, 'rs', `TYPE=rsync\n${ssh}PATH=${sshd.data}/rsync\n`);
  writeTargetConf(sb.home, 'box', `TYPE=sftp\n${ssh}PATH=${sshd.data}/sftp\nPASSPHRASE_FILE=${pass}\n`);
  writeTargetConf(sb.home, 'bucket', `TYPE=s3\nENDPOINT=${s3.endpoint}\nBUCKET=${s3.bucket}\nPREFIX=shared\nACCESS_KEY_ID=${S3_KEY}\nSECRET_ACCESS_KEY=${S3_SECRET}\nRECIPIENT=${recipient}\n`);
  const r = await batt(['demo', '--path', sb.pattern], { home: sb.home });
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const id = path.dirname(listFiles(sb.root).find((f) => f.endsWith('/demo/batt-manifest.json'))!);
  copy = `web1/${id}`;
  local = path.join(sb.root, id);
});
after(async () => {
  await sshd?.stop();
  await s3?.stop();
  sb?.cleanup();
});

/** A fresh folder to fetch into (the doc's `copy` is made inside it). */
const workdir = (name: string) => fs.mkdtempSync(path.join(sb.dir, `${name}-`));

/** "copy check", then the decryption block (or, for a plain copy, the manifest check) and the data. */
async function checked(w: string, decrypt: 'key' | 'passphrase' | 'none'): Promise<void> {
  const c = await ok(byHand('copy check', w, {}), 'copy check');
  assert.match(c, /^web1\n/);
  assert.match(c, /^batt-manifest\.json(\.age)?: OK$/m);
  let check: string;
  if (decrypt === 'key') check = await ok(byHand('copy decrypted with the key', w, { KEY: identity }), 'decrypt');
  else if (decrypt === 'passphrase') {
    const key = path.join(w, 'copy.key');
    check = await ok(byHand('copy decrypted with the passphrase', w, { KEY: key }, { tty: PASSPHRASE }), 'decrypt');
    assert.ok(!fs.existsSync(key), 'the copy key was left');
  } else check = await ok(byHand('copy check', w, {}), 'plain');
  if (decrypt !== 'none') assert.match(check, /^sub\/b\.bin: OK\r?$/m);
  const got = path.join(w, 'copy');
  assert.deepEqual(fs.readFileSync(path.join(got, 'sub/b.bin')), fs.readFileSync(path.join(local, 'sub/b.bin')));
  assert.equal(fs.readFileSync(path.join(got, 'a.txt'), 'utf8'), 'hello by hand\n');
  const m = spawnSync('bash', ['-c', `cd copy && jq -r '.files[] | "\\(.sha256)  \\(.path)"' batt-manifest.json | sha256sum -c`], { cwd: w, encoding: 'utf8' });
  assert.equal(m.status, 0, m.stderr + m.stdout);
}

test('the doc has a block for every step this test runs', { skip }, () => {
  assert.deepEqual([...doc.keys()].sort(), [
    'copy check',
    'copy decrypted with the key',
    'copy decrypted with the passphrase',
    'copy from a local folder',
    'copy from s3',
    'copy metadata on s3',
    'copy over rsync',
    'copy over sftp',
    'copy with sftp get',
  ]);
});

test('local folder: find lists the copy, cp fetches it; age -d -i KEY opens it', { skip }, async () => {
  const w = workdir('usb');
  const list = await ok(byHand('copy from a local folder', w, { DIR: `${sb.dir}/usb`, COPY: copy }), 'fetch');
  assert.equal(list, `${sb.dir}/usb/${copy}/batt-remote.json\n`);
  await checked(w, 'key');
});

test('rsync over ssh: --list-only lists the copy, rsync -r fetches it (no encryption)', { skip }, async () => {
  const w = workdir('rsync');
  const SSH = `ssh -i ${sshd.keyFile} -o UserKnownHostsFile=${sshd.knownHosts} -p ${sshd.port}`;
  const list = await ok(byHand('copy over rsync', w, { SSH, FROM: `${sshd.user}@127.0.0.1:${sshd.data}/rsync`, COPY: copy }), 'fetch');
  assert.match(list, new RegExp(` ${copy}/batt-remote\\.json\\n$`));
  await checked(w, 'none');
});

test('SFTP: sftp lists, scp (or sftp get -R) fetches; the passphrase typed on a terminal opens batt-key.age, that key the files', { skip }, async () => {
  const params = { OPTS: `-i ${sshd.keyFile} -o UserKnownHostsFile=${sshd.knownHosts} -P ${sshd.port}`, SERVER: `${sshd.user}@127.0.0.1`, DIR: `${sshd.data}/sftp`, COPY: copy };
  const w = workdir('sftp');
  const list = await ok(byHand('copy over sftp', w, params), 'scp');
  assert.match(list, /\/demo$/m);
  await checked(w, 'passphrase');
  const w2 = workdir('sftp-get');
  await ok(byHand('copy with sftp get', w2, params), 'sftp get');
  assert.deepEqual(listFiles(path.join(w2, 'copy')), listFiles(path.join(sshd.data, 'sftp', copy)));
});

test('S3 with aws-cli: ls lists the copy, cp --recursive fetches it; batt-sha256 is the hash of the encrypted object', { skip }, async () => {
  const w = workdir('s3');
  const env = { AWS_ACCESS_KEY_ID: S3_KEY, AWS_SECRET_ACCESS_KEY: S3_SECRET, AWS_DEFAULT_REGION: 'us-east-1', AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null' };
  const AWS = `aws --endpoint-url ${s3.endpoint}`;
  const list = await ok(byHand('copy from s3', w, { AWS, S3: `s3://${s3.bucket}/shared`, COPY: copy }, { env }), 'fetch');
  assert.match(list, new RegExp(` shared/${copy}/batt-remote\\.json$`, 'm'));
  const meta = JSON.parse(await ok(byHand('copy metadata on s3', w, { AWS, BUCKET: s3.bucket, KEY: `shared/${copy}/batt-manifest.json.age` }, { env }), 'head-object'));
  const index = JSON.parse(fs.readFileSync(path.join(w, 'copy', 'batt-remote.json'), 'utf8'));
  const entry = index.files.find((f: { path: string }) => f.path === 'batt-manifest.json');
  assert.equal(meta['batt-sha256'], entry.remoteSha256);
  assert.notEqual(entry.remoteSha256, entry.sha256, 'the metadata hash is of the ciphertext');
  await checked(w, 'key');
});
