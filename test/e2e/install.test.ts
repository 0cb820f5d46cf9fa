// ./install into a temp home, bin and man folder: it must work, be safe to re-run, and keep what the
// user changed (conf files, edited scripts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO, listFiles } from '../helpers/batt.js';

/** ./install into these folders; the man page goes to `<bin>/../share/man/man1` unless `man` is given. */
function install(home: string, bin: string, man = path.join(path.dirname(bin), 'share', 'man', 'man1')) {
  const r = spawnSync(path.join(REPO, 'install'), [], {
    env: { ...process.env, BATT_HOME: home, BIN_DIR: bin, MAN_DIR: man },
    encoding: 'utf8',
  });
  assert.equal(r.status, 0, r.stderr);
  return r;
}

test('install sets up a home, puts batt on PATH, and a re-run keeps the user\'s changes', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'batt-install-'));
  try {
    const home = path.join(dir, 'home');
    const bin = path.join(dir, 'bin');
    install(home, bin);
    const batt = path.join(bin, 'batt');
    assert.ok(fs.statSync(batt).mode & 0o111, 'batt is executable');
    const list = execFileSync(batt, ['list', '--json'], { encoding: 'utf8', env: { ...process.env, BATT_HOME: '' } });
    const names = (JSON.parse(list) as { home: string; services: { name: string }[] });
    assert.equal(names.home, home, 'the wrapper knows its home');
    assert.ok(names.services.some((s) => s.name === 'file'));
    assert.equal(fs.statSync(path.join(home, 'conf')).mode & 0o777, 0o700);
    // `man batt` finds the page in MAN_DIR (man -M: the folder above man1, as MANPATH names it)
    const page = path.join(dir, 'share', 'man', 'man1', 'batt.1');
    assert.equal(fs.statSync(page).mode & 0o777, 0o644);
    assert.deepEqual(fs.readFileSync(page), fs.readFileSync(path.join(REPO, 'dist', 'batt.1')));
    const man = spawnSync('man', ['-M', path.join(dir, 'share', 'man'), '-w', 'batt'], { encoding: 'utf8' });
    if (!man.error) assert.equal(man.stdout.trim(), page, man.stderr);
    for (const f of fs.readdirSync(path.join(home, 'conf'))) {
      assert.equal(fs.statSync(path.join(home, 'conf', f)).mode & 0o777, 0o600, f);
    }

    // The user edits a conf file and a built-in script; a second install keeps both.
    const conf = path.join(home, 'conf', 'batt.conf');
    fs.writeFileSync(conf, 'JOBS=1\n', { mode: 0o600 });
    const script = path.join(home, 'scripts-available', 'backup-file');
    fs.appendFileSync(script, '\n# local change\n');
    const again = install(home, bin);
    assert.equal(fs.readFileSync(conf, 'utf8'), 'JOBS=1\n');
    assert.match(fs.readFileSync(script, 'utf8'), /# local change/);
    assert.ok(fs.existsSync(`${script}.new`), 'the new version is put beside the edited one');
    assert.match(again.stderr, /changed locally/);

    // The first run of the README: back up a folder with the installed command.
    const src = path.join(dir, 'src');
    fs.mkdirSync(src);
    fs.writeFileSync(path.join(src, 'a.txt'), 'hello\n');
    const root = path.join(dir, 'backup');
    execFileSync(batt, ['--file', src, '--path', `${root}/%Y/%m/%d`], { encoding: 'utf8' });
    const files = listFiles(root);
    assert.ok(files.some((f) => /\/file\/.*\.tar\.zst$/.test(f)), files.join(','));
    assert.ok(files.some((f) => f.endsWith('/file/batt-manifest.json')));

    // The installed copy has no node_modules: every target backend is in the bundle. Each target
    // points at a closed port (or a known_hosts without the key), so the answer is a connection
    // error, never a missing module.
    const keyFile = path.join(dir, 'key');
    fs.writeFileSync(keyFile, 'not a key\n', { mode: 0o600 });
    const targets: Record<string, string> = {
      sftp: `TYPE=sftp\nHOST=127.0.0.1\nPORT=1\nUSER=u\nSSH_KEY=${keyFile}\nKNOWN_HOSTS=${keyFile}\nPATH=/x\n`,
      ftp: 'TYPE=ftp\nHOST=127.0.0.1\nPORT=1\nPATH=/x\nRETRIES=0\nTIMEOUT=5\n',
      s3: 'TYPE=s3\nBUCKET=b\nREGION=us-east-1\nENDPOINT=http://127.0.0.1:1\nACCESS_KEY_ID=k\nSECRET_ACCESS_KEY=s\nRETRIES=0\nTIMEOUT=5\n',
      rsync: `TYPE=rsync\nPATH=${path.join(dir, 'rsync-copies')}\n`,
    };
    for (const [name, text] of Object.entries(targets)) {
      fs.mkdirSync(path.join(home, 'conf', 'targets'), { recursive: true, mode: 0o700 });
      fs.writeFileSync(path.join(home, 'conf', 'targets', `${name}.conf`), text, { mode: 0o600 });
      const r = spawnSync(batt, ['backups', '--from', name], { encoding: 'utf8', cwd: dir, env: { ...process.env, BATT_HOME: '' } });
      assert.doesNotMatch(r.stderr, /Cannot find (package|module)|is not defined|ERR_/, `${name}: ${r.stderr}`);
      if (name === 'rsync') assert.equal(r.status, 0, `${name}: ${r.stderr}`);
      else assert.match(r.stderr, /^batt: .*(ECONNREFUSED|has no key|connect)/im, `${name}: ${r.stderr}`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('folders install creates for the command and the home are 0755: other users can run batt', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'batt-install-'));
  try {
    fs.chmodSync(dir, 0o755);
    // neither exists yet, nor does the folder above them
    const home = path.join(dir, 'srv', 'batt');
    const bin = path.join(dir, 'local', 'bin');
    const man = path.join(dir, 'man', 'man1');
    install(home, bin, man);
    for (const d of [path.join(dir, 'srv'), home, path.join(dir, 'local'), bin, path.join(dir, 'man'), man]) {
      assert.equal(fs.statSync(d).mode & 0o755, 0o755, `${d} is ${(fs.statSync(d).mode & 0o777).toString(8)}`);
    }
    assert.equal(fs.statSync(path.join(home, 'conf')).mode & 0o777, 0o700, 'conf stays private');
    assert.equal(fs.statSync(path.join(home, 'log')).mode & 0o777, 0o700, 'log stays private');
    if (process.getuid?.() === 0) {
      // a user without a home of batt's own still gets --version and --help from the command
      const r = spawnSync('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', path.join(bin, 'batt'), '--version'], { encoding: 'utf8' });
      if (!r.error) assert.equal(r.status, 0, r.stderr);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
