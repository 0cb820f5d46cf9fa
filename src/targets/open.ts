// From a target's conf to a ready Target; each kind's module (and its SDK) loads only when used.
import path from 'node:path';
import { ConfigError } from '../errors.js';
import { encryptionFromConf, type Encryption } from '../crypto.js';
import { Target, DEFAULT_RETRY, type RetryPolicy } from './index.js';
import { boolKey, intKey, need, targetSetting, type TargetConf } from './config.js';

export interface OpenedTarget {
  target: Target;
  encryption?: Encryption;
  retry: RetryPolicy;
}

function absPath(t: TargetConf, key: string, v: string): string {
  if (!path.isAbsolute(v)) throw new ConfigError(`${t.file}: ${key} must be an absolute path, got "${v}"`);
  return v;
}

export async function openTarget(t: TargetConf): Promise<OpenedTarget> {
  const c = t.conf;
  const timeoutS = intKey(t, 'TIMEOUT', 120);
  let backend;
  switch (t.kind) {
    case 'local': {
      const { LocalBackend } = await import('./local.js');
      backend = new LocalBackend(path.resolve(absPath(t, 'PATH', need(t, 'PATH'))));
      break;
    }
    case 'rsync': {
      const { RsyncBackend } = await import('./rsync.js');
      const host = c.HOST || undefined;
      if (host && (!c.SSH_KEY || !c.KNOWN_HOSTS)) throw new ConfigError(`${t.file}: an rsync target with HOST needs SSH_KEY and KNOWN_HOSTS`);
      backend = new RsyncBackend({
        path: host ? need(t, 'PATH') : absPath(t, 'PATH', need(t, 'PATH')),
        host,
        user: c.USER || undefined,
        port: c.PORT ? intKey(t, 'PORT', 22) : undefined,
        sshKey: c.SSH_KEY ? absPath(t, 'SSH_KEY', c.SSH_KEY) : undefined,
        knownHosts: c.KNOWN_HOSTS ? absPath(t, 'KNOWN_HOSTS', c.KNOWN_HOSTS) : undefined,
        timeoutS,
      });
      break;
    }
    case 'sftp': {
      const { SftpBackend } = await import('./sftp.js');
      backend = new SftpBackend({
        host: need(t, 'HOST'),
        port: intKey(t, 'PORT', 22),
        user: need(t, 'USER'),
        keyFile: absPath(t, 'SSH_KEY', need(t, 'SSH_KEY')),
        knownHosts: absPath(t, 'KNOWN_HOSTS', need(t, 'KNOWN_HOSTS')),
        path: need(t, 'PATH'),
        timeoutS,
      });
      break;
    }
    case 's3': {
      const { S3Backend } = await import('./s3.js');
      if (!!c.ACCESS_KEY_ID !== !!c.SECRET_ACCESS_KEY) throw new ConfigError(`${t.file}: set both ACCESS_KEY_ID and SECRET_ACCESS_KEY, or neither (AWS chain)`);
      backend = new S3Backend({
        bucket: need(t, 'BUCKET'),
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
    case 'ftp': {
      const { FtpBackend } = await import('./ftp.js');
      const secure = targetSetting(t, 'SECURE') ?? false;
      backend = new FtpBackend({
        host: need(t, 'HOST'),
        port: intKey(t, 'PORT', 21),
        user: c.USER || 'anonymous',
        password: c.PASSWORD ?? '',
        secure,
        caFile: c.CA_FILE || undefined,
        path: need(t, 'PATH'),
        timeoutS,
      });
      break;
    }
  }
  const retry: RetryPolicy = {
    attempts: Math.max(1, intKey(t, 'RETRIES', DEFAULT_RETRY.attempts - 1) + 1),
    baseDelayMs: intKey(t, 'RETRY_DELAY_MS', DEFAULT_RETRY.baseDelayMs),
    maxDelayMs: DEFAULT_RETRY.maxDelayMs,
  };
  return { target: new Target(t.name, backend, t), encryption: await encryptionFromConf(c, t.file), retry };
}
