import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UsageError } from '../../src/core/errors.js';
import { hasCronDaemon, schedulerProblem } from '../../src/ops/scheduler.js';
import { MARKER, parseSchedule, quoteArg, readInstalled, renderCron, renderService, renderTimer } from '../../src/ops/schedule.js';

describe('parseSchedule', () => {
  const ok: [string, string, string, string][] = [
    // input, normalised, OnCalendar, cron
    ['hourly', 'hourly', '*-*-* *:00:00', '0 * * * *'],
    ['hourly :15', 'hourly :15', '*-*-* *:15:00', '15 * * * *'],
    ['@hourly', 'hourly', '*-*-* *:00:00', '0 * * * *'],
    ['daily 02:30', 'daily 02:30', '*-*-* 02:30:00', '30 2 * * *'],
    ['  Daily   2:05 ', 'daily 02:05', '*-*-* 02:05:00', '5 2 * * *'],
    ['daily', 'daily 00:00', '*-*-* 00:00:00', '0 0 * * *'],
    ['@daily', 'daily 00:00', '*-*-* 00:00:00', '0 0 * * *'],
    ['daily 23:59', 'daily 23:59', '*-*-* 23:59:00', '59 23 * * *'],
    ['weekly sun 03:00', 'weekly sun 03:00', 'Sun *-*-* 03:00:00', '0 3 * * 0'],
    ['weekly Saturday 22:10', 'weekly sat 22:10', 'Sat *-*-* 22:10:00', '10 22 * * 6'],
    ['weekly', 'weekly sun 00:00', 'Sun *-*-* 00:00:00', '0 0 * * 0'],
    ['monthly 1 04:00', 'monthly 1 04:00', '*-*-01 04:00:00', '0 4 1 * *'],
    ['monthly', 'monthly 1 00:00', '*-*-01 00:00:00', '0 0 1 * *'],
    ['30 2 * * *', '30 2 * * *', '*-*-* 02:30:00', '30 2 * * *'],
    ['*/15 * * * *', '*/15 * * * *', '*-*-* *:00/15:00', '*/15 * * * *'],
    ['0 1-5/2 * * *', '0 1-5/2 * * *', '*-*-* 01..05/2:00:00', '0 1-5/2 * * *'],
    ['0,30 8-18 * * 1-5', '0,30 8-18 * * 1-5', 'Mon..Fri *-*-* 08..18:00,30:00', '0,30 8-18 * * 1-5'],
    ['0 3 * * sun', '0 3 * * sun', 'Sun *-*-* 03:00:00', '0 3 * * sun'],
    ['0 3 * * 7', '0 3 * * 7', 'Sun *-*-* 03:00:00', '0 3 * * 7'],
    ['0 3 * * 5-7', '0 3 * * 5-7', 'Fri..Sat,Sun *-*-* 03:00:00', '0 3 * * 5-7'],
    ['15 4 1,15 * *', '15 4 1,15 * *', '*-*-01,15 04:15:00', '15 4 1,15 * *'],
    ['0 5 1 jan,jul *', '0 5 1 jan,jul *', '*-01,07-01 05:00:00', '0 5 1 jan,jul *'],
  ];
  for (const [input, at, onCalendar, cron] of ok) {
    test(`"${input}"`, () => assert.deepEqual(parseSchedule(input), { at, onCalendar, cron }));
  }

  // systemd itself parses every OnCalendar value batt writes, where systemd-analyze exists.
  const analyze = spawnSync('systemd-analyze', ['--version']).status === 0;
  test('systemd-analyze accepts every OnCalendar', { skip: analyze ? false : 'systemd-analyze is not installed' }, () => {
    for (const [, , onCalendar] of ok) {
      const outText = execFileSync('systemd-analyze', ['calendar', onCalendar], { encoding: 'utf8' });
      assert.match(outText, /Next elapse:/, onCalendar);
    }
  });

  const bad: [string, RegExp][] = [
    ['', /it is empty/],
    ['daily 25:00', /hour 25 is out of range 0-23/],
    ['daily 02:60', /minute 60 is out of range 0-59/],
    ['daily 2pm', /"2pm" is not a time of day/],
    ['daily 02:30 extra', /unexpected "extra"/],
    ['weekly funday 03:00', /"funday" is not a day of the week/],
    ['weekly sundae 03:00', /"sundae" is not a day of the week/],
    ['monthly 31 04:00', /1-28/],
    ['hourly :75', /not a minute past the hour/],
    ['yearly', /"yearly" is not hourly, daily, weekly, monthly/],
    ['30 2 * *', /5 fields .* this has 4/],
    ['30 2 * * * *', /this has 6/],
    ['60 2 * * *', /minute 60 is out of range 0-59/],
    ['0 24 * * *', /hour 24 is out of range 0-23/],
    ['0 0 0 * *', /day of month 0 is out of range 1-31/],
    ['0 0 * 13 *', /month 13 is out of range 1-12/],
    ['0 0 * * 8', /day of week 8 is out of range 0-7/],
    ['0 0 * foo *', /"foo" is not a valid month/],
    ['*/0 * * * *', /step \/0 of the minute is out of range/],
    ['5/10 * * * *', /a step needs \* or a range/],
    ['0 5-1 * * *', /hour range 5-1 runs backwards/],
    ['0 3 1 * mon', /both day of month and day of week/],
    ['0 3 * * */2', /step in the day of week/],
  ];
  for (const [input, why] of bad) {
    test(`rejects "${input}"`, () => {
      assert.throws(
        () => parseSchedule(input),
        (err: unknown) => err instanceof UsageError && err.message.startsWith(`invalid --at "${input}": `) && why.test(err.message),
      );
    });
  }
});

