// A restic target's pure parts: the tags that make a snapshot a batt copy (and the copy read back
// from them), restic's --time for the backup's start, the repository as humans may see it, the
// ssh command for an sftp: repository, and the --read-data-subset values batt passes on.
import path from 'node:path';
import { MANIFEST, type Manifest } from '../catalog/manifest.js';
import type { RemoteIndex } from './copy.js';

/** The tag every snapshot batt makes carries; the others are KEY=value. */
export const BATT_TAG = 'batt';

/** One snapshot as `restic snapshots --json` prints it (the fields batt reads). */
export interface ResticSnapshot {
  id: string;
  short_id?: string;
  time: string;
  hostname: string;
  tags?: string[] | null;
}

/** A batt copy in a restic repository: the snapshot that holds it. */
export type ResticCopy = RemoteIndex & { snapshot: string };

/**
 * The copy an incremental builds on: its manifest's `base` (a path relative to the backup folder)
 * taken from copy `id`, as the index of a copy on a file target names it (target.ts).
 */
export function baseOfCopy(id: string, m: Pick<Manifest, 'base'>): string | undefined {
  return m.base === undefined ? undefined : path.posix.join(id, m.base);
}

/**
 * The tags of the snapshot of backup `id`: what `batt backups --from` lists without reading any
 * data (an incremental's `base=`, so that purge keeps chains whole and restore fetches the chain).
 * restic splits a --tag value at commas, so no value may hold one (nor a newline).
 */
export function snapshotTags(id: string, m: Manifest, uploadedAt: string): string[] {
  const base = baseOfCopy(id, m);
  const kv: [string, string | number][] = [
    ['id', id],
    ['service', m.service],
    ['run', m.runId],
    ['started', m.startedAt],
    ['uploaded', uploadedAt],
    ['files', m.files.length],
    ['bytes', m.totalBytes],
    ...(base !== undefined ? [['base', base] as [string, string]] : []),
  ];
  for (const [k, v] of kv) if (/[,\n]/.test(String(v))) throw new Error(`${k} "${v}" cannot be a restic tag (a comma or a newline)`);
  return [BATT_TAG, ...kv.map(([k, v]) => `${k}=${v}`)];
}

/** The copy a snapshot holds, or undefined when batt did not make it (no batt tag, no id, service or start). */
export function copyOfSnapshot(s: ResticSnapshot): ResticCopy | undefined {
  const tags = s.tags ?? [];
  if (!tags.includes(BATT_TAG)) return undefined;
  const t = new Map<string, string>();
  for (const tag of tags) {
    const i = tag.indexOf('=');
    if (i > 0 && !t.has(tag.slice(0, i))) t.set(tag.slice(0, i), tag.slice(i + 1));
  }
  const id = t.get('id');
  const service = t.get('service');
  const startedAt = t.get('started');
  if (!id || !service || !startedAt || Number.isNaN(Date.parse(startedAt))) return undefined;
  const num = (k: string) => (/^\d+$/.test(t.get(k) ?? '') ? Number(t.get(k)) : 0);
  return {
    format: 1,
    id,
    service,
    host: s.hostname,
    runId: t.get('run') ?? '',
    startedAt,
    uploadedAt: t.get('uploaded') ?? s.time,
    encryption: 'restic',
    files: [],
    fileCount: num('files'),
    totalBytes: num('bytes'),
    ...(t.get('base') ? { base: t.get('base') } : {}),
    snapshot: s.id,
  };
}

/** The files of a backup folder restic backs up: what its manifest lists, and the manifest (never batt-copies.json). */
export function snapshotFiles(m: Manifest): string[] {
  const files = [...m.files.map((f) => f.path), MANIFEST];
  const bad = files.find((f) => /[\n\r]/.test(f) || f.startsWith('/') || f.split('/').includes('..'));
  if (bad !== undefined) throw new Error(`${JSON.stringify(bad)} cannot be named to restic (--files-from-verbatim)`);
  return files;
}

/** restic --time ("2006-01-02 15:04:05", read in the local time zone) for an ISO time. */
export function resticTime(iso: string): string {
  const d = new Date(iso);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

/** The repository for logs and batt-copies.json: a password in a URL (rest:https://u:pw@h/) is masked. */
export function publicRepository(repo: string): string {
  return repo.replace(/^([a-z0-9]+:[a-z]+:\/\/[^/@:]+):[^/@]*@/i, '$1:***@').replace(/^([a-z]+:\/\/[^/@:]+):[^/@]*@/i, '$1:***@');
}

/** Where an sftp: repository lives: `sftp:[user@]host:path` or `sftp://[user@]host[:port]/path`. */
export function sftpPlace(repo: string): { user?: string; host: string; port?: number } | undefined {
  let m = /^sftp:\/\/(?:([^@/]+)@)?(\[[^\]]+\]|[^:/]+)(?::(\d+))?\//.exec(repo);
  if (m) return { user: m[1], host: m[2]!, port: m[3] ? Number(m[3]) : undefined };
  m = /^sftp:(?:([^@:/]+)@)?([^:/]+):/.exec(repo);
  return m ? { user: m[1], host: m[2]! } : undefined;
}

/**
 * restic's `-o sftp.command=...` for an sftp: repository with the target's own key, known_hosts
 * or port (key login only, the host key checked strictly); undefined without any of them (restic
 * then runs ssh with the user's own ssh config).
 */
export function sftpCommand(repo: string, o: { sshKey?: string; knownHosts?: string; port?: number }): string | undefined {
  if (!o.sshKey && !o.knownHosts && !o.port) return undefined;
  const place = sftpPlace(repo);
  if (!place) throw new Error(`SSH_KEY, KNOWN_HOSTS and PORT apply only to an sftp: repository`);
  for (const v of [o.sshKey, o.knownHosts]) if (v && /\s/.test(v)) throw new Error(`${v}: paths with blanks are not supported for ssh files`);
  const ssh = ['ssh', '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=yes', '-o', 'ConnectTimeout=30'];
  const port = o.port ?? place.port;
  if (port) ssh.push('-p', String(port));
  if (o.sshKey) ssh.push('-i', o.sshKey, '-o', 'IdentitiesOnly=yes');
  if (o.knownHosts) ssh.push('-o', `UserKnownHostsFile=${o.knownHosts}`);
  ssh.push(place.user ? `${place.user}@${place.host}` : place.host, '-s', 'sftp');
  return ssh.join(' ');
}

/** `batt verify --read-data-subset`: restic's forms n/t (1 <= n <= t), p% (0 < p <= 100), or a size (500M). */
export function validDataSubset(v: string): boolean {
  let m = /^(\d+)\/(\d+)$/.exec(v);
  if (m) return Number(m[1]) >= 1 && Number(m[1]) <= Number(m[2]);
  m = /^(\d+(?:\.\d+)?)%$/.exec(v);
  if (m) return Number(m[1]) > 0 && Number(m[1]) <= 100;
  return /^[1-9]\d*[KMGT]?$/.test(v);
}

