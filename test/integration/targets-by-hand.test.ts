// docs/restore-without-batt.md "Off-site copies", command by command: copies made by batt on a
// local folder, rsync over ssh and SFTP (the tests' real sshd) and S3 (s3rver) are listed, fetched,
// checked, decrypted (age recipients, and a passphrase typed on a terminal) and checked again with
// stock tools only: find, cp, rsync, sftp, scp, aws-cli, jq, sha256sum, age. The commands are the
// doc's with this test's paths, ports and keys; keep the two in step.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { REQUIRE_SERVERS, batt, listFiles, sandbox, writeScript, writeTargetConf, type Sandbox } from '../helpers/batt.js';
import { SSHD, startSshd, type Sshd } from '../helpers/sshd.js';
import { startS3, S3_KEY, S3_SECRET, type S3Server } from '../helpers/s3.js';

const have = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0;
// .ci/run installs them all; with BATT_REQUIRE_SERVERS=1 a missing one fails instead of skipping
const missing = REQUIRE_SERVERS ? [] : ['jq', 'sha256sum', 'age', 'age-keygen', 'rsync', 'sftp', 'scp', 'script', 'aws'].filter((t) => !have(t));
const skip = missing.length || (!SSHD && !REQUIRE_SERVERS) ? `missing ${[...missing, ...(SSHD ? [] : ['sshd'])].join(', ')}` : false;

const PASSPHRASE = 'correct horse battery staple';
let sb: Sandbox;
let sshd: Sshd;
let s3: S3Server;
let identity: string;
/** The backup id (YYYY/MM/DD/demo) and the folder of the local backup. */
let id: string;
let local: string;

/**
 * bash -c with pipefail, in `cwd`; resolves to its stdout, or fails the test with its stderr. Not
 * spawnSync: s3rver answers from this very process, so the event loop must keep running.
 */
function sh(script: string, cwd: string, env: Record<string, string> = {}): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn('bash', ['-c', `set -euo pipefail\n${script}`], { cwd, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}
async function ok(run: ReturnType<typeof sh>, what: string): Promise<string> {
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
  const m = listFiles(sb.root).find((f) => f.endsWith('/demo/batt-manifest.json'))!;
  id = path.dirname(m);
  local = path.join(sb.root, id);
});
after(async () => {
  await sshd?.stop();
  await s3?.stop();
  sb?.cleanup();
});

/** A fresh folder to fetch into (the doc's `copy` is made inside it). */
const workdir = (name: string) => fs.mkdtempSync(path.join(sb.dir, `${name}-`));

/**
 * The doc's "Check it, decrypt it" in `copy`: the host, the stored files against the index, the
 * decryption (`decrypt`: the doc's lines for the copy's kind of encryption, or none), the manifest.
 */
async function checkAndDecrypt(copy: string, decrypt: string): Promise<void> {
  const host = await ok(sh(`jq -r .host batt-remote.json`, copy), 'host');
  assert.equal(host, 'web1\n');
  const stored = await ok(sh(`jq -r '.files[] | "\\(.remoteSha256)  \\(.remote)"' batt-remote.json | sha256sum -c`, copy), 'stored files');
  assert.match(stored, /: OK$/m);
  if (decrypt) await ok(sh(decrypt, copy), 'decrypt');
  const check = await ok(sh(`jq -r '.files[] | "\\(.sha256)  \\(.path)"' batt-manifest.json | sha256sum -c`, copy), 'manifest');
  assert.match(check, /^a\.txt: OK$/m);
  assert.match(check, /^sub\/b\.bin: OK$/m);
  assert.deepEqual(fs.readFileSync(path.join(copy, 'sub/b.bin')), fs.readFileSync(path.join(local, 'sub/b.bin')));
  assert.equal(fs.readFileSync(path.join(copy, 'a.txt'), 'utf8'), 'hello by hand\n');
}

const RECIPIENT_DECRYPT = () => `jq -r '.files[] | select(.remote != .path) | .path' batt-remote.json |
  while read -r f; do age -d -i ${identity} -o "$f" "$f.age"; done`;

test('local folder: find lists the copy, cp fetches it; age -d -i KEY opens it', { skip }, async () => {
  const w = workdir('usb');
  const list = await ok(sh(`find ${sb.dir}/usb -name batt-remote.json | sort`, w), 'find');
  assert.equal(list, `${sb.dir}/usb/web1/${id}/batt-remote.json\n`);
  await ok(sh(`cp -r ${sb.dir}/usb/web1/${id} copy`, w), 'cp');
  await checkAndDecrypt(path.join(w, 'copy'), RECIPIENT_DECRYPT());
});

