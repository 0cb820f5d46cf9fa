// S3 and S3-compatible object stores (AWS, MinIO, Ceph, Garage...). A file up to one part is one
// PutObject from a buffer; a larger one is a multipart upload read from disk into `queueSize` reused
// part buffers (partSize x queueSize bounds the memory, whatever the file size). An object only
// appears at CompleteMultipartUpload, and a failed or interrupted (SIGINT/SIGTERM: the requests in
// flight are cancelled) multipart upload is aborted, never completed. Each object carries its sha256
// as metadata, checked with HeadObject after the upload together with the size. Every request made
// with a signal (uploads, downloads, listings, index reads, HeadObject) is aborted by SIGINT/SIGTERM,
// the first one's connecting included, so a server that stopped answering is not waited out.
import { createWriteStream } from 'node:fs';
import { open, type FileHandle } from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import {
  S3Client,
  HeadObjectCommand,
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  UploadPartCommand,
  GetObjectCommand,
  PutObjectCommand,
  ListObjectsV2Command,
  ListMultipartUploadsCommand,
  ListPartsCommand,
  DeleteObjectCommand,
  type CompletedPart,
  type StorageClass,
} from '@aws-sdk/client-s3';
import { hashFile } from '../catalog/manifest.js';
import { mapBounded } from '../core/pool.js';
import { REMOTE_INDEX } from './copy.js';
import { TargetError, UploadInterruptedError } from './retry.js';
import { type Backend, type Leftover, type PutFileOptions, type RemoteStat, type TreeEntry } from './backend.js';

const MIB = 1024 * 1024;
/** S3's limit on the parts of one multipart upload. */
export const MAX_PARTS = 10_000;
/** How long AbortMultipartUpload may take: batt is often stopping (SIGTERM) when it sends it. */
const ABORT_WAIT_MS = 10_000;

/** Part size in bytes: the configured one, grown (in whole MiB) so that no file needs more than MAX_PARTS parts. */
export function partSizeFor(fileSize: number, partSizeMb: number): number {
  return Math.max(partSizeMb, Math.ceil(fileSize / MAX_PARTS / MIB)) * MIB;
}

