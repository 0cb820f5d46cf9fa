// Incremental file backups end to end (FULL_EVERY, GNU tar --listed-incremental): a full, then
// levels on it across simulated days (one --path pattern a day: <root>/2026/dN), restored level
// after level with deletions applied; a broken chain fails verify and restore; purge keeps chains;
// a full says why it is one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { batt, listFiles, sandbox, writeScript, writeTargetConf, type Sandbox, HOST } from '../helpers/batt.js';

const year = new Date().getFullYear();
const day = (sb: Sandbox, n: number) => `${sb.root}/%Y/d${n}`;
const id = (n: number) => `${year}/d${n}/file`;
const folder = (sb: Sandbox, n: number) => path.join(sb.root, id(n));

/** The tree's files and their contents (folders as "name/"). */
function contents(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const visit = (rel: string) => {
    for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        out[`${r}/`] = '';
        visit(r);
      } else out[r] = fs.readFileSync(path.join(dir, r), 'utf8');
    }
  };
  visit('');
  return out;
}

async function backup(sb: Sandbox, tree: string, n: number, extra: string[] = []) {
  const r = await batt(['--path', day(sb, n), '--file', tree, '--file-full-every', '7', ...extra], { home: sb.home });
  assert.equal(r.code, 0, r.stderr + r.stdout);
  return r;
}

async function restore(sb: Sandbox, n: number, to: string) {
  return batt(['restore', 'file', id(n), '--path', day(sb, 1), '--to', to], { home: sb.home });
}

/** The log lines of the file service since `from` (batt.log holds the script's own output). */
const logOf = (sb: Sandbox) => fs.readFileSync(path.join(sb.home, 'log', 'batt.log'), 'utf8');

/** Four days: a full, then a change, an addition, deletions of a file and a folder. Returns the tree and each day's state. */
async function fourDays(sb: Sandbox): Promise<{ tree: string; states: Record<string, string>[] }> {
  const tree = path.join(sb.dir, 'src', 'www');
  fs.mkdirSync(path.join(tree, 'img'), { recursive: true });
  fs.mkdirSync(path.join(tree, 'old'));
  fs.writeFileSync(path.join(tree, 'index.html'), 'v1\n');
  fs.writeFileSync(path.join(tree, 'img', 'a.png'), 'png-a\n');
  fs.writeFileSync(path.join(tree, 'old', 'gone.txt'), 'soon gone\n');
  const states: Record<string, string>[] = [];
  await backup(sb, tree, 1);
  states.push(contents(tree));
  fs.writeFileSync(path.join(tree, 'index.html'), 'v2, longer\n');
  await backup(sb, tree, 2);
  states.push(contents(tree));
  fs.writeFileSync(path.join(tree, 'img', 'b.png'), 'png-b\n');
  fs.rmSync(path.join(tree, 'img', 'a.png'));
  await backup(sb, tree, 3);
  states.push(contents(tree));
  fs.rmSync(path.join(tree, 'old'), { recursive: true });
  fs.writeFileSync(path.join(tree, 'new.txt'), 'day 4\n');
  await backup(sb, tree, 4);
  states.push(contents(tree));
  return { tree, states };
}

/** Replaces a file of a backup and fixes its manifest entry, so only the chain or the guard can tell. */
function replaceSealed(dir: string, name: string, data: Buffer) {
  fs.chmodSync(path.join(dir, name), 0o600);
  fs.writeFileSync(path.join(dir, name), data);
  const mf = path.join(dir, 'batt-manifest.json');
  const m = JSON.parse(fs.readFileSync(mf, 'utf8'));
  const f = m.files.find((x: { path: string }) => x.path === name);
  f.size = data.length;
  f.sha256 = createHash('sha256').update(data).digest('hex');
  fs.writeFileSync(mf, JSON.stringify(m, null, 2));
}

