// Single-file restores read the archive from the selected member on, not from its start:
// backup-file writes pzstd's independent frames and tar's member index (<archive>.idx.zst,
// --block-number), restore-file finds the frame that holds the member and lets tar list and
// extract from there. Shown by damaging a frame before the member (read from the start, the
// restore fails; from the index, it never reads that frame), and the slow way stays the answer
// whenever the index cannot be trusted to match its archive.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { batt, listFiles, sandbox, REPO, type Sandbox } from '../helpers/batt.js';

const year = new Date().getFullYear();
const day = (sb: Sandbox, n: number) => `${sb.root}/%Y/d${n}`;
const id = (n: number) => `${year}/d${n}/file`;
const folder = (sb: Sandbox, n: number) => path.join(sb.root, id(n));
const sha = (f: string) => createHash('sha256').update(fs.readFileSync(f)).digest('hex');

/** A tree of about 40 MB that makes 5 frames of pzstd: big random files first, small ones after. */
function makeTree(sb: Sandbox): string {
  const tree = path.join(sb.dir, 'src', 'www');
  fs.mkdirSync(path.join(tree, 'big'), { recursive: true });
  for (let i = 0; i < 8; i++) fs.writeFileSync(path.join(tree, 'big', `blob${i}`), randomBytes(5 << 20));
  fs.mkdirSync(path.join(tree, 'zz', 'conf'), { recursive: true });
  for (let i = 0; i < 50; i++) fs.writeFileSync(path.join(tree, 'zz', `page${i}.html`), `<p>page ${i}</p>\n`.repeat(20 + i));
  fs.writeFileSync(path.join(tree, 'zz', 'conf', 'site.conf'), 'listen 80;\n');
  // a name past ustar's 100 bytes: its headers start with an extended header, where the index points
  const deep = path.join(tree, 'zz', 'a-folder-with-a-long-name'.repeat(3), 'and-another-long-folder-name'.repeat(3));
  fs.mkdirSync(deep, { recursive: true });
  fs.writeFileSync(path.join(deep, 'file "quoted" with spaces\tand a tab.txt'), 'deep\n'.repeat(100));
  fs.symlinkSync('site.conf', path.join(tree, 'zz', 'conf', 'current'));
  return tree;
}

async function backup(sb: Sandbox, tree: string, n: number, extra: string[] = []) {
  const r = await batt(['--path', day(sb, n), '--file', tree, ...extra], { home: sb.home });
  assert.equal(r.code, 0, r.stderr + r.stdout);
}

/** restore-file run by hand (no batt, so no manifest check): a damaged copy is read as it is. */
function byHand(backupDir: string, to: string, paths: string[], env: Record<string, string> = {}) {
  return spawnSync(path.join(REPO, 'scripts-available', 'restore-file'), paths, {
    env: { ...process.env, BATT_BACKUP: backupDir, BATT_RESTORE_TO: to, ...env },
    encoding: 'utf8',
  });
}

/** The compressed offset of each pzstd frame (its skippable header), then the file's size. */
function frames(file: string): number[] {
  const b = fs.readFileSync(file);
  const out: number[] = [];
  let o = 0;
  while (o < b.length) {
    assert.equal(b.readUInt32LE(o) & 0xfffffff0, 0x184d2a50, `a skippable frame at ${o}`);
    out.push(o);
    o += 12 + b.readUInt32LE(o + 8);
  }
  out.push(b.length);
  return out;
}

/**
 * A copy of backup folder `dir` (as `name`) whose archive (the file ending in `ext`) has `bytes`
 * overwritten at the offset `at` gives for it.
 */
function damagedCopy(sb: Sandbox, dir: string, name: string, ext: string, at: (archive: string) => number, bytes = 4096): string {
  const copy = path.join(sb.dir, name);
  fs.cpSync(dir, copy, { recursive: true });
  const archive = path.join(copy, fs.readdirSync(copy).find((f) => f.endsWith(ext))!);
  const fd = fs.openSync(archive, 'r+');
  fs.writeSync(fd, Buffer.alloc(bytes, 0x55), 0, bytes, at(archive));
  fs.closeSync(fd);
  return copy;
}

/** The middle of pzstd frame k. */
const inFrame = (k: number) => (archive: string) => {
  const f = frames(archive);
  return Math.floor((f[k]! + f[k + 1]!) / 2);
};

