// SIGTERM while a file is being encrypted for an encrypted target: batt stops the encryption at
// once (kills age, aborts the passphrase stream), removes the partial ciphertext and exits 143 with
// its usual "interrupted" message. The real age encrypts a few hundred MB a second, far too fast to
// be caught mid-file with a test-sized file, so the age process batt starts (BATT_AGE) is either a
// stand-in that writes the start of its output and then sleeps, or the real age fed its input
// slowly by a wrapper: in both cases batt must not wait for it to finish.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { type ChildProcess } from 'node:child_process';
import { sandbox, batt, writeScript, listFiles, missingTools, skipWithout, type Sandbox, writeTargetConf } from '../helpers/batt.js';
import { CryptoInterruptedError, encryptFile } from '../../src/targets/crypto.js';
import { abortMidStream } from '../helpers/abort.js';
import { alive, standInAge } from '../helpers/standins.js';
import { resolveHome } from '../../src/core/home.js';
import { UploadInterruptedError } from '../../src/targets/retry.js';
import { loadTarget } from '../../src/targets/config.js';
import { openTarget } from '../../src/targets/open.js';

const skipReal = skipWithout(['age', 'age-keygen']);

let sb: Sandbox;
let tmp: string;
let remote: string;
let recipient: string;

const conf = (name: string, text: string) => writeTargetConf(sb.home, name, text);

/**
 * A stand-in for age (not the real one): records its pid, writes the start of its -o file, then
 * sleeps 20 s as if encrypting. The pid comes first: the test sends SIGTERM as soon as the -o file
 * has a byte, and a pid written after it could be cut off by that very signal.
 */

/**
 * The real age, with its input (the last argument) fed through a pipe 64 KiB every 20 ms, so that
 * encrypting a few MB takes seconds. `exec`: the process batt started is age itself.
 */
function slowRealAge(pidFile: string): string {
  const f = path.join(sb.dir, 'age-slow');
  fs.writeFileSync(
    f,
    `#!/usr/bin/env bash
set -euo pipefail
in=\${!#}
args=("\${@:1:$#-1}")
size=$(stat -c %s "$in")
feed() {
  local i=0
  while ((i * 65536 < size)); do
    dd if="$in" bs=65536 skip="$i" count=1 status=none || exit
    i=$((i + 1))
    sleep 0.02
  done
}
echo $$ > ${JSON.stringify(pidFile)}
exec age "\${args[@]}" < <(feed 2>/dev/null)
`,
    { mode: 0o755 },
  );
  return f;
}

before(async () => {
  sb = sandbox();
  tmp = path.join(sb.dir, 'tmp');
  fs.mkdirSync(tmp);
  remote = path.join(sb.dir, 'remote');
  const { generateIdentity, identityToRecipient } = await import('age-encryption');
  recipient = await identityToRecipient(await generateIdentity());
  // 24 MB: the slow feed takes about 8 s for it
  writeScript(sb.home, 'big', 'head -c 24000000 /dev/urandom > "$BATT_DEST/big.bin"');
  conf('sealed', `TYPE=local\nPATH=${remote}/sealed\nRECIPIENT=${recipient}\n`);
  const pass = path.join(sb.dir, 'pass');
  fs.writeFileSync(pass, 'correct horse battery staple\n', { mode: 0o600 });
  conf('pp', `TYPE=local\nPATH=${remote}/pp\nPASSPHRASE_FILE=${pass}\n`);
});
after(() => sb?.cleanup());

/** The upload's temp folders (TMPDIR/batt-scratch-PID-TSTART-upload-*) and the files in them. */
function uploadTemp(): string[] {
  return fs.readdirSync(tmp).filter((n) => /^batt-scratch-\d+-T\d+-upload-/.test(n)).flatMap((d) => [d, ...listFiles(path.join(tmp, d)).map((f) => `${d}/${f}`)]);
}


