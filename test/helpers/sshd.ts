// A throwaway OpenSSH server for target tests: the Debian sshd binary, run in the foreground (-D)
// with its own sshd_config, host key and authorized user key in a temp folder, on a free
// 127.0.0.1 port. Key login only. Never the system sshd.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const SSHD = ['/usr/sbin/sshd', '/usr/bin/sshd'].find((p) => fs.existsSync(p)) ?? null;

export { freePort } from './net.js';
import { freePort, startDaemon } from './net.js';

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
  const daemon = await startDaemon(SSHD, ['-D', '-e', '-f', config], { port, banner: 'SSH-2.0', log: path.join(dir, 'sshd.log'), stdout: false });
  return {
    dir,
    port,
    user,
    keyFile: path.join(dir, 'client_key'),
    knownHosts: path.join(dir, 'known_hosts'),
    wrongKnownHosts: path.join(dir, 'wrong_known_hosts'),
    data,
    async stop() {
      await daemon.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
