// Copies cut off before their index: which ids batt's layout allows (backupIdPattern), and which
// folders of a target listing are abandoned copies to remove, or kept and why (abandonedCopies).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { backupIdPattern } from '../../src/core/destination.js';
import { abandonedCopies } from '../../src/targets/sweep.js';
import { STALE_AFTER_MS, type TreeEntry } from '../../src/targets/backend.js';

test('backupIdPattern: the rendered part of the pattern and a service folder, nothing else', () => {
  const cases: [string, string, boolean][] = [
    ['/opt/backup/%Y/%m/%d', '2026/11/28/mysql', true],
    ['/opt/backup/%Y/%m/%d', '2026/11/28/mysql.2', true], // a second run into the same folder
    ['/opt/backup/%Y/%m/%d', '2026/11/28/my_sql-1', true],
    ['/opt/backup/%Y/%m/%d', '2026/11/28', false], // a date folder, not a copy
    ['/opt/backup/%Y/%m/%d', '2026/11/28/mysql/sub', false], // inside a copy
    ['/opt/backup/%Y/%m/%d', '2026/11/28/MySQL', false], // not a service name
    ['/opt/backup/%Y/%m/%d', '2026/11/28/.batt-staging-x', false],
    ['/opt/backup/%Y/%m/%d', '2026/11/28/mysql.0', false],
    ['/opt/backup/%Y/%m/%d', '26/11/28/mysql', false],
    ['/opt/backup/%Y/%m/%d', 'other/2026/11/28/mysql', false], // deeper than the layout
    ['/opt/backup/%Y/%m/%d', 'x2026/11/28/mysql', false],
    ['/opt/backup/%Y/%m/%d', 'mysql', false],
    ['/opt/backup/%Y/%m/%d', `2026/11/28/${'a'.repeat(65)}`, false], // longer than a service name
    ['/opt/backup/%F', '2026-11-28/web', true],
    ['/opt/backup/%F', '2026-11-2/web', false],
    ['/opt/backup/web1-%Y.%m', 'web1-2026.11/db', true],
    ['/opt/backup/web1-%Y.%m', 'web1-2026x11/db', false], // the . is literal
    ['/opt/backup/%Y/week%V/%a', '2026/week48/Sat/db', true],
    ['/opt/backup/%Y/week%V/%a', '2026/week%V/Sat/db', true], // strftime leaves %V as it is
    ['/opt/backup/%e', ' 5/db', true],
    ['/opt/backup/fixed', 'db', true], // no conversion: the services sit right under the root
    ['/opt/backup/fixed', 'fixed/db', false],
    ['/opt/backup/%s', '1764331200/db', true],
    ['/opt/backup/%s', '/db', false],
  ];
  for (const [pattern, id, want] of cases) assert.equal(backupIdPattern(pattern).test(id), want, `${pattern} ${id}`);
});

const now = Date.parse('2026-11-28T12:00:00Z');
const old = now - STALE_AFTER_MS - 60_000;
const recent = now - 3600_000;
const isId = (rel: string) => backupIdPattern('/b/%Y/%m/%d').test(rel);
const f = (rel: string, mtimeMs?: number): TreeEntry => ({ rel, type: 'file', mtimeMs });
const d = (rel: string, mtimeMs?: number): TreeEntry => ({ rel, type: 'dir', mtimeMs });

