// Schedules: "hourly", "daily 02:30", "weekly sun 03:00", "monthly 1 04:00", @daily..., or a
// 5-field cron expression, turned into a systemd OnCalendar= value and a cron line; and the
// contents of the systemd units and the /etc/cron.d file. Pure: no file is read or written here.
import { UsageError } from '../core/errors.js';
import { SYSTEM_PATH } from '../core/syspath.js';

export interface Schedule {
  /** what the user wrote, normalised */
  at: string;
  /** systemd.time(7) calendar event */
  onCalendar: string;
  /** the five cron fields */
  cron: string;
}

const DAYS = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'] as const;
const SD_DAYS = ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'] as const;
const MONTHS = ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'] as const;
const LONG_DAYS = ['sunday', 'monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday'];

const pad = (n: number) => String(n).padStart(2, '0');

function bad(at: string, why: string): UsageError {
  return new UsageError(
    `invalid --at "${at}": ${why}`,
    'use hourly, "daily HH:MM", "weekly DAY HH:MM", "monthly DAY-OF-MONTH HH:MM" or a 5-field cron expression like "30 2 * * *"',
  );
}

function parseTime(at: string, s: string | undefined): [number, number] {
  if (s === undefined) return [0, 0];
  const m = /^(\d{1,2}):(\d{2})$/.exec(s);
  if (!m) throw bad(at, `"${s}" is not a time of day (HH:MM, 24-hour)`);
  const h = Number(m[1]);
  const min = Number(m[2]);
  if (h > 23) throw bad(at, `hour ${h} is out of range 0-23`);
  if (min > 59) throw bad(at, `minute ${min} is out of range 0-59`);
  return [h, min];
}

function dayIndex(at: string, s: string): number {
  const l = s.toLowerCase();
  let i = DAYS.indexOf(l.slice(0, 3) as (typeof DAYS)[number]);
  if (l.length > 3 && LONG_DAYS[i] !== l) i = -1;
  if (i < 0) throw bad(at, `"${s}" is not a day of the week (sun, mon, ... sat)`);
  return i;
}

function simple(at: string, words: string[]): Schedule | undefined {
  const [kind, ...rest] = words.map((w) => w.toLowerCase());
  const extra = (n: number) => {
    if (rest.length > n) throw bad(at, `unexpected "${words.slice(n + 1).join(' ')}"`);
  };
  switch (kind) {
    case 'hourly':
    case '@hourly': {
      extra(1);
      // "hourly" or "hourly :15" (minute past the hour)
      let min = 0;
      if (rest[0] !== undefined) {
        const m = /^:?(\d{1,2})$/.exec(rest[0]);
        if (!m || Number(m[1]) > 59) throw bad(at, `"${rest[0]}" is not a minute past the hour (:00 to :59)`);
        min = Number(m[1]);
      }
      return { at: `hourly${min ? ` :${pad(min)}` : ''}`, onCalendar: `*-*-* *:${pad(min)}:00`, cron: `${min} * * * *` };
    }
    case 'daily':
    case '@daily':
    case '@midnight': {
      extra(1);
      const [h, m] = parseTime(at, rest[0]);
      return { at: `daily ${pad(h)}:${pad(m)}`, onCalendar: `*-*-* ${pad(h)}:${pad(m)}:00`, cron: `${m} ${h} * * *` };
    }
    case 'weekly':
    case '@weekly': {
      extra(2);
      // systemd's "weekly" is Monday 00:00; cron's @weekly is Sunday: say the day to be sure.
      const d = rest[0] === undefined ? 0 : dayIndex(at, rest[0]);
      const [h, m] = parseTime(at, rest[1]);
      return {
        at: `weekly ${DAYS[d]} ${pad(h)}:${pad(m)}`,
        onCalendar: `${SD_DAYS[d]} *-*-* ${pad(h)}:${pad(m)}:00`,
        cron: `${m} ${h} * * ${d}`,
      };
    }
    case 'monthly':
    case '@monthly': {
      extra(2);
      let day = 1;
      if (rest[0] !== undefined) {
        if (!/^\d{1,2}$/.test(rest[0]) || Number(rest[0]) < 1 || Number(rest[0]) > 28) {
          throw bad(at, `"${rest[0]}" is not a day of the month batt schedules (1-28, so that every month has it)`);
        }
        day = Number(rest[0]);
      }
      const [h, m] = parseTime(at, rest[1]);
      return { at: `monthly ${day} ${pad(h)}:${pad(m)}`, onCalendar: `*-*-${pad(day)} ${pad(h)}:${pad(m)}:00`, cron: `${m} ${h} ${day} * *` };
    }
    default:
      return undefined;
  }
}

