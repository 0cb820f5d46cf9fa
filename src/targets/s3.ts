// S3 and S3-compatible object stores (AWS, MinIO, Ceph, Garage...). Files stream from disk through
// lib-storage's multipart upload (partSize x queueSize bounds the memory); an object only appears
// when its upload completes, and a failed multipart upload is aborted. Each object carries its
// sha256 as metadata, checked with HeadObject after the upload together with the size.
import { createReadStream, createWriteStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import {
  S3Client,
  HeadObjectCommand,
  AbortMultipartUploadCommand,
  GetObjectCommand,
  PutObjectCommand,
  ListObjectsV2Command,
  DeleteObjectCommand,
  type StorageClass,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import { hashFile } from '../manifest.js';
import { REMOTE_INDEX, TargetError, type Backend, type RemoteStat } from './index.js';

// batt supports node 20; the SDK's notice about future versions is noise in a cron mail
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

export interface S3Options {
  bucket: string;
  prefix: string;
  region: string;
  endpoint?: string;
  forcePathStyle: boolean;
  storageClass?: string;
  accessKeyId?: string;
  secretAccessKey?: string;
  partSizeMb: number;
  queueSize: number;
  /** Seconds a connection may take to open, or sit idle mid-request, before it fails (and is retried). */
  timeoutS: number;
}

export class S3Backend implements Backend {
  readonly kind = 's3';
  private client: S3Client;
  constructor(readonly o: S3Options) {
    this.client = new S3Client({
      region: o.region,
      endpoint: o.endpoint || undefined,
      forcePathStyle: o.forcePathStyle,
      // credentials from conf when given, else the standard AWS chain (env, ~/.aws, IMDS...)
      credentials: o.accessKeyId && o.secretAccessKey ? { accessKeyId: o.accessKeyId, secretAccessKey: o.secretAccessKey } : undefined,
      maxAttempts: 3,
      // a server that stops answering must not hang the run: connection and idle-socket timeouts
      requestHandler: { connectionTimeout: o.timeoutS * 1000, requestTimeout: o.timeoutS * 1000 },
      // plain signed payloads work with every S3-compatible server; batt checks sha256 itself
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  }

  private key(rel: string): string {
    return [this.o.prefix.replace(/^\/+|\/+$/g, ''), rel].filter(Boolean).join('/');
  }

  describe(rel: string): string {
    return `s3://${this.o.bucket}/${this.key(rel)}`;
  }

  async putFile(local: string, rel: string, size: number): Promise<void> {
    const { sha256 } = await hashFile(local);
    const upload = new Upload({
      client: this.client,
      params: {
        Bucket: this.o.bucket,
        Key: this.key(rel),
        Body: createReadStream(local, { highWaterMark: 1 << 20 }),
        ContentLength: size,
        Metadata: { 'batt-sha256': sha256 },
        StorageClass: (this.o.storageClass || undefined) as StorageClass | undefined,
      },
      partSize: this.o.partSizeMb * 1024 * 1024,
      queueSize: this.o.queueSize,
      leavePartsOnError: true, // batt aborts it below, keeping the upload's own error
    });
    try {
      await upload.done();
    } catch (err) {
      // abort the unfinished multipart upload so no parts linger (best effort: the server may be
      // gone; a bucket lifecycle rule AbortIncompleteMultipartUpload catches the rest)
      const uploadId = (upload as unknown as { uploadId?: string }).uploadId;
      if (uploadId) {
        await this.client
          .send(new AbortMultipartUploadCommand({ Bucket: this.o.bucket, Key: this.key(rel), UploadId: uploadId }))
          .catch(() => {});
      }
      throw err;
    }
    const head = await this.client.send(new HeadObjectCommand({ Bucket: this.o.bucket, Key: this.key(rel) }));
    const remoteSha = head.Metadata?.['batt-sha256'];
    if (remoteSha && remoteSha !== sha256) throw new TargetError(`${this.describe(rel)}: sha256 metadata differs from the uploaded file`);
  }

  async stat(rel: string): Promise<RemoteStat | undefined> {
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.o.bucket, Key: this.key(rel) }));
      return { size: Number(head.ContentLength ?? -1) };
    } catch (err) {
      const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
      if (e.name === 'NotFound' || e.name === 'NoSuchKey' || e.$metadata?.httpStatusCode === 404) return undefined;
      throw err;
    }
  }

  async getFile(rel: string, local: string): Promise<void> {
    const r = await this.client.send(new GetObjectCommand({ Bucket: this.o.bucket, Key: this.key(rel) }));
    await pipeline(r.Body as Readable, createWriteStream(local, { mode: 0o600 }));
  }

  async readText(rel: string): Promise<string | undefined> {
    try {
      const r = await this.client.send(new GetObjectCommand({ Bucket: this.o.bucket, Key: this.key(rel) }));
      return await r.Body!.transformToString('utf8');
    } catch (err) {
      const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
      if (e.name === 'NoSuchKey' || e.$metadata?.httpStatusCode === 404) return undefined;
      throw err;
    }
  }

  async writeText(rel: string, text: string): Promise<void> {
    await this.client.send(
      new PutObjectCommand({ Bucket: this.o.bucket, Key: this.key(rel), Body: text, ContentType: 'application/json' }),
    );
  }

  private async keys(prefix: string): Promise<string[]> {
    const out: string[] = [];
    let token: string | undefined;
    do {
      const r = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.o.bucket, Prefix: prefix, ContinuationToken: token }),
      );
      for (const o of r.Contents ?? []) if (o.Key) out.push(o.Key);
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
    return out;
  }

  async findIndexes(): Promise<string[]> {
    const base = this.key('');
    const strip = base ? base.length + 1 : 0;
    return (await this.keys(base ? `${base}/` : ''))
      .filter((k) => k.endsWith(`/${REMOTE_INDEX}`))
      .map((k) => k.slice(strip))
      .sort();
  }

  async removeTree(rel: string): Promise<void> {
    const k = this.key(rel);
    const keys = (await this.keys(k)).filter((x) => x === k || x.startsWith(`${k}/`));
    // one by one: DeleteObjects needs a checksum header that not every S3-compatible server takes
    for (const Key of keys) await this.client.send(new DeleteObjectCommand({ Bucket: this.o.bucket, Key }));
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}
