// Ports and processes for the throwaway servers the tests start on 127.0.0.1.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';

const handedOut = new Set<number>();

/** A TCP port on 127.0.0.1 that was free a moment ago, never the same one twice in a process. */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = await askPort();
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
}

function askPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Resolves when something on the port answers with `banner` (or times out). */
export async function waitForBanner(port: number, banner: string, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1');
      let data = '';
      s.setTimeout(2000, () => (s.destroy(), resolve(false)));
      s.on('data', (c) => {
        data += c;
        if (data.includes(banner)) (s.destroy(), resolve(true));
      });
      s.on('error', () => resolve(false));
      s.on('close', () => resolve(data.includes(banner)));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`nothing answered "${banner}" on 127.0.0.1:${port} within ${timeoutMs / 1000}s`);
}

export interface Daemon {
  child: ChildProcess;
  /** SIGTERM, and wait until it has exited. */
  stop(): Promise<void>;
}

/**
 * Starts a server in the foreground, its output appended to `log`, and resolves once its port
 * answers with `banner`; if it never does, the server is killed and the error carries its log.
 */
export async function startDaemon(
  file: string,
  args: string[],
  opts: { port: number; banner: string; log: string; stdout?: boolean },
): Promise<Daemon> {
  const out = () => fs.openSync(opts.log, 'a');
  const child = spawn(file, args, { stdio: ['ignore', opts.stdout === false ? 'ignore' : out(), out()] });
  try {
    await waitForBanner(opts.port, opts.banner);
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`${(err as Error).message}\n${fs.readFileSync(opts.log, 'utf8')}`);
  }
  return {
    child,
    async stop() {
      if (child.exitCode === null) {
        const gone = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await gone;
      }
    },
  };
}

export interface Throttle {
  port: number;
  /** Bytes that went from clients to the server so far. */
  readonly sent: number;
  /** With { down: true }: bytes that went from the server to clients so far. */
  readonly received: number;
  /** Closes the listener and cuts every connection. */
  stop(): Promise<void>;
}

/**
 * A slow link: a TCP proxy on a free 127.0.0.1 port to `port` that passes client->server bytes
 * at about `bytesPerSec` (server->client is not slowed), or with { down: true } server->client
 * bytes (a slow download; client->server is not slowed). Makes a transfer take seconds, not
 * milliseconds, so a test can interrupt it mid-file.
 */
export async function startThrottle(port: number, bytesPerSec: number, opts: { down?: boolean } = {}): Promise<Throttle> {
  const sockets = new Set<net.Socket>();
  const timers = new Set<NodeJS.Timeout>();
  let sent = 0;
  let received = 0;
  /** from -> to, each chunk followed by a pause of its length at bytesPerSec. */
  const paced = (from: net.Socket, to: net.Socket, count: (n: number) => void) => {
    from.on('data', (chunk: Buffer) => {
      count(chunk.length);
      to.write(chunk);
      from.pause();
      const t = setTimeout(() => {
        timers.delete(t);
        from.resume();
      }, (chunk.length / bytesPerSec) * 1000);
      timers.add(t);
    });
  };
  const server = net.createServer((client) => {
    const up = net.connect(port, '127.0.0.1');
    for (const s of [client, up]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {});
    }
    client.on('close', () => up.destroy());
    up.on('close', () => client.destroy());
    if (opts.down) {
      paced(up, client, (n) => (received += n));
      client.on('data', (chunk: Buffer) => {
        sent += chunk.length;
        up.write(chunk);
      });
      up.on('end', () => client.end());
    } else {
      up.pipe(client);
      paced(client, up, (n) => (sent += n));
    }
    client.on('end', () => up.end());
  });
  const listening = await freePort();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(listening, '127.0.0.1', resolve);
  });
  return {
    port: listening,
    get sent() {
      return sent;
    },
    get received() {
      return received;
    },
    async stop() {
      const closed = new Promise((r) => server.close(r));
      for (const t of timers) clearTimeout(t);
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}
