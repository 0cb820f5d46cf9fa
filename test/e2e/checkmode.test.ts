// Check mode (docs/script-contract.md): batt runs a script that declares `# batt: check` with
// BATT_CHECK=1 from doctor, config check and enable; the script's own words say what the next run
// would fail on. A script that does not declare it is never run that way; a check writes nothing.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { REPO, batt, listFiles, readText, sandbox, writeScript } from '../helpers/batt.js';

/** A sandbox home as ./install leaves it: the built-in scripts and the conf examples. */
function installedHome() {
  const sb = sandbox({ builtins: true });
  for (const f of fs.readdirSync(path.join(REPO, 'conf'))) fs.copyFileSync(path.join(REPO, 'conf', f), path.join(sb.home, 'conf', f));
  fs.writeFileSync(path.join(sb.home, 'conf/batt.conf'), `DEST=${sb.pattern}\n`, { mode: 0o600 });
  return sb;
}

describe('check mode', () => {
  test('enable file with no path: conf installed from its example, a warning; doctor and config check name the problem', async () => {
    const sb = installedHome();
    try {
      const e = await batt(['enable', 'file'], { home: sb.home });
      assert.equal(e.code, 0, e.stderr);
      const conf = path.join(sb.home, 'conf/file.conf');
      assert.equal(fs.statSync(conf).mode & 0o777, 0o600);
      assert.equal(readText(conf), readText(path.join(REPO, 'conf/file.conf.example')));
      assert.match(e.stdout, new RegExp(`^installed ${conf} from .*file\\.conf\\.example \\(mode 0600\\)`, 'm'));
      assert.match(e.stderr, /^batt: warning: file is enabled, but its next run would fail: backup-file: no path to back up/m);

      const d = await batt(['doctor'], { home: sb.home });
      assert.equal(d.code, 1, d.stdout);
      assert.match(d.stdout, /^FAIL +file +backup-file: no path to back up: use --file PATH or PATHS in conf\/file\.conf$/m);
      const c = await batt(['config', 'check'], { home: sb.home });
      assert.equal(c.code, 3, c.stderr);
      assert.match(c.stderr, /file check mode: backup-file: no path to back up/);
      // the run doctor warned about fails for that very reason
      const r = await batt([], { home: sb.home });
      assert.equal(r.code, 1);
      assert.match(r.stderr, /no path to back up/);

      // fixed: doctor passes, and so does the next run; no check left anything in the root
      fs.appendFileSync(conf, 'PATHS=/etc/hostname\n');
      const e2 = await batt(['enable', 'file'], { home: sb.home });
      assert.equal(e2.stderr, '');
      assert.doesNotMatch(e2.stdout, /installed/); // an existing conf is never replaced
      assert.deepEqual(listFiles(sb.root).filter((f) => !f.startsWith('.batt.lock')), []);
      const d2 = await batt(['doctor'], { home: sb.home });
      assert.equal(d2.code, 0, d2.stdout + d2.stderr);
      assert.match(d2.stdout, /^ok +file +check mode: ok$/m);
      assert.equal((await batt(['config', 'check'], { home: sb.home })).code, 0);
      const r2 = await batt([], { home: sb.home });
      assert.equal(r2.code, 0, r2.stderr);
    } finally {
      sb.cleanup();
    }
  });

  test('system: a named disk that is not a block device fails the check; none named passes', async () => {
    const sb = installedHome();
    try {
      fs.writeFileSync(path.join(sb.home, 'conf/system.conf'), 'DISKS=/dev/batt-no-such-disk\n', { mode: 0o600 });
      const e = await batt(['enable', 'system'], { home: sb.home });
      assert.equal(e.code, 0);
      assert.match(e.stderr, /next run would fail: backup-system: \/dev\/batt-no-such-disk \(DISKS or --system-disks\) is not a block device$/m);
      fs.writeFileSync(path.join(sb.home, 'conf/system.conf'), '', { mode: 0o600 });
      const d = await batt(['doctor'], { home: sb.home });
      assert.match(d.stdout, /^ok +system +check mode: ok$/m);
    } finally {
      sb.cleanup();
    }
  });

  test('a script that does not declare check mode is never run with BATT_CHECK', async () => {
    const sb = installedHome();
    try {
      const marker = path.join(sb.dir, 'ran');
      writeScript(sb.home, 'app', `echo "BATT_CHECK=\${BATT_CHECK:-}" >> ${marker}\necho data > "$BATT_DEST/x"`);
      const e = await batt(['enable', 'app'], { home: sb.home });
      assert.equal(e.code, 0);
      assert.equal(e.stderr, '');
      const d = await batt(['doctor'], { home: sb.home });
      assert.equal(d.code, 0, d.stdout);
      assert.match(d.stdout, /^ok +app +its script has no check mode \(# batt: check\)/m);
      assert.equal(readText(marker), '');
    } finally {
      sb.cleanup();
    }
  });

  test('a "# batt:" or "# batt-requires:" line past the first 4096 bytes does nothing: doctor fails and names it', async () => {
    const sb = installedHome();
    try {
      // a long header comment (a licence, a changelog) pushed the declarations down
      const header = Array.from({ length: 80 }, (_, i) => `# changelog ${i}: ${'x'.repeat(50)}`).join('\n');
      writeScript(sb.home, 'app', `${header}\n# batt: check\n# batt-requires: batt-no-such-tool\necho data > "$BATT_DEST/x"`);
      writeScript(sb.home, 'app', `${header}\n# batt: drill\ncat > /dev/null`, 'restore');
      assert.equal((await batt(['enable', 'app'], { home: sb.home })).code, 0);
      const d = await batt(['doctor'], { home: sb.home });
      assert.equal(d.code, 1, d.stdout);
      assert.match(d.stdout, /^FAIL +app +backup-app line 83: "# batt: check" is past the first 4096 bytes, where batt reads these lines, so it does nothing: move it to the top$/m);
      assert.match(d.stdout, /^FAIL +app +backup-app line 84: "# batt-requires: batt-no-such-tool" is past the first 4096 bytes/m);
      assert.match(d.stdout, /^FAIL +app +restore-app line 83: "# batt: drill" is past/m);
      assert.match(d.stdout, /^ok +app +its script has no check mode/m, 'the trait was indeed not read');
      // moved to the top: read, and doctor says what they declare
      writeScript(sb.home, 'app', `# batt: check\n# batt-requires: sh\n${header}\nif [ "\${BATT_CHECK:-}" = 1 ]; then exit 0; fi\necho data > "$BATT_DEST/x"`);
      writeScript(sb.home, 'app', `# batt: drill\n${header}\ncat > /dev/null`, 'restore');
      const d2 = await batt(['doctor'], { home: sb.home });
      assert.doesNotMatch(d2.stdout, /past the first/);
      assert.match(d2.stdout, /^ok +app +check mode: ok$/m);
      assert.match(d2.stdout, /^ok +app +sh: \//m);
    } finally {
      sb.cleanup();
    }
  });

  test('a check runs as a backup runs (private TMPDIR, umask 077, its own group, the time limit) and may write nothing', async () => {
    const sb = installedHome();
    try {
      const seen = path.join(sb.dir, 'seen');
      writeScript(
        sb.home,
        'app',
        `# batt: check\nif [ "\${BATT_CHECK:-}" = 1 ]; then\n  printf '%s %s %s %s\\n' "$(umask)" "$TMPDIR" "$BATT_DEST" "$(ps -o pgid= $$ | tr -d ' ')/$$" > ${seen}\n  [ ! -e "${sb.dir}/fail" ] || { echo "app: the server said no"; exit 1; }\n  [ ! -e "${sb.dir}/write" ] || echo x > "$BATT_DEST/oops"\n  [ ! -e "${sb.dir}/hang" ] || sleep 30\n  exit 0\nfi\necho data > "$BATT_DEST/x"`,
      );
      assert.equal((await batt(['enable', 'app'], { home: sb.home })).stderr, '');
      const [umask, tmpdir, dest, group] = readText(seen).trim().split(' ');
      assert.equal(umask, '0077');
      assert.match(path.basename(path.dirname(tmpdir!)), /^batt-scratch-/);
      assert.ok(!dest!.startsWith(sb.root), `BATT_DEST ${dest} is not in the backup root`);
      const [pgid, pid] = group!.split('/');
      assert.equal(pgid, pid, 'the script leads its own process group');
      assert.ok(!fs.existsSync(path.dirname(tmpdir!)), 'the scratch folder is removed');

      fs.writeFileSync(path.join(sb.dir, 'fail'), '');
      const e = await batt(['enable', 'app'], { home: sb.home });
      assert.equal(e.code, 0);
      assert.match(e.stderr, /^batt: warning: app is enabled, but its next run would fail: app: the server said no$/m);
      fs.rmSync(path.join(sb.dir, 'fail'));

      fs.writeFileSync(path.join(sb.dir, 'write'), '');
      let d = await batt(['doctor'], { home: sb.home });
      assert.match(d.stdout, /^FAIL +app +check mode wrote oops into BATT_DEST; a check must write nothing$/m);
      fs.rmSync(path.join(sb.dir, 'write'));

      fs.writeFileSync(path.join(sb.dir, 'hang'), '');
      fs.writeFileSync(path.join(sb.home, 'conf/app.conf'), 'BACKUP_TIMEOUT=1\n');
      d = await batt(['doctor'], { home: sb.home });
      assert.match(d.stdout, /^FAIL +app +check mode did not finish within 1s$/m);
      assert.deepEqual(listFiles(sb.root).filter((f) => !f.startsWith('.batt.lock')), []);
    } finally {
      sb.cleanup();
    }
  });
});
