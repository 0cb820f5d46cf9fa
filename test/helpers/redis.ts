// A throwaway redis-server for integration tests: a temp data folder, a free port on 127.0.0.1,
// an optional requirepass, and a tiny binary-safe RESP client to fill and read it.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

/** The path of a Debian binary, or undefined when it is not installed. */
export function which(cmd: string): string | undefined {
  const r = spawnSync('sh', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  const p = r.stdout.trim();
  return r.status === 0 && p ? p : undefined;
}

export { freePort } from './net.js';
import { freePort } from './net.js';

export type Reply = string | number | Buffer | null | Reply[] | Error;

/** One RESP connection; each call sends one command and resolves with its reply. */
export class RespClient {
  private buf = Buffer.alloc(0);
  private waiting: { resolve: (r: Reply) => void; reject: (e: Error) => void }[] = [];
  private constructor(private sock: net.Socket) {
    sock.on('data', (d) => {
      this.buf = Buffer.concat([this.buf, d]);
      this.drain();
    });
    sock.on('error', (e) => this.failAll(e));
    sock.on('close', () => this.failAll(new Error('redis connection closed')));
  }

  static connect(port: number): Promise<RespClient> {
    return new Promise((resolve, reject) => {
      const sock = net.connect(port, '127.0.0.1', () => resolve(new RespClient(sock)));
      sock.once('error', reject);
    });
  }

  private failAll(e: Error) {
    for (const w of this.waiting.splice(0)) w.reject(e);
  }

  /** Parses one reply at `at`; returns it and the next offset, or undefined when incomplete. */
  private parse(at: number): [Reply, number] | undefined {
    const eol = this.buf.indexOf('\r\n', at);
    if (eol < 0) return undefined;
    const type = String.fromCharCode(this.buf[at]!);
    const line = this.buf.toString('utf8', at + 1, eol);
    const next = eol + 2;
    switch (type) {
      case '+':
        return [line, next];
      case '-':
        return [new Error(line), next];
      case ':':
        return [Number(line), next];
      case '$': {
        const n = Number(line);
        if (n < 0) return [null, next];
        if (this.buf.length < next + n + 2) return undefined;
        return [Buffer.from(this.buf.subarray(next, next + n)), next + n + 2];
      }
      case '*': {
        const n = Number(line);
        if (n < 0) return [null, next];
        const items: Reply[] = [];
        let pos = next;
        for (let i = 0; i < n; i++) {
          const r = this.parse(pos);
          if (!r) return undefined;
          items.push(r[0]);
          pos = r[1];
        }
        return [items, pos];
      }
      default:
        throw new Error(`unexpected RESP type ${type}`);
    }
  }

  private drain() {
    while (this.waiting.length) {
      const r = this.parse(0);
      if (!r) return;
      this.buf = this.buf.subarray(r[1]);
      this.waiting.shift()!.resolve(r[0]);
    }
  }

  /** Sends a command without waiting (pipelining); the promise is its reply. */
  send(...args: (string | number | Buffer)[]): Promise<Reply> {
    const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
    for (const a of args) {
      const b = Buffer.isBuffer(a) ? a : Buffer.from(String(a));
      parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
    }
    const p = new Promise<Reply>((resolve, reject) => this.waiting.push({ resolve, reject }));
    this.sock.write(Buffer.concat(parts));
    return p;
  }

  /** Sends a command and throws when redis answers with an error. */
  async call(...args: (string | number | Buffer)[]): Promise<Reply> {
    const r = await this.send(...args);
    if (r instanceof Error) throw new Error(`redis ${String(args[0])}: ${r.message}`);
    return r;
  }

  close() {
    this.sock.destroy();
  }
}

export interface RedisServer {
  port: number;
  dir: string;
  password?: string;
  child: ChildProcess;
  /** A client already authenticated. */
  client: RespClient;
  /** Stops the server (no save) and removes its folder unless it was given. */
  stop(): Promise<void>;
}

export interface StartRedisOptions {
  password?: string;
  /** Use this data folder (kept on stop) instead of a fresh temp one; it may hold dump.rdb. */
  dir?: string;
  /** Also listen on a unix socket at this path. */
  socket?: string;
}

/** Starts redis-server on 127.0.0.1 with persistence off; rejects when it does not come up. */
export async function startRedis(opts: StartRedisOptions = {}): Promise<RedisServer> {
  const bin = which('redis-server');
  if (!bin) throw new Error('redis-server is not installed (Debian package redis-server)');
  const own = !opts.dir;
  const dir = opts.dir ?? fs.mkdtempSync(path.join(os.tmpdir(), 'batt-redis-'));
  let lastErr: unknown;
  for (let attempt = 0; attempt < 5; attempt++) {
    const port = await freePort();
    const args = [
      '--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--dbfilename', 'dump.rdb',
      '--save', '', '--appendonly', 'no', '--repl-diskless-sync-delay', '0', '--daemonize', 'no', '--logfile', '', '--protected-mode', 'no',
    ];
    if (opts.password) args.push('--requirepass', opts.password);
    if (opts.socket) args.push('--unixsocket', opts.socket, '--unixsocketperm', '700');
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout!.on('data', (d) => (output += d));
    child.stderr!.on('data', (d) => (output += d));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    let client: RespClient | undefined;
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && child.exitCode === null) {
      try {
        client = await RespClient.connect(port);
        if (opts.password) await client.call('AUTH', opts.password);
        // A server still loading its RDB answers -LOADING: wait until it serves.
        const pong = await client.send('PING');
        if (pong === 'PONG') break;
        client.close();
        client = undefined;
      } catch {
        client?.close();
        client = undefined;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    if (!client) {
      child.kill('SIGKILL');
      await exited;
      lastErr = new Error(`redis-server did not start on port ${port}: ${output.slice(-500)}`);
      continue;
    }
    const c = client;
    return {
      port,
      dir,
      password: opts.password,
      child,
      client: c,
      async stop() {
        c.close();
        if (child.exitCode === null) child.kill('SIGKILL');
        await exited;
        if (own) fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  if (own) fs.rmSync(dir, { recursive: true, force: true });
  throw lastErr;
}