test('abandonedCopies: a folder in the layout, without an index, all files more than a day old, nothing odd inside', () => {
  // [what, listing, abandoned, kept (rel and a piece of the reason)]
  const cases: [string, TreeEntry[], string[], [string, RegExp][]][] = [
    ['a cut-off copy a day old', [d('2026'), d('2026/11'), d('2026/11/01'), d('2026/11/01/db', old), f('2026/11/01/db/a.sql', old), f('2026/11/01/db/b.bin.batt-tmp-0a1b2c3d', old - 5)], ['2026/11/01/db'], []],
    ['its newest file decides', [f('2026/11/01/db/a.sql', old), f('2026/11/01/db/sub/b.sql', recent)], [], [['2026/11/01/db', /newest file is 1\.0 h old \(an upload may be in progress\)/]]],
    ['a temp file in transfer keeps it', [f('2026/11/01/db/a.sql', old), f('2026/11/01/db/.batt-tmp-0a1b2c3d-b.sql', now - 1000)], [], [['2026/11/01/db', /in progress/]]],
    ['exactly the age: not yet', [f('2026/11/01/db/a.sql', now - STALE_AFTER_MS)], [], [['2026/11/01/db', /24\.0 h old/]]],
    ['a complete copy', [d('2026/11/01/db', old), f('2026/11/01/db/batt-remote.json', old)], [], []],
    ['S3: objects only, no folder entries', [f('2026/11/01/db/a.sql', old), f('2026/11/02/db/a.sql', old), f('2026/11/02/db/batt-remote.json', old)], ['2026/11/01/db'], []],
    ['foreign folders and files are not looked at', [d('misc', old), f('misc/x', old), f('2026/11/01/README', old), d('2026/11/01/Data', old), f('2026/11/01/Data/x', old), d('2026/11', old)], [], []],
    ['inside a complete copy (an old deeper layout)', [f('2026/11/01/batt-remote.json', old), f('2026/11/01/db/x', old)], [], []],
    ['an index deeper down', [f('2026/11/01/db/a', old), f('2026/11/01/db/x/batt-remote.json', old)], [], [['2026/11/01/db', /holds 2026\/11\/01\/db\/x\/batt-remote\.json/]]],
    ['a link inside', [f('2026/11/01/db/a', old), { rel: '2026/11/01/db/l', type: 'other' }], [], [['2026/11/01/db', /neither a plain file nor a folder/]]],
    ['the folder itself is a link: not a folder', [{ rel: '2026/11/01/db', type: 'other' }], [], []],
    ['a folder not listed', [d('2026/11/01/db', old), f('2026/11/01/db/a', old), d('2026/11/01/db/x', old), { rel: '2026/11/01/db/x', type: 'unread' }], [], [['2026/11/01/db', /2026\/11\/01\/db\/x could not be listed/]]],
    ['the copy folder not listed', [d('2026/11/01/db', old), { rel: '2026/11/01/db', type: 'unread' }], [], [['2026/11/01/db', /2026\/11\/01\/db could not be listed/]]],
    ['a file without a time (FTP without MLSD nor MDTM)', [f('2026/11/01/db/a', old), f('2026/11/01/db/b', NaN)], [], [['2026/11/01/db', /time of 2026\/11\/01\/db\/b is unknown/]]],
    ['a file without a time at all', [f('2026/11/01/db/a')], [], [['2026/11/01/db', /unknown/]]],
    ['no files: dated by its folders', [d('2026/11/01/db', old), d('2026/11/01/db/sub', old)], ['2026/11/01/db'], []],
    ['no files, a fresh folder (a copy just begun)', [d('2026/11/01/db', old), d('2026/11/01/db/sub', recent)], [], [['2026/11/01/db', /newest folder is 1\.0 h old/]]],
    ['no files and no folder time', [d('2026/11/01/db')], [], [['2026/11/01/db', /the time of 2026\/11\/01\/db is unknown/]]],
    ['dated in the future (clock skew)', [f('2026/11/01/db/a', now + 7200_000)], [], [['2026/11/01/db', /2\.0 h in the future/]]],
    ['a second run in the same folder', [f('2026/11/01/db.2/a', old), f('2026/11/01/db/batt-remote.json', old)], ['2026/11/01/db.2'], []],
  ];
  for (const [what, entries, abandoned, kept] of cases) {
    const r = abandonedCopies(entries, isId, now);
    assert.deepEqual(r.abandoned.map((c) => c.rel), abandoned, what);
    assert.deepEqual(r.kept.map((k) => k.rel), kept.map(([rel]) => rel), what);
    kept.forEach(([, why], i) => assert.match(r.kept[i]!.why, why, what));
    for (const c of r.abandoned) assert.match(c.why, /no batt-remote\.json, newest (file|folder) \d+\.\d h old/, what);
  }
  // a shorter age, as the sweep's maxAgeMs
  assert.deepEqual(abandonedCopies([f('2026/11/01/db/a', recent)], isId, now, 60_000).abandoned.map((c) => c.rel), ['2026/11/01/db']);
});