test('a selected file comes from its own frame: a damaged frame before it is never read', async () => {
  const sb = sandbox({ builtins: true });
  try {
    const tree = makeTree(sb);
    await backup(sb, tree, 1);
    const dir = folder(sb, 1);
    const archive = path.join(dir, fs.readdirSync(dir).find((f) => f.endsWith('.tar.zst'))!);
    assert.ok(fs.existsSync(`${archive}.idx.zst`), 'the member index is beside the archive');
    assert.ok(frames(archive).length >= 5, 'several frames');
    const member = path.join(tree, 'zz', 'page7.html');
    const deep = path.join(tree, 'zz', 'a-folder-with-a-long-name'.repeat(3), 'and-another-long-folder-name'.repeat(3), 'file "quoted" with spaces\tand a tab.txt');
    const deepTo = path.join(sb.dir, 'deep');
    const d = await batt(['restore', 'file', id(1), '--path', day(sb, 1), '--to', deepTo, '--file', deep], { home: sb.home });
    assert.equal(d.code, 0, d.stderr + d.stdout);
    assert.equal(sha(path.join(deepTo, deep)), sha(deep));
    assert.match(fs.readFileSync(path.join(sb.home, 'log', 'batt.log'), 'utf8'), /from block \d+ on \(its member index\)/);

    // through batt (manifest checked first), into an empty target
    const to = path.join(sb.dir, 'out');
    const r = await batt(['restore', 'file', id(1), '--path', day(sb, 1), '--to', to, '--file', member], { home: sb.home });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.deepEqual(listFiles(to), [member.slice(1)]);
    assert.equal(sha(path.join(to, member)), sha(member));

    // frame 1 (of the big blobs, before the member) damaged: from the index the restore is whole ...
    const damaged = damagedCopy(sb, dir, 'damaged1', '.tar.zst', inFrame(1));
    const fast = byHand(damaged, path.join(sb.dir, 'fast'), [member]);
    assert.equal(fast.status, 0, fast.stderr);
    assert.match(fast.stdout, /from block \d+ on \(its member index\)/);
    assert.equal(sha(path.join(sb.dir, 'fast', member)), sha(member));
    // ... and read from the start (no perl to find the frames: the slow way) it fails, as it must
    const slow = byHand(damaged, path.join(sb.dir, 'slow'), [member], { PERL: '' });
    assert.notEqual(slow.status, 0, 'the slow way reads the damaged frame');
    assert.match(slow.stderr, /cannot read|zstd/);
    assert.ok(!fs.existsSync(path.join(sb.dir, 'slow')) || listFiles(path.join(sb.dir, 'slow')).length === 0);
  } finally {
    sb.cleanup();
  }
});

test('a selected folder, and a symlink in it, from the index; --file-compress none (.tar) seeks too', async () => {
  const sb = sandbox({ builtins: true });
  try {
    const tree = makeTree(sb);
    for (const [n, extra] of [[1, []], [2, ['--file-compress', 'none']]] as const) {
      await backup(sb, tree, n, [...extra]);
      const to = path.join(sb.dir, `out${n}`);
      const conf = path.join(tree, 'zz', 'conf');
      const r = await batt(['restore', 'file', id(n), '--path', day(sb, n), '--to', to, '--file', conf], { home: sb.home });
      assert.equal(r.code, 0, r.stderr + r.stdout);
      assert.deepEqual(listFiles(to).sort(), [`${conf.slice(1)}/current`, `${conf.slice(1)}/site.conf`]);
      assert.equal(fs.readlinkSync(path.join(to, conf, 'current')), 'site.conf');
    }
    assert.ok(fs.readdirSync(folder(sb, 2)).some((f) => f.endsWith('.tar.idx.zst')), 'an index beside the .tar');
    // the .tar's first bytes damaged: the restore of the folder never reads them
    const copy = damagedCopy(sb, folder(sb, 2), 'tar-copy', '.tar', () => 0, 8192);
    const conf = path.join(tree, 'zz', 'conf');
    const fast = byHand(copy, path.join(sb.dir, 'fast'), [conf]);
    assert.equal(fast.status, 0, fast.stderr);
    assert.equal(listFiles(path.join(sb.dir, 'fast')).length, 2);
  } finally {
    sb.cleanup();
  }
});

test('an incremental chain: each level is read from its index, the newest version wins', async () => {
  const sb = sandbox({ builtins: true });
  try {
    const tree = makeTree(sb);
    await backup(sb, tree, 1, ['--file-full-every', '7']);
    const page = path.join(tree, 'zz', 'page3.html');
    fs.writeFileSync(page, 'changed on day 2\n');
    await backup(sb, tree, 2, ['--file-full-every', '7']);
    for (const n of [1, 2]) assert.ok(fs.readdirSync(folder(sb, n)).some((f) => f.endsWith('.idx.zst')), `an index on day ${n}`);
    const to = path.join(sb.dir, 'out');
    const r = await batt(['restore', 'file', id(2), '--path', day(sb, 1), '--to', to, '--file', page, '--file', path.join(tree, 'zz', 'page4.html')], { home: sb.home });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.equal(fs.readFileSync(path.join(to, page), 'utf8'), 'changed on day 2\n');
    const log = fs.readFileSync(path.join(sb.home, 'log', 'batt.log'), 'utf8');
    assert.equal(log.match(/from block \d+ on \(its member index\)/g)?.length, 2, log);
    assert.equal(sha(path.join(to, tree, 'zz', 'page4.html')), sha(path.join(tree, 'zz', 'page4.html')));
  } finally {
    sb.cleanup();
  }
});

