// The commands of the CLI as data: each one's words, flags and examples, and the module that runs
// it (loaded only when it runs). cli.ts registers them; adding a command is one entry here.
import type { Argv } from 'yargs';

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type Handler = (argv: any) => Promise<number>;

export interface CommandSpec {
  command: string | string[];
  describe: string;
  builder: (c: Argv) => Argv;
  load: () => Promise<Handler>;
}

const common = (y: Argv) =>
  y
    .option('home', { type: 'string', describe: 'batt home (default $BATT_HOME or /opt/batt)', global: true })
    .option('json', { type: 'boolean', describe: 'print one JSON document for machines', global: true });

const withPath = (y: Argv) =>
  y.option('path', {
    type: 'string',
    describe: 'strftime pattern of the destination root (default /opt/backup/%Y/%m/%d; the service is appended)',
  });

const withRetention = (y: Argv) =>
  y
    .option('keep-last', { type: 'string', describe: 'keep the N newest backups', group: 'Retention:' })
    .option('keep-hourly', { type: 'string', describe: 'keep the newest backup of each of the last N hours', group: 'Retention:' })
    .option('keep-daily', { type: 'string', describe: 'keep the newest backup of each of the last N days', group: 'Retention:' })
    .option('keep-weekly', { type: 'string', describe: 'keep the newest backup of each of the last N weeks', group: 'Retention:' })
    .option('keep-monthly', { type: 'string', describe: 'keep the newest backup of each of the last N months', group: 'Retention:' })
    .option('keep-yearly', { type: 'string', describe: 'keep the newest backup of each of the last N years', group: 'Retention:' })
    .option('max-days', { type: 'string', describe: 'also keep every backup younger than N days', group: 'Retention:' })
    .option('week-start', { type: 'string', describe: 'first day of a week for --keep-weekly: mon (default) or sun', group: 'Retention:' });

