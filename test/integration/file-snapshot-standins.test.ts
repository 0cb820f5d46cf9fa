// SNAPSHOT=lvm and SNAPSHOT=zfs for the file service, against STAND-IN commands: device-mapper is
// not available on these machines (no real LVM snapshot can be made) and ZFS is not packaged in
// Debian. So `findmnt`, `lvs`, `lvcreate`, `lvremove`, `mount`, `umount` and `zfs` below are
// bash scripts put first on PATH. They pretend that a folder of the test is an LVM logical volume
// (vg0/data, ext4 on /dev/mapper/vg0-data; linear, or thin as on Proxmox) or a ZFS dataset
// (tank/vol); a "snapshot" is a `cp -a` copy of the folder, kept where the real tool would expose
// it (an LVM snapshot's copy appears in the folder it is "mounted" on; a ZFS one under
// <mountpoint>/.zfs/snapshot/NAME), and every call is logged so each test checks the exact
// commands backup-file ran. The LVM stand-ins follow LVM where it matters for a thin LV
// (lvcreate(8), lvmthin(7)): with a size, lvcreate makes a thick snapshot, which needs free
// extents that a VG given over to a thin pool does not have (it fails as LVM does); without one,
// a thin snapshot flagged to be skipped by activation, so it has no /dev/VG/NAME to mount unless
// created with --setactivationskip n (-kn) or -K. What this proves: the
// commands and their order (create from the right VG/LV or dataset, a read-only mount, removal
// on success, failure, SIGTERM, and the sweep after a SIGKILL removing only recorded batt-snap-*
// snapshots), that tar reads the snapshot (a change made to the live folder after it was taken
// is not archived) and that the archive names the live paths. What it cannot prove: that the real
// lvcreate/mount/zfs behave as these stand-ins do (docs/services/file.md says what they run).
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { batt, sandbox, type Sandbox, backupsOf, readText } from '../helpers/batt.js';

type ChildProcess = import('node:child_process').ChildProcess;

/** The bash lines every stand-in starts with: STATE, and `log` appending "name args..." to calls.log. */
const prelude = (state: string) => `#!/usr/bin/env bash
# A STAND-IN written by test/integration/file-snapshot-standins.test.ts, not the real tool.
set -u
S=${JSON.stringify(state)}
log() { { printf '%s' "\${0##*/}"; printf ' %s' "$@"; echo; } >>"$S/calls.log"; }
`;

