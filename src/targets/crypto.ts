// Encryption before anything leaves the host, in the age format. With public keys: the `age` tool
// (Debian package age), file to file, so memory stays bounded whatever the size. Only public keys
// (age1..., ssh-ed25519 ...) and file paths ever reach argv; secret keys stay in the identity file,
// which batt never reads itself. With a passphrase file: the age-encryption library (the age tool
// reads passphrases only from a terminal), streaming; the output is ordinary age (scrypt) that
// `age -d` decrypts too. The passphrase is read from its file at use time and kept nowhere else.
// An AbortSignal (SIGINT/SIGTERM) stops either way mid-file: the age process is killed, the stream
// pipeline destroyed, the partial output removed, and CryptoInterruptedError thrown.
import fs from 'node:fs/promises';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { FailedError } from '../core/errors.js';
import { runCommand } from '../run/runner.js';
import { ENCRYPTION_KEYS, ENCRYPTION_RELATIONS, enforce, setting, validate } from '../config/confkeys.js';
import { passphraseFile as passphraseCheck, privateFile, readPassphrase, requireFile } from '../config/conffiles.js';

export interface Encryption {
  /** age or SSH public keys: anyone may see them. */
  recipients: string[];
  /** A file of recipients, one per line. */
  recipientsFile?: string;
  /** Secret key file for decryption (restore); must be 0600. */
  identityFile?: string;
  /** File whose first line is the passphrase (0600): encrypts and decrypts. */
  passphraseFile?: string;
}

/** Whether this conf can decrypt (restore) what it encrypted. */
export function canDecrypt(enc: Encryption | undefined): boolean {
  return !!(enc?.identityFile || enc?.passphraseFile);
}

const AGE = () => process.env.BATT_AGE || 'age';

export class CryptoError extends FailedError {}

/** Encryption or decryption stopped by its AbortSignal; the partial output file was removed. */
export class CryptoInterruptedError extends CryptoError {}

/**
 * Reads the encryption keys of a target's conf: RECIPIENT, RECIPIENTS_FILE, IDENTITY_FILE,
 * PASSPHRASE_FILE. The key rules and which keys go together are confkeys.ts (shared with `batt
 * config check`); here: those, then the files named, checked by conffiles.ts (also shared with the check).
 */
export async function encryptionFromConf(conf: Record<string, string>, file: string): Promise<Encryption | undefined> {
  validate(ENCRYPTION_KEYS, conf, file);
  enforce(ENCRYPTION_RELATIONS, conf, file);
  const recipients = setting(ENCRYPTION_KEYS, 'RECIPIENT', conf, file) ?? [];
  const recipientsFile = conf.RECIPIENTS_FILE || undefined;
  const identityFile = conf.IDENTITY_FILE || undefined;
  const passphraseFile = conf.PASSPHRASE_FILE || undefined;
  if (passphraseFile) {
    await requireFile(passphraseCheck, 'PASSPHRASE_FILE', passphraseFile, file);
    return { recipients: [], passphraseFile };
  }
  if (identityFile) await requireFile(privateFile, 'IDENTITY_FILE', identityFile, file);
  if (!recipients.length && !recipientsFile) return undefined;
  return { recipients, recipientsFile, identityFile };
}

/** Streams input through an age-encryption Encrypter/Decrypter into output (0600). */
async function passphraseStream(file: string, input: string, output: string, mode: 'encrypt' | 'decrypt', signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) throw new CryptoInterruptedError(`${mode} interrupted`);
  const { Encrypter, Decrypter } = await import('age-encryption');
  const pass = await readPassphrase(file);
  const src = Readable.toWeb(createReadStream(input, { highWaterMark: 1 << 16 })) as unknown as ReadableStream<Uint8Array>;
  let out: ReadableStream<Uint8Array>;
  let sink: WriteStream | undefined;
  try {
    if (mode === 'encrypt') {
      const e = new Encrypter();
      e.setPassphrase(pass);
      out = await e.encrypt(src);
    } else {
      const d = new Decrypter();
      d.addPassphrase(pass);
      out = await d.decrypt(src);
    }
    // (scrypt above cannot be cut short; the stream below stops at the next chunk)
    sink = createWriteStream(output, { mode: 0o600 });
    await pipeline(Readable.fromWeb(out as unknown as WebReadableStream<Uint8Array>), sink, { signal });
  } catch (err) {
    if (sink && !sink.closed) await new Promise<void>((resolve) => sink!.once('close', () => resolve())); // else it may create output after the rm
    await fs.rm(output, { force: true });
    if (signal?.aborted) throw new CryptoInterruptedError(`${mode} interrupted`);
    const msg = (err as Error).message?.split('\n')[0] ?? String(err);
    throw new CryptoError(`cannot ${mode} with the passphrase: ${msg}`);
  }
  if (signal?.aborted) {
    // aborted while scrypt ran: the stream had no chance to see it
    await fs.rm(output, { force: true });
    throw new CryptoInterruptedError(`${mode} interrupted`);
  }
}