/** Runs `batt big --target <target>` with BATT_AGE=age; SIGTERM (or `sig`) once the ciphertext of big.bin has `minBytes`. */
async function sigtermWhileEncrypting(target: string, age: string, minBytes: number, sig: NodeJS.Signals = 'SIGTERM') {
  let child: ChildProcess | undefined;
  let sentAt = 0;
  const poll = setInterval(() => {
    const part = uploadTemp().find((f) => f.endsWith('/0.age')); // big.bin, the first (and only) file
    if (part && child && !sentAt && fs.statSync(path.join(tmp, part)).size >= minBytes) {
      sentAt = Date.now();
      child.kill(sig);
    }
  }, 25);
  try {
    const r = await batt(['big', '--target', target, '--path', sb.pattern], {
      home: sb.home,
      env: { BATT_AGE: age, TMPDIR: tmp },
      timeoutMs: 60_000,
      onSpawn: (c) => (child = c),
    });
    return { r, took: Date.now() - sentAt, sent: sentAt > 0 };
  } finally {
    clearInterval(poll);
  }
}

function assertStopped(res: Awaited<ReturnType<typeof sigtermWhileEncrypting>>, target: string, pidFile: string) {
  assert.ok(res.sent, `SIGTERM was never sent: no ciphertext of big.bin appeared\n${res.r.stderr}`);
  assert.equal(res.r.code, 143, res.r.stderr);
  assert.ok(res.took < 2000, `batt took ${res.took} ms to exit after SIGTERM`);
  assert.match(res.r.stderr, /interrupted by SIGTERM; unfinished backups and copies were discarded/);
  assert.doesNotMatch(res.r.stderr, /age could not|cannot encrypt/);
  assert.deepEqual(uploadTemp(), [], 'the partial ciphertext (or its folder) was left behind');
  const age = Number(fs.readFileSync(pidFile, 'utf8'));
  assert.ok(age > 0 && !alive(age), `age (pid ${age}) still runs`);
  const copy = listFiles(path.join(remote, target));
  assert.ok(!copy.some((f) => f.endsWith('batt-remote.json') || f.endsWith('big.bin.age')), `on the target: ${copy.join(' ')}`);
  // the local backup stays whole
  const m = listFiles(sb.root).filter((f) => /\/big(\.\d+)?\/batt-manifest\.json$/.test(f)).at(-1)!;
  assert.equal(fs.statSync(path.join(sb.root, path.dirname(m), 'big.bin')).size, 24_000_000);
}

test('SIGTERM while a stand-in age (sleeps after its first bytes) encrypts: age killed, exit 143 at once, no ciphertext left', async (t) => {
  const pidFile = path.join(sb.dir, 'standin.pid');
  const res = await sigtermWhileEncrypting('sealed', standInAge(sb.dir, pidFile, 22), 1);
  t.diagnostic(`batt exited ${res.took} ms after SIGTERM`);
  assertStopped(res, 'sealed', pidFile);
});

test('passphrase target: SIGTERM while a stand-in age encrypts with the copy key: the same stop, no copy', async (t) => {
  const pidFile = path.join(sb.dir, 'standin-pp.pid');
  const res = await sigtermWhileEncrypting('pp', standInAge(sb.dir, pidFile, 22), 1);
  t.diagnostic(`batt exited ${res.took} ms after SIGTERM`);
  assertStopped(res, 'pp', pidFile);
});

test('SIGKILL while encrypting for a passphrase target: the upload folder (ciphertext, the copy key) is removed by the next run', async () => {
  const pidFile = path.join(sb.dir, 'standin-kill.pid');
  const res = await sigtermWhileEncrypting('pp', standInAge(sb.dir, pidFile, 22), 1, 'SIGKILL');
  assert.ok(res.sent, `SIGKILL was never sent\n${res.r.stderr}`);
  assert.equal(res.r.signal, 'SIGKILL');
  process.kill(Number(fs.readFileSync(pidFile, 'utf8')), 'SIGKILL'); // the orphaned stand-in
  const left = uploadTemp();
  assert.ok(left.some((f) => f.endsWith('/0.age')), `a killed batt leaves its upload folder: ${left.join(' ')}`);
  const [folder] = left;
  assert.equal(fs.statSync(path.join(tmp, folder!)).mode & 0o777, 0o700);
  writeScript(sb.home, 'tiny', 'echo x > "$BATT_DEST/x"');
  conf('plain', `TYPE=local\nPATH=${remote}/plain\n`);
  const again = await batt(['tiny', '--target', 'plain', '--path', sb.pattern], { home: sb.home, env: { TMPDIR: tmp } });
  assert.equal(again.code, 0, again.stderr);
  assert.deepEqual(uploadTemp(), [], 'the next run removed the killed upload folder');
  assert.match(fs.readFileSync(path.join(sb.home, 'log', 'batt.log'), 'utf8'), new RegExp(`removed ${tmp}/${folder}, a scratch folder left by a killed batt`));
});

