// From a target's conf to a ready Target; each kind's module (and its SDK) loads only when used.
import path from 'node:path';
import { encryptionFromConf, type Encryption } from './crypto.js';
import { Target } from './target.js';
import type { CopyTarget } from './copytarget.js';
import { DEFAULT_RETRY, TargetError, type RetryPolicy } from './retry.js';
import { TARGET_KIND_KEYS, TARGET_RELATIONS, enforce, targetRelations, validate } from '../config/confkeys.js';
import { boolKey, intKey, targetSetting, type TargetConf } from './config.js';

export interface OpenedTarget<T extends CopyTarget = Target> {
  target: T;
  encryption?: Encryption;
  retry: RetryPolicy;
}

/** Any kind of target, the restic repository included: what the run, the commands and doctor open. */
export async function openCopyTarget(t: TargetConf): Promise<OpenedTarget<CopyTarget>> {
  if (t.kind !== 'restic') return openTarget(t);
  validate(TARGET_KIND_KEYS.restic, t.conf, t.file);
  enforce(targetRelations('restic'), t.conf, t.file);
  const { openResticTarget } = await import('./restic.js');
  return { target: await openResticTarget(t), retry: retryPolicy(t) };
}

/**
 * A target of one of the file-level kinds (a Backend under a Target). The kind's keys (required ones, absolute paths) and relations come from the table in confkeys.ts
 * (shared with `batt config check`) and are enforced first, so below every required key is set.
 */
export async function openTarget(t: TargetConf): Promise<OpenedTarget> {
  const c = t.conf;
  validate(TARGET_KIND_KEYS[t.kind], c, t.file);
  enforce(TARGET_RELATIONS[t.kind], c, t.file);
  const req = (key: string): string => c[key]!;
  const timeoutS = intKey(t, 'TIMEOUT', 120);
  let backend;
  switch (t.kind) {
    case 'local': {
      const { LocalBackend } = await import('./local.js');
      backend = new LocalBackend(path.resolve(req('PATH')));
      break;
    }
    case 'rsync': {
      const { RsyncBackend } = await import('./rsync.js');
      backend = new RsyncBackend({
        path: req('PATH'),
        host: c.HOST || undefined,
        user: c.USER || undefined,
        port: c.PORT ? intKey(t, 'PORT', 22) : undefined,
        sshKey: c.SSH_KEY || undefined,
        knownHosts: c.KNOWN_HOSTS || undefined,
        timeoutS,
      });
      break;
    }
    case 'sftp': {
      const { SftpBackend } = await import('./sftp.js');
      backend = new SftpBackend({
        host: req('HOST'),
        port: intKey(t, 'PORT', 22),
        user: req('USER'),
        keyFile: req('SSH_KEY'),
        knownHosts: req('KNOWN_HOSTS'),
        path: req('PATH'),
        timeoutS,
      });
      break;
    }
    case 's3': {
      const { S3Backend } = await import('./s3.js');
      backend = new S3Backend({
        bucket: req('BUCKET'),
        prefix: c.PREFIX ?? '',
        region: c.REGION || 'us-east-1',
        endpoint: c.ENDPOINT || undefined,
        forcePathStyle: boolKey(t, 'FORCE_PATH_STYLE', !!c.ENDPOINT),
        storageClass: c.STORAGE_CLASS || undefined,
        accessKeyId: c.ACCESS_KEY_ID || undefined,
        secretAccessKey: c.SECRET_ACCESS_KEY || undefined,
        partSizeMb: Math.max(5, intKey(t, 'PART_SIZE_MB', 16)),
        queueSize: Math.max(1, intKey(t, 'QUEUE_SIZE', 2)),
        timeoutS,
      });
      break;
    }
    case 'restic':
      throw new TargetError(`${t.file}: a restic target is no file-level Target (openCopyTarget opens it)`);
    case 'ftp': {
      const { FtpBackend } = await import('./ftp.js');
      const secure = targetSetting(t, 'SECURE') ?? false;
      backend = new FtpBackend({
        host: req('HOST'),
        port: intKey(t, 'PORT', 21),
        user: c.USER || 'anonymous',
        password: c.PASSWORD ?? '',
        secure,
        caFile: c.CA_FILE || undefined,
        path: req('PATH'),
        timeoutS,
      });
      break;
    }
  }
  return { target: new Target(t.name, backend, t), encryption: await encryptionFromConf(c, t.file), retry: retryPolicy(t) };
}

function retryPolicy(t: TargetConf): RetryPolicy {
  return {
    attempts: Math.max(1, intKey(t, 'RETRIES', DEFAULT_RETRY.attempts - 1) + 1),
    baseDelayMs: intKey(t, 'RETRY_DELAY_MS', DEFAULT_RETRY.baseDelayMs),
    maxDelayMs: DEFAULT_RETRY.maxDelayMs,
  };
}
