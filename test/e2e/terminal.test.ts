// batt on a terminal: the progress list where the terminal has a width, plain lines where it
// reports 0 columns (a serial or IPMI console, a pty nobody sized). script(1) makes the terminal.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { BATT, batt, sandbox, writeScript } from '../helpers/batt.js';

test('on a terminal that reports 0 columns (a serial console) a run prints plain lines, not one character per line', { skip: !fs.existsSync('/usr/bin/script') && 'no script(1)' }, () => {
  const sb = sandbox();
  try {
    writeScript(sb.home, 'alpha', 'echo data > out.txt');
    const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
    const cmd = `stty cols 0 rows 0; exec ${q(process.execPath)} ${q(BATT)} alpha --path ${q(sb.pattern)}`;
    const r = spawnSync('script', ['-qec', cmd, '/dev/null'], { env: { ...process.env, NO_COLOR: '1', BATT_HOME: sb.home }, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const lines = r.stdout.split(/\r?\n/).map((l) => l.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\r/g, ''));
    assert.ok(lines.some((l) => /^ok {2}alpha {2}.* 1 file /.test(l)), r.stdout);
    assert.ok(lines.some((l) => /^backup complete: 1 ok, 0 failed/.test(l)), r.stdout);
    const scraps = lines.filter((l) => l.trim().length > 0 && l.trim().length <= 2);
    assert.deepEqual(scraps, [], `no line of one or two characters:\n${r.stdout}`);
  } finally {
    sb.cleanup();
  }
});

test('on a terminal of normal width a run still shows the progress list', { skip: !fs.existsSync('/usr/bin/script') && 'no script(1)' }, () => {
  const sb = sandbox();
  try {
    writeScript(sb.home, 'alpha', 'echo data > out.txt');
    const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
    const cmd = `stty cols 100 rows 40; exec ${q(process.execPath)} ${q(BATT)} alpha --path ${q(sb.pattern)}`;
    const r = spawnSync('script', ['-qec', cmd, '/dev/null'], { env: { ...process.env, NO_COLOR: '1', BATT_HOME: sb.home }, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /alpha: 1 file, /, 'the progress list titles the finished task');
  } finally {
    sb.cleanup();
  }
});

// A script that writes 1 MB a half second for ~4 s; with `expect`, it announces 8 MB first.
const slowScript = (expect: boolean) => `${expect ? 'echo "batt: expect 8000000"\n' : ''}for i in 1 2 3 4 5 6 7 8; do head -c 1000000 /dev/zero >> out.bin; sleep 0.5; done`;
/** The progress titles of `service` on the pty, in order, colours and cursor moves taken out. */
const progressTitles = (stdout: string, service: string) =>
  [...new Set(stdout.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').split(/[\r\n]+/).map((l) => l.trim().replace(/^\S+ /, '')).filter((l) => l.startsWith(`${service}: `) && !/ files? in /.test(l)))];

function onPty(sb: ReturnType<typeof sandbox>, args: string[]) {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const cmd = `stty cols 120 rows 40; exec ${[process.execPath, BATT, ...args, '--path', sb.pattern].map(q).join(' ')}`;
  return spawnSync('script', ['-qec', cmd, '/dev/null'], { env: { ...process.env, NO_COLOR: '1', BATT_HOME: sb.home }, encoding: 'utf8', timeout: 60_000 });
}

test('on a terminal a slow script shows growing byte counts and a rate in its line', { skip: !fs.existsSync('/usr/bin/script') && 'no script(1)' }, () => {
  const sb = sandbox();
  try {
    writeScript(sb.home, 'slow', slowScript(false));
    const r = onPty(sb, ['slow']);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const titles = progressTitles(r.stdout, 'slow');
    const sizes = titles.map((t) => /^slow: ([\d.]+) (B|KiB|MiB)\b/.exec(t)).filter(Boolean).map((m) => Number(m![1]) * { B: 1, KiB: 1024, MiB: 1 << 20 }[m![2] as 'B']);
    assert.ok(sizes.length >= 2, `at least two progress lines:\n${titles.join('\n')}`);
    assert.ok(sizes.some((s, i) => i > 0 && s > sizes[i - 1]!), `the count grows:\n${titles.join('\n')}`);
    assert.ok(titles.some((t) => /, [\d.]+ (KiB|MiB)\/s$/.test(t)), `a rate, and no percentage without an estimate:\n${titles.join('\n')}`);
    assert.ok(!titles.some((t) => /%/.test(t)), titles.join('\n'));
  } finally {
    sb.cleanup();
  }
});

test('on a terminal a script that announced "batt: expect BYTES" shows a percentage and an ETA; the manifest keeps the estimate', { skip: !fs.existsSync('/usr/bin/script') && 'no script(1)' }, () => {
  const sb = sandbox();
  try {
    writeScript(sb.home, 'slow', slowScript(true));
    const r = onPty(sb, ['slow']);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const titles = progressTitles(r.stdout, 'slow');
    assert.ok(titles.some((t) => /^slow: [\d.]+ \w+ of ~7\.6 MiB, \d+%, [\d.]+ \w+\/s, ETA \d+s$/.test(t)), `percentage and ETA:\n${titles.join('\n')}`);
    const rel = fs.readdirSync(sb.root, { recursive: true, encoding: 'utf8' }).find((f) => f.endsWith('slow/batt-manifest.json'))!;
    const manifest = fs.readFileSync(`${sb.root}/${rel}`, 'utf8');
    assert.equal(JSON.parse(manifest).expectedBytes, 8000000);
  } finally {
    sb.cleanup();
  }
});

test('piped, the same run prints no progress: the plain result line only', async () => {
  const sb = sandbox();
  try {
    writeScript(sb.home, 'slow', slowScript(true));
    const r = await batt(['slow', '--path', sb.pattern], { home: sb.home });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.doesNotMatch(r.stdout + r.stderr, /%|\/s\b|ETA|\r|\x1b/, r.stdout + r.stderr);
    assert.match(r.stdout, /^ok {2}slow {2}.* 1 file {2}7\.6 MiB /m);
  } finally {
    sb.cleanup();
  }
});

test('a script that announced an estimate and then failed silently: the error is not the estimate line', async () => {
  const sb = sandbox();
  try {
    writeScript(sb.home, 'slow', 'echo "batt: expect 8000000"\nexit 4');
    const r = await batt(['slow', '--path', sb.pattern], { home: sb.home });
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stderr, /slow: backup script exited with code 4$/m);
  } finally {
    sb.cleanup();
  }
});

/** The lines a pty showed, colours and cursor moves out, each carriage return a new line. */
const ptyLines = (stdout: string) => stdout.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').split(/[\r\n]+/).map((l) => l.trim()).filter(Boolean);

function localTarget(sb: ReturnType<typeof sandbox>): void {
  fs.mkdirSync(`${sb.home}/conf/targets`, { recursive: true });
  fs.writeFileSync(`${sb.home}/conf/targets/offsite.conf`, `TYPE=local\nPATH=${sb.dir}/offsite\n`, { mode: 0o600 });
}

test('on a terminal an upload to a target shows the copy in transfer with its bytes and percentage; piped, only the summary line', { skip: !fs.existsSync('/usr/bin/script') && 'no script(1)' }, async () => {
  const sb = sandbox();
  try {
    writeScript(sb.home, 'big', 'head -c 8000000 /dev/zero > out.bin');
    localTarget(sb);
    const r = onPty(sb, ['big']);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.ok(ptyLines(r.stdout).some((l) => /^copy big -> offsite: [\d.]+ \w+ of 7\.6 MiB, \d+%/.test(l)), r.stdout);
    const piped = await batt(['big', '--path', `${sb.root}/piped/%Y`], { home: sb.home });
    assert.equal(piped.code, 0, piped.stdout + piped.stderr);
    assert.doesNotMatch(piped.stdout + piped.stderr, /copy big|%|\r|\x1b/, piped.stdout);
    assert.match(piped.stdout, /^copied 1 backup to offsite$/m);
  } finally {
    sb.cleanup();
  }
});

test('on a terminal a restore shows how much of the backup its script has read, of the backup size; piped, only the result', { skip: !fs.existsSync('/usr/bin/script') && 'no script(1)' }, async () => {
  const sb = sandbox();
  try {
    writeScript(sb.home, 'big', 'head -c 8000000 /dev/zero > out.bin');
    // reads its backup 1 MB every half second through one descriptor: its offset is the progress
    writeScript(sb.home, 'big', 'exec 3<"$BATT_BACKUP/out.bin"\nfor i in 1 2 3 4 5 6 7 8; do dd bs=1000000 count=1 status=none <&3 >/dev/null; sleep 0.5; done', 'restore');
    const b = await batt(['big', '--path', sb.pattern], { home: sb.home });
    assert.equal(b.code, 0, b.stdout + b.stderr);
    const r = onPty(sb, ['restore', 'big']);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const reads = ptyLines(r.stdout).map((l) => /^restore big: read ([\d.]+) MiB of 7\.6 MiB, (\d+)%/.exec(l)).filter(Boolean).map((m) => Number(m![2]));
    assert.ok(reads.length >= 2 && reads.some((p, i) => i > 0 && p > reads[i - 1]!), `a growing percentage:\n${r.stdout}`);
    assert.ok(ptyLines(r.stdout).some((l) => /^restore big: verifying \S+, 7\.6 MiB$/.test(l)), r.stdout);
    const piped = await batt(['restore', 'big', '--path', sb.pattern], { home: sb.home });
    assert.equal(piped.code, 0, piped.stdout + piped.stderr);
    assert.doesNotMatch(piped.stdout + piped.stderr, /read |verifying|%|\r|\x1b/, piped.stdout);
    assert.match(piped.stdout, /^restored big from \S+ in /m);
  } finally {
    sb.cleanup();
  }
});

test('BATT_PROGRESS=1 reaches a script only when batt shows progress (a terminal); piped, or set by the caller, it does not', { skip: !fs.existsSync('/usr/bin/script') && 'no script(1)' }, async () => {
  const sb = sandbox();
  try {
    writeScript(sb.home, 'probe', 'echo "progress=${BATT_PROGRESS-unset}" > out.txt');
    const read = () => {
      const rel = fs.readdirSync(sb.root, { recursive: true, encoding: 'utf8' }).find((f) => f.endsWith('probe/out.txt'))!;
      const text = fs.readFileSync(`${sb.root}/${rel}`, 'utf8');
      fs.rmSync(sb.root, { recursive: true, force: true });
      return text.trim();
    };
    const r = onPty(sb, ['probe']);
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.equal(read(), 'progress=1');
    const piped = await batt(['probe', '--path', sb.pattern], { home: sb.home, env: { BATT_PROGRESS: '1' } });
    assert.equal(piped.code, 0, piped.stdout + piped.stderr);
    assert.equal(read(), 'progress=unset');
  } finally {
    sb.cleanup();
  }
});