test('a full, then incrementals: the catalog knows the chain; each day restores as it was, deletions applied', async () => {
  const sb = sandbox({ builtins: true });
  try {
    const { tree, states } = await fourDays(sb);
    const archive = `${tree.slice(1).replaceAll('/', '_')}`;
    for (const n of [1, 2, 3, 4]) {
      assert.ok(fs.existsSync(path.join(folder(sb, n), `${archive}.snar`)), `day ${n} keeps its .snar`);
      assert.ok(fs.existsSync(path.join(folder(sb, n), `${archive}.tar.zst`)));
      assert.ok(!fs.existsSync(path.join(folder(sb, n), 'batt-base')), 'batt takes batt-base out');
    }
    const ls = await batt(['backups', '--json', '--path', day(sb, 1)], { home: sb.home });
    const rows = JSON.parse(ls.stdout).backups.map((b: { id: string; level: string; base: string | null }) => [b.id, b.level, b.base]);
    assert.deepEqual(rows, [
      [id(1), 'full', null],
      [id(2), 'incremental', id(1)],
      [id(3), 'incremental', id(2)],
      [id(4), 'incremental', id(3)],
    ]);
    const plain = await batt(['backups', '--path', day(sb, 1)], { home: sb.home });
    assert.match(plain.stdout, new RegExp(`${id(3)} .* incremental on ${id(2)}`));
    // an incremental holds only what changed: day 2's archive has index.html, not img/a.png
    const members = execFileSync('tar', ['--zstd', '-tf', path.join(folder(sb, 2), `${archive}.tar.zst`)], { encoding: 'utf8' });
    assert.match(members, /index\.html/);
    assert.doesNotMatch(members, /a\.png/);
    for (const n of [4, 3, 2, 1]) {
      const to = path.join(sb.dir, `restored-${n}`);
      const r = await restore(sb, n, to);
      assert.equal(r.code, 0, r.stderr + r.stdout);
      assert.deepEqual(contents(path.join(to, tree.slice(1))), states[n - 1], `day ${n} as it was`);
    }
    // over existing data (--force) nothing is deleted: day 1's restore gets day 4's files, and keeps its own
    const over = await batt(['restore', 'file', id(4), '--path', day(sb, 1), '--to', path.join(sb.dir, 'restored-1'), '--force'], { home: sb.home });
    assert.equal(over.code, 0, over.stderr);
    const mixed = contents(path.join(sb.dir, 'restored-1', tree.slice(1)));
    assert.deepEqual(mixed, { ...states[0], ...states[3] });
    assert.match(logOf(sb), /restoring 4 levels over existing data: files deleted between them are not deleted/);
    assert.match(logOf(sb), new RegExp(`restored .*d1/file/${archive}.tar.zst[\\s\\S]*restored .*d2/file/${archive}.tar.zst[\\s\\S]*restored .*d3/file/${archive}.tar.zst`), 'the levels in order');
    const v = await batt(['verify', '--path', day(sb, 1)], { home: sb.home });
    assert.equal(v.code, 0, v.stderr);
    // 3 files: the archive, its .snar and its member index
    assert.match(v.stdout, new RegExp(`ok ${id(4)} \\(3 files, 3 bases\\)`));
  } finally {
    sb.cleanup();
  }
});

test('the first backup is a full and says why; without FULL_EVERY no .snar and no chain, as before', async () => {
  const sb = sandbox({ builtins: true });
  try {
    const tree = path.join(sb.dir, 'src', 'etc');
    fs.mkdirSync(tree, { recursive: true });
    fs.writeFileSync(path.join(tree, 'a'), 'a\n');
    const plain = await batt(['--path', day(sb, 1), '--file', tree], { home: sb.home });
    assert.equal(plain.code, 0, plain.stderr);
    assert.deepEqual(listFiles(folder(sb, 1)).filter((f) => f.endsWith('.snar')), []);
    await backup(sb, tree, 2);
    // the previous backup (day 1) has no .snar: a full, and why
    assert.match(logOf(sb), new RegExp(`> full: ${id(1)} has no .snar \\(it was made without FULL_EVERY\\)`));
    assert.equal(JSON.parse(fs.readFileSync(path.join(folder(sb, 2), 'batt-manifest.json'), 'utf8')).base, undefined);
    const sb2 = sandbox({ builtins: true });
    try {
      await backup(sb2, tree, 1);
      assert.match(logOf(sb2), /file: no previous backup to build on: no earlier file backup under /);
      assert.match(logOf(sb2), /> full: no earlier file backup under /);
    } finally {
      sb2.cleanup();
    }
  } finally {
    sb.cleanup();
  }
});

