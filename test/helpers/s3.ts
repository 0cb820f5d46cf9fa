// A throwaway S3-protocol server for target tests: s3rver (npm devDependency, the "fake S3 server
// for node"), run in the test process on a free 127.0.0.1 port with a temp data folder. It speaks
// path-style S3 with SigV4 (credentials S3RVER/S3RVER) including multipart uploads. s3rver does
// not implement AbortMultipartUpload: this helper answers it (drops the upload's parts, 204 as S3
// does), so pendingUploads() shows what a real server would still be keeping.
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
  /** Stops at once: closes the listener and cuts every open connection (a crash). */
  kill(): Promise<void>;
  /** Starts again on the same port with the same data. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export async function startS3(bucket = 'backups'): Promise<S3Server> {
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
    endpoint: `http://127.0.0.1:${port}`,
    bucket,
    pendingUploads() {
      return fs.existsSync(uploadsDir()) ? fs.readdirSync(uploadsDir()).sort() : [];
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
      srv = new S3rver({ port, address: '127.0.0.1', directory: dir, silent: true, configureBuckets: [{ name: bucket }] });
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
        for (const l of app) l(req, res);
      });
    },
    async stop() {
      await self.kill();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
  await self.restart();
  return self;
}