describe('unit and cron file contents', () => {
  const s = parseSchedule('daily 02:30');
  const t = { command: '/usr/bin/node /opt/batt/app/dist/batt.js', home: '/opt/batt' };

  test('the timer carries OnCalendar, Persistent and the marker', () => {
    const timer = renderTimer(s);
    assert.ok(timer.startsWith(MARKER));
    assert.match(timer, /^OnCalendar=\*-\*-\* 02:30:00$/m);
    assert.match(timer, /^Persistent=true$/m);
    assert.match(timer, /^WantedBy=timers.target$/m);
    assert.deepEqual(readInstalled('systemd', timer), { at: 'daily 02:30', onCalendar: '*-*-* 02:30:00' });
  });

  test('the service is a oneshot running batt with its home', () => {
    const svc = renderService(t);
    assert.match(svc, /^Type=oneshot$/m);
    assert.match(svc, /^ExecStart=\/usr\/bin\/node \/opt\/batt\/app\/dist\/batt.js$/m);
    assert.match(svc, /^Environment=BATT_HOME=\/opt\/batt$/m);
  });

  test('the cron file runs as root at the cron time', () => {
    const cron = renderCron(s, t);
    assert.match(cron, /^30 2 \* \* \* root \/usr\/bin\/node \/opt\/batt\/app\/dist\/batt.js >\/dev\/null$/m);
    assert.match(cron, /^BATT_HOME=\/opt\/batt$/m);
    // cron.d's own PATH is /usr/bin:/bin: the file sets root's, sbin folders included
    assert.match(cron, /^PATH=\/usr\/local\/sbin:\/usr\/local\/bin:\/usr\/sbin:\/usr\/bin:\/sbin:\/bin$/m);
    assert.ok(cron.endsWith('\n'), 'cron ignores a last line without newline');
    assert.deepEqual(readInstalled('cron', cron), { at: 'daily 02:30', cron: '30 2 * * *' });
  });

  test('quoteArg', () => {
    assert.equal(quoteArg('/usr/bin/node'), '/usr/bin/node');
    assert.equal(quoteArg('/opt/my batt/batt.js'), '"/opt/my batt/batt.js"');
    assert.throws(() => quoteArg('/opt/$x'), UsageError);
    assert.throws(() => quoteArg('/opt/a"b'), UsageError);
  });
});

describe('can a schedule fire', () => {
  test('hasCronDaemon: the cron daemons by their /proc comm name, nothing else', () => {
    const cases: [string[], boolean][] = [
      [['systemd', 'cron', 'bash'], true],
      [['crond'], true],
      [['cronie\n'], true],
      [['fcron'], true],
      [['bash', 'node', 'anacron'], false], // anacron is started by cron or a timer, it is no daemon
      [['cronjob-runner', 'mycron'], false],
      [[], false],
    ];
    for (const [comms, want] of cases) assert.equal(hasCronDaemon(comms), want, comms.join(','));
  });

  test('schedulerProblem reads proc/ and run/ of a tree; a tree without proc/ has no verdict', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'batt-sched-'));
    try {
      assert.equal(await schedulerProblem('cron', root), undefined, 'no proc: an image being built');
      fs.mkdirSync(path.join(root, 'proc/1'), { recursive: true });
      fs.writeFileSync(path.join(root, 'proc/1/comm'), 'bash\n');
      assert.match((await schedulerProblem('cron', root))!, /^no cron daemon is running/);
      assert.match((await schedulerProblem('systemd', root))!, /^systemd is not running/);
      fs.mkdirSync(path.join(root, 'proc/812'));
      fs.writeFileSync(path.join(root, 'proc/812/comm'), 'cron\n');
      fs.mkdirSync(path.join(root, 'run/systemd/system'), { recursive: true });
      assert.equal(await schedulerProblem('cron', root), undefined);
      assert.equal(await schedulerProblem('systemd', root), undefined);
    } finally {
      fs.rmSync(root, { recursive: true, force: true });
    }
  });
});