test('a broken chain: a missing or damaged base fails verify and restore of every backup that needs it; the next backup is a full that says why', async () => {
  const sb = sandbox({ builtins: true });
  try {
    const { tree } = await fourDays(sb);
    const archive = `${tree.slice(1).replaceAll('/', '_')}`;
    // a flipped byte in day 2's archive: day 2 fails itself, days 3 and 4 fail by their chain, day 1 is fine
    const a2 = path.join(folder(sb, 2), `${archive}.tar.zst`);
    const good = fs.readFileSync(a2);
    const bad = Buffer.from(good);
    bad[bad.length - 10] ^= 1;
    fs.chmodSync(a2, 0o600);
    fs.writeFileSync(a2, bad);
    let v = await batt(['verify', '--path', day(sb, 1)], { home: sb.home });
    assert.equal(v.code, 1);
    assert.match(v.stdout, new RegExp(`ok ${id(1)}`));
    assert.match(v.stderr, new RegExp(`${id(2)}: ${archive}.tar.zst: checksum`));
    assert.match(v.stderr, new RegExp(`${id(3)}: broken chain: its base ${id(2)} is damaged`));
    assert.match(v.stderr, new RegExp(`${id(4)}: broken chain: its base ${id(2)} is damaged`));
    assert.match(v.stderr, /3 of 4 backups have problems/);
    // verify of one backup checks its chain too
    v = await batt(['verify', id(4), '--path', day(sb, 1)], { home: sb.home });
    assert.equal(v.code, 1);
    const r = await restore(sb, 4, path.join(sb.dir, 'r4'));
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`backup ${id(2)} failed verification`));
    assert.ok(!fs.existsSync(path.join(sb.dir, 'r4')), 'nothing restored');
    fs.writeFileSync(a2, good);
    // day 3 gone (purged by hand): day 4's chain is broken
    fs.renameSync(folder(sb, 3), path.join(sb.dir, 'away'));
    v = await batt(['verify', '--path', day(sb, 1)], { home: sb.home });
    assert.equal(v.code, 1);
    assert.match(v.stderr, new RegExp(`${id(4)}: broken chain: its base ${id(3)} is missing`));
    const r2 = await restore(sb, 4, path.join(sb.dir, 'r4'));
    assert.equal(r2.code, 1);
    assert.match(r2.stderr, new RegExp(`backup ${id(4)} cannot be restored: its base ${id(3)} is missing`));
    // the next backup cannot build on day 4: a full, and why
    await backup(sb, tree, 5);
    assert.match(logOf(sb), new RegExp(`> full: the newest file backup ${id(4)} cannot be built on: its base ${id(3)} is missing`));
    assert.equal(JSON.parse(fs.readFileSync(path.join(folder(sb, 5), 'batt-manifest.json'), 'utf8')).base, undefined);
  } finally {
    sb.cleanup();
  }
});

test('a full every N days: the chain ends when its full is N days old', async () => {
  const sb = sandbox({ builtins: true });
  try {
    const tree = path.join(sb.dir, 'src', 'etc');
    fs.mkdirSync(tree, { recursive: true });
    fs.writeFileSync(path.join(tree, 'a'), 'a\n');
    await backup(sb, tree, 1);
    await backup(sb, tree, 2);
    assert.ok(JSON.parse(fs.readFileSync(path.join(folder(sb, 2), 'batt-manifest.json'), 'utf8')).base);
    // day 1 started 7 days ago (its manifest's time is what counts)
    const mf = path.join(folder(sb, 1), 'batt-manifest.json');
    const m = JSON.parse(fs.readFileSync(mf, 'utf8'));
    m.startedAt = new Date(Date.now() - 7 * 86400_000).toISOString();
    fs.writeFileSync(mf, JSON.stringify(m));
    await backup(sb, tree, 3);
    assert.match(logOf(sb), new RegExp(`> full: the full of ${id(2)} is 7 days old \\(full every 7\\)`));
    assert.equal(JSON.parse(fs.readFileSync(path.join(folder(sb, 3), 'batt-manifest.json'), 'utf8')).base, undefined);
    const bad = await batt(['--path', day(sb, 4), '--file', tree, '--file-full-every', 'weekly'], { home: sb.home });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /--file-full-every takes a number of days/);
  } finally {
    sb.cleanup();
  }
});

