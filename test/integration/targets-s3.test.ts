// S3 targets against a real S3-protocol server: s3rver (npm), started in this process on a free
// 127.0.0.1 port (test/helpers/s3.ts). Multipart uploads (5 MB parts), age encryption, and an
// upload cut off mid-transfer by stopping the server.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import crypto from 'node:crypto';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { S3Client, HeadObjectCommand, ListObjectsV2Command, CreateMultipartUploadCommand, UploadPartCommand, AbortMultipartUploadCommand } from '@aws-sdk/client-s3';
import { sandbox, batt, writeScript, listFiles, skipWithout, type Sandbox, writeTargetConf, HOST } from '../helpers/batt.js';
import { startS3, S3_KEY, S3_SECRET, type S3Server } from '../helpers/s3.js';
import { startThrottle } from '../helpers/net.js';
import { resolveHome } from '../../src/core/home.js';
import { loadTarget } from '../../src/targets/config.js';
import { openTarget } from '../../src/targets/open.js';
import { partSizeFor } from '../../src/targets/s3.js';

let sb: Sandbox;
let s3: S3Server;
let client: S3Client;
let identity: string;
const skipAge = skipWithout(['age', 'age-keygen']);

const conf = (name: string, text: string) => writeTargetConf(sb.home, name, text);
const target = async (name: string) => openTarget(await loadTarget(resolveHome(sb.home, {}), name));
const manifests = () =>
  listFiles(sb.root)
    .filter((f) => /\/demo(\.\d+)?\/batt-manifest\.json$/.test(f))
    .sort((a, b) => Number(/demo\.(\d+)\//.exec(a)?.[1] ?? 1) - Number(/demo\.(\d+)\//.exec(b)?.[1] ?? 1)); // oldest first
const keys = async (prefix: string) =>
  ((await client.send(new ListObjectsV2Command({ Bucket: s3.bucket, Prefix: prefix }))).Contents ?? []).map((o) => o.Key!).sort();

before(async () => {
  s3 = await startS3();
  client = new S3Client({
    endpoint: s3.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: { accessKeyId: S3_KEY, secretAccessKey: S3_SECRET },
  });
  sb = sandbox();
  identity = path.join(sb.dir, 'age.key');
  // only the age test needs age: without it that test skips (skipAge) and the others still run
  let recipient = 'age1-not-installed';
  if (!skipAge) {
    execFileSync('age-keygen', ['-o', identity], { stdio: 'ignore' });
    fs.chmodSync(identity, 0o600);
    recipient = execFileSync('age-keygen', ['-y', identity], { encoding: 'utf8' }).trim();
  }
  // 12 MB: three 5 MB parts, so the upload is multipart
  writeScript(sb.home, 'demo', 'printf "hello s3\\n" > "$BATT_DEST/a.txt"; head -c 12000000 /dev/urandom > "$BATT_DEST/big.bin"');
  const common = `TYPE=s3\nENDPOINT=${s3.endpoint}\nREGION=us-east-1\nBUCKET=${s3.bucket}\nACCESS_KEY_ID=${S3_KEY}\nSECRET_ACCESS_KEY=${S3_SECRET}\nPART_SIZE_MB=5\nRETRY_DELAY_MS=300\n`;
  conf('s3', `${common}PREFIX=plain/\nSTORAGE_CLASS=STANDARD\n`);
  if (!skipAge) conf('s3age', `${common}PREFIX=sealed\nRECIPIENT=${recipient}\nIDENTITY_FILE=${identity}\n`);
  conf('flaky', `${common}PREFIX=flaky\nRETRIES=2\n`);
  conf('parts', `${common}PREFIX=parts\nQUEUE_SIZE=2\n`);
});
after(async () => {
  client?.destroy();
  await s3?.stop();
  sb?.cleanup();
});

test('a run uploads to S3 (multipart), checks size and sha256 metadata; get() restores the same bytes', async () => {
  const r = await batt(['demo', '--target', 's3', '--path', sb.pattern, '--json'], { home: sb.home });
  assert.equal(r.code, 0, r.stderr);
  assert.ok(!r.stdout.includes(S3_SECRET) && !r.stderr.includes(S3_SECRET));
  const local = path.dirname(path.join(sb.root, manifests()[0]!));
  const id = `${HOST}/${path.relative(sb.root, local)}`;
  assert.deepEqual(await keys('plain/'), ['a.txt', 'batt-manifest.json', 'batt-remote.json', 'big.bin'].map((f) => `plain/${id}/${f}`));
  const head = await client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: `plain/${id}/big.bin` }));
  assert.equal(head.ContentLength, 12_000_000);
  const m = JSON.parse(fs.readFileSync(path.join(local, 'batt-manifest.json'), 'utf8'));
  assert.equal(head.Metadata?.['batt-sha256'], m.files.find((f: { path: string }) => f.path === 'big.bin').sha256);
  const { target: t } = await target('s3');
  try {
    const [copy] = await t.list();
    assert.equal(copy!.id, id);
    const out = path.join(sb.dir, 'from-s3');
    await t.get(id, out);
    assert.deepEqual(fs.readFileSync(path.join(out, 'big.bin')), fs.readFileSync(path.join(local, 'big.bin')));
    await t.remove(id);
    assert.deepEqual(await keys('plain/'), []);
  } finally {
    await t.close();
  }
  // the secret key of the conf appears in no log
  for (const f of listFiles(path.join(sb.home, 'log'))) assert.ok(!fs.readFileSync(path.join(sb.home, 'log', f), 'utf8').includes(`=${S3_SECRET}`));
});

