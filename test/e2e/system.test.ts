// backup-system: the facts a bare-metal rebuild needs, as text. The packages (real dpkg and
// apt-mark), the disk list (real lsblk) and the partition table (real sfdisk, on a disk image the
// test partitions) come from this machine. LVM, md RAID and a running systemd cannot exist in this
// sandbox (no device-mapper, no md driver, no systemd as PID 1): vgs, pvs, lvs, vgcfgbackup, mdadm
// and systemctl are STAND-INS here, and /proc/mdstat and /run/systemd come from a fixture root
// (SYSROOT), like the configuration files it copies.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { REQUIRE_SERVERS, batt, listFiles, sandbox, type Sandbox } from '../helpers/batt.js';

const have = (tool: string) => spawnSync('sh', ['-c', `command -v ${tool}`], { env: { PATH: `${process.env.PATH}:/usr/sbin:/sbin` } }).status === 0;
const missing = ['sfdisk', 'dpkg', 'apt-mark', 'lsblk', 'ip'].filter((t) => !have(t));
/** A blank disk image of `size` bytes. */
const image = (file: string, size: number) => {
  fs.writeFileSync(file, '');
  fs.truncateSync(file, size);
};
const skip = missing.length && !REQUIRE_SERVERS ? `needs ${missing.join(', ')} (Debian fdisk, dpkg, apt, util-linux, iproute2)` : false;