test('purge keeps chains whole and says why; a new full frees the old chain', async () => {
  const sb = sandbox({ builtins: true });
  try {
    const { tree } = await fourDays(sb);
    const dry = await batt(['purge', '--keep-last', '1', '--dry-run', '--path', day(sb, 1)], { home: sb.home });
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, new RegExp(`keep +${id(3)} .*base of ${id(4)}`));
    assert.match(dry.stdout, new RegExp(`keep +${id(1)} .*base of ${id(2)}`));
    assert.match(dry.stdout, /would remove 0 and keep 4 backups/);
    const real = await batt(['purge', '--keep-last', '1', '--path', day(sb, 1)], { home: sb.home });
    assert.equal(real.code, 0, real.stderr);
    for (const n of [1, 2, 3, 4]) assert.ok(fs.existsSync(folder(sb, n)), `day ${n} kept`);
    // a full on day 5 (other paths: a new chain), then purge keeps just it
    await backup(sb, tree, 5, ['--file', path.join(sb.dir, 'src')]);
    assert.equal(JSON.parse(fs.readFileSync(path.join(folder(sb, 5), 'batt-manifest.json'), 'utf8')).base, undefined);
    const after = await batt(['purge', '--keep-last', '1', '--path', day(sb, 1)], { home: sb.home });
    assert.equal(after.code, 0, after.stderr);
    for (const n of [1, 2, 3, 4]) assert.ok(!fs.existsSync(folder(sb, n)), `day ${n} removed`);
    assert.ok(fs.existsSync(folder(sb, 5)));
  } finally {
    sb.cleanup();
  }
});

test('purge --target keeps chains whole: the copy index names its base; restore --from an incremental downloads its chain and restores it, deletions applied', async () => {
  const sb = sandbox({ builtins: true });
  try {
    const remote = path.join(sb.dir, 'usb');
    writeTargetConf(sb.home, 'usb', `TYPE=local\nPATH=${remote}\n`);
    const { tree, states } = await fourDays(sb);
    // a copy's id on a target is <host>/<backup id> (docs/targets.md), its base's too
    const idx = JSON.parse(fs.readFileSync(path.join(remote, HOST, id(3), 'batt-remote.json'), 'utf8'));
    assert.equal(idx.base, `${HOST}/${id(2)}`);
    const dry = await batt(['purge', '--target', 'usb', '--keep-last', '1', '--dry-run', '--path', day(sb, 1)], { home: sb.home });
    assert.equal(dry.code, 0, dry.stderr);
    assert.match(dry.stdout, new RegExp(`keep +usb:${HOST}/${id(3)} +base of ${HOST}/${id(4)}`));
    assert.match(dry.stdout, new RegExp(`keep +usb:${HOST}/${id(1)} +base of ${HOST}/${id(2)}`));
    assert.doesNotMatch(dry.stdout, /would remove usb:/);
    // the local root gone (the host lost): the target alone restores each day as it was
    fs.rmSync(sb.root, { recursive: true });
    for (const n of [4, 2]) {
      const to = path.join(sb.dir, `r${n}`);
      const r = await batt(['restore', 'file', id(n), '--from', 'usb', '--to', to, '--path', day(sb, 1)], { home: sb.home });
      assert.equal(r.code, 0, r.stderr + r.stdout);
      assert.deepEqual(contents(path.join(to, tree.slice(1))), states[n - 1], `day ${n} as it was`);
    }
    // one file of day 4, from the full and the levels that hold it
    const one = path.join(sb.dir, 'one');
    const r1 = await batt(['restore', 'file', id(4), '--from', 'usb', '--to', one, '--path', day(sb, 1), '--file', path.join(tree, 'index.html')], { home: sb.home });
    assert.equal(r1.code, 0, r1.stderr + r1.stdout);
    assert.deepEqual(contents(path.join(one, tree.slice(1))), { 'index.html': states[3]!['index.html']! });
    // a base missing on the target: refused before anything is downloaded or restored
    fs.rmSync(path.join(remote, HOST, id(2)), { recursive: true });
    const broken = await batt(['restore', 'file', id(4), '--from', 'usb', '--to', path.join(sb.dir, 'rb'), '--path', day(sb, 1)], { home: sb.home });
    assert.equal(broken.code, 1, broken.stdout);
    assert.match(broken.stderr, new RegExp(`usb:${HOST}/${id(4)} cannot be restored: its base ${HOST}/${id(2)} is missing on usb`));
    assert.ok(!fs.existsSync(path.join(sb.dir, 'rb')), 'nothing restored');
  } finally {
    sb.cleanup();
  }
});