const STANDINS: Record<string, string> = {
  // findmnt -n -r -o FSTYPE,FSROOT,SOURCE,TARGET -T PATH: the pretend mount (mounts.tsv:
  // TARGET FSTYPE SOURCE) with the longest TARGET holding PATH, escaped as findmnt -r does.
  findmnt: `[ "$*" = "-n -r -o FSTYPE,FSROOT,SOURCE,TARGET -T \${6:-}" ] || { echo "findmnt stand-in: unexpected $*" >&2; exit 64; }
best='' bf='' bs=''
while IFS=$'\\t' read -r target fstype source; do
  case "$6/" in "$target"/*) [ \${#target} -le \${#best} ] || { best=$target bf=$fstype bs=$source; } ;; esac
done <"$S/mounts.tsv"
[ -n "$best" ] || { echo "findmnt stand-in: no pretend mount holds $6" >&2; exit 1; }
esc() { local s=\${1//\\\\/\\\\x5c}; printf '%s' "\${s// /\\\\x20}"; }
printf '%s / %s %s\\n' "$bf" "$(esc "$bs")" "$(esc "$best")"`,

  // lvs --noheadings -o FIELD,... DEVICE|VG (lvs.tsv: DEVICE VG LV FOLDER [SEGTYPE, default linear];
  // the snapshots made are lv/VG/NAME with NAME.origin and NAME.type): a line per LV of the VG or
  // the LV of DEVICE, its fields vg_name, lv_name, segtype and origin (empty for no snapshot).
  lvs: `log "$@"
[ "$1 $2" = "--noheadings -o" ] && [ $# = 4 ] || { echo "lvs stand-in: unexpected $*" >&2; exit 64; }
IFS=, read -r -a fields <<<"$3"
for f in "\${fields[@]}"; do case "$f" in vg_name | lv_name | segtype | origin) ;; *) echo "lvs stand-in: unexpected field $f" >&2; exit 64 ;; esac; done
rows() { # DEVICE VG LV SEGTYPE ORIGIN
  while IFS=$'\\t' read -r dev vg lv dir seg; do printf '%s\\t%s\\t%s\\t%s\\t\\n' "$dev" "$vg" "$lv" "\${seg:-linear}"; done <"$S/lvs.tsv"
  for o in "$S"/lv/*/*.origin; do
    [ -f "$o" ] || continue
    n=\${o##*/} n=\${n%.origin} vg=\${o%/*} vg=\${vg##*/}
    seg=linear; [ "$(cat "$S/lv/$vg/$n.type")" != thin ] || seg=thin
    printf '/dev/%s/%s\\t%s\\t%s\\t%s\\t%s\\n' "$vg" "$n" "$vg" "$n" "$seg" "$(cat "$o")"
  done
}
found=''
while IFS=$'\\t' read -r dev vg lv seg origin; do
  [ "$4" = "$dev" ] || [ "$4" = "$vg" ] || continue
  found=1 line=' '
  for f in "\${fields[@]}"; do case "$f" in vg_name) line+=" $vg" ;; lv_name) line+=" $lv" ;; segtype) line+=" $seg" ;; origin) line+=" $origin" ;; esac; done
  echo "$line"
done < <(rows)
[ -n "$found" ] && exit 0
case "$4" in
  /dev/*) echo "  Cannot use $4: device is not a logical volume" >&2 ;;
  *) echo "  Volume group \\"$4\\" not found" >&2 ;;
esac
exit 5`,

  // lvcreate --snapshot --name NAME [--extents|--size N] [-k|--setactivationskip y|n] [-K]
  // [-a|--activate y|n] VG/LV: a copy of the LV's folder, NAME.origin and NAME.type (thick or thin)
  // beside it; NAME.inactive for one with no /dev/VG/NAME node. Each one made, or refused for
  // want of extents, is a line in created.log: thick|thin VG/NAME active|inactive|no-extents.
  lvcreate: `log "$@"
[ ! -e "$S/lvcreate.fail" ] || { echo "  Insufficient free space for snapshot" >&2; exit 5; }
snap='' name='' size='' skip=y ignore='' act=y origin=''
while [ $# -gt 0 ]; do
  case "$1" in
    -s | --snapshot) snap=1 ;;
    -n | --name) name=$2; shift ;;
    -L | --size | -l | --extents) size=$2; shift ;;
    -k | --setactivationskip) skip=$2; shift ;;
    -ky | -kn) skip=\${1#-k} ;;
    -K | --ignoreactivationskip) ignore=1 ;;
    -a | --activate) act=$2; shift ;;
    -ay | -an) act=\${1#-a} ;;
    -*) echo "lvcreate stand-in: unexpected option $1" >&2; exit 64 ;;
    *) [ -z "$origin" ] || { echo "lvcreate stand-in: a second LV $1" >&2; exit 64; }; origin=$1 ;;
  esac
  shift
done
[ -n "$snap" ] && [ -n "$name" ] && [[ "$origin" == */* ]] || { echo "lvcreate stand-in: unexpected call" >&2; exit 64; }
vg=\${origin%/*} lv=\${origin#*/}
row=$(awk -F'\\t' -v vg="$vg" -v lv="$lv" '$2 == vg && $3 == lv { print $4 "\\t" ($5 == "" ? "linear" : $5) }' "$S/lvs.tsv")
[ -n "$row" ] || { echo "  Failed to find logical volume \\"$origin\\"" >&2; exit 5; }
dir=\${row%$'\\t'*} seg=\${row##*$'\\t'}
[ ! -e "$S/lv/$vg/$name" ] || { echo "  Logical Volume \\"$name\\" already exists in volume group \\"$vg\\"" >&2; exit 5; }
if [ -n "$size" ]; then
  type=thick
  # The VG of a thin LV is all thin pool (as a Proxmox install leaves it): no extents for a thick
  # snapshot's copy-on-write area. The pretend origin has 256 extents of 4 MiB.
  if [ "$seg" = thin ]; then
    case "$size" in
      *%ORIGIN) need=$(( (\${size%\\%*} * 256 + 99) / 100 )) ;;
      *[gG]) need=$(( \${size%?} * 256 )) ;;
      *) need=1 ;;
    esac
    echo "thick $vg/$name no-extents" >>"$S/created.log"
    echo "  Volume group \\"$vg\\" has insufficient free space (0 extents): $need required." >&2; exit 5
  fi
else
  [ "$seg" = thin ] || { echo "lvcreate stand-in: a snapshot of the $seg LV $origin needs --size or --extents" >&2; exit 3; }
  type=thin
fi
# A thin snapshot is flagged to be skipped by activation unless -kn; -K activates it all the same.
state=active
[ "$act" = y ] || state=inactive
[ "$type" != thin ] || [ "$skip" = n ] || [ -n "$ignore" ] || state=inactive
mkdir -p "$S/lv/$vg/$name" && cp -a "$dir/." "$S/lv/$vg/$name/" && echo "$lv" >"$S/lv/$vg/$name.origin" && echo "$type" >"$S/lv/$vg/$name.type"
[ "$state" = active ] || : >"$S/lv/$vg/$name.inactive"
echo "$type $vg/$name $state" >>"$S/created.log"
echo "  Logical volume \\"$name\\" created."`,

  // mount -o OPTS -t TYPE /dev/VG/NAME FOLDER: the snapshot's copy appears in FOLDER.
  mount: `log "$@"
[ "$1" = -o ] && [ "$3" = -t ] && [ $# = 6 ] || { echo "mount stand-in: unexpected $*" >&2; exit 64; }
dev=$5 dir=$6 rest=\${5#/dev/}
[ -d "$S/lv/$rest" ] && [ ! -e "$S/lv/$rest.inactive" ] || { echo "mount: $dir: special device $dev does not exist." >&2; exit 32; }
[ -d "$dir" ] && [ -z "$(ls -A "$dir")" ] || { echo "mount stand-in: $dir is not an empty folder" >&2; exit 32; }
cp -a "$S/lv/$rest/." "$dir/" && printf '%s\\t%s\\n' "$dir" "$dev" >>"$S/mounted.tsv"`,

  // umount FOLDER: a pretend mount's copy goes, the folder is empty again.
  umount: `log "$@"
[ $# = 1 ] || { echo "umount stand-in: unexpected $*" >&2; exit 64; }
awk -F'\\t' -v d="$1" '$1 == d { f = 1 } END { exit !f }' "$S/mounted.tsv" || { echo "umount: $1: not mounted." >&2; exit 32; }
find "$1" -mindepth 1 -delete
awk -F'\\t' -v d="$1" '$1 != d' "$S/mounted.tsv" >"$S/mounted.tmp" && mv "$S/mounted.tmp" "$S/mounted.tsv"`,

  // lvremove -f VG/NAME: refused while it is mounted, as LVM does.
  lvremove: `log "$@"
[ "$1" = -f ] && [ $# = 2 ] || { echo "lvremove stand-in: unexpected $*" >&2; exit 64; }
[ -d "$S/lv/$2" ] || { echo "  Failed to find logical volume \\"$2\\"" >&2; exit 5; }
! awk -F'\\t' -v d="/dev/$2" '$2 == d { f = 1 } END { exit !f }' "$S/mounted.tsv" || { echo "  Logical volume $2 contains a filesystem in use." >&2; exit 5; }
rm -rf "$S/lv/$2" "$S/lv/$2.origin" "$S/lv/$2.type" "$S/lv/$2.inactive"
echo "  Logical volume \\"$2\\" successfully removed."`,

  // zfs snapshot DS@S | list -H -t snapshot -o name -d 1 DS | destroy DS@S (zfs.tsv: DATASET MOUNTPOINT)
  zfs: `log "$@"
mp_of() { awk -F'\\t' -v d="$1" '$1 == d { print $2 }' "$S/zfs.tsv"; }
case "$1" in
  snapshot)
    [ $# = 2 ] && [[ "$2" == *@* ]] || { echo "zfs stand-in: unexpected $*" >&2; exit 64; }
    ds=\${2%@*} mp=$(mp_of "\${2%@*}")
    [ -n "$mp" ] || { echo "cannot open '$ds': dataset does not exist" >&2; exit 1; }
    d=$mp/.zfs/snapshot/\${2#*@}
    [ ! -e "$d" ] || { echo "cannot create snapshot '$2': dataset already exists" >&2; exit 1; }
    mkdir -p "$d" && (cd "$mp" && find . -mindepth 1 -maxdepth 1 ! -name .zfs -exec cp -a {} "$d/" \\;) ;;
  list)
    [ "$*" = "list -H -t snapshot -o name -d 1 \${9:-}" ] || { echo "zfs stand-in: unexpected $*" >&2; exit 64; }
    mp=$(mp_of "$9")
    [ -n "$mp" ] || { echo "cannot open '$9': dataset does not exist" >&2; exit 1; }
    for d in "$mp"/.zfs/snapshot/*; do [ ! -d "$d" ] || echo "$9@\${d##*/}"; done ;;
  destroy)
    [ $# = 2 ] && [[ "$2" == *@* ]] || { echo "zfs stand-in: refusing $*" >&2; exit 64; }
    d=$(mp_of "\${2%@*}")/.zfs/snapshot/\${2#*@}
    [ -d "$d" ] || { echo "could not find any snapshots to destroy; check snapshot names." >&2; exit 1; }
    rm -rf "$d" ;;
  *) echo "zfs stand-in: unexpected $*" >&2; exit 64 ;;
esac`,
};

