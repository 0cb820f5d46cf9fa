// The PATH and HOME batt and its scripts run with. cron gives a job PATH=/usr/bin:/bin (a user's crontab,
// and every /etc/cron.d file, unless the file sets PATH itself), where the system tools that
// live in /usr/sbin are missing: sfdisk, pvs, vgs, ip and mdadm for backup-system, lvs and
// lvcreate for SNAPSHOT=lvm, zfs, runuser. The standard folders missing from PATH are added at
// its end, so a folder the caller put first still wins.

/** Debian's PATH for root (/etc/login.defs ENV_SUPATH), in its order. */
export const SYSTEM_PATH = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/** PATH with each folder of SYSTEM_PATH it lacks appended; an unset or empty PATH becomes SYSTEM_PATH. */
export function withSystemPath(current: string | undefined): string {
  const have = (current ?? '').split(':').filter(Boolean);
  const seen = new Set(have.map((d) => d.replace(/\/+$/, '')));
  return [...have, ...SYSTEM_PATH.filter((d) => !seen.has(d))].join(':');
}

/**
 * HOME as a login would set it: kept when set, else the account's home (from the password
 * database). A systemd service without User= gets no HOME (systemd before 255), and then the
 * MariaDB clients read no ~/.my.cnf and restic finds no cache folder ("unable to open cache":
 * every run reads the whole index from the repository again): the timer's run would differ from
 * the run the admin tried by hand. Undefined when neither is known.
 */
export function withHome(current: string | undefined, accountHome: () => string | undefined): string | undefined {
  if (current) return current;
  try {
    return accountHome() || undefined;
  } catch {
    return undefined; // no password database entry for this uid
  }
}