test('age over S3: only ciphertext is stored, and a restore decrypts to the original', { skip: skipAge }, async () => {
  const r = await batt(['demo', '--target', 's3age', '--path', sb.pattern], { home: sb.home });
  assert.equal(r.code, 0, r.stderr);
  const local = path.dirname(path.join(sb.root, manifests().at(-1)!));
  const id = `${HOST}/${path.relative(sb.root, local)}`;
  assert.deepEqual(await keys('sealed/'), ['a.txt.age', 'batt-manifest.json.age', 'batt-remote.json', 'big.bin.age'].map((f) => `sealed/${id}/${f}`));
  const { target: t, encryption } = await target('s3age');
  try {
    const out = path.join(sb.dir, 'from-s3age');
    const m = await t.get(id, out, { encryption });
    assert.equal(m.service, 'demo');
    assert.equal(fs.readFileSync(path.join(out, 'a.txt'), 'utf8'), 'hello s3\n');
    // without the identity file the copy cannot be restored, and says why
    await assert.rejects(t.get(id, path.join(sb.dir, 'x'), {}), /encrypted; set IDENTITY_FILE/);
  } finally {
    await t.close();
  }
});

test('server gone mid-upload: the run fails loudly, the local copy stays, no complete-looking remote copy; a retry succeeds', async () => {
  let cut = false;
  s3.onRequest = (req) => {
    if (!cut && req.method === 'PUT' && /big\.bin\?.*partNumber=2/.test(req.url ?? '')) {
      cut = true;
      void s3.kill(); // stays down: every retry fails
    }
  };
  const r = await batt(['demo', '--target', 'flaky', '--path', sb.pattern], { home: sb.home });
  s3.onRequest = undefined;
  assert.ok(cut, 'the upload never reached part 2');
  assert.equal(r.code, 1, r.stderr);
  assert.match(r.stderr, /demo -> flaky: upload failed/);
  const local = path.dirname(path.join(sb.root, manifests().at(-1)!));
  const id = `${HOST}/${path.relative(sb.root, local)}`;
  assert.ok(fs.existsSync(path.join(local, 'big.bin')));
  const copies = fs.existsSync(path.join(local, 'batt-copies.json')) ? JSON.parse(fs.readFileSync(path.join(local, 'batt-copies.json'), 'utf8')).copies : [];
  assert.deepEqual(copies, []);
  await s3.restart();
  const remote = await keys(`flaky/${id}/`);
  assert.ok(!remote.includes(`flaky/${id}/batt-remote.json`) && !remote.includes(`flaky/${id}/big.bin`), remote.join(' '));
  const { target: t, retry } = await target('flaky');
  try {
    assert.deepEqual(await t.list(), []);
    // the next try: what the cut-off one left there is not this upload's, so it goes beside it
    const again = await t.put(local, id, { retry });
    assert.equal(again.id, remote.length ? `${id}~2` : id);
    assert.deepEqual((await t.list()).map((c) => c.id), [again.id]);
    assert.deepEqual(await t.verify(again.id), []);
  } finally {
    await t.close();
  }
});