test('SIGTERM while the real age (fed slowly) encrypts a 24 MB file: age killed mid-file, exit 143 at once, no ciphertext left', { skip: skipReal }, async (t) => {
  assert.deepEqual(missingTools(['age', 'age-keygen']), [], 'age is not installed');
  const pidFile = path.join(sb.dir, 'age.pid');
  const res = await sigtermWhileEncrypting('sealed', slowRealAge(pidFile), 1 << 20);
  t.diagnostic(`batt exited ${res.took} ms after SIGTERM`);
  assertStopped(res, 'sealed', pidFile);
});

test('encryptFile with a passphrase: aborting its signal mid-stream stops it with CryptoInterruptedError and removes the partial output', async () => {
  // the input gets 4 MB and then nothing: only the signal can end the stream
  await abortMidStream(sb.dir, 'plain', Buffer.alloc(4 << 20, 7), (input, out, signal) => encryptFile({ recipients: [], passphraseFile: path.join(sb.dir, 'pass') }, input, out, signal), {
    output: 'ciphertext',
    verb: 'encrypting',
    waitMs: 10_000,
  });
});

test('encryptFile with the age tool (a stand-in that sleeps): aborting its signal kills it and removes the partial output', async () => {
  const pidFile = path.join(sb.dir, 'direct.pid');
  const input = path.join(sb.dir, 'direct.txt');
  fs.writeFileSync(input, 'plain\n');
  const out = path.join(sb.dir, 'direct.age');
  const saved = process.env.BATT_AGE;
  process.env.BATT_AGE = standInAge(sb.dir, pidFile, 22);
  const ac = new AbortController();
  const poll = setInterval(() => fs.existsSync(pidFile) && ac.abort(), 10);
  const t0 = Date.now();
  try {
    await assert.rejects(encryptFile({ recipients: [recipient] }, input, out, ac.signal), CryptoInterruptedError);
  } finally {
    clearInterval(poll);
    if (saved === undefined) delete process.env.BATT_AGE;
    else process.env.BATT_AGE = saved;
  }
  assert.ok(Date.now() - t0 < 5000, `took ${Date.now() - t0} ms`);
  assert.ok(!alive(Number(fs.readFileSync(pidFile, 'utf8'))), 'the stand-in age still runs');
  assert.ok(!fs.existsSync(out), 'the partial output was left behind');
});

test('Target.put: encryption stopped by the signal rejects with UploadInterruptedError, as a cut transfer does', async () => {
  const pidFile = path.join(sb.dir, 'put.pid');
  const m = listFiles(sb.root).filter((f) => /\/big(\.\d+)?\/batt-manifest\.json$/.test(f)).at(-1);
  assert.ok(m, 'no big backup: the tests above made one');
  const saved = process.env.BATT_AGE;
  process.env.BATT_AGE = standInAge(sb.dir, pidFile, 22);
  const { target, encryption } = await openTarget(await loadTarget(resolveHome(sb.home, {}), 'sealed'));
  const ac = new AbortController();
  const poll = setInterval(() => fs.existsSync(pidFile) && ac.abort(), 10);
  try {
    await assert.rejects(target.put(path.join(sb.root, path.dirname(m)), 'put-test', { encryption, signal: ac.signal, tmpDir: tmp }), UploadInterruptedError);
  } finally {
    clearInterval(poll);
    await target.close();
    if (saved === undefined) delete process.env.BATT_AGE;
    else process.env.BATT_AGE = saved;
  }
  assert.deepEqual(uploadTemp(), []);
});