/** What differs between the kinds: a thick LV, a thin one, a ZFS dataset. */
interface Kind {
  kind: 'lvm' | 'zfs';
  /** an LVM thin volume: a thin snapshot without SNAPSHOT_SIZE */
  thin?: boolean;
  /** what the describe() says */
  label: string;
  /** the folder that stands in for the mounted LV or dataset */
  volName: string;
  /** the name of the LV or dataset as batt's log says it */
  of: string;
  /** the stand-in's tables, for a volume mounted at VOL */
  tables(vol: string, st: string, fstype?: string): void;
  /** batt-snap-* snapshots the stand-in holds */
  snapshots(vol: string, st: string): string[];
  /** the calls that take the snapshot with this id / remove it */
  take(id: string, records: string): string[];
  /** the lines of the LVM stand-in's created.log for the snapshot with this id ([] for zfs) */
  created(id: string): string[];
  drop(id: string, records: string): string[];
  /** a snapshot of batt's kind of name that batt did not make (no record), made with the stand-in */
  notOurs(bin: string): void;
  /** a record naming the origin itself, or no batt-snap-* name: the sweep must leave it alone */
  forged(records: string): string;
  notOn: RegExp;
}

/** A logical volume vg0/data mounted from /dev/mapper/vg0-data: linear or thin. */
const lvmKind = (thin: boolean): Kind => ({
  kind: 'lvm',
  thin,
  label: thin ? 'lvm, a thin LV (no device-mapper here)' : 'lvm (no device-mapper here)',
  volName: thin ? 'thin vol' : 'data vol',
  of: 'vg0/data',
  tables(vol, st, fstype = 'ext4') {
    fs.writeFileSync(path.join(st, 'mounts.tsv'), `${vol}\t${fstype}\t/dev/mapper/vg0-data\n`);
    fs.writeFileSync(path.join(st, 'lvs.tsv'), `/dev/mapper/vg0-data\tvg0\tdata\t${vol}${thin ? '\tthin' : ''}\n`);
  },
  snapshots: (_vol, st) => (fs.existsSync(path.join(st, 'lv', 'vg0')) ? fs.readdirSync(path.join(st, 'lv', 'vg0')).filter((n) => !n.includes('.')).sort() : []),
  take: (id, records) => [
    'lvs --noheadings -o vg_name,lv_name,segtype /dev/mapper/vg0-data',
    // a thin snapshot: no size (it would be a thick one), and active (LVM's default skips it)
    `lvcreate --snapshot --name batt-snap-${id} ${thin ? '--setactivationskip n --activate y' : '--extents 10%ORIGIN'} vg0/data`,
    `mount -o ro -t ext4 /dev/vg0/batt-snap-${id} ${records}/batt-snap-${id}`,
  ],
  created: (id) => [`${thin ? 'thin' : 'thick'} vg0/batt-snap-${id} active`],
  drop: (id, records) => [`umount ${records}/batt-snap-${id}`, 'lvs --noheadings -o lv_name,origin vg0', `lvremove -f vg0/batt-snap-${id}`],
  // a thin one as LVM makes it by default: flagged to be skipped by activation
  notOurs: (bin) => execFileSync(path.join(bin, 'lvcreate'), ['--snapshot', '--name', 'batt-snap-not-ours', ...(thin ? [] : ['--extents', '10%ORIGIN']), 'vg0/data']),
  forged: (records) => `lvm vg0/data ${records}/batt-snap-forged\n`,
  notOn: /SNAPSHOT=lvm: .* is not on an LVM logical volume \(ext4 \/dev\/sda1 at /,
});

const KINDS: Kind[] = [
  lvmKind(false),
  lvmKind(true),
  {
    kind: 'zfs',
    label: 'zfs (ZFS is not packaged)',
    volName: 'zfs vol',
    of: 'tank/vol',
    tables(vol, st) {
      fs.writeFileSync(path.join(st, 'mounts.tsv'), `${vol}\tzfs\ttank/vol\n`);
      fs.writeFileSync(path.join(st, 'zfs.tsv'), `tank/vol\t${vol}\n`);
    },
    snapshots: (vol) => (fs.existsSync(path.join(vol, '.zfs', 'snapshot')) ? fs.readdirSync(path.join(vol, '.zfs', 'snapshot')).sort() : []),
    take: (id) => [`zfs snapshot tank/vol@batt-snap-${id}`],
    created: () => [],
    drop: (id) => ['zfs list -H -t snapshot -o name -d 1 tank/vol', `zfs destroy tank/vol@batt-snap-${id}`],
    notOurs: (bin) => execFileSync(path.join(bin, 'zfs'), ['snapshot', 'tank/vol@batt-snap-not-ours']),
    forged: () => 'zfs tank/vol\n',
    notOn: /SNAPSHOT=zfs: .* is not on a ZFS dataset \(ext4 \/dev\/sda1 at /,
  },
];

for (const k of KINDS) {
  describe(`file SNAPSHOT=${k.label} with stand-in commands`, { concurrency: false }, () => {
    let sb: Sandbox;
    let st = ''; // the stand-ins' state
    let bin = '';
    let vol = '';
    let www = '';
    let records = '';
    let other = ''; // a folder on a pretend ext4 that is no LV or dataset

    before(() => {
      sb = sandbox({ builtins: true });
      st = path.join(sb.dir, 'standin');
      bin = path.join(sb.dir, 'bin');
      fs.mkdirSync(st);
      fs.mkdirSync(bin);
      for (const [name, body] of Object.entries(STANDINS)) fs.writeFileSync(path.join(bin, name), prelude(st) + body + '\n', { mode: 0o755 });
      vol = path.join(sb.dir, k.volName);
      www = path.join(vol, 'www');
      fs.mkdirSync(path.join(www, 'sub'), { recursive: true });
      fs.writeFileSync(path.join(www, 'index.html'), 'hello\n');
      fs.writeFileSync(path.join(www, 'sub', 'data.bin'), Buffer.alloc(100_000, 7));
      fs.linkSync(path.join(www, 'index.html'), path.join(www, 'hard.html'));
      fs.symlinkSync('/etc/hostname', path.join(www, 'abs-link'));
      fs.symlinkSync('sub/data.bin', path.join(www, 'rel-link'));
      other = path.join(sb.dir, 'other');
      fs.mkdirSync(other);
      records = path.join(sb.home, 'state', 'file-snapshots');
    });
    after(() => sb?.cleanup());
    beforeEach(() => {
      k.tables(vol, st);
      fs.appendFileSync(path.join(st, 'mounts.tsv'), `${other}\text4\t/dev/sda1\n`);
      fs.writeFileSync(path.join(st, 'mounted.tsv'), '');
      fs.writeFileSync(path.join(st, 'calls.log'), '');
      fs.writeFileSync(path.join(st, 'created.log'), '');
      fs.writeFileSync(path.join(sb.home, 'conf', 'file.conf'), `SNAPSHOT=${k.kind}\n`);
    });

    const env = (more: Record<string, string> = {}) => ({ PATH: `${bin}:${process.env.PATH}`, ...more });
    const run = (args: string[], more: Record<string, string> = {}, onSpawn?: (c: ChildProcess) => void) =>
      batt([...args, '--path', sb.pattern], { home: sb.home, env: env(more), onSpawn });
    const calls = () => readText(path.join(st, 'calls.log')).split('\n').filter(Boolean);
    /** the snapshots the LVM stand-in made: thick|thin VG/NAME active|inactive|no-extents */
    const created = () => readText(path.join(st, 'created.log')).split('\n').filter(Boolean);
    /** the run ids in the snapshot names of the calls, in order */
    const ids = () => [...new Set(calls().flatMap((c) => [...c.matchAll(/batt-snap-([A-Za-z0-9_-]+)/g)].map((m) => m[1]).filter((x) => x !== 'not-ours')))];
    const leftovers = () => k.snapshots(vol, st);
    const recordFiles = () => (fs.existsSync(records) ? fs.readdirSync(records).sort() : []);
    const members = (archive: string) =>
      execFileSync('tar', ['--zstd', '-tvf', archive], { encoding: 'utf8' }).split('\n').filter(Boolean).map((l) => l.split(/\s+/).slice(5).join(' ')).sort();
    const newest = () => {
      // the day's highest run: file, file.2, file.3 ... (a plain sort puts file/ after file.3/)
      const n = (x: string) => Number(/\/file(?:\.(\d+))?\//.exec(x)?.[1] ?? 1);
      const f = backupsOf(sb).filter((x) => x.endsWith('.tar.zst')).sort((a, b) => n(a) - n(b)).pop();
      assert.ok(f);
      return path.join(sb.root, f);
    };
    /** A TAR stand-in that runs BODY (bash) first, then the real tar. */
    const tarWith = (name: string, body: string) => {
      const f = path.join(sb.dir, name);
      fs.writeFileSync(f, `#!/usr/bin/env bash\n${body}\nexec tar "$@"\n`, { mode: 0o755 });
      return f;
    };
    const logText = () => readText(path.join(sb.home, 'log', 'batt.log'));

    test('archives from a read-only snapshot, names the live paths, and removes the snapshot', async () => {
      // Run after the snapshot was taken (tar starts after it): a new file and a changed one in
      // the live folder; the archive must hold neither.
      const late = tarWith('tar-late', `echo late > ${JSON.stringify(path.join(www, 'late.txt'))}; echo changed > ${JSON.stringify(path.join(www, 'index.html'))}`);
      const r = await run(['--file', www], { TAR: late });
      assert.equal(r.code, 0, r.stderr + r.stdout);
      const [id] = ids();
      assert.ok(id, calls().join('\n'));
      assert.deepEqual(calls(), [...k.take(id, records), ...k.drop(id, records)]);
      assert.deepEqual(created(), k.created(id));
      assert.match(logText(), new RegExp(`from a read-only snapshot of ${k.of} \\(${k.kind}\\)`));
      if (k.thin) assert.match(logText(), /vg0\/data is a thin volume: its snapshot is a thin one, in its pool$/m);
      const archive = newest();
      const rel = www.slice(1);
      // Which of the two hard-linked names tar meets first follows the copy's folder order.
      const names = members(archive);
      const link = names.filter((n) => n.includes(' link to '));
      assert.equal(link.length, 1, names.join('\n'));
      assert.match(link[0], new RegExp(`^${rel}/(hard|index)\\.html link to ${rel}/(index|hard)\\.html$`));
      assert.deepEqual(names.map((n) => n.replace(/ link to .*/, '')), [
        `${rel}/`,
        `${rel}/abs-link -> /etc/hostname`,
        `${rel}/hard.html`,
        `${rel}/index.html`,
        `${rel}/rel-link -> sub/data.bin`,
        `${rel}/sub/`,
        `${rel}/sub/data.bin`,
      ].sort());
      const holder = link[0].split(' link to ')[1]; // the name that holds index.html's data
      assert.equal(execFileSync('tar', ['--zstd', '-xOf', archive, holder], { encoding: 'utf8' }), 'hello\n', 'the snapshot, not the live file');
      assert.equal(fs.readFileSync(path.join(www, 'index.html'), 'utf8'), 'changed\n', 'the stand-in changed the live folder');
      assert.deepEqual(leftovers(), [], 'snapshot removed');
      assert.deepEqual(recordFiles(), [], 'record (and mount folder) removed');
      fs.rmSync(path.join(www, 'late.txt'));
      fs.writeFileSync(path.join(www, 'index.html'), 'hello\n');
    });

    test('EXCLUDE patterns exclude the same members as without a snapshot, those naming the path from / too', async () => {
      const rel = www.slice(1);
      const excl = ['--file-exclude', `${rel}/sub/data.bin`, '--file-exclude', `/${rel}/rel-link`, '--file-exclude', 'hard.html'];
      const r = await run(['--file', www, ...excl]);
      assert.equal(r.code, 0, r.stderr + r.stdout);
      const names = members(newest()).map((n) => n.replace(/ link to .*/, ''));
      // a pattern with a leading / matches nothing, with a snapshot or without (tar's names have none)
      assert.deepEqual(names, [`${rel}/`, `${rel}/abs-link -> /etc/hostname`, `${rel}/index.html`, `${rel}/rel-link -> sub/data.bin`, `${rel}/sub/`].sort());
      fs.writeFileSync(path.join(sb.home, 'conf', 'file.conf'), 'SNAPSHOT=none\n');
      const plain = await run(['--file', www, ...excl]);
      assert.equal(plain.code, 0, plain.stderr + plain.stdout);
      assert.deepEqual(members(newest()).map((n) => n.replace(/ link to .*/, '')), names, 'the same as without a snapshot');
    });

    test('a failing tar fails the backup and the snapshot is still removed', async () => {
      const before = backupsOf(sb).length;
      const r = await run(['--file', www], { TAR: tarWith('tar-fail', 'echo "tar: simulated failure" >&2; exit 2') });
      assert.notEqual(r.code, 0);
      assert.match(r.stderr + r.stdout, /tar failed with exit code 2/);
      assert.equal(backupsOf(sb).length, before);
      const [id] = ids();
      assert.deepEqual(calls(), [...k.take(id, records), ...k.drop(id, records)]);
      assert.deepEqual(leftovers(), []);
      assert.deepEqual(recordFiles(), []);
    });

    if (k.kind === 'lvm') {
      test('a failing lvcreate: nothing is mounted, no lvremove, the record goes', async () => {
        fs.writeFileSync(path.join(st, 'lvcreate.fail'), '');
        const r = await run(['--file', www]);
        fs.rmSync(path.join(st, 'lvcreate.fail'));
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, /cannot snapshot the logical volume vg0\/data: Insufficient free space for snapshot$/m);
        const [id] = ids();
        assert.deepEqual(calls(), [...k.take(id, records).slice(0, 2), 'lvs --noheadings -o lv_name,origin vg0']);
        assert.deepEqual(recordFiles(), []);
      });
    }
    if (k.kind === 'lvm' && !k.thin) {
      test('XFS gets nouuid; SNAPSHOT_SIZE=2G becomes --size, 5%VG --extents; a bad one is refused before anything runs', async () => {
        k.tables(vol, st, 'xfs');
        fs.writeFileSync(path.join(sb.home, 'conf', 'file.conf'), 'SNAPSHOT=lvm\nSNAPSHOT_SIZE=2G\n');
        const r = await run(['--file', www]);
        assert.equal(r.code, 0, r.stderr + r.stdout);
        const [id] = ids();
        assert.deepEqual(calls().slice(1, 3), [
          `lvcreate --snapshot --name batt-snap-${id} --size 2G vg0/data`,
          `mount -o ro,nouuid -t xfs /dev/vg0/batt-snap-${id} ${records}/batt-snap-${id}`,
        ]);
        fs.writeFileSync(path.join(st, 'calls.log'), '');
        const r2 = await run(['--file', www, '--file-snapshot-size', '5%VG']);
        assert.equal(r2.code, 0, r2.stderr + r2.stdout);
        assert.match(calls()[1], /^lvcreate --snapshot --name batt-snap-\S+ --extents 5%VG vg0\/data$/);
        fs.writeFileSync(path.join(st, 'calls.log'), '');
        const r3 = await run(['--file', www, '--file-snapshot-size', 'lots']);
        assert.notEqual(r3.code, 0);
        assert.match(r3.stderr, /SNAPSHOT_SIZE takes N%ORIGIN, N%VG, N%FREE or a size such as 2G, got 'lots'/);
        assert.deepEqual(calls(), []);
        assert.deepEqual(leftovers(), []);
      });
    }
    if (k.thin) {
      test('SNAPSHOT_SIZE is not used for a thin LV, and the log says so; XFS gets nouuid; a bad size is still refused', async () => {
        k.tables(vol, st, 'xfs');
        fs.writeFileSync(path.join(sb.home, 'conf', 'file.conf'), 'SNAPSHOT=lvm\nSNAPSHOT_SIZE=2G\n');
        const r = await run(['--file', www]);
        assert.equal(r.code, 0, r.stderr + r.stdout + logText().slice(-2000));
        const [id] = ids();
        assert.deepEqual(calls().slice(1, 3), [
          `lvcreate --snapshot --name batt-snap-${id} --setactivationskip n --activate y vg0/data`,
          `mount -o ro,nouuid -t xfs /dev/vg0/batt-snap-${id} ${records}/batt-snap-${id}`,
        ]);
        assert.deepEqual(created(), [`thin vg0/batt-snap-${id} active`]);
        assert.match(logText(), /vg0\/data is a thin volume: its snapshot is a thin one, in its pool \(SNAPSHOT_SIZE=2G is for thick volumes and is not used\)$/m);
        assert.deepEqual(leftovers(), []);
        fs.writeFileSync(path.join(st, 'calls.log'), '');
        const r3 = await run(['--file', www, '--file-snapshot-size', 'lots']);
        assert.notEqual(r3.code, 0);
        assert.match(r3.stderr, /SNAPSHOT_SIZE takes N%ORIGIN, N%VG, N%FREE or a size such as 2G, got 'lots'/);
        assert.deepEqual(calls(), []);
      });

      test('a thin snapshot as LVM makes it by default (skipped by activation) has no device to mount: the backup fails and it is removed', async () => {
        // an LVCREATE that leaves out what makes the snapshot active
        const plain = path.join(sb.dir, 'lvcreate-default');
        fs.writeFileSync(
          plain,
          `#!/usr/bin/env bash\na=()\nwhile [ $# -gt 0 ]; do case "$1" in --setactivationskip | --activate) shift ;; *) a+=("$1") ;; esac; shift; done\nexec ${JSON.stringify(path.join(bin, 'lvcreate'))} "\${a[@]}"\n`,
          { mode: 0o755 },
        );
        const r = await run(['--file', www], { LVCREATE: plain });
        assert.notEqual(r.code, 0);
        const [id] = ids();
        assert.match(r.stderr, new RegExp(`cannot mount the snapshot /dev/vg0/batt-snap-${id} read-only: mount: \\S+: special device /dev/vg0/batt-snap-${id} does not exist\\.$`, 'm'));
        assert.deepEqual(created(), [`thin vg0/batt-snap-${id} inactive`]);
        assert.deepEqual(calls().slice(-2), ['lvs --noheadings -o lv_name,origin vg0', `lvremove -f vg0/batt-snap-${id}`]);
        assert.deepEqual(leftovers(), []);
        assert.deepEqual(recordFiles(), []);
      });
    }
    if (k.kind === 'zfs') {
      test('SNAPSHOT_SIZE is refused with zfs (only an LVM snapshot has a size)', async () => {
        const r = await run(['--file', www, '--file-snapshot-size', '2G']);
        assert.notEqual(r.code, 0);
        assert.match(r.stderr, /SNAPSHOT_SIZE \(--file-snapshot-size\) applies to SNAPSHOT=lvm only \(SNAPSHOT is zfs\)/);
        assert.deepEqual(calls(), []);
      });
    }

    /** Starts a backup whose tar waits; resolves once the snapshot exists. */
    const startSlow = async (pidFile: string, onChild: (c: ChildProcess) => void) => {
      const slow = tarWith('tar-slow', `echo "$$ $(ps -o pgid= $$)" > ${JSON.stringify(`${pidFile}.part`)}; mv ${JSON.stringify(`${pidFile}.part`)} ${JSON.stringify(pidFile)}; sleep 60`);
      const running = run(['--file', www], { TAR: slow }, onChild);
      const until = Date.now() + 30_000;
      while (!(leftovers().length && fs.existsSync(pidFile)) && Date.now() < until) await sleep(50);
      assert.equal(leftovers().length, 1, 'the snapshot was taken');
      return { running }; // wrapped: an async function returning the promise would wait for it
    };

    test('SIGTERM mid-archive: batt exits 143 and the snapshot is removed', async () => {
      let child: ChildProcess | undefined;
      const { running } = await startSlow(path.join(sb.dir, 'term.pid'), (c) => (child = c));
      child!.kill('SIGTERM');
      const r = await running;
      assert.equal(r.code, 143, r.stderr + r.stdout + logText().slice(-3000));
      const [id] = ids();
      assert.deepEqual(calls(), [...k.take(id, records), ...k.drop(id, records)]);
      assert.deepEqual(leftovers(), [], 'snapshot removed on SIGTERM');
      assert.deepEqual(recordFiles(), []);
    });

    test('a run on another backup root meanwhile leaves the live run\'s snapshot alone (its record names a live owner)', async () => {
      let child: ChildProcess | undefined;
      const { running } = await startSlow(path.join(sb.dir, 'live.pid'), (c) => (child = c));
      const [live] = ids();
      fs.writeFileSync(path.join(st, 'calls.log'), '');
      // the other root has its own lock, so both run at once
      const other = await batt(['--file', www, '--path', `${path.join(sb.dir, 'other-root')}/%Y/%m/%d`], { home: sb.home, env: env() });
      assert.equal(other.code, 0, other.stderr + other.stdout);
      const [mine] = ids();
      assert.ok(mine && mine !== live, calls().join('\n'));
      assert.deepEqual(calls(), [...k.take(mine, records), ...k.drop(mine, records)], 'only its own snapshot was touched');
      assert.deepEqual(leftovers(), [`batt-snap-${live}`], 'the live run\'s snapshot is still there');
      child!.kill('SIGTERM');
      const r = await running;
      assert.equal(r.code, 143, r.stderr);
      assert.deepEqual(leftovers(), [], 'removed by its own run');
      assert.deepEqual(recordFiles(), []);
    });

    test('SIGKILL of batt and its script: the snapshot stays; the next run removes it, and only it', async () => {
      let child: ChildProcess | undefined;
      const pidFile = path.join(sb.dir, 'kill.pid');
      const { running } = await startSlow(pidFile, (c) => (child = c));
      const pgid = Number(fs.readFileSync(pidFile, 'utf8').trim().split(/\s+/)[1]);
      process.kill(-pgid, 'SIGKILL');
      child!.kill('SIGKILL');
      await running;
      const [old] = ids();
      assert.deepEqual(calls(), k.take(old, records));
      assert.deepEqual(leftovers(), [`batt-snap-${old}`], 'a SIGKILL leaves the snapshot');
      assert.deepEqual(created(), k.created(old));
      assert.deepEqual(recordFiles(), (k.kind === 'lvm' ? [old, `batt-snap-${old}`] : [old]).sort(), 'and its record (and mount folder)');
      // A snapshot of batt's kind of name that batt did not make (no record), and a record that
      // names the origin itself: neither is ever removed.
      k.notOurs(bin);
      fs.writeFileSync(path.join(records, 'forged'), k.forged(records));
      fs.writeFileSync(path.join(st, 'calls.log'), '');

      const r = await run(['--file', www]);
      assert.equal(r.code, 0, r.stderr + r.stdout);
      assert.match(logText(), new RegExp(`removed the snapshot \\S*batt-snap-${old} left by an interrupted run`));
      const id = ids()[1];
      assert.ok(id && id !== old, calls().join('\n'));
      assert.deepEqual(calls(), [...k.drop(old, records), ...k.take(id, records), ...k.drop(id, records)]);
      assert.deepEqual(leftovers(), ['batt-snap-not-ours']);
      assert.deepEqual(recordFiles(), []);
      assert.deepEqual(members(newest()).filter((m) => m.includes('batt-snap')), []);
    });

    // Nothing here depends on what the LV is: once, for a thick one.
    if (!k.thin) test('SNAPSHOT with FULL_EVERY (incrementals) is refused before any snapshot', async () => {
      const r = await run(['--file', www, '--file-full-every', '7']);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, new RegExp(`SNAPSHOT=${k.kind} and FULL_EVERY .* cannot be used together yet`));
      assert.deepEqual(calls(), []);
    });

    if (!k.thin) test(`a path that is not on ${k.kind === 'lvm' ? 'a logical volume' : 'a dataset'} is refused with one clear line`, async () => {
      const r = await run(['--file', other]);
      assert.notEqual(r.code, 0);
      assert.match(r.stderr, k.notOn);
      assert.doesNotMatch(calls().join('\n'), /lvcreate|zfs snapshot/);
    });

    test('check mode (batt doctor): the tools and what holds each path', async () => {
      // PATHS is space separated: a pretend volume whose path has no space.
      const plain = path.join(sb.dir, 'plainvol');
      fs.mkdirSync(path.join(plain, 'www'), { recursive: true });
      k.tables(plain, st);
      fs.appendFileSync(path.join(st, 'mounts.tsv'), `${other}\text4\t/dev/sda1\n`);
      fs.writeFileSync(path.join(sb.home, 'conf', 'file.conf'), `SNAPSHOT=${k.kind}\nPATHS=${path.join(plain, 'www')}\n`, { mode: 0o600 });
      fs.writeFileSync(path.join(sb.home, 'conf', 'batt.conf'), `DEST=${sb.pattern}\n`, { mode: 0o600 });
      const e = await batt(['enable', 'file'], { home: sb.home, env: env() });
      assert.equal(e.code, 0, e.stderr + e.stdout);
      const ok = await batt(['doctor'], { home: sb.home, env: env() });
      assert.match(ok.stdout, /^ok +file +check mode: ok$/m, ok.stdout + ok.stderr);
      // By hand (BATT_CHECK=1, docs/script-contract.md) its last line says what a run would make:
      // for two paths on one thin LV, its thin snapshot once.
      const dest = fs.mkdtempSync(path.join(sb.dir, 'check-dest-'));
      const byHand = execFileSync(path.join(sb.home, 'scripts-available', 'backup-file'), [], {
        encoding: 'utf8',
        env: { PATH: env().PATH, HOME: sb.dir, BATT_CHECK: '1', BATT_DEST: dest, BATT_CONF_SNAPSHOT: k.kind, BATT_CONF_PATHS: `${path.join(plain, 'www')} ${plain}` },
      });
      assert.equal(byHand.trim().split('\n').pop(), `check: 2 path(s) to back up, zstd, from ${k.kind} snapshots${k.thin ? ' (thin snapshots of vg0/data)' : ''}`);
      assert.deepEqual(fs.readdirSync(dest), []);
      const conf = fs.readFileSync(path.join(sb.home, 'conf', 'file.conf'), 'utf8');
      const cc = await batt(['config', 'check'], { home: sb.home, env: env() });
      assert.equal(cc.code, 0, `SNAPSHOT=${k.kind} is a known value\n${cc.stdout}${cc.stderr}`);
      fs.writeFileSync(path.join(sb.home, 'conf', 'file.conf'), `${conf}SNAPSHOT_SIZE=lots\n`, { mode: 0o600 });
      const bad = await batt(['config', 'check'], { home: sb.home, env: env() });
      assert.equal(bad.code, 3, bad.stdout + bad.stderr);
      assert.ok(bad.stderr.includes('file.conf:3: SNAPSHOT_SIZE must be N%ORIGIN, N%VG, N%FREE or a size such as 2G, got "lots"'), bad.stderr);
      fs.writeFileSync(path.join(sb.home, 'conf', 'file.conf'), conf, { mode: 0o600 });
      const tool = k.kind === 'lvm' ? 'LVCREATE' : 'ZFS';
      const missing = await batt(['doctor'], { home: sb.home, env: env({ [tool]: '/nonexistent/tool' }) });
      assert.match(missing.stdout, new RegExp(`^FAIL +file +backup-file: /nonexistent/tool not found: SNAPSHOT=${k.kind} needs it \\(or set ${tool}\\)$`, 'm'));
      fs.writeFileSync(path.join(sb.home, 'conf', 'file.conf'), `SNAPSHOT=${k.kind}\nPATHS=${other}\n`, { mode: 0o600 });
      const notOn = await batt(['doctor'], { home: sb.home, env: env() });
      assert.match(notOn.stdout, new RegExp(`^FAIL +file +backup-file: ${k.notOn.source}`, 'm'));
      assert.doesNotMatch(calls().join('\n'), /lvcreate|zfs snapshot|mount/, 'a check makes no snapshot');
      assert.deepEqual(recordFiles(), []);
      fs.rmSync(path.join(sb.home, 'scripts-enabled', 'backup-file'), { force: true });
      fs.rmSync(path.join(sb.home, 'conf', 'batt.conf'));
    });
  });
}
