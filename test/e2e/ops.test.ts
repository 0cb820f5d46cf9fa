// Operating batt end to end with the BUILT cli: schedule (into a temp root, never the real /etc),
// config check, doctor, shell completion, and what start-up loads.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { BATT, batt, sandbox, writeScript } from '../helpers/batt.js';

function tempRoot(sb: { dir: string }): string {
  const root = path.join(sb.dir, 'sysroot');
  fs.mkdirSync(root);
  return root;
}

describe('batt schedule', () => {
  test('install (cron where systemd does not run the tree), idempotent, show, switch to systemd, remove', async () => {
    const sb = sandbox();
    try {
      const root = tempRoot(sb);
      const cronFile = path.join(root, 'etc/cron.d/batt');
      const timer = path.join(root, 'etc/systemd/system/batt.timer');
      const service = path.join(root, 'etc/systemd/system/batt.service');

      let r = await batt(['schedule', 'install', '--at', 'daily 02:30', '--root', root], { home: sb.home });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /installed cron schedule daily 02:30/);
      const cron = fs.readFileSync(cronFile, 'utf8');
      assert.match(cron, new RegExp(`^30 2 \\* \\* \\* root ${process.execPath.replace(/[.]/g, '\\.')} ${BATT.replace(/[.]/g, '\\.')} >/dev/null$`, 'm'));
      assert.match(cron, new RegExp(`^BATT_HOME=${sb.home}$`, 'm'));
      assert.equal(fs.statSync(cronFile).mode & 0o777, 0o644);
      assert.ok(!fs.existsSync(timer));

      r = await batt(['schedule', 'install', '--at', 'daily 02:30', '--root', root], { home: sb.home });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /already installed/);
      assert.equal(fs.readFileSync(cronFile, 'utf8'), cron);

      r = await batt(['schedule', 'show', '--root', root, '--json'], { home: sb.home });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout).schedules.map((s: { kind: string; cron: string; at: string }) => [s.kind, s.at, s.cron]), [
        ['cron', 'daily 02:30', '30 2 * * *'],
      ]);

      r = await batt(['schedule', 'install', '--systemd', '--at', 'weekly sun 03:00', '--root', root], { home: sb.home });
      assert.equal(r.code, 0, r.stderr);
      assert.match(fs.readFileSync(timer, 'utf8'), /^OnCalendar=Sun \*-\*-\* 03:00:00$/m);
      assert.match(fs.readFileSync(service, 'utf8'), new RegExp(`^Environment=BATT_HOME=${sb.home}$`, 'm'));
      assert.ok(!fs.existsSync(cronFile), 'the cron entry is removed so batt does not run twice');
      assert.doesNotMatch(r.stdout, /now run: systemctl/, 'no systemctl advice for a tree that is not /');
      // systemd's own parser accepts both units (where systemd-analyze is installed).
      if (spawnSync('systemd-analyze', ['--version']).status === 0) {
        const v = spawnSync('systemd-analyze', ['verify', './batt.service', './batt.timer'], { cwd: path.dirname(timer), encoding: 'utf8' });
        assert.equal(v.status, 0, v.stderr);
      }

      r = await batt(['schedule', 'show', '--root', root], { home: sb.home });
      assert.match(r.stdout, /^systemd: weekly sun 03:00 \(OnCalendar=Sun \*-\*-\* 03:00:00\)/m);

      r = await batt(['schedule', 'remove', '--root', root], { home: sb.home });
      assert.equal(r.code, 0, r.stderr);
      assert.ok(!fs.existsSync(timer) && !fs.existsSync(service));
      r = await batt(['schedule', 'remove', '--root', root], { home: sb.home });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /no batt schedule was installed/);
    } finally {
      sb.cleanup();
    }
  });

  test('an invalid --at exits 2 with a precise message and writes nothing', async () => {
    const sb = sandbox();
    try {
      const root = tempRoot(sb);
      for (const [at, why] of [
        ['daily 24:00', /invalid --at "daily 24:00": hour 24 is out of range 0-23/],
        ['0 3 * *', /a cron expression has 5 fields .* this has 4/],
        ['sometimes', /"sometimes" is not hourly, daily, weekly, monthly/],
      ] as const) {
        const r = await batt(['schedule', 'install', '--at', at, '--root', root], { home: sb.home });
        assert.equal(r.code, 2, r.stderr);
        assert.match(r.stderr, why);
      }
      const r = await batt(['schedule', 'install', '--root', root], { home: sb.home });
      assert.equal(r.code, 2);
      assert.match(r.stderr, /needs --at/);
      assert.deepEqual(fs.readdirSync(root), []);
    } finally {
      sb.cleanup();
    }
  });

  test('a file batt did not write is never replaced or removed without --force; an empty --root is refused', async () => {
    const sb = sandbox();
    try {
      const root = tempRoot(sb);
      const cronFile = path.join(root, 'etc/cron.d/batt');
      fs.mkdirSync(path.dirname(cronFile), { recursive: true });
      fs.writeFileSync(cronFile, '0 1 * * * root /usr/local/bin/my-own-batt\n');
      for (const args of [['install', '--at', 'hourly'], ['remove']]) {
        const r = await batt(['schedule', ...args, '--root', root], { home: sb.home });
        assert.equal(r.code, 2, r.stderr);
        assert.match(r.stderr, /exists and was not written by batt; not touching it \(move it away, or use --force\)/);
        assert.equal(fs.readFileSync(cronFile, 'utf8'), '0 1 * * * root /usr/local/bin/my-own-batt\n');
      }
      const forced = await batt(['schedule', 'install', '--at', 'hourly', '--force', '--root', root], { home: sb.home });
      assert.equal(forced.code, 0, forced.stderr);
      assert.match(fs.readFileSync(cronFile, 'utf8'), /^0 \* \* \* \* root /m);

      // `--root "$UNSET"` must not mean the real /
      const r = await batt(['schedule', 'install', '--at', 'hourly', '--root', ''], { home: sb.home });
      assert.equal(r.code, 2);
      assert.match(r.stderr, /--root needs a folder/);
    } finally {
      sb.cleanup();
    }
  });
});