/** `signal` stops it mid-file: CryptoInterruptedError, and no output file. */
export async function encryptFile(enc: Encryption, input: string, output: string, signal?: AbortSignal): Promise<void> {
  if (enc.passphraseFile) return passphraseStream(enc.passphraseFile, input, output, 'encrypt', signal);
  const args = ['--encrypt'];
  for (const r of enc.recipients) args.push('-r', r);
  if (enc.recipientsFile) args.push('-R', enc.recipientsFile);
  args.push('-o', output, input);
  await age(args, 'encrypt', output, signal);
}

/** `signal` stops it mid-file: CryptoInterruptedError, and no output file. */
export async function decryptFile(enc: Encryption, input: string, output: string, signal?: AbortSignal): Promise<void> {
  if (enc.passphraseFile) return passphraseStream(enc.passphraseFile, input, output, 'decrypt', signal);
  if (!enc.identityFile) throw new CryptoError('cannot decrypt: no IDENTITY_FILE or PASSPHRASE_FILE configured');
  await age(['--decrypt', '-i', enc.identityFile, '-o', output, input], 'decrypt', output, signal);
}

/** Runs the age tool writing `output`; `signal` kills it (SIGTERM) and removes what it wrote. */
async function age(args: string[], what: string, output: string, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) throw new CryptoInterruptedError(`${what} interrupted`);
  let r;
  try {
    r = await runCommand(AGE(), args, { signal });
  } catch (err) {
    throw new CryptoError(`cannot ${what}: ${(err as Error).message.split('\n')[0]} (install the age package)`);
  }
  if (signal?.aborted) {
    // age has exited (runCommand waits for it): nothing writes the file any more
    await fs.rm(output, { force: true });
    throw new CryptoInterruptedError(`${what} interrupted`);
  }
  if (r.exitCode !== 0) {
    const msg = r.stderr.split('\n').find((l) => l.trim()) ?? `exit ${r.exitCode}`;
    throw new CryptoError(`age could not ${what}: ${msg.replace(/^age: (error: )?/, '')}`);
  }
}

/**
 * Passphrase mode, upload side: a new age key pair for one copy. The secret key is written only
 * into `dir` (private temp folder), sealed with the passphrase; returns the sealed file and the
 * public key to encrypt the copy's files with (fast, through the age tool).
 */
export async function sealCopyKey(enc: Encryption, dir: string, signal?: AbortSignal): Promise<{ file: string; recipient: string }> {
  if (!enc.passphraseFile) throw new CryptoError('no PASSPHRASE_FILE');
  const { generateIdentity, identityToRecipient } = await import('age-encryption');
  const identity = await generateIdentity();
  const recipient = await identityToRecipient(identity);
  const plain = `${dir}/copy-key`;
  await fs.writeFile(plain, `${identity}\n`, { mode: 0o600, flag: 'wx' });
  try {
    await passphraseStream(enc.passphraseFile, plain, `${dir}/copy-key.age`, 'encrypt', signal);
  } finally {
    await fs.rm(plain, { force: true });
  }
  return { file: `${dir}/copy-key.age`, recipient };
}

/** Passphrase mode, restore side: unseals a copy's key into `dir`; returns the identity file. */
export async function openCopyKey(enc: Encryption, sealed: string, dir: string, signal?: AbortSignal): Promise<string> {
  if (!enc.passphraseFile) throw new CryptoError('no PASSPHRASE_FILE');
  const out = `${dir}/copy-key`;
  await passphraseStream(enc.passphraseFile, sealed, out, 'decrypt', signal);
  return out;
}