test('server down for a moment mid-upload: the run retries with backoff and succeeds', async () => {
  let cut = false;
  s3.onRequest = (req) => {
    if (!cut && req.method === 'PUT' && /big\.bin\?.*partNumber=2/.test(req.url ?? '')) {
      cut = true;
      void s3.kill().then(() => setTimeout(() => void s3.restart(), 200));
    }
  };
  const r = await batt(['demo', '--target', 'flaky', '--path', sb.pattern], { home: sb.home });
  s3.onRequest = undefined;
  assert.ok(cut);
  assert.equal(r.code, 0, r.stderr);
  const local = path.dirname(path.join(sb.root, manifests().at(-1)!));
  const log = listFiles(path.join(sb.home, 'log')).map((f) => fs.readFileSync(path.join(sb.home, 'log', f), 'utf8')).join('');
  assert.match(log, /upload big\.bin: .*retry 1\/2/);
  // the summary and the log say the copy needed retries (issue 23)
  assert.match(r.stdout, /^copied 1 backup to flaky \(demo -> flaky ok after \d+ retr(y|ies)\)$/m);
  assert.match(log, /copied \S+ -> flaky: \d+ files? \(ok after \d+ retr(y|ies)\)/);
  const head = await client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: `flaky/${HOST}/${path.relative(sb.root, local)}/big.bin` }));
  assert.equal(head.ContentLength, 12_000_000);
});

test('SIGTERM mid-file on a slow link: batt aborts the multipart upload at once, exits 143, leaves nothing complete or pending', async (t) => {
  // 24 MB through a 2 MB/s uplink: seconds to upload, so a prompt exit can only come from an abort
  const slow = await startThrottle(s3.port, 2 * 1024 * 1024);
  conf('slow', `TYPE=s3\nENDPOINT=http://127.0.0.1:${slow.port}\nREGION=us-east-1\nBUCKET=${s3.bucket}\nACCESS_KEY_ID=${S3_KEY}\nSECRET_ACCESS_KEY=${S3_SECRET}\nPART_SIZE_MB=5\nPREFIX=slow\n`);
  writeScript(sb.home, 'huge', 'head -c 24000000 /dev/urandom > "$BATT_DEST/big.bin"');
  const pending = s3.pendingUploads(); // the tests above that kill the server leave some
  let child: import('node:child_process').ChildProcess | undefined;
  let sentAt = 0;
  const seen: string[] = [];
  s3.onRequest = (req) => {
    if (!/big\.bin/.test(req.url ?? '')) return;
    seen.push(`${req.method} ${req.url}`);
    // a moment after the first part started: well inside the file
    if (!sentAt && req.method === 'PUT' && /partNumber=1(&|$)/.test(req.url ?? '')) {
      sentAt = -1;
      setTimeout(() => {
        sentAt = Date.now();
        child?.kill('SIGTERM');
      }, 700);
    }
  };
  try {
    const r = await batt(['huge', '--target', 'slow', '--path', sb.pattern], { home: sb.home, onSpawn: (c) => (child = c) });
    const took = Date.now() - sentAt;
    t.diagnostic(`batt exited ${took} ms after SIGTERM; ${slow.sent} bytes went out`);
    assert.ok(sentAt > 0, 'SIGTERM was never sent');
    assert.equal(r.code, 143, r.stderr);
    assert.ok(took < 2000, `batt took ${took} ms to exit after SIGTERM`);
    assert.ok(slow.sent < 20_000_000, `${slow.sent} bytes went out: the upload was not cut short`);
    const local = path.dirname(path.join(sb.root, listFiles(sb.root).find((f) => /\/huge\/batt-manifest\.json$/.test(f))!));
    const id = `${HOST}/${path.relative(sb.root, local)}`;
    const m = JSON.parse(fs.readFileSync(path.join(local, 'batt-manifest.json'), 'utf8'));
    assert.equal(fs.statSync(path.join(local, 'big.bin')).size, m.files.find((f: { path: string }) => f.path === 'big.bin').size, 'the local backup must stay');
    assert.deepEqual(await keys(`slow/${id}/`), [], 'no index, no object');
    assert.ok(seen.some((x) => /^DELETE .*uploadId=/.test(x)), `no AbortMultipartUpload: ${seen.join(' ')}`);
    assert.ok(!seen.some((x) => /^POST .*uploadId=/.test(x)), 'CompleteMultipartUpload was sent');
    assert.deepEqual(s3.pendingUploads(), pending, 'a multipart upload was left on the server');
  } finally {
    s3.onRequest = undefined;
    await slow.stop();
  }
});

