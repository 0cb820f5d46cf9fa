// Pure parts of the off-site targets: which errors are retried, the backoff (and that a stop ends
// it, with the class saying what was stopped, as the sweep's does), known_hosts matching, batt's
// temp names and which leftovers are stale, and the conf checks for encryption keys.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createHmac } from 'node:crypto';
import { backoffMs, isTransient, withRetry, DownloadInterruptedError, TargetInterruptedError, UploadInterruptedError } from '../../src/targets/retry.js';
import { isTempName, staleLeftovers, tempName, STALE_AFTER_MS, type Backend } from '../../src/targets/backend.js';
import { Target } from '../../src/targets/target.js';
import type { TargetConf } from '../../src/targets/config.js';
import { knownHostsKeys } from '../../src/targets/sftp.js';
import { encryptionFromConf } from '../../src/targets/crypto.js';
import { ConfigError } from '../../src/core/errors.js';

test('isTransient: network trouble and 5xx/429 are retried, auth and missing things are not', () => {
  const cases: [unknown, boolean][] = [
    [Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' }), true],
    [Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9'), { code: 'ECONNREFUSED' }), true],
    [Object.assign(new Error('x'), { $metadata: { httpStatusCode: 503 } }), true],
    [Object.assign(new Error('x'), { $metadata: { httpStatusCode: 429 } }), true],
    [Object.assign(new Error('Access Denied'), { name: 'AccessDenied', $metadata: { httpStatusCode: 403 } }), false],
    [Object.assign(new Error('The specified bucket does not exist'), { name: 'NoSuchBucket', $metadata: { httpStatusCode: 404 } }), false],
    [new Error('socket hang up'), true],
    [new Error('All configured authentication methods failed'), false],
    [Object.assign(new Error('550 Permission denied'), { code: 550 }), false],
  ];
  for (const [err, want] of cases) assert.equal(isTransient(err), want, (err as Error).message);
});

test('backoffMs doubles per attempt within [exp/2, exp] and stops at the cap', () => {
  const p = { attempts: 6, baseDelayMs: 1000, maxDelayMs: 5000 };
  assert.deepEqual([1, 2, 3, 4, 5].map((a) => backoffMs(a, p, () => 1)), [1000, 2000, 4000, 5000, 5000]);
  assert.deepEqual([1, 2, 3].map((a) => backoffMs(a, p, () => 0)), [500, 1000, 2000]);
});

test('withRetry retries transient errors up to the limit and never retries a permanent one', async () => {
  let n = 0;
  const p = { attempts: 3, baseDelayMs: 1, maxDelayMs: 1 };
  const seen: string[] = [];
  await assert.rejects(
    withRetry('x', async () => {
      n++;
      throw Object.assign(new Error('reset'), { code: 'ECONNRESET' });
    }, p, (m) => seen.push(m)),
    /reset/,
  );
  assert.equal(n, 3);
  assert.equal(seen.length, 2);
  n = 0;
  await assert.rejects(withRetry('x', async () => {
    n++;
    throw new Error('denied');
  }, p), /denied/);
  assert.equal(n, 1);
  n = 0;
  assert.equal(await withRetry('x', async () => (++n < 2 ? Promise.reject(Object.assign(new Error('t'), { code: 'ETIMEDOUT' })) : 'ok'), p), 'ok');
});

test('withRetry: once the signal fires it neither retries nor sleeps, and throws the class it was given', { timeout: 20_000 }, async () => {
  // a backoff long enough that any sleep would show (and trip the time limit)
  const p = { attempts: 5, baseDelayMs: 60_000, maxDelayMs: 60_000 };
  const transient = () => Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET' });
  // [what is retried, the class passed (none: the default), the class thrown, exactly]
  const kinds: [string, (typeof TargetInterruptedError) | undefined, typeof TargetInterruptedError][] = [
    ['a generic step', undefined, TargetInterruptedError],
    ['an upload', UploadInterruptedError, UploadInterruptedError],
    ['a download', DownloadInterruptedError, DownloadInterruptedError],
  ];
  const timed = async (want: typeof TargetInterruptedError, fn: () => Promise<unknown>) => {
    const t0 = Date.now();
    await assert.rejects(fn(), (e: unknown) => {
      assert.equal((e as Error).constructor, want, `threw ${(e as Error).constructor.name}, not ${want.name}`);
      return /^x: interrupted$/.test((e as Error).message);
    });
    return Date.now() - t0;
  };
  // [case, how the signal fires, tries made, retries announced]
  const cases: [string, (ctl: AbortController, fail: () => never) => { fn: () => Promise<never>; onRetry?: () => void }, number, number][] = [
    // already stopped: not even a first try
    ['aborted before the call', (ctl, fail) => (ctl.abort(), { fn: async () => fail() }), 0, 0],
    // stopped while a try runs (the transfer is cut): its failure is not retried, no backoff
    ['aborted during a try', (ctl, fail) => ({ fn: async () => (ctl.abort(), fail()) }), 1, 0],
    // stopped while a retry is announced: no backoff sleep at all
    ['aborted as the retry is announced', (ctl, fail) => ({ fn: async () => fail(), onRetry: () => ctl.abort() }), 1, 1],
    // stopped during the backoff: the sleep ends at once and no further try is made
    ['aborted during the backoff', (ctl, fail) => ({ fn: async () => fail(), onRetry: () => void setTimeout(() => ctl.abort(), 30) }), 1, 1],
  ];
  for (const [kind, Given, Want] of kinds) {
    for (const [name, make, wantTries, wantAnnounced] of cases) {
      const ctl = new AbortController();
      let tries = 0;
      let announced = 0;
      const fail = (): never => {
        tries++;
        throw transient();
      };
      const { fn, onRetry } = make(ctl, fail);
      const ms = await timed(Want, () => withRetry('x', fn, p, () => (announced++, onRetry?.()), ctl.signal, Given));
      assert.ok(ms < 2000, `${kind}, ${name}: took ${ms} ms (slept)`);
      assert.deepEqual([tries, announced], [wantTries, wantAnnounced], `${kind}, ${name}: [tries, retries announced]`);
    }
  }
});

test('Target.sweep stopped by the signal throws the base TargetInterruptedError (neither an upload nor a download) and removes nothing more', async () => {
  const now = Date.now();
  const removed: string[] = [];
  const ctl = new AbortController();
  const backend = {
    kind: 'fake',
    findLeftovers: async () => [
      { rel: 'a.batt-tmp-0a1b2c3d', mtimeMs: now - 2 * STALE_AFTER_MS },
      { rel: 'b.batt-tmp-0a1b2c3d', mtimeMs: now - 2 * STALE_AFTER_MS },
    ],
    // the stop comes while the first leftover is removed
    removeLeftover: async (l: { rel: string }) => {
      removed.push(l.rel);
      ctl.abort();
    },
  } as unknown as Backend;
  const target = new Target('t', backend, { name: 't' } as TargetConf);
  await assert.rejects(target.sweep({ signal: ctl.signal }), (e: unknown) => {
    assert.equal((e as Error).constructor, TargetInterruptedError, `threw ${(e as Error).constructor.name}`);
    return (e as Error).message === 't: sweep interrupted';
  });
  assert.deepEqual(removed, ['a.batt-tmp-0a1b2c3d']);
});

test('tempName makes names isTempName knows; nothing else is taken for a temp file', () => {
  for (const n of ['big.bin', 'batt-remote.json', 'a b.txt', '.hidden']) {
    assert.ok(isTempName(tempName(n)), tempName(n));
    assert.ok(isTempName(tempName(n, true)), tempName(n, true));
    assert.ok(tempName(n).startsWith(`${n}.batt-tmp-`) && tempName(n, true).endsWith(`-${n}`));
  }
  const cases: [string, boolean][] = [
    ['big.bin.batt-tmp-0a1b2c3d', true],
    ['.batt-tmp-0a1b2c3d-big.bin', true],
    ['.batt-tmp-0a1b2c3d', false], // no NAME in either form
    ['big.bin', false],
    ['big.bin.batt-tmp-', false],
    ['big.bin.batt-tmp-0a1b2c3', false], // 7 hex digits
    ['big.bin.batt-tmp-0a1b2c3d.old', false],
    ['big.bin.batt-tmp-0A1B2C3D', false],
    ['big.bin.batt-tmp-0a1b2c3g', false],
    ['.batt-tmp-0a1b2c3d-', false],
    ['batt-tmp-0a1b2c3d-big.bin', false],
    ['x.batt-tmp-0a1b2c3d/', false],
    ['notes.txt', false],
  ];
  for (const [name, want] of cases) assert.equal(isTempName(name), want, name);
});

test('staleLeftovers: only those last written more than the age before now; an unknown time never', () => {
  const now = Date.parse('2026-11-28T12:00:00Z');
  const found = [
    { rel: 'a', mtimeMs: now - STALE_AFTER_MS - 1000 },
    { rel: 'b', mtimeMs: now - STALE_AFTER_MS }, // exactly the age: not yet
    { rel: 'c', mtimeMs: now - 60_000 },
    { rel: 'd', mtimeMs: now + 3600_000 }, // a clock ahead of ours
    { rel: 'e', mtimeMs: NaN },
    { rel: 'f', mtimeMs: 0 },
  ];
  assert.equal(STALE_AFTER_MS, 24 * 3600_000);
  assert.deepEqual(staleLeftovers(found, now).map((l) => l.rel), ['a', 'f']);
  assert.deepEqual(staleLeftovers(found, now, 30_000).map((l) => l.rel), ['a', 'b', 'c', 'f']);
});

test('knownHostsKeys matches [host]:port, plain port-22 names and hashed entries; nothing else', () => {
  const salt = Buffer.from('0123456789abcdefghij');
  const hashed = `|1|${salt.toString('base64')}|${createHmac('sha1', salt).update('[10.0.0.5]:2222').digest('base64')}`;
  const text = [
    '# comment',
    '[127.0.0.1]:2200 ssh-ed25519 AAAAone',
    'backup.example,10.0.0.9 ssh-ed25519 AAAAtwo',
    `${hashed} ssh-ed25519 AAAAthree`,
    '@revoked [127.0.0.1]:2200 ssh-ed25519 AAAArevoked',
    '@cert-authority * ssh-ed25519 AAAAca',
  ].join('\n');
  assert.deepEqual(knownHostsKeys(text, '127.0.0.1', 2200), ['AAAAone']);
  assert.deepEqual(knownHostsKeys(text, '127.0.0.1', 22), []);
  assert.deepEqual(knownHostsKeys(text, '10.0.0.9', 22), ['AAAAtwo']);
  assert.deepEqual(knownHostsKeys(text, '10.0.0.9', 2222), []);
  assert.deepEqual(knownHostsKeys(text, '10.0.0.5', 2222), ['AAAAthree']);
});

test('encryptionFromConf: public keys only, identity file 0600, no passphrase in conf', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'batt-unit-'));
  try {
    const id = path.join(dir, 'id');
    fs.writeFileSync(id, 'AGE-SECRET-KEY-1X\n', { mode: 0o600 });
    const pub = 'age1' + 'q'.repeat(58);
    assert.equal(await encryptionFromConf({}, 'f'), undefined);
    assert.deepEqual(await encryptionFromConf({ RECIPIENT: `${pub}, ssh-ed25519 AAAAC3Nz` }, 'f'), {
      recipients: [pub, 'ssh-ed25519 AAAAC3Nz'],
      recipientsFile: undefined,
      identityFile: undefined,
    });
    await assert.rejects(encryptionFromConf({ RECIPIENT: 'AGE-SECRET-KEY-1X' }, 'f'), ConfigError);
    await assert.rejects(encryptionFromConf({ IDENTITY_FILE: id }, 'f'), /no RECIPIENT/);
    await assert.rejects(encryptionFromConf({ PASSPHRASE: 'x' }, 'f'), /PASSPHRASE_FILE/);
    const pf = path.join(dir, 'pass');
    fs.writeFileSync(pf, 'correct horse battery staple\n', { mode: 0o600 });
    assert.deepEqual(await encryptionFromConf({ PASSPHRASE_FILE: pf }, 'f'), { recipients: [], passphraseFile: pf });
    await assert.rejects(encryptionFromConf({ PASSPHRASE_FILE: pf, RECIPIENT: pub }, 'f'), /cannot be combined/);
    fs.chmodSync(pf, 0o640);
    await assert.rejects(encryptionFromConf({ PASSPHRASE_FILE: pf }, 'f'), /readable by others/);
    fs.chmodSync(id, 0o644);
    await assert.rejects(encryptionFromConf({ RECIPIENT: pub, IDENTITY_FILE: id }, 'f'), /readable by others/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});


test('target confs: bad or unsafe settings are refused with the file named', async () => {
  const { loadTarget } = await import('../../src/targets/config.js');
  const { openTarget } = await import('../../src/targets/open.js');
  const { resolveHome } = await import('../../src/core/home.js');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'batt-unit-'));
  try {
    const home = resolveHome(dir, {});
    fs.mkdirSync(path.join(dir, 'conf', 'targets'), { recursive: true });
    const write = (name: string, text: string, mode = 0o600) => fs.writeFileSync(path.join(dir, 'conf', 'targets', `${name}.conf`), text, { mode });
    const cases: [string, string, RegExp, number?][] = [
      ['notype', 'PATH=/x\n', /TYPE must be one of/],
      ['rel', 'TYPE=local\nPATH=relative/dir\n', /PATH must be an absolute path/],
      ['nokh', 'TYPE=rsync\nHOST=h\nPATH=/x\nSSH_KEY=/k\n', /needs SSH_KEY and KNOWN_HOSTS/],
      ['sftp', 'TYPE=sftp\nHOST=h\nUSER=u\nSSH_KEY=/k\nPATH=/x\n', /KNOWN_HOSTS is required/],
      ['s3half', 'TYPE=s3\nBUCKET=b\nACCESS_KEY_ID=a\n', /set both ACCESS_KEY_ID and SECRET_ACCESS_KEY/],
      ['ftpsec', 'TYPE=ftp\nHOST=h\nPATH=/x\nSECURE=maybe\n', /SECURE must be no, yes or implicit/],
      ['open', 'TYPE=s3\nBUCKET=b\nACCESS_KEY_ID=a\nSECRET_ACCESS_KEY=s\n', /readable by others/, 0o644],
    ];
    for (const [name, text, re, mode] of cases) {
      write(name, text, mode);
      await assert.rejects(async () => openTarget(await loadTarget(home, name)), re, name);
    }
    await assert.rejects(loadTarget(home, 'missing'), /no target named missing/);
    await assert.rejects(loadTarget(home, '../etc'), /not a valid target name/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('target keys: what the values become, and the first bad one as a ConfigError', async () => {
  const { boolKey, intKey, targetSetting } = await import('../../src/targets/config.js');
  const t = (conf: Record<string, string>) => ({ name: 'x', kind: 'local' as const, file: 'x.conf', conf });
  assert.equal(targetSetting(t({ TYPE: 'S3' }), 'TYPE'), 's3');
  const secure: [string, boolean | 'implicit' | undefined][] = [['', undefined], ['no', false], ['YES', true], ['implicit', 'implicit']];
  for (const [v, want] of secure) assert.equal(targetSetting(t({ SECURE: v }), 'SECURE'), want, v);
  assert.throws(() => targetSetting(t({ SECURE: 'tls' }), 'SECURE'), (e: unknown) => e instanceof ConfigError && e.message === 'x.conf: SECURE must be no, yes or implicit');
  const bools: [string, boolean][] = [['', true], ['1', true], ['On', true], ['yes', true], ['TRUE', true], ['0', false], ['off', false], ['No', false], ['false', false]];
  for (const [v, want] of bools) assert.equal(boolKey(t({ FORCE_PATH_STYLE: v }), 'FORCE_PATH_STYLE', true), want, v);
  assert.throws(() => boolKey(t({ FORCE_PATH_STYLE: 'maybe' }), 'FORCE_PATH_STYLE', true), (e: unknown) => e instanceof ConfigError && e.message === 'x.conf: FORCE_PATH_STYLE must be yes or no, got "maybe"');
  assert.equal(intKey(t({}), 'TIMEOUT', 120), 120);
  assert.equal(intKey(t({ TIMEOUT: '' }), 'TIMEOUT', 120), 120);
  assert.equal(intKey(t({ TIMEOUT: '0' }), 'TIMEOUT', 120), 0);
  assert.equal(intKey(t({ PORT: '99999' }), 'PORT', 22), 99999);
  assert.throws(() => intKey(t({ RETRIES: '-1' }), 'RETRIES', 3), (e: unknown) => e instanceof ConfigError && e.message === 'x.conf: RETRIES must be a whole number, got "-1"');
});
