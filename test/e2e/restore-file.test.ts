// `batt restore file` against hand-made archives: hostile ones (../x, absolute names, links out
// of the target, writes through a symlink) are refused whole, before anything is written.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { batt, listFiles, sandbox, type Sandbox } from '../helpers/batt.js';

interface Member {
  name: string;
  type?: 'file' | 'dir' | 'symlink' | 'hardlink' | 'chardev';
  data?: string;
  link?: string;
  mode?: number;
}

/** A minimal ustar writer: enough to write what GNU tar would never produce itself. */
function tarball(members: Member[]): Buffer {
  const blocks: Buffer[] = [];
  const field = (h: Buffer, off: number, len: number, s: string) => {
    const b = Buffer.from(s, 'utf8');
    assert.ok(b.length <= len, `tar field too long: ${s}`);
    b.copy(h, off);
  };
  const octal = (h: Buffer, off: number, len: number, n: number) => field(h, off, len, n.toString(8).padStart(len - 1, '0') + '\0');
  for (const m of members) {
    const type = m.type ?? 'file';
    const data = Buffer.from(type === 'file' ? (m.data ?? '') : '');
    const h = Buffer.alloc(512);
    field(h, 0, 100, m.name);
    octal(h, 100, 8, m.mode ?? (type === 'dir' ? 0o755 : 0o644));
    octal(h, 108, 8, 0);
    octal(h, 116, 8, 0);
    octal(h, 124, 12, data.length);
    octal(h, 136, 12, 1_764_000_000);
    h.write('        ', 148, 'latin1');
    field(h, 156, 1, { file: '0', hardlink: '1', symlink: '2', chardev: '3', dir: '5' }[type]);
    field(h, 157, 100, m.link ?? '');
    field(h, 257, 6, 'ustar\0');
    field(h, 263, 2, '00');
    if (type === 'chardev') {
      octal(h, 329, 8, 1);
      octal(h, 337, 8, 3);
    }
    let sum = 0;
    for (const byte of h) sum += byte;
    field(h, 148, 8, sum.toString(8).padStart(6, '0') + '\0 ');
    blocks.push(h, data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

/** Puts files into a backup folder of the file service with a valid manifest; returns its id. */
function plantBackup(sb: Sandbox, files: Record<string, Buffer>, id = '2026/11/28/file'): string {
  const dir = path.join(sb.root, id);
  fs.mkdirSync(dir, { recursive: true });
  const entries = Object.entries(files).map(([name, data]) => {
    fs.writeFileSync(path.join(dir, name), data, { mode: 0o600 });
    return { path: name, size: data.length, sha256: createHash('sha256').update(data).digest('hex') };
  });
  const now = new Date().toISOString();
  const manifest = {
    format: 1,
    service: 'file',
    host: 'test',
    runId: 'planted',
    startedAt: now,
    finishedAt: now,
    status: 'ok',
    exitCode: 0,
    battVersion: 'test',
    script: 'hand-made',
    options: { options: {}, args: [] },
    files: entries,
    totalBytes: entries.reduce((s, e) => s + e.size, 0),
  };
  fs.writeFileSync(path.join(dir, 'batt-manifest.json'), JSON.stringify(manifest, null, 2));
  return id;
}

const zstd = (b: Buffer) => execFileSync('zstd', ['-q', '-c'], { input: b, maxBuffer: 64 << 20 });

const restore = (sb: Sandbox, args: string[], env?: Record<string, string>, cwd?: string) =>
  batt(['restore', 'file', '--path', sb.pattern, ...args], { home: sb.home, env, cwd });

/** A sandbox with an empty "outside" folder next to where the restore goes. */
function setup(): { sb: Sandbox; target: string; outside: string } {
  const sb = sandbox({ builtins: true });
  const outside = path.join(sb.dir, 'outside');
  fs.mkdirSync(outside);
  return { sb, target: path.join(sb.dir, 'target'), outside };
}

/** What must hold after any refused or failed restore: nothing anywhere but the backup. */
function assertNothingWritten(sb: Sandbox, target: string, outside: string): void {
  assert.deepEqual(listFiles(target), [], 'nothing in the target');
  assert.ok(!fs.existsSync(target) || fs.readdirSync(target).length === 0, 'no folder in the target');
  assert.deepEqual(fs.readdirSync(outside), [], 'nothing outside the target');
  const top = fs.readdirSync(sb.dir).sort();
  assert.deepEqual(top.filter((n) => !['backup', 'home', 'outside', 'target'].includes(n)), [], 'nothing beside the target');
}

test('a hand-made archive with awkward but harmless members restores (the writer is sound)', async () => {
  const { sb, target } = setup();
  try {
    const archive = tarball([
      { name: 'srv/', type: 'dir' },
      { name: 'srv/app/', type: 'dir', mode: 0o2750 },
      { name: 'srv/app/a -> b', data: 'arrow\n' },
      { name: 'srv/app/new\nline', data: 'newline\n', mode: 0o600 },
      { name: 'srv/app/rel', type: 'symlink', link: '../app/a -> b' },
      { name: 'srv/app/abs', type: 'symlink', link: '/etc/passwd' },
      { name: 'srv/app/hard', type: 'hardlink', link: 'srv/app/a -> b' },
      { name: './srv//app/./dot', data: 'normalised\n' },
    ]);
    plantBackup(sb, { 'srv.tar.zst': zstd(archive) });
    const r = await restore(sb, ['--to', target]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const app = path.join(target, 'srv', 'app');
    assert.equal(fs.readFileSync(path.join(app, 'a -> b'), 'utf8'), 'arrow\n');
    assert.equal(fs.readFileSync(path.join(app, 'new\nline'), 'utf8'), 'newline\n');
    assert.equal(fs.statSync(path.join(app, 'new\nline')).mode & 0o7777, 0o600);
    assert.equal(fs.statSync(app).mode & 0o7777, 0o2750);
    assert.equal(fs.readlinkSync(path.join(app, 'rel')), '../app/a -> b');
    assert.equal(fs.readlinkSync(path.join(app, 'abs')), '/etc/passwd');
    assert.equal(fs.statSync(path.join(app, 'hard')).ino, fs.statSync(path.join(app, 'a -> b')).ino);
    assert.equal(fs.readFileSync(path.join(app, 'dot'), 'utf8'), 'normalised\n');
  } finally {
    sb.cleanup();
  }
});

test('hostile archives are refused whole: nothing written inside or outside the target', async (t) => {
  // Each case gets its own sandbox, so an escape of one cannot hide behind another.
  const cases: [string, (outside: string) => Record<string, Member[]>, RegExp][] = [
    ['../x', () => ({ 'a.tar': [{ name: 'ok', data: 'fine' }, { name: '../x', data: 'escaped' }] }), /"\.\.\/x": path with a \.\. component/],
    ['.. in the middle', () => ({ 'a.tar': [{ name: 'a/../../x', data: 'escaped' }] }), /path with a \.\. component/],
    ['absolute member', (o) => ({ 'a.tar': [{ name: `${o}/abs`, data: 'escaped' }] }), /absolute path/],
    [
      'symlink out, then a file written through it',
      (o) => ({ 'a.tar': [{ name: 'evil', type: 'symlink', link: o }, { name: 'evil/pwned', data: 'escaped' }] }),
      /"evil\/pwned": would be written through the symlink "evil"/,
    ],
    [
      'symlink in one archive, written through in another',
      (o) => ({ 'a.tar': [{ name: 'srv/link', type: 'symlink', link: o }], 'b.tar': [{ name: 'srv/link/pwned', data: 'escaped' }] }),
      /b\.tar: "srv\/link\/pwned": would be written through/,
    ],
    [
      'folder member in place of a symlink out',
      (o) => ({ 'a.tar': [{ name: 'evil', type: 'symlink', link: o }, { name: 'evil/', type: 'dir', mode: 0o777 }] }),
      /"evil\/": folder in place of the symlink "evil"/,
    ],
    ['hard link to /etc/passwd', () => ({ 'a.tar': [{ name: 'passwd', type: 'hardlink', link: '/etc/passwd' }] }), /hard link to absolute path "\/etc\/passwd"/],
    [
      'hard link through a symlink',
      () => ({ 'a.tar': [{ name: 'etc', type: 'symlink', link: '/etc' }, { name: 'pw', type: 'hardlink', link: 'etc/passwd' }] }),
      /hard link target "etc\/passwd"\): would be written through the symlink "etc"/,
    ],
    ['hard link up and out', () => ({ 'a.tar': [{ name: 'pw', type: 'hardlink', link: '../outside/x' }] }), /hard link to "\.\.\/outside\/x" leads out/],
    ['relative symlink climbing out', () => ({ 'a.tar': [{ name: 'srv/up', type: 'symlink', link: '../../outside' }] }), /symlink to "\.\.\/\.\.\/outside" leads out/],
    ['device node', () => ({ 'a.tar': [{ name: 'null', type: 'chardev' }] }), /device node/],
    [
      'good archive first, hostile one second',
      (o) => ({ 'a.tar.zst': [{ name: 'good/file', data: 'fine' }], 'b.tar.gz': [{ name: `${o}/abs`, data: 'escaped' }] }),
      /b\.tar\.gz: .*absolute path/,
    ],
  ];
  for (const [name, make, said] of cases) {
    await t.test(name, async () => {
      const { sb, target, outside } = setup();
      try {
        const files: Record<string, Buffer> = {};
        for (const [file, members] of Object.entries(make(outside))) {
          const tar = tarball(members);
          files[file] = file.endsWith('.zst') ? zstd(tar) : file.endsWith('.gz') ? execFileSync('gzip', ['-c'], { input: tar }) : tar;
        }
        plantBackup(sb, files);
        const r = await restore(sb, ['--to', target]);
        assert.notEqual(r.code, 0, r.stdout);
        assert.match(r.stderr, /unsafe archive/);
        const log = fs.readFileSync(path.join(sb.home, 'log', 'batt.log'), 'utf8');
        assert.match(log, said);
        assertNothingWritten(sb, target, outside);
        // --force does not make a hostile archive acceptable.
        fs.mkdirSync(target);
        fs.writeFileSync(path.join(target, 'live'), 'live\n');
        const forced = await restore(sb, ['--to', target, '--force']);
        assert.notEqual(forced.code, 0);
        assert.deepEqual(listFiles(target), ['live']);
        assert.deepEqual(fs.readdirSync(outside), []);
      } finally {
        sb.cleanup();
      }
    });
  }
});

test('device nodes are restored with --file-devices yes', { skip: process.getuid?.() !== 0 && 'needs root' }, async () => {
  const { sb, target } = setup();
  try {
    plantBackup(sb, { 'dev.tar': tarball([{ name: 'dev/', type: 'dir' }, { name: 'dev/null', type: 'chardev', mode: 0o666 }]) });
    const r = await restore(sb, ['--to', target, '--file-devices', 'yes']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const st = fs.lstatSync(path.join(target, 'dev', 'null'));
    assert.ok(st.isCharacterDevice());
    assert.equal(st.rdev, (1 << 8) | 3);
  } finally {
    sb.cleanup();
  }
});

test('selected paths: only those members are restored, also from a backup of / ("./" names)', async () => {
  const { sb, target } = setup();
  try {
    plantBackup(sb, {
      'root.tar.zst': zstd(tarball([
        { name: './', type: 'dir' },
        { name: './etc/', type: 'dir' },
        { name: './etc/nginx/', type: 'dir' },
        { name: './etc/nginx/nginx.conf', data: 'conf' },
        { name: './etc/passwd', data: 'users' },
      ])),
      'srv.tar': tarball([{ name: 'srv/app/', type: 'dir' }, { name: 'srv/app/a', data: 'a' }, { name: 'srv/other', data: 'o' }]),
    });
    const r = await restore(sb, ['--to', target, '--file', '/etc/nginx/', '--file', '/srv/app']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.deepEqual(listFiles(target), ['etc/nginx/nginx.conf', 'srv/app/a']);
  } finally {
    sb.cleanup();
  }
});

test('selected paths are found in the listing the guard already read (no archive read again), whatever bytes their names hold', async () => {
  const { sb, target } = setup();
  try {
    const odd = 'srv/sp ace "q" \\b \u00e9\tx\ny\u007fz'; // space, quote, backslash, UTF-8, tab, newline, DEL
    plantBackup(sb, {
      'srv.tar.zst': zstd(tarball([
        { name: 'srv/', type: 'dir' },
        { name: odd, data: 'odd' },
        { name: 'srv/sp ace', data: 'a prefix of the odd name, not selected' },
        { name: 'srv/dir/', type: 'dir' },
        { name: 'srv/dir/in', data: 'in' },
        { name: 'srv/dirt', data: 'not below srv/dir' },
      ])),
    });
    // zstd counts its runs: the listing and the extraction, nothing more
    const calls = path.join(sb.dir, 'zstd-calls');
    const wrapper = path.join(sb.dir, 'zstd-counting');
    fs.writeFileSync(wrapper, `#!/bin/sh\necho x >> '${calls}'\nexec zstd "$@"\n`, { mode: 0o755 });
    const r = await restore(sb, ['--to', target, '--file', `/${odd}`, '--file', '/srv/dir'], { ZSTD: wrapper });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.deepEqual(listFiles(target).sort(), [odd, 'srv/dir/in'].sort());
    assert.equal(fs.readFileSync(path.join(target, odd), 'utf8'), 'odd');
    assert.equal(fs.readFileSync(calls, 'utf8').split('\n').filter(Boolean).length, 2, 'one listing, one extraction');
  } finally {
    sb.cleanup();
  }
});

test('a target that is a symlink to a non-empty folder counts as not empty', async () => {
  const { sb, target, outside } = setup();
  try {
    plantBackup(sb, { 'a.tar': tarball([{ name: 'f', data: 'from backup' }]) });
    fs.writeFileSync(path.join(outside, 'live'), 'live');
    fs.symlinkSync(outside, target);
    const r = await restore(sb, ['--to', target]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /is not empty.*--force/);
    assert.deepEqual(fs.readdirSync(outside), ['live']);
  } finally {
    sb.cleanup();
  }
});

test('bad restore input is refused with a clear message', async (t) => {
  const { sb, target, outside } = setup();
  try {
    plantBackup(sb, { 'a.tar': tarball([{ name: 'f', data: 'x' }]) });
    const cases: [string, string[], RegExp][] = [
      ['no --to', [], /needs a target folder: --to/],
      ['selected path not in the backup', ['--to', target, '--file', '/etc'], /\/etc is not in this backup/],
      ['selected path with ..', ['--to', target, '--file', '/srv/../etc'], /must be plain/],
      ['unknown option', ['--to', target, '--file-owner', 'keep'], /unknown restore option --file-owner /],
      ['bad owners value', ['--to', target, '--file-owners', 'maybe'], /--file-owners takes keep or no/],
    ];
    for (const [name, args, said] of cases) {
      await t.test(name, async () => {
        const r = await restore(sb, args);
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, said);
        assertNothingWritten(sb, target, outside);
      });
    }
  } finally {
    sb.cleanup();
  }
});

test('a target inside the backup folder is refused', async () => {
  const { sb, outside } = setup();
  try {
    const id = plantBackup(sb, { 'a.tar': tarball([{ name: 'f', data: 'x' }]) });
    const inside = path.join(sb.root, id, 'restored');
    const r = await restore(sb, ['--to', inside]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /is inside the backup/);
    assert.ok(!fs.existsSync(inside));
    assert.equal((await batt(['verify', '--path', sb.pattern], { home: sb.home })).code, 0);
    assert.deepEqual(fs.readdirSync(outside), []);
  } finally {
    sb.cleanup();
  }
});

test('a relative --to is taken from the folder batt was run in, not the script\'s scratch folder', async (t) => {
  const { sb, outside } = setup();
  try {
    plantBackup(sb, { 'a.tar': tarball([{ name: 'srv/', type: 'dir' }, { name: 'srv/f', data: 'from backup' }]) });
    const caller = path.join(sb.dir, 'caller');
    fs.mkdirSync(caller);
    const cases: [string, string, string][] = [
      ['plain', 'restored', path.join(caller, 'restored')],
      ['./ and several levels', './restored/deep', path.join(caller, 'restored', 'deep')],
      ['.. out of the caller folder', '../outside/up', path.join(outside, 'up')],
    ];
    for (const [name, to, lands] of cases) {
      await t.test(name, async () => {
        // A stray BATT_CWD of the caller must not count: batt sets its own.
        const r = await restore(sb, ['--to', to], { BATT_CWD: path.join(sb.dir, 'elsewhere') }, caller);
        assert.equal(r.code, 0, r.stderr + r.stdout);
        assert.equal(fs.readFileSync(path.join(lands, 'srv', 'f'), 'utf8'), 'from backup');
        fs.rmSync(lands, { recursive: true });
      });
    }
    // Nothing but the targets: the (empty) folder left of restored/deep.
    assert.deepEqual(fs.readdirSync(caller), ['restored']);
    assert.deepEqual(fs.readdirSync(path.join(caller, 'restored')), []);
    assert.ok(!fs.existsSync(path.join(sb.dir, 'elsewhere')));
    await t.test('a relative --to over a non-empty folder still needs --force', async () => {
      fs.writeFileSync(path.join(caller, 'live'), 'live');
      const r = await restore(sb, ['--to', '.'], undefined, caller);
      assert.notEqual(r.code, 0);
      assert.ok(r.stderr.includes(`${caller} is not empty`), r.stderr);
      assert.deepEqual(fs.readdirSync(caller).sort(), ['live', 'restored']);
      const forced = await restore(sb, ['--to', '.', '--force'], undefined, caller);
      assert.equal(forced.code, 0, forced.stderr);
      assert.equal(fs.readFileSync(path.join(caller, 'srv', 'f'), 'utf8'), 'from backup');
      assert.equal(fs.readFileSync(path.join(caller, 'live'), 'utf8'), 'live');
    });
  } finally {
    sb.cleanup();
  }
});

test('a relative --to that leads into the backup folder is refused', async (t) => {
  const { sb, outside } = setup();
  try {
    const id = plantBackup(sb, { 'a.tar': tarball([{ name: 'f', data: 'x' }]) });
    const backupDir = path.join(sb.root, id);
    const cases: [string, string, string][] = [
      ['from inside the backup', backupDir, 'restored'],
      ['down into it', sb.dir, `backup/${id}/restored`],
      ['.. back into it', outside, `../backup/${id}/restored`],
    ];
    for (const [name, cwd, to] of cases) {
      await t.test(name, async () => {
        const r = await restore(sb, ['--to', to], undefined, cwd);
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, /is inside the backup/);
        assert.ok(!fs.existsSync(path.join(backupDir, 'restored')));
        assert.deepEqual(fs.readdirSync(outside), []);
      });
    }
    assert.equal((await batt(['verify', '--path', sb.pattern], { home: sb.home })).code, 0);
  } finally {
    sb.cleanup();
  }
});

test('run without batt (no BATT_CWD), the script refuses a relative --to and writes nothing', () => {
  const { sb, target, outside } = setup();
  try {
    const id = plantBackup(sb, { 'a.tar': tarball([{ name: 'f', data: 'x' }]) });
    const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', BATT_BACKUP: path.join(sb.root, id), BATT_RESTORE_TO: 'target' };
    const r = spawnSync(path.join(sb.home, 'scripts-available', 'restore-file'), [], { cwd: sb.dir, env, encoding: 'utf8' });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, /must be an absolute path, got 'target' \(a relative one needs BATT_CWD/);
    assertNothingWritten(sb, target, outside);
  } finally {
    sb.cleanup();
  }
});

test('a hostile archive is refused whole with a relative --to too', async () => {
  const { sb, target, outside } = setup();
  try {
    plantBackup(sb, { 'a.tar': tarball([{ name: 'ok', data: 'fine' }, { name: '../outside/x', data: 'escaped' }]) });
    const r = await restore(sb, ['--to', 'target'], undefined, sb.dir);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /unsafe archive/);
    assertNothingWritten(sb, target, outside);
  } finally {
    sb.cleanup();
  }
});

test('a failure half way through takes back what was written into an empty target', async (t) => {
  const { sb, target, outside } = setup();
  try {
    // tar that extracts for real, then reports failure (a full disk or an I/O error late on).
    const lateFail = path.join(sb.home, 'late-fail-tar');
    fs.writeFileSync(lateFail, '#!/bin/sh\ntar "$@" || exit $?\ncase " $* " in *" --extract "*) exit 2 ;; esac\n', { mode: 0o755 });
    plantBackup(sb, { 'a.tar.zst': zstd(tarball([{ name: 'srv/f', data: 'x' }])) });

    await t.test('into a folder that did not exist', async () => {
      const r = await restore(sb, ['--to', target], { TAR: lateFail });
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /tar exited with code 2 \(the partial restore was removed/);
      assert.ok(!fs.existsSync(target), 'target removed');
      assertNothingWritten(sb, target, outside);
    });
    await t.test('into an empty folder', async () => {
      fs.mkdirSync(target);
      const r = await restore(sb, ['--to', target], { TAR: lateFail });
      assert.notEqual(r.code, 0);
      assert.deepEqual(fs.readdirSync(target), [], 'emptied again');
    });
    await t.test('over a non-empty folder with --force: says the restore is incomplete', async () => {
      fs.writeFileSync(path.join(target, 'live'), 'live\n');
      const r = await restore(sb, ['--to', target, '--force'], { TAR: lateFail });
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /is incomplete/);
      assert.deepEqual(listFiles(target), ['live', 'srv/f'], 'live data kept, nothing removed');
      fs.rmSync(path.join(target, 'srv'), { recursive: true });
      fs.rmSync(path.join(target, 'live'));
    });
    await t.test('stopped by --timeout: what was written is taken back', async () => {
      const slow = path.join(sb.home, 'slow-tar');
      fs.writeFileSync(slow, '#!/bin/sh\ntar "$@" || exit $?\ncase " $* " in *" --extract "*) sleep 60 ;; esac\n', { mode: 0o755 });
      const r = await restore(sb, ['--to', target, '--timeout', '2'], { TAR: slow });
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /timed out/);
      assert.deepEqual(fs.readdirSync(target), []);
    });
    await t.test('stopped by SIGTERM: exit 143, what was written is taken back', async () => {
      const slow = path.join(sb.home, 'slow-tar');
      const started = Date.now();
      let killedAt = 0;
      const r = await batt(['restore', 'file', '--path', sb.pattern, '--to', target], {
        home: sb.home,
        env: { TAR: slow },
        onSpawn: (child) => {
          // once the extract has written srv/f, the slow tar sleeps: stop batt there
          const poll = setInterval(() => {
            if (fs.existsSync(path.join(target, 'srv', 'f')) || Date.now() - started > 20_000) {
              clearInterval(poll);
              killedAt = Date.now();
              child.kill('SIGTERM');
            }
          }, 20);
        },
      });
      assert.ok(killedAt, 'SIGTERM was sent');
      assert.equal(r.code, 143, r.stderr);
      assert.ok(Date.now() - killedAt < 5000, `exit ${Date.now() - killedAt} ms after SIGTERM`);
      assert.match(r.stderr, /interrupted by SIGTERM: the file restore script was stopped/);
      assert.deepEqual(fs.readdirSync(target), [], 'the partial restore was taken back');
    });
    await t.test('a corrupt archive with a matching manifest fails before writing', async () => {
      const good = zstd(tarball([{ name: 'srv/f', data: 'x'.repeat(100_000) }]));
      plantBackup(sb, { 'a.tar.zst': good.subarray(0, good.length - 20) }, '2026/11/29/file');
      const r = await restore(sb, ['--to', target]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /cannot read a\.tar\.zst/);
      assert.deepEqual(fs.readdirSync(target), []);
    });
    await t.test('a backup damaged after its manifest fails before writing and says how: size with the numbers, checksum', async () => {
      const archive = zstd(tarball([{ name: 'srv/f', data: 'y'.repeat(1000) }]));
      const id = plantBackup(sb, { 'a.tar.zst': archive }, '2026/11/30/file');
      const file = path.join(sb.root, id, 'a.tar.zst');
      fs.truncateSync(file, 10);
      let r = await restore(sb, [id, '--to', target]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`^batt: backup ${id} failed verification: a\\.tar\\.zst: size 10 bytes, expected ${archive.length} \\(batt verify shows every problem`, 'm'));
      const flipped = Buffer.from(archive);
      flipped[5] = flipped[5]! ^ 1;
      fs.writeFileSync(file, flipped);
      r = await restore(sb, [id, '--to', target]);
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, new RegExp(`^batt: backup ${id} failed verification: a\\.tar\\.zst: checksum \\(batt verify shows every problem`, 'm'));
      assert.deepEqual(fs.readdirSync(target), []);
    });
    await t.test('the same backup with the real tar restores', async () => {
      const r = await restore(sb, ['2026/11/28/file', '--to', target]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(fs.readFileSync(path.join(target, 'srv', 'f'), 'utf8'), 'x');
    });
  } finally {
    sb.cleanup();
  }
});