describe('backup-system', { skip, concurrency: false }, () => {
  let sb: Sandbox;
  let sysroot: string;
  let disk: string;
  let env: Record<string, string>;
  const standIn = (name: string, body: string) => {
    const f = path.join(sb.dir, 'standins', name);
    fs.mkdirSync(path.dirname(f), { recursive: true });
    fs.writeFileSync(f, `#!/usr/bin/env bash\n# STAND-IN for ${name}: this sandbox has no LVM, md RAID or running systemd\n${body}\n`, { mode: 0o755 });
    return f;
  };
  const put = (rel: string, text: string, mode = 0o644) => {
    const f = path.join(sysroot, rel);
    fs.mkdirSync(path.dirname(f), { recursive: true });
    fs.writeFileSync(f, text, { mode });
  };
  const newest = () => {
    // system, system.2, system.3...: the highest number is the newest of the day
    const n = (f: string) => Number(/\/system(?:\.(\d+))?\//.exec(f)?.[1] ?? 1);
    const m = listFiles(sb.root).filter((f) => /\/system(\.\d+)?\/batt-manifest\.json$/.test(f)).sort((a, b) => n(a) - n(b)).at(-1);
    assert.ok(m, `no sealed system backup under ${sb.root}: ${listFiles(sb.root).join(' ')}`);
    return path.join(sb.root, path.dirname(m));
  };

  before(() => {
    sb = sandbox({ builtins: true });
    sysroot = path.join(sb.dir, 'sysroot');
    put('etc/fstab', 'UUID=1234 / ext4 errors=remount-ro 0 1\n');
    put('etc/crontab', '17 * * * * root cd / && run-parts --report /etc/cron.hourly\n');
    put('etc/cron.d/empty', '');
    put('var/spool/cron/crontabs/alice', '0 3 * * * /home/alice/bin/nightly\n', 0o600);
    put('etc/os-release', 'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n');
    put('proc/mdstat', 'Personalities : [raid1]\nmd0 : active raid1 sdb1[1] sda1[0]\n      1046528 blocks super 1.2 [2/2] [UU]\n');
    fs.mkdirSync(path.join(sysroot, 'run', 'systemd', 'system'), { recursive: true });
    disk = path.join(sb.dir, 'disk.img');
    image(disk, 64 * 1024 * 1024);
    execFileSync('sfdisk', ['-q', disk], { input: 'label: gpt\n,32M,L\n,,L\n', env: { PATH: `${process.env.PATH}:/usr/sbin:/sbin` } });
    env = {
      PATH: `${process.env.PATH}:/usr/sbin:/sbin`,
      SYSROOT: sysroot,
      MDADM: standIn('mdadm', 'echo "ARRAY /dev/md0 level=raid1 num-devices=2 metadata=1.2 UUID=aa:bb:cc:dd"'),
      VGS: standIn('vgs', 'if [ "${1:-}" = --noheadings ]; then echo "  vg0"; else echo "  VG  #PV #LV"; echo "  vg0   2   3"; fi'),
      PVS: standIn('pvs', 'echo "  PV /dev/md0 VG vg0"'),
      LVS: standIn('lvs', 'echo "  LV root VG vg0"'),
      VGCFGBACKUP: standIn('vgcfgbackup', '[ "$1" = -f ] || exit 2; f=${2//%s/vg0}; printf "vg0 {\\n\\tid = \\"abc\\"\\n}\\n" > "$f"; echo "  Volume group \\"vg0\\" successfully backed up." >&2'),
      SYSTEMCTL: standIn('systemctl', 'echo "ssh.service enabled enabled"; echo "cron.service enabled enabled"'),
    };
  });
  after(() => sb?.cleanup());

  test('writes packages, the partition table, RAID and LVM layout, units and the configuration files', async () => {
    const r = await batt(['system', '--system-disks', disk, '--path', sb.pattern], { home: sb.home, env });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    assert.match(r.stdout, /^ok\s+system\s/m, `nothing on stderr (it would be a warning): ${r.stderr}`);
    const b = newest();
    const files = listFiles(b);
    for (const f of ['facts.txt', 'packages.dpkg', 'packages.manual', 'disks.lsblk', 'addresses.txt', 'routes.txt', 'partitions/disk.img.sfdisk', 'mdstat', 'raid.mdadm', 'lvm.txt', 'lvm/vg0.vg', 'systemd-enabled.txt', 'files/etc/fstab', 'files/etc/crontab', 'files/var/spool/cron/crontabs/alice', 'batt-manifest.json']) {
      assert.ok(files.includes(f), `${f} missing: ${files.join(' ')}`);
    }
    assert.ok(!files.includes('files/etc/cron.d/empty'), 'an empty file was copied (batt refuses empty files)');
    const read = (f: string) => fs.readFileSync(path.join(b, f), 'utf8');
    assert.match(read('packages.dpkg'), /^bash\s+install$/m);
    assert.match(read('packages.manual'), /\S/);
    assert.equal(read('files/etc/fstab'), 'UUID=1234 / ext4 errors=remount-ro 0 1\n');
    assert.equal(fs.statSync(path.join(b, 'files/var/spool/cron/crontabs/alice')).mode & 0o777, 0o600);
    assert.match(read('facts.txt'), /^os: Debian GNU\/Linux 12 \(bookworm\)$/m);
    assert.match(read('facts.txt'), /files\/etc\/cron\.d\/empty: left out, empty/);
    assert.match(read('raid.mdadm'), /^ARRAY \/dev\/md0 /);
    assert.match(read('lvm/vg0.vg'), /^vg0 \{/);
    assert.match(read('systemd-enabled.txt'), /^ssh\.service enabled/m);
    // the partition table dump is what sfdisk reads back: a blank disk gets the same layout
    const copy = path.join(sb.dir, 'copy.img');
    image(copy, 64 * 1024 * 1024);
    execFileSync('sfdisk', ['-q', copy], { input: read('partitions/disk.img.sfdisk'), env });
    const layout = (img: string) => execFileSync('sfdisk', ['-d', img], { encoding: 'utf8', env }).replaceAll(img, 'IMG');
    assert.equal(layout(copy), layout(disk));
  });

  test('a machine without the tools or features says so in facts.txt, and the backup is still good', async () => {
    const e = { ...env, SFDISK: '/nonexistent/sfdisk', VGS: '/nonexistent/vgs', SYSROOT: path.join(sb.dir, 'bare') };
    fs.mkdirSync(e.SYSROOT, { recursive: true });
    const r = await batt(['system', '--system-disks', disk, '--path', sb.pattern], { home: sb.home, env: e });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const facts = fs.readFileSync(path.join(newest(), 'facts.txt'), 'utf8');
    for (const re of [/partitions: \/nonexistent\/sfdisk is not installed/, /lvm: \/nonexistent\/vgs is not installed/, /raid: no md array/, /systemd is not running/, /files: none of the configuration files exists/]) {
      assert.match(facts, re);
    }
  });

  test('a tool that is there and fails fails the backup, with its own last error line; nothing is sealed', async () => {
    const before = listFiles(sb.root).length;
    const e = { ...env, APT_MARK: standIn('apt-mark-broken', 'echo "E: Could not open lock file /var/lib/dpkg/lock-frontend" >&2; exit 100') };
    const r = await batt(['system', '--system-disks', disk, '--path', sb.pattern], { home: sb.home, env: e });
    assert.equal(r.code, 1, r.stderr + r.stdout);
    assert.match(r.stderr, /apt-mark-broken showmanual failed \(exit 100\): E: Could not open lock file \/var\/lib\/dpkg\/lock-frontend/);
    assert.equal(listFiles(sb.root).length, before, 'a failed system backup left files under the root');
  });

  test('a disk without a partition table is a fact, not a failure', async () => {
    const blank = path.join(sb.dir, 'blank.img');
    image(blank, 8 * 1024 * 1024);
    const r = await batt(['system', '--system-disks', blank, '--path', sb.pattern], { home: sb.home, env });
    assert.equal(r.code, 0, r.stderr + r.stdout);
    const b = newest();
    assert.ok(!fs.existsSync(path.join(b, 'partitions')), 'an empty partitions folder or a dump of a blank disk');
    assert.match(fs.readFileSync(path.join(b, 'facts.txt'), 'utf8'), /blank\.img has no partition table/);
  });

  test('bad input: an unknown option, a relative disk, a positional value', async () => {
    for (const [args, want] of [
      [['--system-disk', disk], /unknown option --system-disk \(known: disks\)/],
      [['--system-disks', 'sda'], /disks are named by absolute paths \(\/dev\/sda\), got 'sda'/],
      [['--system', '/dev/sda'], /no positional value is taken \(got '\/dev\/sda'\)/],
    ] as [string[], RegExp][]) {
      const r = await batt([...args, '--path', sb.pattern], { home: sb.home, env });
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, want);
    }
  });
});
