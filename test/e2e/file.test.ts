// The file service end to end: the built batt runs backup-file into a temp root, `batt restore
// file` brings the tree back, and the copy is compared with the original (modes, links, bytes).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { BATT, batt, listFiles, REQUIRE_SERVERS, sandbox, type Sandbox } from '../helpers/batt.js';

interface Entry {
  type: 'file' | 'dir' | 'symlink';
  mode: number;
  target?: string;
  sha256?: string;
  size?: number;
}

/** Every entry below dir (links not followed): type, permission bits, link target, content hash. */
function snapshot(dir: string): Map<string, Entry> {
  const out = new Map<string, Entry>();
  const visit = (rel: string) => {
    for (const name of fs.readdirSync(path.join(dir, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      const abs = path.join(dir, r);
      const st = fs.lstatSync(abs);
      const mode = st.mode & 0o7777;
      if (st.isSymbolicLink()) out.set(r, { type: 'symlink', mode: 0, target: fs.readlinkSync(abs) });
      else if (st.isDirectory()) {
        out.set(r, { type: 'dir', mode });
        visit(r);
      } else {
        const sha256 = createHash('sha256').update(fs.readFileSync(abs)).digest('hex');
        out.set(r, { type: 'file', mode, sha256, size: st.size });
      }
    }
  };
  visit('');
  return out;
}

/** A tree with the awkward cases: modes, setgid, links of both kinds, odd names, a sparse file. */
function makeTree(sb: Sandbox, name = 'tree'): string {
  const tree = path.join(sb.dir, 'src', name);
  fs.mkdirSync(path.join(tree, 'etc'), { recursive: true });
  fs.writeFileSync(path.join(tree, 'etc', 'secret.conf'), 'password=hunter2\n');
  fs.chmodSync(path.join(tree, 'etc', 'secret.conf'), 0o600);
  fs.mkdirSync(path.join(tree, 'bin'));
  fs.writeFileSync(path.join(tree, 'bin', 'run.sh'), '#!/bin/sh\necho hi\n');
  fs.chmodSync(path.join(tree, 'bin', 'run.sh'), 0o755);
  fs.mkdirSync(path.join(tree, 'shared'));
  fs.chmodSync(path.join(tree, 'shared'), 0o2775);
  fs.writeFileSync(path.join(tree, 'shared', 'group.txt'), 'team\n');
  fs.mkdirSync(path.join(tree, 'empty'));
  fs.chmodSync(path.join(tree, 'empty'), 0o700);
  fs.symlinkSync('../etc/secret.conf', path.join(tree, 'bin', 'relative-link'));
  fs.symlinkSync('/etc/hostname', path.join(tree, 'absolute-link'));
  fs.symlinkSync('does/not/exist', path.join(tree, 'dangling-link'));
  fs.writeFileSync(path.join(tree, 'original'), 'linked twice\n');
  fs.linkSync(path.join(tree, 'original'), path.join(tree, 'bin', 'hardlink'));
  const odd = path.join(tree, 'odd names');
  fs.mkdirSync(odd);
  for (const n of ['with space.txt', 'ünïcødé ✓.txt', 'new\nline.txt', 'a -> b.txt', 'x link to y', 'quote"back\\slash', '-dash']) {
    fs.writeFileSync(path.join(odd, n), `content of ${n}\n`);
  }
  fs.symlinkSync('a -> b.txt', path.join(odd, 'link -> arrow'));
  // 4 MiB, mostly holes, with data at both ends and in the middle.
  const fd = fs.openSync(path.join(tree, 'sparse.img'), 'w', 0o640);
  fs.ftruncateSync(fd, 4 << 20);
  fs.writeSync(fd, Buffer.from('start'), 0, 5, 0);
  fs.writeSync(fd, createHash('sha256').update('x').digest(), 0, 32, 2 << 20);
  fs.writeSync(fd, Buffer.from('end'), 0, 3, (4 << 20) - 3);
  fs.closeSync(fd);
  fs.chmodSync(path.join(tree, 'sparse.img'), 0o640);
  return tree;
}

/** The backup folders (holding a manifest) under the root. */
function backupDirs(sb: Sandbox): string[] {
  return listFiles(sb.root)
    .filter((f) => path.basename(f) === 'batt-manifest.json')
    .map((f) => path.join(sb.root, path.dirname(f)));
}

/** Files below the root other than batt's lock, and service or staging folders: what a failed
 * run must not leave (empty date folders may stay). */
function leftovers(sb: Sandbox): string[] {
  const out = listFiles(sb.root).filter((f) => f !== '.batt.lock');
  const visit = (rel: string) => {
    if (!fs.existsSync(path.join(sb.root, rel))) return;
    for (const e of fs.readdirSync(path.join(sb.root, rel), { withFileTypes: true })) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (!e.isDirectory()) continue;
      if (e.name.startsWith('file') || e.name.startsWith('.batt-staging-')) out.push(`${r}/`);
      visit(r);
    }
  };
  visit('');
  return out;
}

const run = (sb: Sandbox, args: string[], env?: Record<string, string>) =>
  batt(['--path', sb.pattern, ...args], { home: sb.home, env });

const restore = (sb: Sandbox, args: string[], env?: Record<string, string>) =>
  batt(['restore', 'file', '--path', sb.pattern, ...args], { home: sb.home, env });

function tarList(file: string): string[] {
  const z = file.endsWith('.gz') ? '--gzip' : file.endsWith('.xz') ? '--xz' : file.endsWith('.zst') ? '--zstd' : '';
  return execFileSync('tar', ['--list', ...(z ? [z] : []), '--file', file], { encoding: 'utf8' }).split('\n').filter(Boolean);
}

test('round trip: batt --file TREE, then batt restore file --to TARGET gives the same tree', async () => {
  const sb = sandbox({ builtins: true });
  try {
    const tree = makeTree(sb);
    const before = snapshot(tree);
    const r = await run(sb, ['--file', tree]);
    assert.equal(r.code, 0, r.stderr + r.stdout);

    const dirs = backupDirs(sb);
    assert.equal(dirs.length, 1);
    const archives = fs.readdirSync(dirs[0]!).filter((f) => f !== 'batt-manifest.json' && !f.endsWith('.idx.zst'));
    assert.deepEqual(archives, [`${tree.slice(1).replaceAll('/', '_')}.tar.zst`]);
    assert.ok(fs.existsSync(path.join(dirs[0]!, `${archives[0]}.idx.zst`)), 'its member index beside it');
    execFileSync('zstd', ['-q', '-t', path.join(dirs[0]!, archives[0]!)]);

    const ls = await batt(['ls', '--json', '--path', sb.pattern], { home: sb.home });
    assert.equal(ls.code, 0, ls.stderr);
    const listed = JSON.parse(ls.stdout) as { backups: { service: string; files: number }[] };
    // files counts what the manifest seals: the archive and its member index
    assert.deepEqual(listed.backups.map((b) => [b.service, b.files]), [['file', 2]]);
    const verify = await batt(['verify', '--path', sb.pattern], { home: sb.home });
    assert.equal(verify.code, 0, verify.stderr + verify.stdout);

    const target = path.join(sb.dir, 'restored');
    const rr = await restore(sb, ['--to', target]);
    assert.equal(rr.code, 0, rr.stderr + rr.stdout);
    // Archives hold paths relative to /: the tree comes back below the target at its full path.
    const copy = path.join(target, tree);
    // The new target and the folders above the archived path are private; members keep their modes.
    assert.equal(fs.statSync(target).mode & 0o7777, 0o700);
    assert.equal(fs.statSync(path.join(target, tree.split('/')[1]!)).mode & 0o7777, 0o700);
    const after = snapshot(copy);
    assert.deepEqual([...after.keys()], [...before.keys()]);
    for (const [rel, want] of before) assert.deepEqual(after.get(rel), want, rel);
    assert.equal(after.get('shared')!.mode, 0o2775);
    assert.equal(after.get('etc/secret.conf')!.mode, 0o600);
    assert.equal(after.get('absolute-link')!.target, '/etc/hostname');
    assert.equal(fs.statSync(path.join(copy, 'original')).ino, fs.statSync(path.join(copy, 'bin', 'hardlink')).ino);
    assert.equal(fs.statSync(path.join(copy, 'sparse.img')).size, 4 << 20);
    assert.ok(before.has('odd names/new\nline.txt') && before.has('odd names/a -> b.txt'));

    // One folder alone, selected by its path on the host.
    const some = path.join(sb.dir, 'some');
    const rs = await restore(sb, ['--to', some, '--file', path.join(tree, 'odd names')]);
    assert.equal(rs.code, 0, rs.stderr + rs.stdout);
    assert.deepEqual(fs.readdirSync(path.join(some, tree)), ['odd names']);
    assert.equal(listFiles(path.join(some, tree, 'odd names')).length, 8); // 7 files, 1 symlink
  } finally {
    sb.cleanup();
  }
});

test('--file-exclude, --file-compress gzip and several paths in one run: one archive per path', async () => {
  const sb = sandbox({ builtins: true });
  try {
    const a = makeTree(sb, 'a');
    const b = path.join(sb.dir, 'src', 'b');
    fs.mkdirSync(path.join(b, 'cache'), { recursive: true });
    fs.writeFileSync(path.join(b, 'keep.txt'), 'keep\n');
    fs.writeFileSync(path.join(b, 'noise.log'), 'log\n');
    fs.writeFileSync(path.join(b, 'cache', 'big.bin'), 'cached\n');
    const r = await run(sb, ['--file', a, '--file', b, '--file-compress', 'gzip', '--file-exclude', '*.log', '--file-exclude', 'cache']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const [dir] = backupDirs(sb);
    const archives = fs.readdirSync(dir!).filter((f) => f !== 'batt-manifest.json' && !f.endsWith('.idx.zst')).sort();
    assert.deepEqual(archives, [a, b].map((p) => `${p.slice(1).replaceAll('/', '_')}.tar.gz`).sort());
    for (const f of archives) execFileSync('gzip', ['-t', path.join(dir!, f)]);
    const names = tarList(path.join(dir!, archives.find((f) => f.includes('_b.'))!));
    assert.ok(names.some((n) => n.endsWith('/keep.txt')), names.join('\n'));
    assert.ok(!names.some((n) => n.endsWith('.log') || n.includes('/cache')), names.join('\n'));

    const target = path.join(sb.dir, 'restored');
    const rr = await restore(sb, ['--to', target]);
    assert.equal(rr.code, 0, rr.stderr + rr.stdout);
    assert.deepEqual(listFiles(path.join(target, b)), ['keep.txt']);
    assert.deepEqual([...snapshot(path.join(target, a))], [...snapshot(a)]);
  } finally {
    sb.cleanup();
  }
});

test('conf/file.conf: PATHS, EXCLUDE and COMPRESS are used when no option is given', async () => {
  const sb = sandbox({ builtins: true });
  try {
    const a = path.join(sb.dir, 'src', 'a');
    const b = path.join(sb.dir, 'src', 'b');
    for (const d of [a, b]) {
      fs.mkdirSync(d, { recursive: true });
      fs.writeFileSync(path.join(d, 'keep.txt'), 'keep\n');
      fs.writeFileSync(path.join(d, 'skip.tmp'), 'skip\n');
    }
    fs.writeFileSync(path.join(sb.home, 'conf', 'file.conf'), `PATHS=${a} ${b}\nEXCLUDE=*.tmp\nCOMPRESS=gzip\nLEVEL=1\n`);
    const r = await batt(['--path', sb.pattern, 'file'], { home: sb.home });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /^ok\s+file\s/m, `nothing on stderr (it would be a warning): ${r.stderr}`);
    const [dir] = backupDirs(sb);
    const archives = fs.readdirSync(dir!).filter((f) => f !== 'batt-manifest.json' && !f.endsWith('.idx.zst')).sort();
    assert.deepEqual(archives, [a, b].map((p) => `${p.slice(1).replaceAll('/', '_')}.tar.gz`).sort());
    for (const f of archives) {
      const names = tarList(path.join(dir!, f));
      assert.ok(names.some((n) => n.endsWith('/keep.txt')) && !names.some((n) => n.endsWith('.tmp')), names.join('\n'));
    }
  } finally {
    sb.cleanup();
  }
});

test('a path holding the backup root never archives the backup being written', async () => {
  const sb = sandbox({ builtins: true });
  try {
    fs.mkdirSync(path.join(sb.dir, 'data'));
    fs.writeFileSync(path.join(sb.dir, 'data', 'f'), 'data\n');
    const r = await run(sb, ['--file', sb.dir, '--file-exclude', 'home']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const [dir] = backupDirs(sb);
    const [archive] = fs.readdirSync(dir!).filter((f) => f !== 'batt-manifest.json' && !f.endsWith('.idx.zst'));
    const names = tarList(path.join(dir!, archive!));
    assert.ok(names.some((n) => n.endsWith('/data/f')), names.join('\n'));
    assert.deepEqual(names.filter((n) => n.includes('.batt-staging-') || n.includes('/home/')), []);
  } finally {
    sb.cleanup();
  }
});

test('the same path twice gives two archives; xz compression round-trips', async () => {
  const sb = sandbox({ builtins: true });
  try {
    const tree = path.join(sb.dir, 'src', 'x');
    fs.mkdirSync(tree, { recursive: true });
    fs.writeFileSync(path.join(tree, 'f'), 'data\n');
    const r = await run(sb, ['--file', tree, '--file', tree, '--file-compress', 'xz']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const [dir] = backupDirs(sb);
    const base = tree.slice(1).replaceAll('/', '_');
    assert.deepEqual(fs.readdirSync(dir!).sort(), [`${base}.2.tar.xz`, `${base}.tar.xz`, 'batt-manifest.json'].sort());
    const target = path.join(sb.dir, 'restored');
    const rr = await restore(sb, ['--to', target]);
    assert.equal(rr.code, 0, rr.stderr + rr.stdout);
    assert.equal(fs.readFileSync(path.join(target, tree, 'f'), 'utf8'), 'data\n');
  } finally {
    sb.cleanup();
  }
});

test('bad input fails the run and leaves no backup', async (t) => {
  const sb = sandbox({ builtins: true });
  try {
    const tree = path.join(sb.dir, 'src', 'x');
    fs.mkdirSync(tree, { recursive: true });
    fs.writeFileSync(path.join(tree, 'f'), 'data\n');
    const cases: [string, string[], RegExp][] = [
      ['missing path', ['--file', path.join(sb.dir, 'nope')], /does not exist/],
      ['missing path after a good one', ['--file', tree, '--file', path.join(sb.dir, 'nope')], /does not exist/],
      // batt runs in the test's folder here: a relative path is resolved against it, then checked.
      ['relative path that does not exist', ['--file', 'no/such/x'], new RegExp(`${path.join(process.cwd(), 'no/such/x')} does not exist`)],
      ['empty path', ['--file', ''], /an empty path was given/],
      ['zip', ['--file', tree, '--file-compress', 'zip'], /unknown compression 'zip'/],
      ['level out of range', ['--file', tree, '--file-level', '20'], /zstd level must be a number from 1 to 19/],
      ['level not a number', ['--file', tree, '--file-compress', 'gzip', '--file-level', 'max'], /gzip level/],
      ['level without compression', ['--file', tree, '--file-compress', 'none', '--file-level', '3'], /does not apply/],
      ['unknown option', ['--file', tree, '--file-exlude', '*.log'], /unknown option --file-exlude/],
    ];
    for (const [name, args, said] of cases) {
      await t.test(name, async () => {
        const r = await run(sb, args);
        assert.notEqual(r.code, 0, `${name}: ${r.stdout}`);
        assert.match(r.stderr + r.stdout, said);
        assert.deepEqual(leftovers(sb), [], name);
      });
    }
  } finally {
    sb.cleanup();
  }
});

/** A tree under <sb.dir>/caller/www for relative paths, and a decoy of the same name elsewhere. */
function callerTree(sb: Sandbox): { caller: string; www: string; elsewhere: string } {
  const caller = path.join(sb.dir, 'caller');
  const www = path.join(caller, 'www');
  fs.mkdirSync(path.join(www, 'sub'), { recursive: true });
  fs.writeFileSync(path.join(www, 'index.html'), 'the real site\n');
  fs.writeFileSync(path.join(www, 'sub', 'page.html'), 'a page\n');
  fs.writeFileSync(path.join(caller, 'notes.txt'), 'next to www\n');
  // Found only if a caller's own BATT_CWD won over batt's.
  const elsewhere = path.join(sb.dir, 'elsewhere');
  fs.mkdirSync(path.join(elsewhere, 'www'), { recursive: true });
  fs.writeFileSync(path.join(elsewhere, 'www', 'index.html'), 'the decoy\n');
  return { caller, www, elsewhere };
}

const archiveOf = (p: string, ext = 'tar.zst') => `${p.slice(1).replaceAll('/', '_')}.${ext}`;

test('a relative --file is taken from the folder batt was run in; the round trip restores it', async () => {
  const sb = sandbox({ builtins: true });
  try {
    const { caller, www, elsewhere } = callerTree(sb);
    const before = snapshot(www);
    // A stray BATT_CWD of the caller must not count: batt sets its own.
    const env = { BATT_CWD: elsewhere };
    const typed = ['www', './www/sub/../', '.././caller/notes.txt'];
    const r = await batt(['--path', sb.pattern, ...typed.flatMap((p) => ['--file', p])], { home: sb.home, env, cwd: caller });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const [dir] = backupDirs(sb);
    // Archive names and member names come from the absolute paths.
    const archives = fs.readdirSync(dir!).filter((f) => f !== 'batt-manifest.json' && !f.endsWith('.idx.zst')).sort();
    const notes = path.join(caller, 'notes.txt');
    assert.deepEqual(archives, [archiveOf(www), archiveOf(www).replace('.tar.zst', '.2.tar.zst'), archiveOf(notes)].sort());
    const members = tarList(path.join(dir!, archiveOf(www)));
    assert.ok(members.includes(`${www.slice(1)}/index.html`), members.join('\n'));
    assert.ok(members.every((m) => m.startsWith(`${www.slice(1)}/`)), members.join('\n'));
    assert.deepEqual(tarList(path.join(dir!, archiveOf(notes))), [notes.slice(1)]);
    // The manifest records what was typed; the log says what it meant.
    const manifest = JSON.parse(fs.readFileSync(path.join(dir!, 'batt-manifest.json'), 'utf8')) as { options: { args: string[] } };
    assert.deepEqual(manifest.options.args, typed);
    const log = fs.readFileSync(path.join(sb.home, 'log', 'batt.log'), 'utf8');
    assert.ok(log.includes(`www is ${www} (relative to ${caller}, where batt was run)`), log);
    assert.ok(log.includes(`./www/sub/../ is ${www}/ (relative to ${caller}, where batt was run)`), log);
    assert.ok(log.includes(`.././caller/notes.txt is ${notes} (relative to ${caller}, where batt was run)`), log);

    // Back with a relative --to from the same folder: the tree at its full path below it.
    const rr = await batt(['restore', 'file', '--path', sb.pattern, '--to', 'restored'], { home: sb.home, cwd: caller });
    assert.equal(rr.code, 0, rr.stderr + rr.stdout);
    const copy = path.join(caller, 'restored', www);
    assert.deepEqual([...snapshot(copy)], [...before]);
    assert.equal(fs.readFileSync(path.join(copy, 'index.html'), 'utf8'), 'the real site\n');
    assert.equal(fs.readFileSync(path.join(caller, 'restored', notes), 'utf8'), 'next to www\n');
  } finally {
    sb.cleanup();
  }
});

test('../ in a relative --file: a clean absolute path in the log, the archive name and the member names; .. above / stays /; through a symlink, .. is its target\'s parent', async () => {
  const sb = sandbox({ builtins: true });
  try {
    const { caller, www, elsewhere } = callerTree(sb);
    const notes = path.join(caller, 'notes.txt');
    const sub = path.join(www, 'sub');
    // caller/jump -> elsewhere/www: jump/../www is elsewhere/www for the kernel, not caller/www.
    fs.symlinkSync(path.join(elsewhere, 'www'), path.join(caller, 'jump'));
    fs.symlinkSync('www', path.join(caller, 'link'));
    const above = `${'../'.repeat(sub.split('/').length + 3)}${notes.slice(1)}`; // climbs past /, then down
    const typed = ['../../notes.txt', above, '../../jump/../www/index.html', '../sub/../../link'];
    const r = await batt(['--path', sb.pattern, ...typed.flatMap((p) => ['--file', p])], { home: sb.home, cwd: sub });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const decoy = path.join(elsewhere, 'www', 'index.html');
    const link = path.join(caller, 'link');
    const log = fs.readFileSync(path.join(sb.home, 'log', 'batt.log'), 'utf8');
    for (const [p, meant] of [[typed[0], notes], [above, notes], [typed[2], decoy], [typed[3], link]] as const) {
      assert.ok(log.includes(`file: > ${p} is ${meant} (relative to ${sub}, where batt was run)\n`), `${p}: ${log}`);
    }
    assert.ok(log.includes(`${link} is a symlink`), log); // the link itself, as typed last
    const [dir] = backupDirs(sb);
    const archives = fs.readdirSync(dir!).filter((f) => f !== 'batt-manifest.json' && !f.endsWith('.idx.zst')).sort();
    assert.deepEqual(archives, [archiveOf(notes), archiveOf(notes).replace('.tar.zst', '.2.tar.zst'), archiveOf(decoy), archiveOf(link)].sort());
    assert.deepEqual(tarList(path.join(dir!, archiveOf(notes))), [notes.slice(1)]);
    assert.deepEqual(tarList(path.join(dir!, archiveOf(notes).replace('.tar.zst', '.2.tar.zst'))), [notes.slice(1)]);
    assert.deepEqual(tarList(path.join(dir!, archiveOf(decoy))), [decoy.slice(1)]);
    assert.deepEqual(tarList(path.join(dir!, archiveOf(link))), [link.slice(1)]);
    assert.deepEqual(log.split('\n').filter((l) => / archived /.test(l) && /\/\.\.?\//.test(l)), [], log);

    // Back with --to ../restored from www/sub: below www, where the kernel puts it.
    const rr = await batt(['restore', 'file', '--path', sb.pattern, '--to', '../restored'], { home: sb.home, cwd: sub });
    assert.equal(rr.code, 0, rr.stderr + rr.stdout);
    assert.equal(fs.readFileSync(path.join(www, 'restored', decoy), 'utf8'), 'the decoy\n');
    assert.equal(fs.readFileSync(path.join(www, 'restored', notes), 'utf8'), 'next to www\n');
  } finally {
    sb.cleanup();
  }
});

test('.. in an absolute --file or a PATHS entry of conf/file.conf: through a symlink, .. is its target\'s parent; the log, the archive name and the member names say the file the kernel reads', async () => {
  const sb = sandbox({ builtins: true });
  try {
    const { caller, www, elsewhere } = callerTree(sb);
    // caller/jump -> elsewhere/www: caller/jump/../www is elsewhere/www for the kernel, not caller/www.
    fs.symlinkSync(path.join(elsewhere, 'www'), path.join(caller, 'jump'));
    fs.symlinkSync('www', path.join(caller, 'link'));
    const decoy = path.join(elsewhere, 'www', 'index.html');
    const link = path.join(caller, 'link');
    const typed = [`${caller}/jump/../www/index.html`, `${www}/./sub/../../link`];
    const r = await batt(['--path', sb.pattern, ...typed.flatMap((p) => ['--file', p])], { home: sb.home, cwd: sb.dir });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    let log = fs.readFileSync(path.join(sb.home, 'log', 'batt.log'), 'utf8');
    for (const [p, meant] of [[typed[0], decoy], [typed[1], link]] as const) {
      assert.ok(log.includes(`file: > ${p} is ${meant}\n`), `${p}: ${log}`);
    }
    assert.ok(log.includes(`${link} is a symlink`), log); // the link itself, as typed last
    assert.ok(log.includes(`file: > archived ${decoy} -> ${archiveOf(decoy)}\n`), log);
    assert.deepEqual(log.split('\n').filter((l) => / archived /.test(l) && /\/\.\.?\//.test(l)), [], log);
    let [dir] = backupDirs(sb);
    assert.deepEqual(fs.readdirSync(dir!).filter((f) => f !== 'batt-manifest.json' && !f.endsWith('.idx.zst')).sort(), [archiveOf(decoy), archiveOf(link)].sort());
    assert.deepEqual(tarList(path.join(dir!, archiveOf(decoy))), [decoy.slice(1)]);
    assert.deepEqual(tarList(path.join(dir!, archiveOf(link))), [link.slice(1)]);

    // The same from PATHS of conf/file.conf, with a folder (its trailing / kept).
    fs.rmSync(sb.root, { recursive: true, force: true });
    fs.rmSync(path.join(sb.home, 'log', 'batt.log'));
    const entry = `${caller}/jump/../www/`;
    fs.writeFileSync(path.join(sb.home, 'conf', 'file.conf'), `PATHS=${entry}\n`);
    const rc = await batt(['--path', sb.pattern, 'file'], { home: sb.home, cwd: sb.dir });
    assert.equal(rc.code, 0, rc.stderr + rc.stdout);
    const meant = path.join(elsewhere, 'www');
    log = fs.readFileSync(path.join(sb.home, 'log', 'batt.log'), 'utf8');
    assert.ok(log.includes(`file: > ${entry} is ${meant}/\n`), log);
    assert.ok(log.includes(`file: > archived ${meant} -> ${archiveOf(meant)}\n`), log);
    [dir] = backupDirs(sb);
    assert.deepEqual(fs.readdirSync(dir!).filter((f) => f !== 'batt-manifest.json' && !f.endsWith('.idx.zst')), [archiveOf(meant)]);
    assert.deepEqual(tarList(path.join(dir!, archiveOf(meant))).sort(), [`${meant.slice(1)}/`, `${decoy.slice(1)}`].sort());
  } finally {
    sb.cleanup();
  }
});

test('. backs up the folder batt was run in, without the backup being written when it is inside', async () => {
  const sb = sandbox({ builtins: true });
  try {
    fs.mkdirSync(path.join(sb.dir, 'data'));
    fs.writeFileSync(path.join(sb.dir, 'data', 'f'), 'data\n');
    const r = await batt(['--path', sb.pattern, '--file', '.', '--file-exclude', 'home'], { home: sb.home, cwd: sb.dir });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const [dir] = backupDirs(sb);
    assert.deepEqual(fs.readdirSync(dir!).filter((f) => f !== 'batt-manifest.json' && !f.endsWith('.idx.zst')), [archiveOf(sb.dir)]);
    const names = tarList(path.join(dir!, archiveOf(sb.dir)));
    assert.ok(names.includes(`${sb.dir.slice(1)}/data/f`), names.join('\n'));
    assert.deepEqual(names.filter((n) => n.includes('.batt-staging-')), []);
  } finally {
    sb.cleanup();
  }
});

test('relative paths that cannot be used are refused and leave no backup', async (t) => {
  const sb = sandbox({ builtins: true });
  try {
    const { caller, www } = callerTree(sb);
    fs.symlinkSync('www', path.join(caller, 'link'));
    await t.test('the checks apply to the resolved path: missing, and a symlink warned about', async () => {
      const missing = await batt(['--path', sb.pattern, '--file', 'www', '--file', 'nope'], { home: sb.home, cwd: caller });
      assert.notEqual(missing.code, 0);
      assert.ok(missing.stderr.includes(`${path.join(caller, 'nope')} does not exist`), missing.stderr);
      assert.deepEqual(leftovers(sb), []);
      const link = await batt(['--path', sb.pattern, '--file', 'link'], { home: sb.home, cwd: caller });
      assert.equal(link.code, 0, link.stderr);
      assert.ok(fs.readFileSync(path.join(sb.home, 'log', 'batt.log'), 'utf8').includes(`${path.join(caller, 'link')} is a symlink`));
      fs.rmSync(sb.root, { recursive: true });
    });
    await t.test('a relative path in PATHS of conf/file.conf (a conf has no folder)', async () => {
      fs.writeFileSync(path.join(sb.home, 'conf', 'file.conf'), `PATHS=${www} www\n`);
      const r = await batt(['--path', sb.pattern, 'file'], { home: sb.home, cwd: caller });
      assert.notEqual(r.code, 0);
      assert.match(r.stderr + r.stdout, /'www' in PATHS of \S+file\.conf is not an absolute path \(a conf has no folder to be relative to\)/);
      assert.deepEqual(leftovers(sb), []);
      fs.rmSync(path.join(sb.home, 'conf', 'file.conf'));
    });
    await t.test('batt run from a folder that was removed since refuses a relative path', () => {
      const gone = path.join(sb.dir, 'gone');
      fs.mkdirSync(gone);
      const r = spawnSync('sh', ['-c', 'cd "$1" && rmdir "$1" && shift && exec "$@"', 'sh', gone, process.execPath, BATT, '--path', sb.pattern, '--file', 'www'], {
        env: { ...process.env, BATT_HOME: sb.home, NO_COLOR: '1' },
        encoding: 'utf8',
      });
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, /'www' is not an absolute path \(the folder batt was run from no longer exists\)/);
      assert.deepEqual(leftovers(sb), []);
    });
    await t.test('the script run by hand (no BATT_CWD) refuses a relative path', () => {
      const dest = path.join(sb.dir, 'dest');
      fs.mkdirSync(dest);
      const script = path.join(sb.home, 'scripts-available', 'backup-file');
      const base = { PATH: process.env.PATH ?? '/usr/bin:/bin', BATT_DEST: dest };
      const needs = "backup-file: 'www' is not an absolute path (a relative one needs BATT_CWD, which batt sets)\n";
      const gone = "backup-file: 'www' is not an absolute path (the folder batt was run from no longer exists)\n";
      const tries: [Record<string, string>, string][] = [
        [base, needs],
        [{ ...base, BATT_CWD: 'caller' }, needs],
        [{ ...base, BATT_CWD: '' }, gone], // what batt passes when its folder was removed
      ];
      for (const [env, said] of tries) {
        const s = spawnSync(script, ['www'], { cwd: caller, env, encoding: 'utf8' });
        assert.equal(s.status, 1, s.stderr);
        assert.equal(s.stderr, said);
        assert.deepEqual(fs.readdirSync(dest), []);
      }
      // The same with BATT_CWD works: the refusal was about the relative path alone.
      const ok = spawnSync(script, ['www'], { cwd: dest, env: { ...base, BATT_CWD: caller }, encoding: 'utf8' });
      assert.equal(ok.status, 0, ok.stderr);
      assert.deepEqual(fs.readdirSync(dest).sort(), [archiveOf(www), `${archiveOf(www)}.idx.zst`]);
    });
  } finally {
    sb.cleanup();
  }
});

test('a failing tar behind a succeeding compressor, or a failing compressor, fails the run (nothing kept)', async (t) => {
  const sb = sandbox({ builtins: true });
  try {
    const tree = path.join(sb.dir, 'src', 'x');
    fs.mkdirSync(tree, { recursive: true });
    fs.writeFileSync(path.join(tree, 'f'), 'data\n');
    const tool = (name: string, body: string) => {
      const f = path.join(sb.dir, name);
      fs.writeFileSync(f, `#!/bin/sh\n${body}\n`, { mode: 0o755 });
      return f;
    };
    // Writes a plausible start of an archive, then dies: zstd compresses it happily and exits 0.
    const badTar = tool('bad-tar', 'printf "half an archive"; exit 2');
    const badZstd = tool('bad-zstd', 'cat >/dev/null; exit 1');
    const badGzip = tool('bad-gzip', 'cat >/dev/null; echo "gzip: out of luck" >&2; exit 1');
    const cases: [string, string[], Record<string, string>, RegExp][] = [
      ['tar exits 2, zstd 0', [], { TAR: badTar }, /tar failed with exit code 2/],
      ['tar exits 2, gzip 0', ['--file-compress', 'gzip'], { TAR: badTar }, /tar failed with exit code 2/],
      ['tar exits 2, no compression', ['--file-compress', 'none'], { TAR: badTar }, /tar failed with exit code 2/],
      ['zstd fails', [], { ZSTD: badZstd }, /zstd failed with exit code 1/],
      ['gzip fails', ['--file-compress', 'gzip'], { GZIP_CMD: badGzip }, /gzip failed with exit code 1/],
    ];
    for (const [name, args, env, said] of cases) {
      await t.test(name, async () => {
        const r = await run(sb, ['--file', tree, ...args], env);
        assert.notEqual(r.code, 0, `${name}: ${r.stdout}`);
        assert.match(r.stderr + r.stdout, said);
        assert.deepEqual(leftovers(sb), [], name);
      });
    }
    // The same run with the real tools works, so the failures above came from the stand-ins.
    const ok = await run(sb, ['--file', tree]);
    assert.equal(ok.code, 0, ok.stderr + ok.stdout);
    assert.equal(backupDirs(sb).length, 1);
  } finally {
    sb.cleanup();
  }
});

test('restore into a non-empty folder is refused without --force and done with it', async () => {
  const sb = sandbox({ builtins: true });
  try {
    const tree = path.join(sb.dir, 'src', 'x');
    fs.mkdirSync(tree, { recursive: true });
    fs.writeFileSync(path.join(tree, 'f'), 'from the backup\n');
    assert.equal((await run(sb, ['--file', tree])).code, 0);
    const target = path.join(sb.dir, 'live');
    fs.mkdirSync(target);
    fs.writeFileSync(path.join(target, 'existing'), 'live data\n');

    const refused = await restore(sb, ['--to', target]);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /refused.*--force/);
    // restore-file's own line already says "use --force to overwrite": the advice is given once
    assert.equal(refused.stderr.trim().split('\n').length, 1, refused.stderr);
    assert.equal(refused.stderr.match(/--force/g)?.length, 1, refused.stderr);
    assert.deepEqual(listFiles(target), ['existing']);

    const forced = await restore(sb, ['--to', target, '--force']);
    assert.equal(forced.code, 0, forced.stderr + forced.stdout);
    assert.equal(fs.readFileSync(path.join(target, 'existing'), 'utf8'), 'live data\n');
    assert.equal(fs.readFileSync(path.join(target, tree, 'f'), 'utf8'), 'from the backup\n');

    // a restore script that refuses (exit 3) without naming --force still gets batt's advice
    const script = path.join(sb.home, 'scripts-available', 'restore-file');
    fs.writeFileSync(script, '#!/bin/sh\necho "target is in use" >&2\nexit 3\n');
    const quiet = await restore(sb, ['--to', target]);
    assert.match(quiet.stderr.trim(), /^batt: restore of file refused: target is in use \(add --force to overwrite existing data\)$/);
    // with --force given, the same refusal is for something --force does not override: no advice to add it
    const forcedQuiet = await restore(sb, ['--to', target, '--force']);
    assert.match(forcedQuiet.stderr.trim(), /^batt: restore of file refused: target is in use$/);
  } finally {
    sb.cleanup();
  }
});

const hasAclTools = ['setfacl', 'getfacl', 'setfattr', 'getfattr'].every((t) =>
  ['/usr/bin', '/bin', '/usr/local/bin'].some((d) => fs.existsSync(path.join(d, t))),
);

/** getfacl of every entry below dir, numeric, with paths relative to dir: comparable between trees. */
const aclsBelow = (dir: string) =>
  execFileSync('getfacl', ['--recursive', '--numeric', '--absolute-names', '.'], { cwd: dir, encoding: 'utf8' });

/** A folder with the ACL cases: a named user on a file (with a mask), a default ACL on a folder
 * (inherited by the file created in it), a user xattr, and a plain file. */
function makeAclTree(sb: Sandbox): string {
  const tree = path.join(sb.dir, 'src', 'x');
  fs.mkdirSync(path.join(tree, 'team'), { recursive: true });
  fs.writeFileSync(path.join(tree, 'acl'), 'acl\n');
  fs.writeFileSync(path.join(tree, 'xattr'), 'xattr\n');
  fs.writeFileSync(path.join(tree, 'plain'), 'plain\n');
  execFileSync('setfacl', ['-m', 'u:4321:rw', path.join(tree, 'acl')]);
  execFileSync('setfacl', ['-d', '-m', 'u:4321:rx,g:4322:r', path.join(tree, 'team')]);
  fs.writeFileSync(path.join(tree, 'team', 'inherited'), 'inherited\n');
  execFileSync('setfattr', ['-n', 'user.batt', '-v', 'kept', path.join(tree, 'xattr')]);
  return tree;
}

/** Restores the newest backup into a new folder and checks every ACL and the xattr came back. */
async function assertAclsRestored(sb: Sandbox, tree: string) {
  const target = path.join(sb.dir, `restored-${Date.now()}`);
  const r = await restore(sb, ['--to', target]);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const copy = path.join(target, tree);
  assert.match(aclsBelow(tree), /^user:4321:rw-$/m); // the source really has them
  assert.match(aclsBelow(tree), /^default:group:4322:r--$/m);
  assert.equal(aclsBelow(copy), aclsBelow(tree));
  const xattr = execFileSync('getfattr', ['--absolute-names', '--only-values', '-n', 'user.batt', path.join(copy, 'xattr')], { encoding: 'utf8' });
  assert.equal(xattr, 'kept');
}

test('ACLs (access and default) and user xattrs survive the round trip', { skip: !hasAclTools && !REQUIRE_SERVERS && 'needs setfacl/setfattr (Debian acl, attr)' }, async () => {
  const sb = sandbox({ builtins: true });
  try {
    const tree = makeAclTree(sb);
    assert.equal((await run(sb, ['--file', tree])).code, 0);
    await assertAclsRestored(sb, tree);
  } finally {
    sb.cleanup();
  }
});

test('archives are written in 64 KiB records and keep ACLs once, as xattrs', { skip: !hasAclTools && !REQUIRE_SERVERS && 'needs setfacl/setfattr (Debian acl, attr)' }, async () => {
  const sb = sandbox({ builtins: true });
  try {
    const tree = makeAclTree(sb);
    assert.equal((await run(sb, ['--file', tree, '--file-compress', 'none'])).code, 0);
    const [dir] = backupDirs(sb);
    const archive = path.join(dir!, archiveOf(tree, 'tar'));
    // tar --blocking-factor=128: fewer, larger writes into the compressor (bench/RESULTS.md)
    assert.equal(fs.statSync(archive).size % 65536, 0, 'the archive is padded to 64 KiB records');
    const raw = fs.readFileSync(archive, 'latin1');
    assert.match(raw, /SCHILY\.xattr\.system\.posix_acl_access=/);
    assert.match(raw, /SCHILY\.xattr\.system\.posix_acl_default=/);
    assert.doesNotMatch(raw, /SCHILY\.acl\./, 'tar --acls would store every ACL twice');
    await assertAclsRestored(sb, tree);
  } finally {
    sb.cleanup();
  }
});

const hasPerl = spawnSync('perl', ['-e', '0']).status === 0;
test('the pipe from tar into the compressor is widened to 1 MiB; without perl the backup still works', { skip: !hasPerl && !REQUIRE_SERVERS && 'needs perl (Debian perl-base)' }, async () => {
  const sb = sandbox({ builtins: true });
  try {
    const tree = path.join(sb.dir, 'src', 'x');
    fs.mkdirSync(tree, { recursive: true });
    fs.writeFileSync(path.join(tree, 'f'), 'data\n');
    // A compressor that records the size of the pipe it reads (F_GETPIPE_SZ), then does its job.
    const seen = path.join(sb.dir, 'pipe-size');
    const wrap = (name: string, real: string) => {
      const f = path.join(sb.dir, name);
      fs.writeFileSync(f, `#!/usr/bin/env bash\nperl -e 'print fcntl(STDIN, 1032, 0)' >>"${seen}"; echo >>"${seen}"\nexec ${real} "$@"\n`, { mode: 0o755 });
      return f;
    };
    const cases: [string, string[], Record<string, string>, string][] = [
      ['zstd', [], { ZSTD: wrap('zstd-probe', 'zstd') }, String(1 << 20)],
      ['gzip', ['--file-compress', 'gzip'], { GZIP_CMD: wrap('gzip-probe', 'gzip') }, String(1 << 20)],
      ['xz', ['--file-compress', 'xz'], { XZ: wrap('xz-probe', 'xz') }, String(1 << 20)],
      // PERL= (empty): no widening, Linux's default 64 KiB, and the backup is as good
      ['zstd, no perl', [], { ZSTD: wrap('zstd-probe2', 'zstd'), PERL: '' }, String(64 << 10)],
    ];
    for (const [name, args, env, want] of cases) {
      fs.rmSync(seen, { force: true });
      const r = await run(sb, ['--file', tree, ...args], env);
      assert.equal(r.code, 0, `${name}: ${r.stderr}${r.stdout}`);
      assert.equal(fs.readFileSync(seen, 'utf8').trim(), want, name);
    }
    assert.equal(backupDirs(sb).length, 4);
  } finally {
    sb.cleanup();
  }
});

/** A tar that rewrites backup-file's --blocking-factor=128 into the given arguments. */
function tarRewriting(sb: Sandbox, name: string, replacement: string): string {
  const f = path.join(sb.dir, name);
  fs.writeFileSync(
    f,
    `#!/usr/bin/env bash\nargs=()\nfor a in "$@"; do\n  if [ "$a" = --blocking-factor=128 ]; then args+=(${replacement}); else args+=("$a"); fi\ndone\nexec tar "\${args[@]}"\n`,
    { mode: 0o755 },
  );
  return f;
}

test('restore reads archives whose end padding outlasts the pipe: 1 MiB records, whole and selected', async () => {
  const sb = sandbox({ builtins: true });
  try {
    const tree = path.join(sb.dir, 'src', 'x');
    fs.mkdirSync(path.join(tree, 'sub'), { recursive: true });
    fs.writeFileSync(path.join(tree, 'sub', 'f'), 'padded\n');
    const bigRecords = tarRewriting(sb, 'tar-1m', '--blocking-factor=2048');
    assert.equal((await run(sb, ['--file', tree], { TAR: bigRecords })).code, 0);
    // Up to 1 MiB of zeros follow tar's end marker: a reader that stops there leaves zstd with a
    // broken pipe (exit 141 under pipefail), which must not fail a restore of a good archive.
    const whole = await restore(sb, ['--to', path.join(sb.dir, 'whole')]);
    assert.equal(whole.code, 0, whole.stderr + whole.stdout);
    assert.equal(fs.readFileSync(path.join(sb.dir, 'whole', tree, 'sub', 'f'), 'utf8'), 'padded\n');
    const one = await restore(sb, ['--to', path.join(sb.dir, 'one'), '--file', path.join(tree, 'sub')]);
    assert.equal(one.code, 0, one.stderr + one.stdout);
    assert.equal(fs.readFileSync(path.join(sb.dir, 'one', tree, 'sub', 'f'), 'utf8'), 'padded\n');
  } finally {
    sb.cleanup();
  }
});

test('archives from tar --acls (batt before 2026-11-28: SCHILY.acl records) still restore their ACLs', { skip: !hasAclTools && !REQUIRE_SERVERS && 'needs setfacl/setfattr (Debian acl, attr)' }, async () => {
  const sb = sandbox({ builtins: true });
  try {
    const tree = makeAclTree(sb);
    // ACLs only as SCHILY.acl records, 10 KiB records: what the restore's --acls branch is for.
    const legacy = tarRewriting(sb, 'tar-legacy', "--blocking-factor=20 --acls '--xattrs-exclude=system.posix_acl_*'");
    assert.equal((await run(sb, ['--file', tree, '--file-compress', 'none'], { TAR: legacy })).code, 0);
    const [dir] = backupDirs(sb);
    const raw = fs.readFileSync(path.join(dir!, archiveOf(tree, 'tar')), 'latin1');
    assert.match(raw, /SCHILY\.acl\.access=/);
    assert.doesNotMatch(raw, /SCHILY\.xattr\.system\.posix_acl/);
    await assertAclsRestored(sb, tree);
  } finally {
    sb.cleanup();
  }
});

const hasSetcap = ['/usr/sbin', '/sbin', '/usr/bin'].some((d) => fs.existsSync(path.join(d, 'setcap')));

test('file capabilities come back when root restores', { skip: (process.getuid?.() !== 0 && 'needs root') || (!hasSetcap && !REQUIRE_SERVERS && 'needs setcap (Debian libcap2-bin)') }, async () => {
  const sb = sandbox({ builtins: true });
  try {
    const tree = path.join(sb.dir, 'src', 'x');
    fs.mkdirSync(tree, { recursive: true });
    fs.copyFileSync('/bin/true', path.join(tree, 'ping'));
    execFileSync('setcap', ['cap_net_raw+ep', path.join(tree, 'ping')]);
    assert.equal((await run(sb, ['--file', tree])).code, 0);
    const target = path.join(sb.dir, 'restored');
    const r = await restore(sb, ['--to', target]);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(execFileSync('getcap', [path.join(target, tree, 'ping')], { encoding: 'utf8' }), /cap_net_raw[=+]ep/);
  } finally {
    sb.cleanup();
  }
});

test('owners are kept only with --file-owners keep', { skip: process.getuid?.() !== 0 && 'needs root' }, async () => {
  const sb = sandbox({ builtins: true });
  try {
    const tree = path.join(sb.dir, 'src', 'x');
    fs.mkdirSync(tree, { recursive: true });
    fs.writeFileSync(path.join(tree, 'f'), 'owned\n');
    fs.chownSync(path.join(tree, 'f'), 4321, 4322);
    assert.equal((await run(sb, ['--file', tree])).code, 0);
    const plain = path.join(sb.dir, 'plain');
    assert.equal((await restore(sb, ['--to', plain])).code, 0);
    assert.equal(fs.statSync(path.join(plain, tree, 'f')).uid, 0);
    const kept = path.join(sb.dir, 'kept');
    const r = await restore(sb, ['--to', kept, '--file-owners', 'keep']);
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const st = fs.statSync(path.join(kept, tree, 'f'));
    assert.deepEqual([st.uid, st.gid], [4321, 4322]);
  } finally {
    sb.cleanup();
  }
});