/** Mounts a small tmpfs at dir; false when this machine does not let us (not root...). */
function mountSmall(dir: string, size: string): boolean {
  fs.mkdirSync(dir, { recursive: true });
  return spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size},mode=0700`, 'tmpfs', dir]).status === 0;
}

test('a full filesystem: backup fails with "no space", restore fails and takes back what it wrote', async (t) => {
  const sb = sandbox({ builtins: true });
  const mounts: string[] = [];
  try {
    const small = path.join(sb.dir, 'small');
    if (!mountSmall(small, '1m')) {
      t.skip('cannot mount a tmpfs here (needs root)');
      return;
    }
    mounts.push(small);
    const tree = path.join(sb.dir, 'src');
    fs.mkdirSync(tree);
    fs.writeFileSync(path.join(tree, 'a-small'), 'small\n');
    fs.writeFileSync(path.join(tree, 'b-big.bin'), randomBytes(3 << 20)); // incompressible

    await t.test('backup onto the full filesystem', async () => {
      const pattern = `${small}/%Y/%m/%d`;
      const r = await batt(['--path', pattern, '--file', tree], { home: sb.home });
      assert.equal(r.code, 5, r.stderr + r.stdout);
      assert.match(r.stderr, /no space left.*zstd failed with exit code/i);
      assert.deepEqual(listFiles(small).filter((f) => f !== '.batt.lock'), []);
    });

    await t.test('restore onto the full filesystem', async () => {
      const ok = await batt(['--path', sb.pattern, '--file', tree], { home: sb.home });
      assert.equal(ok.code, 0, ok.stderr + ok.stdout);
      const target = path.join(small, 'target');
      const r = await restore(sb, ['--to', target]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, /no space left on device while extracting .* \(the partial restore was removed/);
      assert.ok(!fs.existsSync(target), 'target removed');
      assert.deepEqual(listFiles(small).filter((f) => f !== '.batt.lock'), []);
    });
  } finally {
    for (const m of mounts) spawnSync('umount', [m]);
    sb.cleanup();
  }
});
