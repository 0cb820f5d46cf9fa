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