test('an index that does not match its archive, or none at all: the restore reads the archive from its start and is still right', async () => {
  const sb = sandbox({ builtins: true });
  try {
    const tree = makeTree(sb);
    await backup(sb, tree, 1);
    const member = path.join(tree, 'zz', 'page9.html');
    const cases: [string, (index: string) => void][] = [
      // every block number moved by one: tar would meet no header at the start of the slice
      ['shifted', (index) => {
        const text = execFileSync('zstd', ['-q', '-d', '-c', index], { encoding: 'utf8' });
        const shifted = text.replace(/^block (\d+):/gm, (_m, b: string) => `block ${Number(b) + 1}:`);
        fs.writeFileSync(index, execFileSync('zstd', ['-q', '-c'], { input: shifted }));
      }],
      // the member's line points at a later member's block: tar never meets the member
      ['swapped', (index) => {
        const lines = execFileSync('zstd', ['-q', '-d', '-c', index], { encoding: 'utf8' }).split('\n');
        const at = lines.findIndex((l) => l.endsWith(`"${member.slice(1)}"`));
        lines[at] = lines[at]!.replace(/^block \d+:/, lines[at + 3]!.match(/^block \d+:/)![0]);
        fs.writeFileSync(index, execFileSync('zstd', ['-q', '-c'], { input: lines.join('\n') }));
      }],
      ['garbage', (index) => fs.writeFileSync(index, execFileSync('zstd', ['-q', '-c'], { input: 'not an index\n' }))],
      ['missing', (index) => fs.rmSync(index)],
    ];
    for (const [name, spoil] of cases) {
      const copy = path.join(sb.dir, `copy-${name}`);
      fs.cpSync(folder(sb, 1), copy, { recursive: true });
      spoil(path.join(copy, fs.readdirSync(copy).find((f) => f.endsWith('.idx.zst'))!));
      const to = path.join(sb.dir, `out-${name}`);
      const r = byHand(copy, to, [member]);
      assert.equal(r.status, 0, `${name}: ${r.stderr}`);
      assert.doesNotMatch(r.stdout, /member index/, `${name}: read from the start`);
      assert.deepEqual(listFiles(to), [member.slice(1)], name);
      assert.equal(sha(path.join(to, member)), sha(member), name);
    }
  } finally {
    sb.cleanup();
  }
});

/** A minimal ustar header block (and data) for a hand-made hostile archive. */
function ustar(name: string, type: '0' | '2' | '5', data = '', link = ''): Buffer {
  const h = Buffer.alloc(512);
  const put = (off: number, s: string) => Buffer.from(s).copy(h, off);
  const oct = (off: number, len: number, n: number) => put(off, n.toString(8).padStart(len - 1, '0') + '\0');
  put(0, name);
  oct(100, 8, type === '5' ? 0o755 : 0o644);
  oct(108, 8, 0);
  oct(116, 8, 0);
  oct(124, 12, data.length);
  oct(136, 12, 1_764_000_000);
  h.write('        ', 148, 'latin1');
  put(156, type);
  put(157, link);
  put(257, 'ustar\0');
  put(263, '00');
  let sum = 0;
  for (const byte of h) sum += byte;
  put(148, sum.toString(8).padStart(6, '0') + '\0 ');
  const body = Buffer.from(data);
  return Buffer.concat([h, body, Buffer.alloc((512 - (body.length % 512)) % 512)]);
}

test('the guard checks what the slice holds: a write through a symlink found from the index is refused, nothing written', () => {
  const sb = sandbox({ builtins: true });
  try {
    const members: [string, Buffer][] = [
      ['srv/', ustar('srv/', '5')],
      ['srv/l', ustar('srv/l', '2', '', '%OUTSIDE%')],
      ['srv/l/evil', ustar('srv/l/evil', '0', 'pwned\n')],
    ];
    const outside = path.join(sb.dir, 'outside');
    fs.mkdirSync(outside);
    members[1]![1] = ustar('srv/l', '2', '', outside);
    let block = 0;
    const index: string[] = [];
    for (const [name, bytes] of members) {
      index.push(`block ${block}: "${name}"`);
      block += bytes.length / 512;
    }
    const tar = Buffer.concat([...members.map(([, b]) => b), Buffer.alloc(1024)]);
    const dir = path.join(sb.dir, 'planted');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'srv.tar.zst'), execFileSync('pzstd', ['-q', '-c'], { input: tar }));
    fs.writeFileSync(path.join(dir, 'srv.tar.zst.idx.zst'), execFileSync('zstd', ['-q', '-c'], { input: index.join('\n') + '\n' }));
    const to = path.join(sb.dir, 'target');
    const r = byHand(dir, to, ['/srv']);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stdout, /reading srv\.tar\.zst from block 0 on \(its member index\)/, 'the index was used');
    assert.match(r.stderr, /would be written through the symlink "srv\/l"/);
    assert.match(r.stderr, /unsafe archive: refusing the whole restore, nothing was written/);
    assert.ok(!fs.existsSync(to) || fs.readdirSync(to).length === 0);
    assert.deepEqual(fs.readdirSync(outside), []);
  } finally {
    sb.cleanup();
  }
});