test('part size: the configured one, grown in whole MiB so that no file needs more than 10,000 parts', () => {
  const MiB = 1024 * 1024;
  for (const [size, mb, want] of [
    [0, 16, 16],
    [12_000_000, 5, 5],
    [2048 * MiB, 16, 16],
    [10_000 * 16 * MiB, 16, 16],
    [10_000 * 16 * MiB + 1, 16, 17],
    [1024 * 1024 * MiB, 16, 105], // 1 TiB
  ] as const) {
    const part = partSizeFor(size, mb);
    assert.equal(part, want * MiB, `${size} bytes, ${mb} MB`);
    assert.ok(Math.ceil(size / part) <= 10_000);
  }
});

test('a 3-part file (PART_SIZE_MB=5): three UploadParts, then Complete; the object round-trips with its sha256', async () => {
  const src = path.join(sb.dir, 'three-parts.bin');
  fs.writeFileSync(src, crypto.randomBytes(12 * 1024 * 1024 + 123));
  const seen: string[] = [];
  s3.onRequest = (req) => {
    if (/three-parts\.bin/.test(req.url ?? '')) seen.push(`${req.method} ${/partNumber=(\d+)/.exec(req.url ?? '')?.[1] ?? ''}`);
  };
  const { target: t } = await target('parts');
  try {
    await t.backend.putFile(src, 'x/three-parts.bin', fs.statSync(src).size);
    s3.onRequest = undefined;
    assert.deepEqual(seen.filter((r) => /^PUT \d/.test(r)).sort(), ['PUT 1', 'PUT 2', 'PUT 3']);
    // create, 3 parts, complete (POST twice), then the HeadObject check
    assert.deepEqual(seen.filter((r) => r.startsWith('POST')).length, 2);
    assert.equal(seen.at(-1), 'HEAD ');
    const head = await client.send(new HeadObjectCommand({ Bucket: s3.bucket, Key: 'parts/x/three-parts.bin' }));
    assert.equal(head.ContentLength, fs.statSync(src).size);
    assert.equal(head.Metadata?.['batt-sha256'], crypto.createHash('sha256').update(fs.readFileSync(src)).digest('hex'));
    const back = path.join(sb.dir, 'three-parts.back');
    await t.backend.getFile('x/three-parts.bin', back);
    assert.ok(fs.readFileSync(back).equals(fs.readFileSync(src)));
    // a small file is one PutObject, no multipart
    const small = path.join(sb.dir, 'small.bin');
    fs.writeFileSync(small, 'tiny\n');
    seen.length = 0;
    s3.onRequest = (req) => void seen.push(`${req.method} ${req.url}`);
    await t.backend.putFile(small, 'x/small.bin', 5);
    s3.onRequest = undefined;
    assert.ok(!seen.some((r) => /uploads|uploadId|POST/.test(r)), seen.join(' '));
    assert.equal((await t.backend.stat('x/small.bin'))?.size, 5);
  } finally {
    s3.onRequest = undefined;
    await t.close();
  }
});

