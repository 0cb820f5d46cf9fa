// A throwaway FTP server for target tests: the Debian vsftpd binary in the foreground with its
// own config in a temp folder, on a free 127.0.0.1 port, passive ports from a small free range.
// Anonymous login (mapped to the Debian `ftp` user) may upload, rename and delete under /up.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, startDaemon } from './net.js';

export const VSFTPD = ['/usr/sbin/vsftpd', '/usr/bin/vsftpd'].find((p) => fs.existsSync(p)) ?? null;

export interface Ftpd {
  dir: string;
  port: number;
  /** What the server shows as /up (uploads land here). */
  data: string;
  /** With { tls: true }: the server's self-signed certificate (CN and IP SAN 127.0.0.1), as a CA file. */
  certFile?: string;
  stop(): Promise<void>;
}

/**
 * { tls: true }: explicit FTPS (AUTH TLS) required for login and data, with a fresh self-signed
 * certificate. { maxRate }: each transfer at most that many bytes per second (a slow server).
 */
export async function startFtpd(opts: { tls?: boolean; maxRate?: number } = {}): Promise<Ftpd> {
  if (!VSFTPD) throw new Error('vsftpd not found (Debian package vsftpd)');
  let ftpUid: number;
  let ftpGid: number;
  try {
    [ftpUid, ftpGid] = ['-u', '-g'].map((f) => Number(execFileSync('id', [f, 'ftp'], { encoding: 'utf8' }).trim())) as [number, number];
  } catch {
    throw new Error('the system user "ftp" (created by the vsftpd package) is missing');
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'batt-ftpd-'));
  fs.chmodSync(dir, 0o755); // the ftp user must reach its root
  const root = path.join(dir, 'root');
  const data = path.join(root, 'up');
  fs.mkdirSync(path.join(dir, 'empty'));
  fs.mkdirSync(data, { recursive: true });
  fs.chownSync(data, ftpUid, ftpGid);
  let certFile: string | undefined;
  const tls: string[] = [];
  if (opts.tls) {
    certFile = path.join(dir, 'cert.pem');
    const key = path.join(dir, 'key.pem');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', certFile], { stdio: 'ignore' });
    tls.push('ssl_enable=YES', `rsa_cert_file=${certFile}`, `rsa_private_key_file=${key}`, 'allow_anon_ssl=YES', 'force_anon_logins_ssl=YES', 'force_anon_data_ssl=YES', 'require_ssl_reuse=NO', 'ssl_ciphers=HIGH');
  }
  const port = await freePort();
  const pasv = await freePort(); // a free port and the next few: good enough on a quiet 127.0.0.1
  const conf = path.join(dir, 'vsftpd.conf');
  fs.writeFileSync(
    conf,
    [
      'listen=YES',
      'listen_ipv6=NO',
      'listen_address=127.0.0.1',
      `listen_port=${port}`,
      'background=NO',
      'anonymous_enable=YES',
      'local_enable=NO',
      'write_enable=YES',
      'anon_upload_enable=YES',
      'anon_mkdir_write_enable=YES',
      'anon_other_write_enable=YES',
      'anon_umask=077',
      'anon_world_readable_only=NO', // the uploads are 0600: let the session read them back
      `anon_root=${root}`,
      'no_anon_password=YES',
      'ftp_username=ftp',
      'pasv_enable=YES',
      `pasv_min_port=${pasv}`,
      `pasv_max_port=${pasv + 5}`,
      'pasv_address=127.0.0.1',
      'seccomp_sandbox=NO',
      `secure_chroot_dir=${dir}/empty`,
      'xferlog_enable=NO',
      'connect_from_port_20=NO',
      'hide_ids=NO',
      ...tls,
      ...(opts.maxRate ? [`anon_max_rate=${opts.maxRate}`] : []),
      '',
    ].join('\n'),
  );
  const daemon = await startDaemon(VSFTPD, [conf], { port, banner: '220', log: path.join(dir, 'vsftpd.out') });
  return {
    dir,
    port,
    data,
    certFile,
    async stop() {
      await daemon.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
