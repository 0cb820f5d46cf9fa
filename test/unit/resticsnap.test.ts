// The pure parts of a restic target: snapshot tags <-> copies, restic's --time, the repository for
// humans, the ssh command of an sftp: repository, --read-data-subset values.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Manifest } from '../../src/catalog/manifest.js';
import {
  copyOfSnapshot,
  publicRepository,
  resticTime,
  sftpCommand,
  sftpPlace,
  snapshotFiles,
  snapshotTags,
  validDataSubset,
} from '../../src/targets/resticsnap.js';

const manifest = (over: Partial<Manifest> = {}): Manifest =>
  ({
    format: 1,
    service: 'mysql',
    host: 'web1',
    runId: '20261128T023000-4242',
    startedAt: '2026-11-28T02:30:00.000Z',
    finishedAt: '2026-11-28T02:31:00.000Z',
    status: 'ok',
    exitCode: 0,
    battVersion: '0.1.0',
    script: 'backup-mysql',
    options: {},
    files: [
      { path: 'shop.sql.zst', size: 10, sha256: 'a'.repeat(64) },
      { path: 'sub/wp.sql.zst', size: 5, sha256: 'b'.repeat(64) },
    ],
    totalBytes: 15,
    ...over,
  }) as Manifest;

test('tags made for a backup read back as the same copy; the host is the snapshot hostname', () => {
  const tags = snapshotTags('2026/11/28/mysql', manifest(), '2026-11-28T02:32:00.000Z');
  assert.deepEqual(tags, [
    'batt',
    'id=2026/11/28/mysql',
    'service=mysql',
    'run=20261128T023000-4242',
    'started=2026-11-28T02:30:00.000Z',
    'uploaded=2026-11-28T02:32:00.000Z',
    'files=2',
    'bytes=15',
  ]);
  const c = copyOfSnapshot({ id: 'f'.repeat(64), time: '2026-11-28T02:30:00Z', hostname: 'web1', tags });
  assert.deepEqual(c, {
    format: 1,
    id: '2026/11/28/mysql',
    service: 'mysql',
    host: 'web1',
    runId: '20261128T023000-4242',
    startedAt: '2026-11-28T02:30:00.000Z',
    uploadedAt: '2026-11-28T02:32:00.000Z',
    encryption: 'restic',
    files: [],
    fileCount: 2,
    totalBytes: 15,
    snapshot: 'f'.repeat(64),
  });
});

test("an incremental's tags name the copy it builds on (base=, its id on the target), and read back as the copy's base", () => {
  const cases: [string, string | undefined, string | undefined][] = [
    // [copy id, manifest base, the base copy's id]
    ['web1/2026/12/04/file', '../../03/file', 'web1/2026/12/03/file'],
    ['web1/2026/day4/file', '../../day3/file', 'web1/2026/day3/file'],
    ['web1/2026/12/04/file.2', '../file', 'web1/2026/12/04/file'],
    ['web1/2026/12/04/file', undefined, undefined],
  ];
  for (const [id, base, want] of cases) {
    const tags = snapshotTags(id, manifest({ service: 'file', base }), '2026-12-04T02:32:00.000Z');
    assert.equal(tags.find((t) => t.startsWith('base=')), want === undefined ? undefined : `base=${want}`, id);
    const c = copyOfSnapshot({ id: 'f'.repeat(64), time: '2026-12-04T02:30:00Z', hostname: 'web1', tags });
    assert.equal(c?.base, want, id);
    assert.equal('base' in c!, want !== undefined, `${id}: no base key on a full`);
  }
});

test('a snapshot batt did not make (or whose tags are incomplete) is no copy', () => {
  const base = { id: 'x', time: '2026-11-28T02:30:00Z', hostname: 'h' };
  const cases: [string, string[] | null][] = [
    ['no tags', null],
    ['not batt', ['id=a', 'service=s', 'started=2026-11-28T02:30:00Z']],
    ['no id', ['batt', 'service=s', 'started=2026-11-28T02:30:00Z']],
    ['no service', ['batt', 'id=a', 'started=2026-11-28T02:30:00Z']],
    ['no start', ['batt', 'id=a', 'service=s']],
    ['a start that is no time', ['batt', 'id=a', 'service=s', 'started=yesterday']],
  ];
  for (const [why, tags] of cases) assert.equal(copyOfSnapshot({ ...base, tags }), undefined, why);
});