test('an upload interrupted between parts (the file shrinks) fails, aborts the multipart upload, never completes an object', async () => {
  const src = path.join(sb.dir, 'cut.bin');
  fs.writeFileSync(src, crypto.randomBytes(12 * 1024 * 1024));
  const size = fs.statSync(src).size;
  const pending = s3.pendingUploads();
  const seen: string[] = [];
  s3.onRequest = (req) => {
    if (!/cut\.bin/.test(req.url ?? '')) return;
    seen.push(`${req.method} ${req.url}`);
    // part 3 (10-12 MB) cannot have been read yet: it waits for a worker's first part to finish
    if (req.method === 'PUT' && /partNumber=1(&|$)/.test(req.url ?? '')) fs.truncateSync(src, 7 * 1024 * 1024);
  };
  const { target: t } = await target('parts');
  try {
    await assert.rejects(t.backend.putFile(src, 'x/cut.bin', size), /got shorter during the upload/);
    s3.onRequest = undefined;
    assert.ok(seen.some((r) => /^DELETE .*uploadId=/.test(r)), `no AbortMultipartUpload: ${seen.join(' ')}`);
    // the only POSTs are the create (?uploads): no CompleteMultipartUpload (?uploadId=) was sent
    assert.deepEqual(seen.filter((r) => r.startsWith('POST')).map((r) => /\?uploads/.test(r)), [true]);
    assert.equal(await t.backend.stat('x/cut.bin'), undefined);
    assert.ok(!(await keys('parts/')).includes('parts/x/cut.bin'));
    assert.deepEqual(s3.pendingUploads(), pending, 'the multipart upload was left on the server');
  } finally {
    s3.onRequest = undefined;
    await t.close();
  }
});

test('an upload to S3 aborts multipart uploads under its PREFIX untouched for a day, nothing else', async () => {
  const day = 24 * 3600_000;
  const start = async (Key: string, opts: { age?: number; freshPart?: boolean } = {}) => {
    const { UploadId } = await client.send(new CreateMultipartUploadCommand({ Bucket: s3.bucket, Key }));
    await client.send(new UploadPartCommand({ Bucket: s3.bucket, Key, UploadId, PartNumber: 1, Body: Buffer.alloc(1024, 1) }));
    if (opts.age) s3.backdateUpload(UploadId!, new Date(Date.now() - opts.age));
    // a part that arrived just now: a slow upload still in progress, however long ago it began
    if (opts.freshPart) await client.send(new UploadPartCommand({ Bucket: s3.bucket, Key, UploadId, PartNumber: 2, Body: Buffer.alloc(1024, 2) }));
    return { Key, UploadId: UploadId! };
  };
  const stale = await start('plain/2020/01/01/demo/big.bin', { age: 2 * day });
  const keep = [
    await start('plain/2020/01/01/demo/fresh.bin'), // another host uploading right now
    await start('plain/2020/01/01/demo/slow.bin', { age: 2 * day, freshPart: true }),
    await start('other/2020/01/01/demo/big.bin', { age: 2 * day }), // not under this target's PREFIX
    await start('plainer/big.bin', { age: 2 * day }), // a PREFIX is a folder, not a string prefix
  ];
  try {
    const before = s3.pendingUploads();
    assert.ok(before.includes(stale.UploadId));
    // a target without a PREFIX may share the bucket with other programs: it touches no upload
    conf('whole', `TYPE=s3\nENDPOINT=${s3.endpoint}\nREGION=us-east-1\nBUCKET=${s3.bucket}\nACCESS_KEY_ID=${S3_KEY}\nSECRET_ACCESS_KEY=${S3_SECRET}\n`);
    const { target: whole } = await target('whole');
    try {
      assert.deepEqual(await whole.sweep(), { removed: [], failed: [], copies: [], kept: [] });
    } finally {
      await whole.close();
    }
    const r = await batt(['demo', '--target', 's3', '--path', sb.pattern], { home: sb.home });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(s3.pendingUploads(), before.filter((id) => id !== stale.UploadId));
    assert.match(fs.readFileSync(path.join(sb.home, 'log', 'batt.log'), 'utf8'), /target s3: removed 1 leftover of interrupted uploads: 2020\/01\/01\/demo\/big\.bin/);
  } finally {
    for (const u of [stale, ...keep]) await client.send(new AbortMultipartUploadCommand({ Bucket: s3.bucket, ...u })).catch(() => {});
  }
});