/** Reads exactly `len` bytes at `pos` into the start of `buf`; a file that got shorter is an error. */
async function readFully(fh: FileHandle, buf: Buffer, len: number, pos: number, what: string): Promise<void> {
  let got = 0;
  while (got < len) {
    const { bytesRead } = await fh.read(buf, got, len - got, pos + got);
    if (bytesRead === 0) throw new TargetError(`${what}: the file got shorter during the upload`);
    got += bytesRead;
  }
}

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
      // (requestTimeout is the whole request's time in this SDK, and only warns unless told to throw)
      requestHandler: { connectionTimeout: o.timeoutS * 1000, socketTimeout: o.timeoutS * 1000 },
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

  async putFile(local: string, rel: string, size: number, opts: PutFileOptions = {}): Promise<void> {
    const { signal } = opts;
    const sha256 = opts.sha256 ?? (await hashFile(local)).sha256;
    const target = {
      Bucket: this.o.bucket,
      Key: this.key(rel),
      Metadata: { 'batt-sha256': sha256 },
      StorageClass: (this.o.storageClass || undefined) as StorageClass | undefined,
    };
    const partSize = partSizeFor(size, this.o.partSizeMb);
    const fh = await open(local, 'r');
    try {
      if (size <= partSize) {
        const body = Buffer.allocUnsafe(size);
        await readFully(fh, body, size, 0, this.describe(rel));
        await this.client.send(new PutObjectCommand({ ...target, Body: body, ContentLength: size }), { abortSignal: signal });
      } else {
        await this.multipart(fh, size, partSize, target, this.describe(rel), signal, opts.onBytes);
      }
    } finally {
      await fh.close();
    }
    const head = await this.client.send(new HeadObjectCommand({ Bucket: this.o.bucket, Key: this.key(rel) }), { abortSignal: signal });
    const remoteSha = head.Metadata?.['batt-sha256'];
    if (remoteSha && remoteSha !== sha256) throw new TargetError(`${this.describe(rel)}: sha256 metadata differs from the uploaded file`);
  }

  /**
   * Multipart upload with `queueSize` workers, each owning one part-size buffer it reuses: read
   * part n from disk, UploadPart, next part. The first failure stops every worker after its current
   * part; then the upload is aborted and that first error is thrown (Target retries transient ones).
   * `signal` cancels the UploadParts in flight (a failure like any other), and is checked once more
   * right before CompleteMultipartUpload: an interrupted upload is aborted, never completed.
   */
  private async multipart(
    fh: FileHandle,
    size: number,
    partSize: number,
    target: { Bucket: string; Key: string; Metadata: Record<string, string>; StorageClass?: StorageClass },
    what: string,
    signal?: AbortSignal,
    onBytes?: (sent: number) => void,
  ): Promise<void> {
    const { Bucket, Key } = target;
    let sent = 0;
    const { UploadId } = await this.client.send(new CreateMultipartUploadCommand(target), { abortSignal: signal });
    if (!UploadId) throw new TargetError(`${what}: the server returned no multipart UploadId`);
    const count = Math.ceil(size / partSize);
    const parts: CompletedPart[] = [];
    const numbers = Array.from({ length: count }, (_, n) => n);
    try {
      await mapBounded(
        numbers,
        this.o.queueSize,
        async (n, _i, buf) => {
          const len = Math.min(partSize, size - n * partSize);
          await readFully(fh, buf, len, n * partSize, what);
          const r = await this.client.send(
            new UploadPartCommand({ Bucket, Key, UploadId, PartNumber: n + 1, Body: buf.subarray(0, len), ContentLength: len }),
            { abortSignal: signal },
          );
          parts[n] = { PartNumber: n + 1, ETag: r.ETag };
          onBytes?.((sent += len));
        },
        () => Buffer.allocUnsafe(partSize),
      );
      if (signal?.aborted) throw new UploadInterruptedError(`${what}: upload interrupted`);
      await this.client.send(new CompleteMultipartUploadCommand({ Bucket, Key, UploadId, MultipartUpload: { Parts: parts } }));
    } catch (err) {
      // no parts may linger (best effort: the server may be gone; a bucket lifecycle rule
      // AbortIncompleteMultipartUpload catches the rest); the upload's own error is the one to report
      // Its own time limit, not `signal`: when batt is being stopped this request must still go out.
      await this.client
        .send(new AbortMultipartUploadCommand({ Bucket, Key, UploadId }), { abortSignal: AbortSignal.timeout(ABORT_WAIT_MS) })
        .catch(() => {});
      throw err;
    }
  }

  /**
   * S3 has no folders and no create-if-absent for a prefix: taken when any object, or any multipart
   * upload in progress, has a key under `rel/`.
   */
  async claim(rel: string, signal?: AbortSignal): Promise<boolean> {
    const under = `${this.key(rel)}/`;
    // no MaxKeys: one copy holds few objects (and s3rver, the tests' server, fails MaxKeys with a match)
    const objects = await this.client.send(new ListObjectsV2Command({ Bucket: this.o.bucket, Prefix: under }), { abortSignal: signal });
    if ((objects.Contents ?? []).length) return false;
    try {
      const up = await this.client.send(new ListMultipartUploadsCommand({ Bucket: this.o.bucket, Prefix: under, MaxUploads: 1 }), { abortSignal: signal });
      if ((up.Uploads ?? []).length) return false;
    } catch (err) {
      const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
      if (!(e.name === 'NotImplemented' || e.$metadata?.httpStatusCode === 501)) throw err;
    }
    return true;
  }

  async stat(rel: string, signal?: AbortSignal): Promise<RemoteStat | undefined> {
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.o.bucket, Key: this.key(rel) }), { abortSignal: signal });
      return { size: Number(head.ContentLength ?? -1) };
    } catch (err) {
      const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
      if (e.name === 'NotFound' || e.name === 'NoSuchKey' || e.$metadata?.httpStatusCode === 404) return undefined;
      throw err;
    }
  }

  /** `signal` cancels the GetObject, or destroys its body mid-stream (which closes the connection). */
  async getFile(rel: string, local: string, { signal }: { signal?: AbortSignal } = {}): Promise<void> {
    const r = await this.client.send(new GetObjectCommand({ Bucket: this.o.bucket, Key: this.key(rel) }), { abortSignal: signal });
    await pipeline(r.Body as Readable, createWriteStream(local, { mode: 0o600 }), { signal });
  }

  async readText(rel: string, signal?: AbortSignal): Promise<string | undefined> {
    try {
      const r = await this.client.send(new GetObjectCommand({ Bucket: this.o.bucket, Key: this.key(rel) }), { abortSignal: signal });
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

  private async keys(prefix: string, signal?: AbortSignal): Promise<string[]> {
    const out: string[] = [];
    let token: string | undefined;
    do {
      const r = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.o.bucket, Prefix: prefix, ContinuationToken: token }),
        { abortSignal: signal },
      );
      for (const o of r.Contents ?? []) if (o.Key) out.push(o.Key);
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
    return out;
  }

  async findIndexes(signal?: AbortSignal): Promise<string[]> {
    const base = this.key('');
    const strip = base ? base.length + 1 : 0;
    return (await this.keys(base ? `${base}/` : '', signal))
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

  /**
   * Multipart uploads under the PREFIX never completed nor aborted (batt vanished, or the server did
   * when it tried to abort), dated by their newest part (else their start): a live upload's parts
   * keep coming. Without a PREFIX nothing is listed: the bucket may hold other programs' uploads.
   * A server without ListMultipartUploads has none to show.
   */
  async findLeftovers(signal?: AbortSignal): Promise<Leftover[]> {
    const base = this.key('');
    if (!base) return [];
    const out: Leftover[] = [];
    let KeyMarker: string | undefined;
    let UploadIdMarker: string | undefined;
    do {
      let r;
      try {
        r = await this.client.send(new ListMultipartUploadsCommand({ Bucket: this.o.bucket, Prefix: `${base}/`, KeyMarker, UploadIdMarker }), { abortSignal: signal });
      } catch (err) {
        const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
        if (e.name === 'NotImplemented' || e.$metadata?.httpStatusCode === 501) return out;
        throw err;
      }
      for (const u of r.Uploads ?? []) {
        if (!u.Key || !u.UploadId || !u.Key.startsWith(`${base}/`)) continue;
        let newest = u.Initiated?.getTime() || -Infinity;
        let PartNumberMarker: string | undefined;
        do {
          const parts = await this.client.send(
            new ListPartsCommand({ Bucket: this.o.bucket, Key: u.Key, UploadId: u.UploadId, PartNumberMarker }),
            { abortSignal: signal },
          );
          for (const p of parts.Parts ?? []) newest = Math.max(newest, p.LastModified?.getTime() || -Infinity);
          PartNumberMarker = parts.IsTruncated ? parts.NextPartNumberMarker : undefined;
        } while (PartNumberMarker);
        out.push({ rel: u.Key.slice(base.length + 1), mtimeMs: Number.isFinite(newest) ? newest : NaN, uploadId: u.UploadId });
      }
      KeyMarker = r.IsTruncated ? r.NextKeyMarker : undefined;
      UploadIdMarker = r.IsTruncated ? r.NextUploadIdMarker : undefined;
    } while (KeyMarker);
    return out;
  }

  /**
   * Every object under the PREFIX (a key ending in / is a folder marker), dated by LastModified,
   * and the multipart uploads not completed, dated by their newest part: a file in transfer. Without
   * a PREFIX nothing is listed: the bucket may hold other programs' objects.
   */
  async listTree(signal?: AbortSignal): Promise<TreeEntry[]> {
    const base = this.key('');
    if (!base) return [];
    const out: TreeEntry[] = [];
    let token: string | undefined;
    do {
      const r = await this.client.send(new ListObjectsV2Command({ Bucket: this.o.bucket, Prefix: `${base}/`, ContinuationToken: token }), { abortSignal: signal });
      for (const o of r.Contents ?? []) {
        if (!o.Key?.startsWith(`${base}/`) || o.Key.length === base.length + 1) continue;
        const rel = o.Key.slice(base.length + 1);
        const mtimeMs = o.LastModified ? o.LastModified.getTime() : NaN;
        out.push(rel.endsWith('/') ? { rel: rel.replace(/\/+$/, ''), type: 'dir', mtimeMs } : { rel, type: 'file', mtimeMs });
      }
      token = r.IsTruncated ? r.NextContinuationToken : undefined;
    } while (token);
    for (const u of await this.findLeftovers(signal)) out.push({ rel: u.rel, type: 'file', mtimeMs: u.mtimeMs });
    return out;
  }

  async removeLeftover(l: Leftover): Promise<void> {
    if (!l.uploadId) throw new TargetError(`${this.describe(l.rel)}: no multipart upload to abort`);
    await this.client.send(new AbortMultipartUploadCommand({ Bucket: this.o.bucket, Key: this.key(l.rel), UploadId: l.uploadId }));
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}