describe('batt config check', () => {
  test('a sound conf: exit 0', async () => {
    const sb = sandbox();
    try {
      writeScript(sb.home, 'mysql', 'true');
      fs.writeFileSync(path.join(sb.home, 'conf/batt.conf'), `DEST=${sb.pattern}\nNOTIFY_ON=always\nKEEP_DAILY=7\n`);
      fs.writeFileSync(path.join(sb.home, 'conf/mysql.conf'), 'USER=backup\nPASSWORD=s3cret\n', { mode: 0o600 });
      const r = await batt(['config', 'check'], { home: sb.home });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /^ok: 2 conf files in .*: 0 errors, 0 warnings$/m);
    } finally {
      sb.cleanup();
    }
  });

  test('errors with file:line and key, exit 3; secrets never printed; --json', async () => {
    const sb = sandbox();
    try {
      writeScript(sb.home, 'mysql', 'true');
      const conf = path.join(sb.home, 'conf/batt.conf');
      fs.writeFileSync(conf, '# batt\nDEST=relative/%Y\nJOBS=many\nNOTIFY_OM=always\n');
      const svc = path.join(sb.home, 'conf/mysql.conf');
      fs.writeFileSync(svc, 'PASSWORD=hunter2-secret\n');
      fs.chmodSync(svc, 0o644);
      fs.writeFileSync(path.join(sb.home, 'conf/orphan.conf'), 'A=1\n');
      const r = await batt(['config', 'check'], { home: sb.home });
      assert.equal(r.code, 3, r.stderr);
      assert.match(r.stderr, new RegExp(`${conf}:2: DEST destination pattern "relative/%Y" must be an absolute path`));
      assert.match(r.stderr, new RegExp(`${conf}:3: JOBS must be a positive whole number, got "many"`));
      assert.match(r.stderr, new RegExp(`${conf}:4: NOTIFY_OM unknown key \\(did you mean NOTIFY_ON\\?\\)`));
      assert.match(r.stderr, new RegExp(`${svc}:1: PASSWORD is a secret but the file is readable by others \\(mode 644\\)`));
      assert.match(r.stderr, /warning: .*orphan\.conf: no script scripts-available\/backup-orphan/);
      assert.match(r.stderr, /4 errors, 1 warning/);
      assert.ok(!r.stderr.includes('hunter2') && !r.stdout.includes('hunter2'));

      const j = await batt(['config', 'check', '--json'], { home: sb.home });
      assert.equal(j.code, 3);
      const doc = JSON.parse(j.stdout);
      assert.equal(doc.ok, false);
      assert.equal(doc.errors, 4);
      assert.deepEqual(doc.findings.find((f: { key?: string }) => f.key === 'JOBS'), {
        level: 'error',
        file: conf,
        line: 3,
        key: 'JOBS',
        message: 'must be a positive whole number, got "many"',
      });
      assert.ok(!j.stdout.includes('hunter2'));
    } finally {
      sb.cleanup();
    }
  });
});