interface Field {
  name: string;
  min: number;
  max: number;
  names?: readonly string[];
  /** index of names[0] */
  base?: number;
}

const FIELDS: Field[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12, names: MONTHS, base: 1 },
  { name: 'day of week', min: 0, max: 7, names: DAYS, base: 0 },
];

interface Item {
  from: number | '*';
  to?: number;
  step?: number;
}

function parseValue(at: string, f: Field, s: string): number {
  if (/^\d+$/.test(s)) {
    const n = Number(s);
    if (n < f.min || n > f.max) throw bad(at, `${f.name} ${n} is out of range ${f.min}-${f.max}`);
    return n;
  }
  const i = f.names?.indexOf(s.toLowerCase() as never) ?? -1;
  if (i < 0) throw bad(at, `"${s}" is not a valid ${f.name}`);
  return i + (f.base ?? 0);
}

function parseField(at: string, f: Field, s: string): Item[] {
  return s.split(',').map((part) => {
    const m = /^([^/]+)(?:\/(\d+))?$/.exec(part);
    if (!m) throw bad(at, `"${part}" is not a valid ${f.name}`);
    const step = m[2] === undefined ? undefined : Number(m[2]);
    if (step !== undefined && (step < 1 || step > f.max)) throw bad(at, `step /${m[2]} of the ${f.name} is out of range 1-${f.max}`);
    if (m[1] === '*') return { from: '*', step };
    const [a, b, ...more] = m[1]!.split('-');
    if (more.length || a === '' || b === '') throw bad(at, `"${part}" is not a valid ${f.name}`);
    const from = parseValue(at, f, a!);
    if (b === undefined) {
      if (step !== undefined) throw bad(at, `"${part}": a step needs * or a range before it`);
      return { from };
    }
    const to = parseValue(at, f, b);
    if (to < from) throw bad(at, `${f.name} range ${part} runs backwards`);
    return { from, to, step };
  });
}

const restricted = (items: Item[]) => !(items.length === 1 && items[0]!.from === '*' && items[0]!.step === undefined);

function numericCalendar(items: Item[], f: Field): string {
  return items
    .map((it) => {
      const step = it.step ? `/${it.step}` : '';
      if (it.from === '*') return it.step ? `${pad(f.min)}${step}` : '*';
      return it.to === undefined ? pad(it.from) : `${pad(it.from)}..${pad(it.to)}${step}`;
    })
    .join(',');
}

function weekdayCalendar(at: string, items: Item[]): string {
  return items
    .map((it) => {
      if (it.from === '*' || it.step) throw bad(at, 'a step in the day of week cannot be expressed as a systemd timer; list the days instead');
      const day = (n: number) => SD_DAYS[n % 7]!;
      if (it.to === undefined) return day(it.from);
      if (it.to === 7 && it.from > 0) return `${day(it.from)}..Sat,Sun`;
      return `${day(it.from)}..${day(it.to)}`;
    })
    .join(',');
}