test('rsync over ssh: --list-only lists the copy, rsync -r fetches it (plain copy)', { skip }, async () => {
  const w = workdir('rsync');
  const SSH = `ssh -i ${sshd.keyFile} -o UserKnownHostsFile=${sshd.knownHosts} -p ${sshd.port}`;
  const list = await ok(sh(`SSH='${SSH}'\nrsync -e "$SSH" -r --list-only ${sshd.user}@127.0.0.1:${sshd.data}/rsync/ | grep 'batt-remote.json$'`, w), 'list');
  assert.match(list, new RegExp(` web1/${id}/batt-remote\\.json\\n$`));
  await ok(sh(`SSH='${SSH}'\nrsync -e "$SSH" -r ${sshd.user}@127.0.0.1:${sshd.data}/rsync/web1/${id}/ copy/`, w), 'fetch');
  await checkAndDecrypt(path.join(w, 'copy'), '');
});

test('SFTP: sftp lists, scp (or sftp get -R) fetches; the passphrase opens batt-key.age, that key the files', { skip }, async () => {
  const OPTS = `-i ${sshd.keyFile} -o UserKnownHostsFile=${sshd.knownHosts} -P ${sshd.port}`;
  const day = path.dirname(id);
  const w = workdir('sftp');
  const list = await ok(sh(`OPTS='${OPTS}'\necho 'ls -1 ${sshd.data}/sftp/web1/${day}' | sftp $OPTS -b - ${sshd.user}@127.0.0.1`, w), 'sftp ls');
  assert.match(list, /\/demo$/m);
  await ok(sh(`OPTS='${OPTS}'\nscp $OPTS -r ${sshd.user}@127.0.0.1:${sshd.data}/sftp/web1/${id} copy`, w), 'scp');
  const key = path.join(w, 'copy.key');
  // age reads the passphrase from the terminal only: `script` gives it one, and the passphrase is typed into it
  const decrypt = `printf '%s\\n' '${PASSPHRASE}' | script -qec 'age -d -o ${key} batt-key.age' /dev/null >/dev/null
jq -r '.files[] | select(.remote != .path) | .path' batt-remote.json |
  while read -r f; do age -d -i ${key} -o "$f" "$f.age"; done
rm ${key}`;
  await checkAndDecrypt(path.join(w, 'copy'), decrypt);
  assert.ok(!fs.existsSync(key));
  const w2 = workdir('sftp-get');
  await ok(sh(`OPTS='${OPTS}'\necho 'get -R ${sshd.data}/sftp/web1/${id} copy' | sftp $OPTS -b - ${sshd.user}@127.0.0.1`, w2), 'sftp get');
  assert.deepEqual(listFiles(path.join(w2, 'copy')), listFiles(path.join(w, 'copy')).filter((f) => f.endsWith('.age') || f === 'batt-remote.json'));
});

test('S3 with aws-cli: ls lists the copy, cp --recursive fetches it; the batt-sha256 metadata is the hash of the encrypted object', { skip }, async () => {
  const w = workdir('s3');
  const env = { AWS_ACCESS_KEY_ID: S3_KEY, AWS_SECRET_ACCESS_KEY: S3_SECRET, AWS_DEFAULT_REGION: 'us-east-1', AWS_CONFIG_FILE: '/dev/null', AWS_SHARED_CREDENTIALS_FILE: '/dev/null' };
  const aws = `aws --endpoint-url ${s3.endpoint}`;
  const list = await ok(sh(`${aws} s3 ls --recursive s3://${s3.bucket}/shared/ | grep 'batt-remote.json$'`, w, env), 'ls');
  assert.match(list, new RegExp(` shared/web1/${id}/batt-remote\\.json\\n$`));
  await ok(sh(`${aws} s3 cp --recursive s3://${s3.bucket}/shared/web1/${id}/ copy/`, w, env), 'cp');
  const meta = JSON.parse(await ok(sh(`${aws} s3api head-object --bucket ${s3.bucket} --key shared/web1/${id}/batt-manifest.json.age --query Metadata`, w, env), 'head-object'));
  const index = JSON.parse(fs.readFileSync(path.join(w, 'copy', 'batt-remote.json'), 'utf8'));
  const entry = index.files.find((f: { path: string }) => f.path === 'batt-manifest.json');
  assert.equal(meta['batt-sha256'], entry.remoteSha256);
  assert.notEqual(entry.remoteSha256, entry.sha256, 'the metadata hash is of the ciphertext');
  await checkAndDecrypt(path.join(w, 'copy'), RECIPIENT_DECRYPT());
});
