// RETRIES: which failures are tried again, how many times, and what the summary says.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { BackupJob, BackupResult, RunContext } from '../../src/run/backup.js';
import { backupWithRetries, shouldRetry, triesNote } from '../../src/run/tries.js';
import { withPriority } from '../../src/run/runner.js';

const failed = (extra: Partial<BackupResult> = {}): BackupResult => ({ service: 's', status: 'failed', files: 0, bytes: 0, durationMs: 1, error: 's: boom', retryable: true, ...extra });
const ok: BackupResult = { service: 's', status: 'ok', files: 1, bytes: 3, durationMs: 1, dest: '/b/s' };

test('shouldRetry: a retryable failure with tries left, never a stop, a success or a final failure', () => {
  const cases: [BackupResult, number, number, boolean, boolean][] = [
    [failed(), 1, 3, false, true],
    [failed(), 2, 3, false, true],
    [failed(), 3, 3, false, false], // no try left
    [failed(), 1, 1, false, false], // RETRIES=0
    [failed(), 1, 3, true, false], // SIGINT/SIGTERM
    [failed({ status: 'interrupted' }), 1, 3, false, false],
    [failed({ status: 'timeout' }), 1, 3, false, false],
    [failed({ retryable: false }), 1, 3, false, false], // cannot start, full disk, timeout, contract broken
    [failed({ retryable: undefined }), 1, 3, false, false], // a broken entry (conf) never ran
    [ok, 1, 3, false, false],
  ];
  for (const [r, attempt, tries, stopped, want] of cases) assert.equal(shouldRetry(r, attempt, tries, stopped), want, JSON.stringify([r.status, r.retryable, attempt, tries, stopped]));
});

test('triesNote: said only after more than one try', () => {
  assert.equal(triesNote({ status: 'ok', tries: 2 }), 'ok after 2 tries');
  assert.equal(triesNote({ status: 'failed', tries: 3 }), 'FAILED after 3 tries');
  assert.equal(triesNote({ status: 'ok', tries: 1 }), '');
  assert.equal(triesNote({ status: 'ok' }), '');
});

function harness(outcomes: BackupResult[], retries: number, signal?: AbortSignal) {
  const lines: string[] = [];
  const attempts: number[] = [];
  const job = { service: 's', run: { retries, retryWaitSeconds: 0 } } as BackupJob;
  const ctx = { log: { file: undefined, write: (_: string, l: string) => lines.push(l) }, signal } as unknown as RunContext;
  const run = () => backupWithRetries(job, ctx, async (_j, _c, attempt) => (attempts.push(attempt), outcomes[attempt - 1]!));
  return { lines, attempts, run };
}

test('backupWithRetries: tries again until ok, says so in the log, and counts the tries', async () => {
  const h = harness([failed(), failed(), ok], 2);
  const r = await h.run();
  assert.equal(r.status, 'ok');
  assert.equal(r.tries, 3);
  assert.deepEqual(h.attempts, [1, 2, 3]);
  assert.deepEqual(h.lines, ['try 1 of 3 failed; trying again in 0s', 'try 2 of 3 failed; trying again in 0s', 'ok after 3 tries']);
});

test('backupWithRetries: gives up after RETRIES, and never retries a final failure', async () => {
  const a = harness([failed(), failed(), ok], 1);
  const r = await a.run();
  assert.equal(r.status, 'failed');
  assert.equal(r.tries, 2);
  const b = harness([failed({ retryable: false }), ok], 3);
  assert.equal((await b.run()).tries, undefined, 'one try: no tries field (the --json shape of a plain run)');
  assert.deepEqual(b.attempts, [1]);
  const c = harness([failed()], 0); // RETRIES unset: one try
  assert.equal((await c.run()).tries, undefined);
});

test('backupWithRetries: a stop during the wait ends it as interrupted, without another try', async () => {
  const ac = new AbortController();
  const job = { service: 's', run: { retries: 2, retryWaitSeconds: 30 } } as BackupJob;
  const ctx = { log: { file: undefined, write: () => {} }, signal: ac.signal } as unknown as RunContext;
  setTimeout(() => ac.abort(), 50);
  const t0 = Date.now();
  const r = await backupWithRetries(job, ctx, async (_j, _c, attempt) => (attempt === 1 ? failed() : ok));
  assert.equal(r.status, 'interrupted');
  assert.equal(r.tries, undefined);
  assert.ok(Date.now() - t0 < 5000, 'the wait was cut short');
});

test('withPriority: nice and ionice wrap the script only when set', () => {
  const cases: [Parameters<typeof withPriority>[2], string, string[]][] = [
    [{}, '/s', ['a']],
    [undefined, '/s', ['a']],
    [{ nice: 10 }, 'nice', ['-n', '10', '--', '/s', 'a']],
    [{ nice: -5, ioniceClass: 3 }, 'nice', ['-n', '-5', 'ionice', '-c', '3', '--', '/s', 'a']],
    [{ ioniceClass: 3, ioniceLevel: 7 }, 'ionice', ['-c', '3', '--', '/s', 'a']], // idle has no levels
    [{ ioniceClass: 2, ioniceLevel: 7 }, 'ionice', ['-c', '2', '-n', '7', '--', '/s', 'a']],
    [{ ioniceLevel: 6 }, 'ionice', ['-c', '2', '-n', '6', '--', '/s', 'a']], // a level alone: best-effort
    [{ ioniceClass: 0, ioniceLevel: 6 }, '/s', ['a']], // none: leave the I/O class alone
    [{ nice: 0 }, 'nice', ['-n', '0', '--', '/s', 'a']],
  ];
  for (const [p, file, args] of cases) assert.deepEqual(withPriority('/s', ['a'], p), { file, args }, JSON.stringify(p));
});