function cronExpression(at: string, fields: string[]): Schedule {
  if (fields.length !== 5) {
    throw bad(at, `a cron expression has 5 fields (minute hour day-of-month month day-of-week), this has ${fields.length}`);
  }
  const items = fields.map((s, i) => parseField(at, FIELDS[i]!, s));
  const [min, hour, dom, month, dow] = items as [Item[], Item[], Item[], Item[], Item[]];
  if (restricted(dom) && restricted(dow)) {
    // cron runs when EITHER matches, systemd when BOTH match: refuse rather than change the meaning.
    throw bad(at, 'both day of month and day of week are set; cron would run when either matches, which a systemd timer cannot express');
  }
  const date = `*-${numericCalendar(month, FIELDS[3]!)}-${numericCalendar(dom, FIELDS[2]!)}`;
  const time = `${numericCalendar(hour, FIELDS[1]!)}:${numericCalendar(min, FIELDS[0]!)}:00`;
  const week = restricted(dow) ? `${weekdayCalendar(at, dow)} ` : '';
  const cron = fields.join(' ');
  return { at: cron, onCalendar: `${week}${date} ${time}`, cron };
}

export function parseSchedule(at: string): Schedule {
  const words = at.trim().split(/\s+/).filter(Boolean);
  if (words.length === 0) throw bad(at, 'it is empty');
  if (/[\0\n\r]/.test(at)) throw bad(at.replace(/[\0\n\r]/g, ' '), 'it contains a control character');
  return simple(at, words) ?? (/^[\d*]/.test(words[0]!) ? cronExpression(at, words) : (() => {
    throw bad(at, `"${words[0]}" is not hourly, daily, weekly, monthly or the minute field of a cron expression`);
  })());
}

// ---- file contents ----

export const MARKER = '# Written by `batt schedule install`; remove with `batt schedule remove`.';

export interface ScheduleTarget {
  /** the command that runs batt, already quoted for sh and systemd */
  command: string;
  home: string;
}

/** Quotes an argument for both sh (cron) and systemd's ExecStart= when it needs it. */
export function quoteArg(s: string): string {
  if (/^[A-Za-z0-9_@%+=:,./-]+$/.test(s)) return s;
  if (/["\\$`%\n]/.test(s)) throw new UsageError(`cannot schedule a path with quotes, $, %, backslashes or newlines: ${s}`);
  return `"${s}"`;
}

export function renderService(t: ScheduleTarget): string {
  return `${MARKER}
[Unit]
Description=batt: back up all enabled services
Wants=network-online.target
After=network-online.target

[Service]
Type=oneshot
Environment=BATT_HOME=${quoteArg(t.home)}
ExecStart=${t.command}
Nice=10
IOSchedulingClass=best-effort
IOSchedulingPriority=7
`;
}

export function renderTimer(s: Schedule): string {
  return `${MARKER}
[Unit]
Description=batt: scheduled backups (${s.at})

[Timer]
OnCalendar=${s.onCalendar}
Persistent=true
AccuracySec=1min

[Install]
WantedBy=timers.target
`;
}

/** /etc/cron.d/batt: stdout (the summary) is dropped, stderr (errors) is mailed by cron. */
export function renderCron(s: Schedule, t: ScheduleTarget): string {
  return `${MARKER}
# batt: scheduled backups (${s.at})
SHELL=/bin/sh
PATH=${SYSTEM_PATH.join(':')}
BATT_HOME=${t.home}
${s.cron} root ${t.command} >/dev/null
`;
}

/** Reads the schedule back from an installed timer or cron file (for `batt schedule show`). */
export function readInstalled(kind: 'systemd' | 'cron', text: string): { at?: string; onCalendar?: string; cron?: string } {
  const at = /^(?:Description=batt: scheduled backups|# batt: scheduled backups) \((.*)\)$/m.exec(text)?.[1];
  if (kind === 'systemd') return { at, onCalendar: /^OnCalendar=(.*)$/m.exec(text)?.[1] };
  const line = text.split('\n').find((l) => /^[^#A-Z\s]\S*\s/.test(l) && / root /.test(l));
  return { at, cron: line?.split(/\s+/).slice(0, 5).join(' ') };
}