for (const level of [1, 3]) {
  test(`restore of a chain checks every archive of it: a ".." member in day ${level}'s level refuses the whole restore`, async () => {
    const sb = sandbox({ builtins: true });
    try {
      const { tree } = await fourDays(sb);
      const archive = `${tree.slice(1).replaceAll('/', '_')}.tar.zst`;
      const work = path.join(sb.dir, 'evil');
      fs.mkdirSync(path.join(work, 'a'), { recursive: true });
      fs.writeFileSync(path.join(sb.dir, 'escaped'), 'x\n');
      // a member named "a/../../escaped" (tar keeps it with -P)
      const evil = execFileSync('bash', ['-c', `cd "${work}/a" && tar -P -cf - ../../escaped | zstd -q -c`], { maxBuffer: 1 << 24 });
      replaceSealed(folder(sb, level), archive, evil);
      const to = path.join(sb.dir, 'r');
      const r = await restore(sb, 4, to);
      assert.equal(r.code, 1, r.stdout);
      assert.match(logOf(sb), /path with a \.\. component/);
      assert.ok(!fs.existsSync(to), 'nothing written');
    } finally {
      sb.cleanup();
    }
  });
}

test('the script contract: a drop-in with "# batt: levels" gets BATT_PREVIOUS and builds on it with batt-base; a wrong batt-base fails the backup', async () => {
  const sb = sandbox();
  try {
    // a careless drop-in: records what batt offered, builds on it when there is one
    writeScript(sb.home, 'notes', [
      '# batt: levels',
      'env | grep -E "^BATT_(PREVIOUS|NO_PREVIOUS)" | sort > "$BATT_DEST/seen.txt" || true',
      'if [ -n "${BATT_PREVIOUS:-}" ]; then echo "${NOTES_BASE:-$BATT_PREVIOUS}" > "$BATT_DEST/batt-base"; fi',
    ].join('\n'));
    const run = (n: number, env: Record<string, string> = {}) => batt(['notes', '--path', `${sb.root}/%Y/n${n}`], { home: sb.home, env });
    const folderN = (n: number) => path.join(sb.root, String(year), `n${n}`, 'notes');
    assert.equal((await run(1)).code, 0);
    assert.match(fs.readFileSync(path.join(folderN(1), 'seen.txt'), 'utf8'), /^BATT_NO_PREVIOUS=no earlier notes backup under /m);
    assert.equal((await run(2)).code, 0);
    const seen = fs.readFileSync(path.join(folderN(2), 'seen.txt'), 'utf8');
    assert.match(seen, new RegExp(`^BATT_PREVIOUS=${folderN(1)}$`, 'm'));
    assert.match(seen, new RegExp(`^BATT_PREVIOUS_ID=${year}/n1/notes$`, 'm'));
    assert.match(seen, /^BATT_PREVIOUS_FULL_TIME=\d{4}-\d\d-\d\dT/m);
    const m = JSON.parse(fs.readFileSync(path.join(folderN(2), 'batt-manifest.json'), 'utf8'));
    assert.equal(m.base, '../../n1/notes');
    assert.ok(!m.files.some((f: { path: string }) => f.path === 'batt-base'));
    // batt-base naming another folder: the backup fails, nothing sealed
    const bad = await run(3, { NOTES_BASE: '/etc' });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /notes: the script's batt-base names \/etc, not the previous backup .*n2\/notes that batt offered/);
    assert.ok(!fs.existsSync(folderN(3)));
    // a script without the trait is offered nothing: its batt-base fails the backup
    writeScript(sb.home, 'plain', 'echo x > "$BATT_DEST/data"; echo /tmp > "$BATT_DEST/batt-base"');
    const plain = await batt(['plain', '--path', `${sb.root}/%Y/p1`], { home: sb.home });
    assert.equal(plain.code, 1);
    assert.match(plain.stderr, /plain: the script wrote batt-base \(\/tmp\), but batt offered no previous backup to build on/);
  } finally {
    sb.cleanup();
  }
});
