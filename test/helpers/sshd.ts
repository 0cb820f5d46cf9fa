// A throwaway OpenSSH server for target tests: the Debian sshd binary, run in the foreground (-D)
// with its own sshd_config, host key and authorized user key in a temp folder, on a free
// 127.0.0.1 port. Key login only. Never the system sshd.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export const SSHD = ['/usr/sbin/sshd', '/usr/bin/sshd'].find((p) => fs.existsSync(p)) ?? null;

export { freePort } from './net.js';
import { freePort } from './net.js';

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

export interface Sshd {
  dir: string;
  port: number;
  user: string;
  /** The client's private key (0600). */
  keyFile: string;
  /** known_hosts holding the server's host key for [127.0.0.1]:port. */
  knownHosts: string;
  /** known_hosts holding some other key for the same host (to test strict checking). */
  wrongKnownHosts: string;
  /** A folder the user can write, for uploads. */
  data: string;
  stop(): Promise<void>;
}

export async function startSshd(): Promise<Sshd> {
  if (!SSHD) throw new Error('sshd not found (Debian package openssh-server)');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'batt-sshd-'));
  const port = await freePort();
  const user = os.userInfo().username;
  const keygen = (file: string) => execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', file], { stdio: 'ignore' });
  keygen(path.join(dir, 'host_key'));
  keygen(path.join(dir, 'client_key'));
  keygen(path.join(dir, 'other_key'));
  fs.copyFileSync(path.join(dir, 'client_key.pub'), path.join(dir, 'authorized_keys'));
  const pub = (f: string) => fs.readFileSync(path.join(dir, f), 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
  fs.writeFileSync(path.join(dir, 'known_hosts'), `[127.0.0.1]:${port} ${pub('host_key.pub')}\n`);
  fs.writeFileSync(path.join(dir, 'wrong_known_hosts'), `[127.0.0.1]:${port} ${pub('other_key.pub')}\n`);
  const data = path.join(dir, 'data');
  fs.mkdirSync(data);
  fs.mkdirSync('/run/sshd', { recursive: true, mode: 0o755 }); // privilege separation folder
  const config = path.join(dir, 'sshd_config');
  fs.writeFileSync(
    config,
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${dir}/host_key`,
      `PidFile ${dir}/sshd.pid`,
      `AuthorizedKeysFile ${dir}/authorized_keys`,
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PermitRootLogin prohibit-password',
      `AllowUsers ${user}`,
      'StrictModes no',
      'UsePAM no',
      'Subsystem sftp internal-sftp',
      'LogLevel ERROR',
      '',
    ].join('\n'),
  );
  const log = path.join(dir, 'sshd.log');
  const child: ChildProcess = spawn(SSHD, ['-D', '-e', '-f', config], {
    stdio: ['ignore', 'ignore', fs.openSync(log, 'a')],
  });
  try {
    await waitForBanner(port, 'SSH-2.0');
  } catch (err) {
    child.kill('SIGKILL');
    throw new Error(`${(err as Error).message}\n${fs.readFileSync(log, 'utf8')}`);
  }
  return {
    dir,
    port,
    user,
    keyFile: path.join(dir, 'client_key'),
    knownHosts: path.join(dir, 'known_hosts'),
    wrongKnownHosts: path.join(dir, 'wrong_known_hosts'),
    data,
    async stop() {
      if (child.exitCode === null) {
        const gone = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await gone;
      }
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
