// A throwaway S3-protocol server for target tests: s3rver (npm devDependency, the "fake S3 server
// for node"), run in the test process on a free 127.0.0.1 port with a temp data folder. It speaks
// path-style S3 with SigV4 (credentials S3RVER/S3RVER) including multipart uploads. s3rver does
// not implement AbortMultipartUpload: this helper answers it (drops the upload's parts, 204 as S3
// does), so pendingUploads() shows what a real server would still be keeping. Nor does it list
// multipart uploads or their parts: this helper answers ListMultipartUploads and ListParts too
// (dated by the files' mtimes, which backdateUpload() moves into the past).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Server, IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { freePort } from './sshd.js';

export const S3_KEY = 'S3RVER';
export const S3_SECRET = 'S3RVER';

export interface S3Server {
  dir: string;
  port: number;
  endpoint: string;
  bucket: string;
  /** Called for every request (method, url) while running. */
  onRequest?: (req: IncomingMessage) => void;
  /** UploadIds of multipart uploads started and neither completed nor aborted. */
  pendingUploads(): string[];
  /** Makes a pending upload look started, and its parts uploaded, at `when`. */
  backdateUpload(uploadId: string, when: Date): void;
  /** Stops at once: closes the listener and cuts every open connection (a crash). */
  kill(): Promise<void>;
  /** Starts again on the same port with the same data. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * `tls`: serve HTTPS with this key and certificate (restic's S3 client, minio-go, signs plain-HTTP
 * uploads as aws-chunked streams, which s3rver stores undecoded; over HTTPS it sends them whole).
 */
export async function startS3(bucket = 'backups', opts: { tls?: { key: string; cert: string } } = {}): Promise<S3Server> {
  const { default: S3rver } = (await import('s3rver' as string)) as { default: new (o: object) => { run(): Promise<unknown>; httpServer: Server } };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'batt-s3-'));
  const port = await freePort();
  let srv: { run(): Promise<unknown>; httpServer: Server } | undefined;
  const sockets = new Set<Socket>();
  // s3rver's FilesystemStore keeps each multipart upload's parts in <bucket>/._S3rver_uploads/<id>
  const uploadsDir = () => path.join(dir, bucket, '._S3rver_uploads');
  const self: S3Server = {
    dir,
    port,
    endpoint: `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`,
    bucket,
    pendingUploads() {
      return fs.existsSync(uploadsDir()) ? fs.readdirSync(uploadsDir()).sort() : [];
    },
    backdateUpload(uploadId: string, when: Date) {
      const d = path.join(uploadsDir(), uploadId);
      for (const f of fs.readdirSync(d)) fs.utimesSync(path.join(d, f), when, when);
    },
    async kill() {
      const s = srv;
      srv = undefined;
      if (!s) return;
      const closed = new Promise((r) => s.httpServer.close(r));
      for (const sock of sockets) sock.destroy();
      sockets.clear();
      await closed;
    },
    async restart() {
      srv = new S3rver({ port, address: '127.0.0.1', directory: dir, silent: true, configureBuckets: [{ name: bucket }], ...opts.tls });
      await srv.run();
      srv.httpServer.on('connection', (sock: Socket) => {
        sockets.add(sock);
        sock.on('close', () => sockets.delete(sock));
      });
      const app = srv.httpServer.listeners('request') as ((req: IncomingMessage, res: ServerResponse) => void)[];
      srv.httpServer.removeAllListeners('request');
      srv.httpServer.on('request', (req: IncomingMessage, res: ServerResponse) => {
        self.onRequest?.(req);
        const url = new URL(req.url ?? '/', 'http://x');
        const uploadId = url.searchParams.get('uploadId');
        if (req.method === 'DELETE' && uploadId && !uploadId.includes('/') && !uploadId.includes('.')) {
          fs.rmSync(path.join(uploadsDir(), uploadId), { recursive: true, force: true });
          req.resume();
          res.writeHead(204).end();
          return;
        }
        if (req.method === 'GET' && url.searchParams.has('uploads') && url.pathname.replace(/\/+$/, '') === `/${bucket}`) {
          req.resume();
          res.writeHead(200, { 'content-type': 'application/xml' }).end(listUploads(url.searchParams.get('prefix') ?? ''));
          return;
        }
        if (req.method === 'GET' && uploadId && !uploadId.includes('/') && !uploadId.includes('.') && fs.existsSync(path.join(uploadsDir(), uploadId))) {
          req.resume();
          res.writeHead(200, { 'content-type': 'application/xml' }).end(listParts(uploadId));
          return;
        }
        for (const l of app) l(req, res);
      });
    },
    async stop() {
      await self.kill();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  /** ListMultipartUploadsResult: every pending upload whose key starts with `prefix`, in one page. */
  function listUploads(prefix: string): string {
    const ups = self
      .pendingUploads()
      .map((id) => ({ id, key: fs.readFileSync(path.join(uploadsDir(), id, 'key'), 'utf8'), at: fs.statSync(path.join(uploadsDir(), id, 'key')).mtime }))
      .filter((u) => u.key.startsWith(prefix))
      .sort((a, b) => a.key.localeCompare(b.key) || a.id.localeCompare(b.id));
    const items = ups.map((u) => `<Upload><Key>${xml(u.key)}</Key><UploadId>${u.id}</UploadId><Initiated>${u.at.toISOString()}</Initiated><StorageClass>STANDARD</StorageClass></Upload>`);
    return `<?xml version="1.0" encoding="UTF-8"?><ListMultipartUploadsResult><Bucket>${xml(bucket)}</Bucket><Prefix>${xml(prefix)}</Prefix><MaxUploads>1000</MaxUploads><IsTruncated>false</IsTruncated>${items.join('')}</ListMultipartUploadsResult>`;
  }

  /** ListPartsResult: the parts uploaded so far, dated by their files' mtimes. */
  function listParts(uploadId: string): string {
    const d = path.join(uploadsDir(), uploadId);
    const parts = fs
      .readdirSync(d)
      .filter((f) => /^\d+$/.test(f))
      .map(Number)
      .sort((a, b) => a - b)
      .map((n) => {
        const st = fs.statSync(path.join(d, String(n)));
        return `<Part><PartNumber>${n}</PartNumber><LastModified>${st.mtime.toISOString()}</LastModified><ETag>"x"</ETag><Size>${st.size}</Size></Part>`;
      });
    return `<?xml version="1.0" encoding="UTF-8"?><ListPartsResult><Bucket>${xml(bucket)}</Bucket><UploadId>${uploadId}</UploadId><MaxParts>1000</MaxParts><IsTruncated>false</IsTruncated>${parts.join('')}</ListPartsResult>`;
  }

  await self.restart();
  return self;
}

function xml(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