export const COMMANDS: CommandSpec[] = [
  {
    command: ['$0 [services..]', 'run [services..]'],
    describe: 'run the backup scripts of the named services, or of every enabled one',
    builder: (c) =>
      withRetention(withPath(common(c)))
        .positional('services', { type: 'string', array: true, describe: 'services to back up (default: all enabled)' })
        .option('jobs', { alias: 'j', type: 'string', describe: 'services run at once (default: cores, at most 4)' })
        .option('timeout', { type: 'string', describe: 'seconds a script may run before it is stopped, for every service (over BACKUP_TIMEOUT and TIMEOUT; default 14400; 0 = no limit)' })
        .option('wait', { type: 'boolean', describe: 'wait for another running batt instead of exiting 11' })
        .option('dry-run', { alias: 'n', type: 'boolean', describe: 'show what would run, run nothing' })
        .option('purge', { type: 'boolean', describe: 'after a run in which every service succeeded, purge those services (batt purge)' })
        .option('drill', { type: 'boolean', describe: 'after a good run, drill the services whose last drill is older than DRILL_EVERY (default on; --no-drill skips it)' })
        .option('target', { type: 'string', array: true, describe: 'copy to just this off-site target (repeatable; default: every conf/targets/*.conf)' })
        .example('batt', 'back up every enabled service')
        .example('batt mysql file', 'back up just these two')
        .example('batt --mysql-db wordpress --file /var/www/wordpress', 'services implied by their options')
        .example('batt --path "/srv/backup/%Y-%m-%d_%H%M" redis', 'another destination pattern')
        .example('batt --purge --keep-daily 7 --keep-weekly 4', 'back up, then purge by this policy if all succeeded'),
    load: async () => (await import('../commands/run.js')).runBackups as Handler,
  },
  {
    command: 'list [which]',
    describe: 'list available services and whether each is enabled',
    builder: (c) =>
      common(c)
        .positional('which', { type: 'string', describe: 'only these services: enabled, disabled or available' })
        .strictOptions()
        .example('batt list enabled', 'what a plain `batt` backs up')
        .example('batt list --json', 'for scripts'),
    load: async () => (await import('../commands/list.js')).listCommand as Handler,
  },
  {
    command: 'enable <services..>',
    describe: 'enable services (link them into scripts-enabled)',
    builder: (c) =>
      common(c)
        .positional('services', { type: 'string', array: true, demandOption: true })
        .strictOptions()
        .example('batt enable mysql file', ''),
    load: async () => (await import('../commands/enable.js')).enableCommand as Handler,
  },
  {
    command: 'disable <services..>',
    describe: 'disable services (remove their links)',
    builder: (c) =>
      common(c)
        .positional('services', { type: 'string', array: true, demandOption: true })
        .strictOptions()
        .example('batt disable redis', ''),
    load: async () => (await import('../commands/disable.js')).disableCommand as Handler,
  },
  {
    command: ['backups', 'ls'],
    describe: 'list the backups under the destination root, from their manifests',
    builder: (c) =>
      withPath(common(c))
        .strictOptions()
        .option('service', { type: 'string', describe: 'only this service' })
        .option('since', { type: 'string', describe: 'only backups started at or after this date' })
        .option('until', { type: 'string', describe: 'only backups started at or before this date' })
        .option('from', { type: 'string', describe: 'list the copies on this off-site target (conf/targets/NAME.conf) instead' })
        .option('host', { type: 'string', describe: 'with --from: the copies of this host (default: this host, HOST_NAME or the system name)' })
        .option('all-hosts', { type: 'boolean', describe: 'with --from: the copies of every host sharing the target' })
        .option('summary', { type: 'boolean', describe: 'with --from: one line per host and service: its newest copy, that copy\'s age and how many there are' })
        .example('batt ls --service mysql --since 2026-11-01', '')
        .example('batt backups --from offsite --all-hosts --summary', 'the fleet: each host\'s services, newest copy and its age'),
    load: async () => (await import('../commands/backups.js')).backupsCommand as Handler,
  },
  {
    command: 'verify [backups..]',
    describe: 're-hash backups against their manifests',
    builder: (c) =>
      withPath(common(c))
        .positional('backups', { type: 'string', array: true })
        .strictOptions()
        .option('service', { type: 'string', describe: 'only this service' })
        .option('from', { type: 'string', describe: 'verify the copies on this off-site target (downloads and re-hashes them)' })
        .option('read-data-subset', { type: 'string', describe: 'restic target: restic check also reads this part of the data (1/5, 10%, 500M)' })
        .option('host', { type: 'string', describe: 'with --from: the copies of this host (default: this host, HOST_NAME or the system name)' })
        .option('all-hosts', { type: 'boolean', describe: 'with --from: the copies of every host sharing the target' })
        .example('batt verify', 'every backup')
        .example('batt verify 2026/11/28/mysql', 'one backup (ids from batt backups)'),
    load: async () => (await import('../commands/verify.js')).verifyCommand as Handler,
  },
  {
    command: 'restore [service] [backup]',
    describe: 'verify a backup, then restore it with the restore-<service> script',
    builder: (c) =>
      withPath(common(c))
        .positional('service', { type: 'string', describe: 'the service to restore' })
        .positional('backup', { type: 'string', describe: 'backup id from batt backups (default: the newest)' })
        .option('to', { type: 'string', describe: 'where to restore: a folder, a database name... (see the service)' })
        .option('force', { type: 'boolean', describe: 'allow overwriting existing data' })
        .option('from', { type: 'string', describe: 'restore from this off-site target (downloaded, checked and decrypted first)' })
        .option('host', { type: 'string', describe: 'with --from: the copies of this host (default: this host, HOST_NAME or the system name)' })
        .option('all-hosts', { type: 'boolean', describe: 'with --from: the newest copy of any host sharing the target' })
        .option('timeout', { type: 'string', describe: 'seconds the restore may run (default: no limit)' })
        .example('batt restore file --to /srv/restore', 'newest file backup into /srv/restore')
        .example('batt restore mysql 2026/11/28/mysql --mysql-db wordpress', 'one database from one backup')
        .example('batt restore file 2026/11/28/file --to /tmp/r --file /etc/nginx/nginx.conf', 'one file as it was in that backup (of an incremental: from its chain)'),
    load: async () => (await import('../commands/restore.js')).restoreCommand as Handler,
  },
  {
    command: 'drill [items..]',
    describe: 'restore backups into a scratch place, check what came out, record how long it took',
    builder: (c) =>
      withPath(common(c))
        .positional('items', { type: 'string', array: true, describe: 'services, and/or backup ids from batt backups (default: every service with a backup)' })
        .option('wait', { type: 'boolean', describe: 'wait for a running batt instead of exiting 11' })
        .strictOptions()
        .example('batt drill', 'the newest backup of every service')
        .example('batt drill mysql 2026/11/28/file', 'the newest mysql backup, and this file backup')
        .example('batt drill --json', 'for monitoring; exit 1 when a drill failed'),
    load: async () => (await import('../commands/drill.js')).drillCommand as Handler,
  },
  {
    command: 'purge [services..]',
    describe: 'delete old backups by a retention policy; the newest good backup of each service is always kept',
    builder: (c) =>
      withRetention(withPath(common(c)))
        .positional('services', { type: 'string', array: true, describe: 'services to purge (default: every service under the root)' })
        .option('dry-run', { alias: 'n', type: 'boolean', describe: 'show what would be deleted and why each backup is kept; delete nothing' })
        .option('target', { type: 'string', describe: 'purge the copies on this off-site target instead (its KEEP_* keys override)' })
        .option('host', { type: 'string', describe: 'with --target: purge the copies of this host (default: only this host\'s)' })
        .option('wait', { type: 'boolean', describe: 'wait for a running batt instead of exiting 11' })
        .strictOptions()
        .example('batt purge --keep-last 3 --keep-daily 7 --keep-weekly 6 --keep-monthly 6 --dry-run', 'see what a policy removes')
        .example('batt purge mysql', 'purge mysql by KEEP_* in conf/batt.conf and conf/mysql.conf'),
    load: async () => (await import('../commands/purge.js')).purgeCommand as Handler,
  },
  {
    command: 'status',
    describe: 'is every enabled service backed up recently enough? A Nagios/Icinga check: exit 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN',
    builder: (c) =>
      withPath(common(c))
        .strictOptions()
        .option('max-age', { type: 'string', describe: 'CRITICAL when the newest good backup is older: 26h, 90m, 1d12h (default: MAX_AGE of batt.conf, else 26h; a service\'s own MAX_AGE wins)' })
        .option('warn-age', { type: 'string', describe: 'WARNING when the newest good backup is older (default: WARN_AGE; none)' })
        .option('from', { type: 'string', describe: 'judge the copies on this off-site target instead: each host and service seen there' })
        .option('host', { type: 'string', describe: 'with --from: the copies of this host (default: this host, HOST_NAME or the system name)' })
        .option('all-hosts', { type: 'boolean', describe: 'with --from: the copies of every host sharing the target (the fleet)' })
        .example('batt status --max-age 26h --warn-age 25h', 'one status line with perfdata, for Nagios/Icinga (check_by_ssh, NRPE)')
        .example('batt status --from offsite --all-hosts --max-age 26h', 'one verdict for every host uploading to offsite')
        .example('batt status --json', 'every service: state, age, last run'),
    load: async () => (await import('../commands/status.js')).statusCommand as Handler,
  },
  {
    command: 'schedule [action]',
    describe: 'install, show or remove the timer (systemd) or cron entry that runs batt',
    builder: (c) =>
      common(c)
        .positional('action', { type: 'string', choices: ['install', 'show', 'remove'], default: 'show' })
        .option('at', { type: 'string', describe: 'hourly, "daily HH:MM", "weekly DAY HH:MM", "monthly D HH:MM" or 5 cron fields' })
        .option('systemd', { type: 'boolean', describe: 'write a systemd timer + service (default where systemd runs)' })
        .option('cron', { type: 'boolean', describe: 'write /etc/cron.d/batt (default elsewhere)' })
        .option('root', { type: 'string', describe: 'install into this tree instead of / (no systemctl then)' })
        .option('force', { type: 'boolean', describe: 'replace or remove files batt did not write' })
        .strictOptions()
        .example('batt schedule install --at "daily 02:30"', 'every night at 02:30')
        .example('batt schedule install --at "weekly sun 03:00" --cron', 'a cron entry, even where systemd runs')
        .example('batt schedule install --at "15 */6 * * *"', 'a cron expression'),
    load: async () => (await import('../commands/schedule.js')).scheduleCommand as Handler,
  },
  {
    command: 'config [action]',
    describe: 'check batt.conf, every <service>.conf and targets/*.conf: file:line, key, what is wrong',
    builder: (c) =>
      common(c)
        .positional('action', { type: 'string', choices: ['check'], default: 'check' })
        .strictOptions()
        .example('batt config check', 'exit 0 when the conf is sound, 3 on any error'),
    load: async () => (await import('../commands/config.js')).configCommand as Handler,
  },
  {
    command: 'doctor',
    describe: 'check that the next run can work: tools on PATH, conf, destination writable with free space',
    builder: (c) =>
      withPath(common(c))
        .strictOptions()
        .example('batt doctor --json', 'for monitoring; exit 1 on any failed check'),
    load: async () => (await import('../commands/doctor.js')).doctorCommand as Handler,
  },
];