test('a value restic would split (a comma) or a file name it cannot take is refused, not mangled', () => {
  assert.throws(() => snapshotTags('2026/11/28/a,b', manifest(), 'x'), /cannot be a restic tag/);
  assert.deepEqual(snapshotFiles(manifest()), ['shop.sql.zst', 'sub/wp.sql.zst', 'batt-manifest.json']);
  for (const bad of ['a\nb', '/etc/passwd', '../x']) {
    assert.throws(() => snapshotFiles(manifest({ files: [{ path: bad, size: 1, sha256: '' }] })), /cannot be named to restic/, bad);
  }
});

test('resticTime: the local wall-clock time restic --time reads', () => {
  const d = new Date('2026-11-28T02:30:05.123Z');
  const p = (n: number) => String(n).padStart(2, '0');
  assert.equal(resticTime(d.toISOString()), `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:05`);
});

test('publicRepository masks a password in a URL, leaves the rest', () => {
  const rows: [string, string][] = [
    ['/srv/restic', '/srv/restic'],
    ['sftp:batt@backup.example.net:/srv/restic', 'sftp:batt@backup.example.net:/srv/restic'],
    ['s3:https://s3.example.org/bucket/web1', 's3:https://s3.example.org/bucket/web1'],
    ['rest:https://batt:s3cret@rest.example.org:8000/web1', 'rest:https://batt:***@rest.example.org:8000/web1'],
    ['rest:http://u:p@h/', 'rest:http://u:***@h/'],
  ];
  for (const [repo, shown] of rows) assert.equal(publicRepository(repo), shown, repo);
});

test('sftpPlace and sftpCommand: the target ssh key, known_hosts and port; nothing without them', () => {
  assert.deepEqual(sftpPlace('sftp:batt@host.example:/srv/r'), { user: 'batt', host: 'host.example' });
  assert.deepEqual(sftpPlace('sftp:host.example:r'), { user: undefined, host: 'host.example' });
  assert.deepEqual(sftpPlace('sftp://batt@host.example:2222//srv/r'), { user: 'batt', host: 'host.example', port: 2222 });
  assert.equal(sftpPlace('/srv/r'), undefined);
  assert.equal(sftpCommand('sftp:batt@h:/r', {}), undefined);
  assert.equal(
    sftpCommand('sftp:batt@h:/r', { sshKey: '/k/id', knownHosts: '/k/kh', port: 2222 }),
    'ssh -o BatchMode=yes -o StrictHostKeyChecking=yes -o ConnectTimeout=30 -p 2222 -i /k/id -o IdentitiesOnly=yes -o UserKnownHostsFile=/k/kh batt@h -s sftp',
  );
  assert.equal(sftpCommand('sftp://h:2200/r', { knownHosts: '/k/kh' }), 'ssh -o BatchMode=yes -o StrictHostKeyChecking=yes -o ConnectTimeout=30 -p 2200 -o UserKnownHostsFile=/k/kh h -s sftp');
  assert.throws(() => sftpCommand('/srv/r', { sshKey: '/k/id' }), /only to an sftp: repository/);
  assert.throws(() => sftpCommand('sftp:h:/r', { sshKey: '/k/my key' }), /blanks/);
});

test('validDataSubset: what restic check --read-data-subset takes', () => {
  for (const ok of ['1/5', '5/5', '10%', '2.5%', '100%', '500M', '2G', '4096']) assert.ok(validDataSubset(ok), ok);
  for (const bad of ['0/5', '6/5', '0%', '101%', 'half', '', '-1', '5 M', '1/0']) assert.ok(!validDataSubset(bad), bad);
});
