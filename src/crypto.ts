// Encryption before anything leaves the host: the `age` tool (Debian package age), file to file,
// so memory stays bounded whatever the size. Only public keys (age1..., ssh-ed25519 ...) and file
// paths ever reach argv; secret keys stay in the identity file, which batt never reads itself.
import fs from 'node:fs/promises';
import { ConfigError, FailedError } from './errors.js';
import { runCommand } from './runner.js';

export interface Encryption {
  /** age or SSH public keys: anyone may see them. */
  recipients: string[];
  /** A file of recipients, one per line. */
  recipientsFile?: string;
  /** Secret key file for decryption (restore); must be 0600. */
  identityFile?: string;
}

const AGE = () => process.env.BATT_AGE || 'age';

export class CryptoError extends FailedError {}

const RECIPIENT = /^(age1[02-9ac-hj-np-z]{58}|ssh-(ed25519|rsa) [A-Za-z0-9+/=]+)$/;

/** Reads the encryption keys of a target's conf: RECIPIENT, RECIPIENTS_FILE, IDENTITY_FILE. */
export async function encryptionFromConf(conf: Record<string, string>, file: string): Promise<Encryption | undefined> {
  const recipients = (conf.RECIPIENT ?? '')
    .split(/[,\s]+(?=age1|ssh-)/)
    .map((s) => s.trim())
    .filter(Boolean);
  for (const r of recipients) {
    if (!RECIPIENT.test(r)) throw new ConfigError(`${file}: RECIPIENT "${r.slice(0, 20)}..." is not an age or ssh public key`);
  }
  const recipientsFile = conf.RECIPIENTS_FILE || undefined;
  const identityFile = conf.IDENTITY_FILE || undefined;
  if (conf.PASSPHRASE || conf.PASSPHRASE_FILE) {
    throw new ConfigError(`${file}: passphrase encryption is not supported yet; use RECIPIENT (age-keygen) instead`);
  }
  if (identityFile) {
    let st;
    try {
      st = await fs.stat(identityFile);
    } catch {
      throw new ConfigError(`${file}: IDENTITY_FILE ${identityFile} cannot be read`);
    }
    if (st.mode & 0o077) throw new ConfigError(`${file}: IDENTITY_FILE ${identityFile} is readable by others`, `chmod 600 ${identityFile}`);
  }
  if (!recipients.length && !recipientsFile) {
    if (identityFile) throw new ConfigError(`${file}: IDENTITY_FILE is set but no RECIPIENT: uploads would not be encrypted`);
    return undefined;
  }
  return { recipients, recipientsFile, identityFile };
}

export async function encryptFile(enc: Encryption, input: string, output: string): Promise<void> {
  const args = ['--encrypt'];
  for (const r of enc.recipients) args.push('-r', r);
  if (enc.recipientsFile) args.push('-R', enc.recipientsFile);
  args.push('-o', output, input);
  await age(args, 'encrypt');
}

export async function decryptFile(enc: Encryption, input: string, output: string): Promise<void> {
  if (!enc.identityFile) throw new CryptoError('cannot decrypt: no IDENTITY_FILE configured');
  await age(['--decrypt', '-i', enc.identityFile, '-o', output, input], 'decrypt');
}

async function age(args: string[], what: string): Promise<void> {
  let r;
  try {
    r = await runCommand(AGE(), args);
  } catch (err) {
    throw new CryptoError(`cannot ${what}: ${(err as Error).message.split('\n')[0]} (install the age package)`);
  }
  if (r.exitCode !== 0) {
    const msg = r.stderr.split('\n').find((l) => l.trim()) ?? `exit ${r.exitCode}`;
    throw new CryptoError(`age could not ${what}: ${msg.replace(/^age: (error: )?/, '')}`);
  }
}
