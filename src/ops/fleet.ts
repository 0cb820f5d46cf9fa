// The fleet view of a target shared by several hosts (docs/operating.md "Watching a fleet"): the
// copies grouped by host and service with the newest of each (`batt backups --from T --summary`),
// and one Nagios verdict over them (`batt status --from T --all-hosts`), judged by the same rules
// and status line as the local `batt status` (freshness.ts). Pure: the caller lists the copies and
// reads the clock.
import { formatAge } from '../core/duration.js';
import { plural } from '../core/output.js';
import { judge, type ServiceFacts, type Verdict } from './freshness.js';

/** What the fleet view reads of a copy (a Copy of src/targets/copy.ts has all of it). */
export interface CopyFacts {
  id: string;
  host: string;
  service: string;
  /** When the backup it copies started (ISO); a copy's index holds no finish time. */
  startedAt: string;
  uploadedAt?: string;
}

/** One host's one service on the target. */
export interface FleetRow {
  host: string;
  service: string;
  /** The newest copy by its backup's start; undefined only when no copy has a readable start time. */
  newest?: { id: string; startedAt: string; uploadedAt?: string };
  /** Seconds from the newest copy's backup start to now (0 for a start in the future). */
  ageSeconds?: number;
  /** How many copies of this host's service the target holds. */
  copies: number;
}

const byText = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * The copies grouped by (host, service), sorted by host then service: the newest of each (by its
 * backup's start; on a tie the greater id, a later `~N` or `.N`), its age and the count. Every copy a
 * listing returns is complete (its index is written last, after each file was uploaded and checked)
 * and of a sealed, good backup (only those are uploaded); a copy damaged on the target since is not
 * known here (`batt verify --from` re-reads them).
 */
export function summarizeCopies(copies: readonly CopyFacts[], nowMs: number): FleetRow[] {
  const groups = new Map<string, { host: string; service: string; list: CopyFacts[] }>();
  for (const c of copies) {
    const key = `${c.host}\0${c.service}`;
    const g = groups.get(key) ?? { host: c.host, service: c.service, list: [] };
    g.list.push(c);
    groups.set(key, g);
  }
  const rows: FleetRow[] = [];
  for (const g of groups.values()) {
    let newest: CopyFacts | undefined;
    let newestMs = -Infinity;
    for (const c of g.list) {
      const t = Date.parse(c.startedAt);
      if (Number.isNaN(t)) continue;
      if (t > newestMs || (t === newestMs && byText(c.id, newest!.id) > 0)) [newest, newestMs] = [c, t];
    }
    rows.push({
      host: g.host,
      service: g.service,
      newest: newest && { id: newest.id, startedAt: newest.startedAt, ...(newest.uploadedAt ? { uploadedAt: newest.uploadedAt } : {}) },
      ageSeconds: newest ? Math.max(0, Math.floor((nowMs - newestMs) / 1000)) : undefined,
      copies: g.list.length,
    });
  }
  return rows.sort((a, b) => byText(a.host, b.host) || byText(a.service, b.service));
}

/** The age column of the summary: "3h", "2d4h", or "-" without a readable start time. */
export function ageCell(row: Pick<FleetRow, 'ageSeconds'>): string {
  return row.ageSeconds === undefined ? '-' : formatAge(row.ageSeconds);
}

export interface FleetAges {
  maxAgeSeconds: number;
  warnAgeSeconds?: number;
}

/** The name a (host, service) goes by in the verdict: "web-a/mysql" (perfdata: web_a_mysql_age). */
export const fleetName = (r: Pick<FleetRow, 'host' | 'service'>) => `${r.host}/${r.service}`;

/**
 * The check of the fleet: every (host, service) seen on the target must have a copy younger than
 * max-age (CRITICAL otherwise, naming each stale one with its age; WARNING past warn-age). A host
 * that stopped uploading stays in `rows` by its old copies, so it goes stale; a host that never
 * uploaded is not known. No copy at all: UNKNOWN (nothing to judge: the wrong target, an empty one).
 * `where` says what was listed, for that line: "on target offsite", "of host web-a on target offsite".
 */
export function judgeFleet(rows: readonly FleetRow[], ages: FleetAges, nowMs: number, where: string): Verdict {
  const facts: ServiceFacts[] = rows.map((r) => ({
    service: fleetName(r),
    lastGoodMs: r.newest ? Date.parse(r.newest.startedAt) : undefined,
    maxAgeSeconds: ages.maxAgeSeconds,
    warnAgeSeconds: ages.warnAgeSeconds,
  }));
  const hosts = new Set(rows.map((r) => r.host)).size;
  return judge(facts, nowMs, { none: `no copies ${where}`, counted: `${plural(hosts, 'host')}, ${plural(rows.length, 'service')}` });
}
