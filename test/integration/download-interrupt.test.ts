// SIGTERM while `batt restore --from` or `batt verify --from` downloads, decrypts or hashes a copy:
// batt stops the transfer at once (local copy stopped, S3 GetObject aborted, SFTP connection cut,
// rsync killed), kills age, removes its temp folder (TMPDIR/batt-from-*, batt-verify-*), restores
// nothing and exits 143 with its "interrupted" message. The downloads go through a slow link
// (a throttling proxy, server->client) or, for the local folder, a FIFO fed slowly, so a test-sized
// file takes seconds and can be caught mid-file.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { sandbox, batt, writeScript, listFiles, REQUIRE_SERVERS, type Sandbox } from '../helpers/batt.js';
import { SSHD, startSshd, type Sshd } from '../helpers/sshd.js';
import { startS3, S3_KEY, S3_SECRET, type S3Server } from '../helpers/s3.js';
import { startThrottle, type Throttle } from '../helpers/net.js';
import { HashInterruptedError, hashFile } from '../../src/manifest.js';

const hasAge = (() => {
  try {
    execFileSync('sh', ['-c', 'command -v age && command -v age-keygen'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
const skipAge = !hasAge && !REQUIRE_SERVERS ? 'age is not installed' : false;
const skipSsh = !SSHD && !REQUIRE_SERVERS ? 'sshd not installed (openssh-server)' : false;

const SIZE = 24_000_000; // 12 s at 2 MB/s
let sb: Sandbox;
let tmp: string;
let remote: string;
let sshd: Sshd | undefined;
let s3: S3Server;
const throttles: Throttle[] = [];

function conf(name: string, text: string) {
  const f = path.join(sb.home, 'conf', 'targets', `${name}.conf`);
  fs.mkdirSync(path.dirname(f), { recursive: true, mode: 0o700 });
  fs.writeFileSync(f, text, { mode: 0o600 });
}

before(async () => {
  sb = sandbox();
  tmp = path.join(sb.dir, 'tmp');
  fs.mkdirSync(tmp);
  remote = path.join(sb.dir, 'remote');
  writeScript(sb.home, 'big', `head -c ${SIZE} /dev/urandom > "$BATT_DEST/big.bin"`);
  writeScript(sb.home, 'big', 'cp "$BATT_BACKUP/big.bin" "$BATT_RESTORE_TO"', 'restore');
  conf('plain', `TYPE=local\nPATH=${remote}/plain\n`);
  if (hasAge) {
    const identity = path.join(sb.dir, 'age.key');
    execFileSync('age-keygen', ['-o', identity], { stdio: 'ignore' });
    fs.chmodSync(identity, 0o600);
    const recipient = execFileSync('age-keygen', ['-y', identity], { encoding: 'utf8' }).trim();
    conf('sealed', `TYPE=local\nPATH=${remote}/sealed\nRECIPIENT=${recipient}\nIDENTITY_FILE=${identity}\n`);
  }
  s3 = await startS3();
  const slowS3 = await startThrottle(s3.port, 2 * 1024 * 1024, { down: true });
  throttles.push(slowS3);
  const s3conf = `TYPE=s3\nREGION=us-east-1\nBUCKET=${s3.bucket}\nACCESS_KEY_ID=${S3_KEY}\nSECRET_ACCESS_KEY=${S3_SECRET}\nPREFIX=dl\n`;
  conf('s3', `${s3conf}ENDPOINT=${s3.endpoint}\n`);
  conf('s3slow', `${s3conf}ENDPOINT=http://127.0.0.1:${slowS3.port}\n`);
  if (!skipSsh) {
    sshd = await startSshd();
    const slow = await startThrottle(sshd.port, 2 * 1024 * 1024, { down: true });
    throttles.push(slow);
    const slowKnown = path.join(sb.dir, 'slow_known_hosts');
    fs.writeFileSync(slowKnown, fs.readFileSync(sshd.knownHosts, 'utf8').replace(`]:${sshd.port} `, `]:${slow.port} `));
    const fast = `HOST=127.0.0.1\nPORT=${sshd.port}\nUSER=${sshd.user}\nSSH_KEY=${sshd.keyFile}\nKNOWN_HOSTS=${sshd.knownHosts}\n`;
    const slowed = `HOST=127.0.0.1\nPORT=${slow.port}\nUSER=${sshd.user}\nSSH_KEY=${sshd.keyFile}\nKNOWN_HOSTS=${slowKnown}\n`;
    conf('sftp', `TYPE=sftp\n${fast}PATH=${sshd.data}/sftp\n`);
    conf('sftpslow', `TYPE=sftp\n${slowed}PATH=${sshd.data}/sftp\n`);
    conf('rsync', `TYPE=rsync\n${fast}PATH=${sshd.data}/rsync\n`);
    conf('rsyncslow', `TYPE=rsync\n${slowed}PATH=${sshd.data}/rsync\n`);
  }
});
after(async () => {
  for (const t of throttles) await t.stop();
  await s3?.stop();
  await sshd?.stop();
  sb?.cleanup();
});

/** Backs `big` up and copies it to `targets` (at full speed); returns the backup's id. */
async function backupTo(...targets: string[]): Promise<string> {
  const r = await batt(['big', '--path', sb.pattern, ...targets.flatMap((t) => ['--target', t])], { home: sb.home, env: { TMPDIR: tmp } });
  assert.equal(r.code, 0, r.stderr);
  const n = (f: string) => Number(/\/big\.(\d+)\//.exec(f)?.[1] ?? 1);
  const m = listFiles(sb.root)
    .filter((f) => /\/big(\.\d+)?\/batt-manifest\.json$/.test(f))
    .sort((a, b) => n(a) - n(b))
    .at(-1)!; // the newest
  return path.relative(sb.root, path.dirname(path.join(sb.root, m)));
}

/** What batt left in its TMPDIR: folders and files, relative. */
function leftovers(): string[] {
  return fs.readdirSync(tmp).flatMap((d) => {
    const p = path.join(tmp, d);
    return fs.statSync(p).isDirectory() ? [d, ...listFiles(p).map((f) => `${d}/${f}`)] : [d];
  });
}

/** A file in TMPDIR whose relative path matches `name`, with at least `minBytes`. */
function partial(name: RegExp, minBytes: number): boolean {
  return leftovers().some((f) => name.test(f) && fs.statSync(path.join(tmp, f)).size >= minBytes);
}

/** Runs batt and sends it SIGTERM once `ready()` holds; how long it took to exit after that. */
async function sigtermWhen(args: string[], ready: () => boolean, env: Record<string, string> = {}) {
  let child: ChildProcess | undefined;
  let sentAt = 0;
  const poll = setInterval(() => {
    try {
      if (child && !sentAt && ready()) {
        sentAt = Date.now();
        child.kill('SIGTERM');
      }
    } catch {
      /* a file vanished between listing and stat: next time */
    }
  }, 25);
  try {
    const r = await batt(args, { home: sb.home, env: { TMPDIR: tmp, ...env }, timeoutMs: 60_000, onSpawn: (c) => (child = c) });
    return { r, took: Date.now() - sentAt, sent: sentAt > 0 };
  } finally {
    clearInterval(poll);
  }
}

type Res = Awaited<ReturnType<typeof sigtermWhen>>;

function assertStopped(res: Res, message: RegExp) {
  assert.ok(res.sent, `SIGTERM was never sent: no partial download appeared\n${res.r.stderr}`);
  assert.equal(res.r.code, 143, `exit ${res.r.code} (signal ${res.r.signal})\n${res.r.stderr}`);
  assert.ok(res.took < 2000, `batt took ${res.took} ms to exit after SIGTERM`);
  assert.match(res.r.stderr, message);
  assert.deepEqual(leftovers(), [], 'the partial download (or its folder) was left in TMPDIR');
}

function assertNotRestored(res: Res, to: string) {
  assertStopped(res, /interrupted by SIGTERM before the restore began; nothing was restored, the download was removed/);
  assert.ok(!fs.existsSync(to), 'the restore script ran');
}

test('restore --from a local folder: SIGTERM mid-file (the copy read slowly through a FIFO): the copy stops at once, exit 143, nothing restored, no temp left', async (t) => {
  const id = await backupTo('plain');
  // the copy's big.bin becomes a FIFO fed its bytes 64 KiB every 20 ms (a slow disk or NFS mount)
  const file = path.join(remote, 'plain', id, 'big.bin');
  const bytes = fs.readFileSync(file);
  fs.rmSync(file);
  execFileSync('mkfifo', [file]);
  let stopFeed = false;
  const feeding = (async () => {
    const w = await fs.promises.open(file, 'w');
    try {
      for (let i = 0; i < bytes.length && !stopFeed; i += 1 << 16) {
        await w.write(bytes.subarray(i, i + (1 << 16)));
        await sleep(20);
      }
    } catch {
      /* EPIPE: the reader is gone */
    } finally {
      await w.close();
    }
  })();
  const to = path.join(sb.dir, 'restored-plain.bin');
  try {
    const res = await sigtermWhen(['restore', 'big', id, '--from', 'plain', '--to', to], () => partial(/^batt-from-[^/]+\/backup\/big\.bin$/, 1 << 20));
    t.diagnostic(`batt exited ${res.took} ms after SIGTERM`);
    assertNotRestored(res, to);
  } finally {
    stopFeed = true;
    // a reader that never came: open it once so the feeder's open returns
    if (!(await Promise.race([feeding.then(() => true), sleep(500).then(() => false)]))) {
      fs.closeSync(fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK));
      await feeding;
    }
  }
});

test('restore --from S3 on a slow link: SIGTERM mid-download aborts the GetObject at once, exit 143, nothing restored, no temp left', async (t) => {
  const id = await backupTo('s3');
  const to = path.join(sb.dir, 'restored-s3.bin');
  const res = await sigtermWhen(['restore', 'big', id, '--from', 's3slow', '--to', to], () => partial(/^batt-from-[^/]+\/backup\/big\.bin$/, 1 << 20));
  t.diagnostic(`batt exited ${res.took} ms after SIGTERM`);
  assertNotRestored(res, to);
});

test('restore --from SFTP on a slow link: SIGTERM mid-download cuts the connection, exit 143, nothing restored, no temp left', { skip: skipSsh }, async (t) => {
  const id = await backupTo('sftp');
  const to = path.join(sb.dir, 'restored-sftp.bin');
  const res = await sigtermWhen(['restore', 'big', id, '--from', 'sftpslow', '--to', to], () => partial(/^batt-from-[^/]+\/backup\/big\.bin$/, 1 << 20));
  t.diagnostic(`batt exited ${res.took} ms after SIGTERM`);
  assertNotRestored(res, to);
});

test('restore --from rsync+ssh on a slow link: SIGTERM mid-download stops rsync, exit 143, nothing restored, no temp left', { skip: skipSsh }, async (t) => {
  const id = await backupTo('rsync');
  const to = path.join(sb.dir, 'restored-rsync.bin');
  // rsync writes into .big.bin.XXXXXX beside the final name
  const res = await sigtermWhen(['restore', 'big', id, '--from', 'rsyncslow', '--to', to], () => partial(/^batt-from-[^/]+\/backup\/\.?big\.bin/, 1 << 20));
  t.diagnostic(`batt exited ${res.took} ms after SIGTERM`);
  assertNotRestored(res, to);
});

/** A stand-in for age (not the real one): writes the start of its -o file, then sleeps 20 s as if decrypting. */
function standInAge(pidFile: string): string {
  const f = path.join(sb.dir, 'age-standin');
  fs.writeFileSync(
    f,
    `#!/usr/bin/env bash
set -euo pipefail
out=
while (($#)); do if [ "$1" = -o ]; then out=$2; shift; fi; shift; done
head -c 100000 /dev/zero > "$out"
echo $$ > ${JSON.stringify(pidFile)}
exec sleep 20
`,
    { mode: 0o755 },
  );
  return f;
}

test('restore --from an encrypted copy: SIGTERM while age decrypts: age killed, exit 143 at once, nothing restored, no plaintext left', { skip: skipAge }, async (t) => {
  const id = await backupTo('sealed');
  const pidFile = path.join(sb.dir, 'decrypt.pid');
  const to = path.join(sb.dir, 'restored-sealed.bin');
  const res = await sigtermWhen(['restore', 'big', id, '--from', 'sealed', '--to', to], () => fs.existsSync(pidFile) && partial(/^batt-from-[^/]+\/backup\/big\.bin$/, 1), {
    BATT_AGE: standInAge(pidFile),
  });
  t.diagnostic(`batt exited ${res.took} ms after SIGTERM`);
  assertNotRestored(res, to);
  const pid = Number(fs.readFileSync(pidFile, 'utf8'));
  let alive = true;
  try {
    process.kill(pid, 0);
  } catch {
    alive = false;
  }
  assert.ok(!alive, `age (pid ${pid}) still runs`);
});

test('verify --from S3 on a slow link: SIGTERM mid-download aborts it at once, exit 143, no temp left', async (t) => {
  await backupTo('s3');
  const res = await sigtermWhen(['verify', '--from', 's3slow'], () => partial(/^batt-verify-[^/]+\/f$/, 1 << 20));
  t.diagnostic(`batt exited ${res.took} ms after SIGTERM`);
  assertStopped(res, /verify interrupted by SIGTERM/);
});

test('verify --from SFTP on a slow link: SIGTERM mid-download cuts the connection, exit 143, no temp left', { skip: skipSsh }, async (t) => {
  await backupTo('sftp');
  const res = await sigtermWhen(['verify', '--from', 'sftpslow'], () => partial(/^batt-verify-[^/]+\/f$/, 1 << 20));
  t.diagnostic(`batt exited ${res.took} ms after SIGTERM`);
  assertStopped(res, /verify interrupted by SIGTERM/);
});

test('hashFile: aborting its signal mid-file stops it between two chunks with HashInterruptedError', async () => {
  // 4 GiB, sparse (no disk): hashing it all takes seconds; the abort comes after a few chunks
  const file = path.join(sb.dir, 'sparse.bin');
  fs.closeSync(fs.openSync(file, 'w'));
  fs.truncateSync(file, 4 * 1024 ** 3);
  const ac = new AbortController();
  const t0 = Date.now();
  const hashing = hashFile(file, ac.signal);
  await sleep(30);
  ac.abort();
  await assert.rejects(hashing, HashInterruptedError);
  assert.ok(Date.now() - t0 < 1000, `hashFile took ${Date.now() - t0} ms to stop`);
  fs.rmSync(file);
});