describe('a schedule that cannot fire', () => {
  test('install writes it and warns (exit 0) when its scheduler is not running; doctor fails it', async () => {
    const sb = sandbox({ builtins: true });
    try {
      const root = tempRoot(sb);
      // the tree's own /proc: one shell, no cron daemon; no /run/systemd/system
      const proc = (pid: number, comm: string) => {
        fs.mkdirSync(path.join(root, 'proc', String(pid)), { recursive: true });
        fs.writeFileSync(path.join(root, 'proc', String(pid), 'comm'), `${comm}\n`);
      };
      proc(1, 'bash');
      let r = await batt(['schedule', 'install', '--at', 'daily 02:30', '--root', root], { home: sb.home });
      assert.equal(r.code, 0, r.stderr);
      assert.ok(fs.existsSync(path.join(root, 'etc/cron.d/batt')), 'written anyway');
      assert.match(r.stderr, /^batt: warning: the schedule is installed but cannot fire: no cron daemon is running, so \/etc\/cron\.d\/batt never fires/m);
      fs.writeFileSync(path.join(sb.home, 'conf/file.conf'), 'PATHS=/etc/hostname\n');
      await batt(['enable', 'file'], { home: sb.home });
      const doctor = () => batt(['doctor', '--path', sb.pattern], { home: sb.home, env: { BATT_SYSTEM_ROOT: root } });
      let d = await doctor();
      assert.equal(d.code, 1);
      assert.match(d.stdout, /^FAIL +schedule +.*\/etc\/cron\.d\/batt: no cron daemon is running/m);

      proc(612, 'cron');
      r = await batt(['schedule', 'install', '--at', 'daily 02:30', '--root', root], { home: sb.home });
      assert.equal(r.stderr, '');
      d = await doctor();
      assert.equal(d.code, 0, d.stdout);
      assert.match(d.stdout, /^ok +schedule +.*\/etc\/cron\.d\/batt: a cron daemon is running$/m);

      r = await batt(['schedule', 'install', '--systemd', '--at', 'daily 02:30', '--root', root], { home: sb.home });
      assert.equal(r.code, 0);
      assert.match(r.stderr, /cannot fire: systemd is not running on this machine/);
      assert.match((await doctor()).stdout, /^FAIL +schedule +.*batt\.timer: systemd is not running/m);
    } finally {
      sb.cleanup();
    }
  });
});

