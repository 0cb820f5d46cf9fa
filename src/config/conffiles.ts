// The files a conf names (PASSPHRASE_FILE, IDENTITY_FILE, SSH_KEY, CA_FILE, ...): what the run
// requires of each, one check per kind of file. The run throws the first problem as a ConfigError
// (requireFile); `batt config check` runs the same checks over every file every conf names
// (namedFiles says which, and when the run uses them) and lists them all. A check reads a file
// only to judge it: the contents are never returned in a problem, printed or kept.
import fs from 'node:fs/promises';
import { createHmac } from 'node:crypto';
import type { Conf } from './config.js';
import type { TargetKind } from './confkeys.js';
import { ConfigError } from '../core/errors.js';

/** What is wrong with a named file ("KEY <why>"), and the command that fixes it, if one does. */
export interface FileProblem {
  why: string;
  fix?: string;
}
export type FileCheck = (file: string) => Promise<FileProblem | undefined>;

const cannotRead = (file: string, err: unknown): FileProblem => {
  const code = (err as NodeJS.ErrnoException).code;
  const what = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a folder' : (code ?? String(err));
  return { why: `${file} cannot be read (${what})` };
};

/** Opens the file and reads its first byte (so a folder or an unreadable file is caught); then `more`. */
async function withFile(file: string, more?: (mode: number) => Promise<FileProblem | undefined> | FileProblem | undefined): Promise<FileProblem | undefined> {
  let mode: number;
  try {
    const fh = await fs.open(file, 'r');
    try {
      mode = (await fh.stat()).mode;
      await fh.read(Buffer.alloc(1), 0, 1, 0);
    } finally {
      await fh.close();
    }
  } catch (err) {
    return cannotRead(file, err);
  }
  return more?.(mode);
}

/** A file the run reads (a CA, an ssh key, a recipients file): it must be readable. */
export const readableFile: FileCheck = (file) => withFile(file);

/** A secret the run reads (IDENTITY_FILE, PASSPHRASE_FILE): readable, and by its owner only. */
export const privateFile: FileCheck = (file) =>
  withFile(file, (mode) =>
    mode & 0o077 ? { why: `${file} is readable by others (mode ${(mode & 0o777).toString(8).padStart(3, '0')})`, fix: `chmod 600 ${file}` } : undefined,
  );

/** The passphrase: the first line of the file, blanks trimmed. */
export async function readPassphrase(file: string): Promise<string> {
  return ((await fs.readFile(file, 'utf8')).split(/\r?\n/)[0] ?? '').trim();
}

/** PASSPHRASE_FILE: private, and its first line not empty. */
export const passphraseFile: FileCheck = async (file) => (await privateFile(file)) ?? ((await readPassphrase(file)) ? undefined : { why: `${file} is empty` });

/** Does a known_hosts line name this host (plain or hashed, with [host]:port for other ports)? */
export function knownHostsKeys(text: string, host: string, port: number): string[] {
  const names = port === 22 ? [host, `[${host}]:22`] : [`[${host}]:${port}`];
  const keys: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line || line.startsWith('#') || line.startsWith('@revoked')) continue;
    const parts = line.split(/\s+/);
    if (parts[0] === '@cert-authority') continue;
    const [hosts, , key] = parts;
    if (!hosts || !key) continue;
    const match = hosts.split(',').some((h) => {
      if (h.startsWith('|1|')) {
        const [, , salt, hash] = h.split('|');
        return names.some((n) => createHmac('sha1', Buffer.from(salt!, 'base64')).update(n).digest('base64') === hash);
      }
      return names.includes(h);
    });
    if (match) keys.push(key);
  }
  return keys;
}

/** The sftp target's KNOWN_HOSTS: readable and with a key for the server (no trust on first use). */
export const knownHostsFor =
  (host: string, port: number): FileCheck =>
  (file) =>
    withFile(file, async () =>
      knownHostsKeys(await fs.readFile(file, 'utf8'), host, port).length ? undefined : { why: `${file} has no key for ${host}:${port}` },
    );

/** The run's side: the check's first problem as a ConfigError "<conf>: KEY why" (hint: the fix). */
export async function requireFile(check: FileCheck, key: string, file: string, conf: string): Promise<void> {
  const p = await check(file);
  if (p) throw new ConfigError(`${conf}: ${key} ${p.why}`, p.fix);
}

export interface NamedFile {
  key: string;
  file: string;
  check: FileCheck;
}

/**
 * The files a conf names that a run would use, each with what the run requires of it, from the
 * last value of each key: batt.conf (kind 'global') or a target of that kind (undefined: TYPE is
 * wrong, then only the encryption keys). Only what the run uses: SMTP_CA_FILE only with
 * SMTP_HOST, an rsync target's ssh files only with HOST, no IDENTITY_FILE or RECIPIENTS_FILE
 * beside PASSPHRASE_FILE. Every one of these paths must be absolute: a relative one is not
 * checked here (it would be read from the check's working folder, not the run's); its key rule
 * (confkeys.ts absPath, SMTP_CA_FILE's lint) reports it instead, once.
 */
export function namedFiles(kind: 'global' | TargetKind | undefined, c: Conf): NamedFile[] {
  const out: NamedFile[] = [];
  const add = (key: string, check: FileCheck) => {
    if (c[key]?.startsWith('/')) out.push({ key, file: c[key], check });
  };
  if (kind === 'global') {
    if (c.SMTP_HOST) add('SMTP_CA_FILE', readableFile);
    return out;
  }
  if (kind === 'sftp') {
    add('SSH_KEY', readableFile);
    const port = c.PORT ? Number(c.PORT) : 22;
    add('KNOWN_HOSTS', c.HOST && /^\d+$/.test(c.PORT || '22') ? knownHostsFor(c.HOST, port) : readableFile);
  } else if (kind === 'rsync' && c.HOST) {
    add('SSH_KEY', readableFile);
    add('KNOWN_HOSTS', readableFile);
  } else if (kind === 'ftp') add('CA_FILE', readableFile);
  else if (kind === 'restic') {
    add('PASSWORD_FILE', passphraseFile);
    add('SSH_KEY', readableFile);
    add('KNOWN_HOSTS', readableFile);
    add('CA_FILE', readableFile);
    return out; // restic encrypts the repository itself: no age keys
  }
  if (c.PASSPHRASE_FILE) add('PASSPHRASE_FILE', passphraseFile);
  else {
    add('IDENTITY_FILE', privateFile);
    add('RECIPIENTS_FILE', readableFile);
  }
  return out;
}