describe('batt doctor', () => {
  test('tools found, destination writable: exit 0; a missing declared tool: FAIL and exit 1', async () => {
    const sb = sandbox({ builtins: true });
    try {
      fs.writeFileSync(path.join(sb.home, 'conf/batt.conf'), `DEST=${sb.pattern}\n`);
      fs.writeFileSync(path.join(sb.home, 'conf/file.conf'), 'PATHS=/etc/hostname\n'); // check mode wants a path
      let r = await batt(['enable', 'file'], { home: sb.home });
      assert.equal(r.code, 0, r.stderr);
      r = await batt(['doctor'], { home: sb.home });
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.match(r.stdout, /^ok +file +tar: \//m);
      assert.match(r.stdout, /^ok +file +zstd: \//m);
      assert.match(r.stdout, /^ok +destination +.* is writable/m);
      assert.match(r.stdout, /^ok +free space +/m);
      assert.match(r.stdout, /^ok +conf +2 conf files in .* pass batt config check$/m);

      writeScript(sb.home, 'app', '#!/bin/sh\n# batt-requires: sh nosuch-tool-xyz|nosuch-alt-xyz\nexit 0\n');
      await batt(['enable', 'app'], { home: sb.home });
      r = await batt(['doctor'], { home: sb.home });
      assert.equal(r.code, 1);
      assert.match(r.stdout, /^ok +app +sh: \//m);
      assert.match(r.stdout, /^FAIL +app +nosuch-tool-xyz\|nosuch-alt-xyz: not found on PATH$/m);
      assert.match(r.stderr, /doctor: 1 check failed$/m);

      const j = await batt(['doctor', '--json'], { home: sb.home });
      assert.equal(j.code, 1);
      const doc = JSON.parse(j.stdout);
      assert.equal(doc.ok, false);
      assert.deepEqual(doc.checks.filter((c: { ok: boolean }) => !c.ok).map((c: { check: string }) => c.check), ['app']);
    } finally {
      sb.cleanup();
    }
  });

  test('a tool missing from PATH names its Debian package; the system folders are looked in too; an impossible destination fails', async () => {
    const sb = sandbox({ builtins: true });
    try {
      const bin = path.join(sb.dir, 'bin');
      fs.mkdirSync(bin);
      fs.symlinkSync(fs.realpathSync('/usr/bin/tar'), path.join(bin, 'tar'));
      const blocker = path.join(sb.dir, 'not-a-folder');
      fs.writeFileSync(blocker, 'x');
      // mongodump is not packaged in Debian (the tests' MongoDB is a stand-in): missing here
      const systemPath = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
      assert.notEqual(spawnSync('sh', ['-c', 'command -v mongodump'], { env: { PATH: systemPath } }).status, 0, 'this test needs a machine without mongodump');
      await batt(['enable', 'file', 'mongodb'], { home: sb.home });
      const r = await batt(['doctor', '--path', `${blocker}/backup/%Y`], { home: sb.home, env: { PATH: bin } });
      assert.equal(r.code, 1);
      assert.match(r.stdout, /^FAIL +mongodb +mongodump: not found on PATH \(apt-get install mongodb-database-tools\)$/m);
      // PATH's own folder first (tar), then the standard folders batt appends (zstd: cron's PATH lacks nothing batt needs)
      assert.match(r.stdout, new RegExp(`^ok +file +tar: ${bin}/tar$`, 'm'));
      assert.match(r.stdout, /^ok +file +zstd: \/usr\/(local\/)?s?bin\/zstd$/m);
      assert.match(r.stdout, new RegExp(`^FAIL +destination +${blocker} is not a folder`, 'm'));

      // The script's own override variable (ZSTD=...) is what doctor checks when it is set.
      const zstd = fs.realpathSync('/usr/bin/zstd');
      const o = await batt(['doctor'], { home: sb.home, env: { PATH: bin, ZSTD: zstd } });
      assert.match(o.stdout, new RegExp(`^ok +file +ZSTD=${zstd}: ${zstd}$`, 'm'));
      const m = await batt(['doctor'], { home: sb.home, env: { PATH: bin, ZSTD: '/nonexistent/zstd' } });
      assert.equal(m.code, 1);
      assert.match(m.stdout, /^FAIL +file +ZSTD=\/nonexistent\/zstd: not found$/m);
    } finally {
      sb.cleanup();
    }
  });

  test('a broken conf fails the conf check and names the way to details', async () => {
    const sb = sandbox({ builtins: true });
    try {
      await batt(['enable', 'file'], { home: sb.home });
      fs.writeFileSync(path.join(sb.home, 'conf/batt.conf'), 'JOBS=0\n');
      const r = await batt(['doctor'], { home: sb.home });
      assert.equal(r.code, 1);
      assert.match(r.stdout, /^FAIL +conf +1 error in .* \(see batt config check\)$/m);
    } finally {
      sb.cleanup();
    }
  });
});

describe('batt doctor: off-site targets', () => {
  test('a reachable local target is ok; an unmounted folder, an unreadable key and a closed port fail', async () => {
    const sb = sandbox({ builtins: true });
    try {
      fs.writeFileSync(path.join(sb.home, 'conf/file.conf'), 'PATHS=/etc/hostname\n'); // check mode wants a path
      await batt(['enable', 'file'], { home: sb.home });
      const targets = path.join(sb.home, 'conf/targets');
      fs.mkdirSync(targets, { mode: 0o700 });
      const off = path.join(sb.dir, 'offsite');
      fs.mkdirSync(off);
      const conf = (name: string, text: string) => fs.writeFileSync(path.join(targets, `${name}.conf`), text, { mode: 0o600 });
      conf('offsite', `TYPE=local\nPATH=${off}\n`);
      conf('nfs', `TYPE=local\nPATH=${sb.dir}/not-mounted\n`);
      conf('remote', 'TYPE=sftp\nHOST=127.0.0.1\nPORT=1\nUSER=x\nSSH_KEY=/nonexistent/key\nKNOWN_HOSTS=/nonexistent/known_hosts\nPATH=/b\n');
      const r = await batt(['doctor', '--path', sb.pattern], { home: sb.home });
      assert.equal(r.code, 1);
      assert.match(r.stdout, new RegExp(`^ok +target offsite +local .*: reachable, 0 copies$`, 'm'));
      assert.match(r.stdout, /^FAIL +target nfs +local folder .*not-mounted does not exist \(is it mounted\?\)$/m);
      assert.match(r.stdout, /^FAIL +target remote +.*\/nonexistent\/key/m);
      // the missing key and known_hosts fail batt config check too (the files a conf names)
      assert.match(r.stdout, /^FAIL +conf +2 errors in .* \(see batt config check\)$/m);
      assert.match(r.stderr, /doctor: 3 checks failed$/m);
    } finally {
      sb.cleanup();
    }
  });
});

describe('shell completion', () => {
  test('batt completion prints a bash script; completions include commands and service names', async () => {
    const sb = sandbox({ builtins: true });
    try {
      writeScript(sb.home, 'mysql', 'true');
      let r = await batt(['completion'], { home: sb.home });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /_batt_yargs_completions\(\)/);
      assert.match(r.stdout, /batt --get-yargs-completions/);

      r = await batt(['--get-yargs-completions', 'batt', ''], { home: sb.home });
      const top = r.stdout.split('\n');
      for (const w of ['list', 'enable', 'schedule', 'doctor', 'config', 'file', 'mysql']) assert.ok(top.includes(w), `${w} in ${top}`);
      assert.ok(!top.includes('$0'));

      await batt(['enable', 'mysql'], { home: sb.home });
      r = await batt(['--get-yargs-completions', 'batt', 'disable', ''], { home: sb.home });
      assert.equal(r.stderr, '');
      assert.ok(r.stdout.split('\n').includes('mysql'));
      assert.ok(!r.stdout.split('\n').includes('file'), 'disable completes enabled services only');

      r = await batt(['--get-yargs-completions', 'batt', 'schedule', ''], { home: sb.home });
      for (const w of ['install', 'show', 'remove', '--at']) assert.ok(r.stdout.split('\n').includes(w), w);
    } finally {
      sb.cleanup();
    }
  });
});

describe('start-up', () => {
  /** Files reachable from a bundle file through static imports only (not import()). */
  function staticClosure(file: string, seen = new Set<string>()): Set<string> {
    if (seen.has(file)) return seen;
    seen.add(file);
    const text = fs.readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:^|[;\n])\s*import\s*(?:[^'"();]*?\s*from\s*)?["'](\.{1,2}\/[^"']+)["']/g)) {
      staticClosure(path.resolve(path.dirname(file), m[1]!), seen);
    }
    return seen;
  }
  // dist/batt.js (CommonJS) loads dist/list.js for a plain list, else dist/esm/main.js, which
  // imports the command chunks by name: the ones this build uses, not stale ones of older builds.
  const ESM_MAIN = path.join(path.dirname(BATT), 'esm', 'main.js');
  const LIST = path.join(path.dirname(BATT), 'list.js');
  const chunk = (prefix: string) => {
    const m = new RegExp(`import\\("\\./(chunks/${prefix}-[A-Z0-9]+\\.js)"\\)`).exec(fs.readFileSync(ESM_MAIN, 'utf8'));
    assert.ok(m, `${ESM_MAIN} imports no ${prefix} chunk`);
    return path.join(path.dirname(ESM_MAIN), m[1]!);
  };

  test('nodemailer and listr2 are not loaded by batt list or by the run command until needed', () => {
    const closure = [...staticClosure(BATT), LIST, ...staticClosure(ESM_MAIN), ...staticClosure(chunk('cli')), ...staticClosure(chunk('list')), ...staticClosure(chunk('run'))];
    assert.ok(closure.length > 5);
    for (const f of closure) {
      const text = fs.readFileSync(f, 'utf8');
      assert.ok(!text.includes('createTransport'), `nodemailer is statically reachable from start-up via ${f}`);
    }
    for (const f of [...staticClosure(BATT), LIST, ...staticClosure(ESM_MAIN), ...staticClosure(chunk('cli')), ...staticClosure(chunk('list'))]) {
      assert.ok(!/class Listr\b/.test(fs.readFileSync(f, 'utf8')), `listr2 is statically reachable from batt list via ${f}`);
    }
  });
});
