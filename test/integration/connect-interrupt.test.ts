// SIGTERM while batt connects to a target that stopped answering (a TCP listener on 127.0.0.1 that
// accepts and never speaks: no ssh banner, no FTP greeting; for S3 an http server that never
// answers): batt cuts the connection being opened (or aborts the request) and exits 143 with its
// usual "interrupted" message within 2 s, for an upload after a run (`batt --file X`, every
// configured target), for `restore --from` (listing the copies), for `purge --target` and for
// `backups --from`. Each target's TIMEOUT is 8 s,
// so a batt that waits for the connect timeout instead fails these tests in seconds, not minutes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { sandbox, batt, type Sandbox, writeTargetConf } from '../helpers/batt.js';

const TIMEOUT_S = 8;

let sb: Sandbox;
let data: string;

/** A server that accepts connections and never answers; `connected` resolves at the first one. */
interface Silent {
  port: number;
  connections: number;
  connected: Promise<void>;
  stop(): Promise<void>;
}

async function listen(srv: net.Server, sockets: Set<net.Socket>): Promise<Omit<Silent, 'stop'> & { stop(): Promise<void> }> {
  let hit!: () => void;
  const state = { port: 0, connections: 0, connected: new Promise<void>((r) => (hit = r)) };
  srv.on('connection', (s: net.Socket) => {
    state.connections++;
    sockets.add(s);
    s.on('error', () => {});
    s.on('close', () => sockets.delete(s));
    hit();
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  state.port = (srv.address() as net.AddressInfo).port;
  return Object.assign(state, {
    async stop() {
      for (const s of sockets) s.destroy();
      await new Promise((r) => srv.close(r));
    },
  });
}

/** TCP: accepts, reads what comes, never writes (an ssh or FTP server that hangs before its banner). */
function silentTcp(): Promise<Silent> {
  return listen(net.createServer(), new Set());
}

/** HTTP: takes every request and never answers it (an S3 endpoint that hangs). */
function silentHttp(): Promise<Silent> {
  const srv = http.createServer(() => {
    /* never answered */
  });
  return listen(srv, new Set());
}

const servers: Silent[] = [];

const conf = (name: string, text: string) => writeTargetConf(sb.home, name, text);

/** Only the target `name` is configured (the run copies to every configured one). */
function only(name: string, text: string) {
  fs.rmSync(path.join(sb.home, 'conf', 'targets'), { recursive: true, force: true });
  conf(name, `${text}TIMEOUT=${TIMEOUT_S}\n`);
}

async function sftpConf(): Promise<{ srv: Silent; text: string }> {
  const srv = await silentTcp();
  servers.push(srv);
  const key = path.join(sb.dir, `id_${srv.port}`);
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
  const known = path.join(sb.dir, `known_hosts_${srv.port}`);
  const pub = fs.readFileSync(`${key}.pub`, 'utf8').trim().split(/\s+/).slice(0, 2).join(' ');
  fs.writeFileSync(known, `[127.0.0.1]:${srv.port} ${pub}\n`, { mode: 0o600 });
  return { srv, text: `TYPE=sftp\nHOST=127.0.0.1\nPORT=${srv.port}\nUSER=batt\nSSH_KEY=${key}\nKNOWN_HOSTS=${known}\nPATH=/srv/batt\n` };
}

async function ftpConf(): Promise<{ srv: Silent; text: string }> {
  const srv = await silentTcp();
  servers.push(srv);
  return { srv, text: `TYPE=ftp\nHOST=127.0.0.1\nPORT=${srv.port}\nUSER=anonymous\nPATH=/up/batt\n` };
}

async function s3Conf(): Promise<{ srv: Silent; text: string }> {
  const srv = await silentHttp();
  servers.push(srv);
  // no PREFIX: the upload's sweep lists nothing, so its first request is the HeadObject of the index
  return { srv, text: `TYPE=s3\nREGION=us-east-1\nBUCKET=backups\nACCESS_KEY_ID=k\nSECRET_ACCESS_KEY=s\nENDPOINT=http://127.0.0.1:${srv.port}\nRETRY_DELAY_MS=100\n` };
}

before(() => {
  sb = sandbox({ builtins: true });
  data = path.join(sb.dir, 'data');
  fs.mkdirSync(data);
  fs.writeFileSync(path.join(data, 'a.txt'), 'some data\n');
});
after(async () => {
  for (const s of servers) await s.stop();
  sb?.cleanup();
});

/** Runs batt, sends SIGTERM 300 ms after the server got its first connection; how long batt took after it. */
async function sigtermOnConnect(args: string[], srv: Silent) {
  let child: ChildProcess | undefined;
  let sentAt = 0;
  const sending = srv.connected.then(async () => {
    await new Promise((r) => setTimeout(r, 300)); // well inside the connect (ssh handshake, FTP greeting, request)
    sentAt = Date.now();
    child?.kill('SIGTERM');
  });
  const r = await batt(args, { home: sb.home, timeoutMs: 60_000, onSpawn: (c) => (child = c) });
  if (!sentAt) await Promise.race([sending, new Promise((res) => setTimeout(res, 10))]);
  return { r, took: Date.now() - sentAt, sent: sentAt > 0 };
}

function assertStopped(res: Awaited<ReturnType<typeof sigtermOnConnect>>, message: RegExp) {
  assert.ok(res.sent, `SIGTERM was never sent: batt never connected to the target\n${res.r.stderr}`);
  assert.equal(res.r.code, 143, `exit ${res.r.code} (signal ${res.r.signal})\n${res.r.stderr}`);
  assert.ok(res.took < 2000, `batt took ${res.took} ms to exit after SIGTERM (TIMEOUT=${TIMEOUT_S})\n${res.r.stderr}`);
  assert.match(res.r.stderr, message);
}

const kinds = { sftp: sftpConf, ftp: ftpConf, s3: s3Conf };

for (const [kind, make] of Object.entries(kinds)) {
  test(`upload after a run, ${kind} target not answering: SIGTERM while connecting exits 143 at once`, async (t) => {
    const { srv, text } = await make();
    only(kind, text);
    const res = await sigtermOnConnect(['--path', sb.pattern, '--file', data], srv);
    t.diagnostic(`batt exited ${res.took} ms after SIGTERM`);
    assertStopped(res, /interrupted by SIGTERM; unfinished backups and copies were discarded/);
    assert.match(res.r.stderr, /upload interrupted, no copy made/);
  });

  test(`restore --from a ${kind} target not answering: SIGTERM while connecting (listing the copies) exits 143 at once`, async (t) => {
    const { srv, text } = await make();
    only(kind, text);
    const to = path.join(sb.dir, `restored-${kind}`);
    const res = await sigtermOnConnect(['restore', 'file', '--from', kind, '--to', to], srv);
    t.diagnostic(`batt exited ${res.took} ms after SIGTERM`);
    assertStopped(res, /interrupted by SIGTERM before the restore began; nothing was restored, the download was removed/);
    assert.ok(!fs.existsSync(to), 'something was restored');
  });

  test(`purge --target a ${kind} target not answering: SIGTERM while connecting exits 143 at once, nothing removed`, async (t) => {
    const { srv, text } = await make();
    only(kind, text);
    const res = await sigtermOnConnect(['purge', '--target', kind, '--keep-last', '1'], srv);
    t.diagnostic(`batt exited ${res.took} ms after SIGTERM`);
    assertStopped(res, new RegExp(`purge of ${kind} interrupted by SIGTERM; nothing was removed`));
  });

  test(`backups --from a ${kind} target not answering: SIGTERM while connecting (listing the copies) exits 143 at once, nothing listed`, async (t) => {
    const { srv, text } = await make();
    only(kind, text);
    const res = await sigtermOnConnect(['backups', '--from', kind], srv);
    t.diagnostic(`batt exited ${res.took} ms after SIGTERM`);
    assertStopped(res, new RegExp(`^batt: listing the copies on ${kind} interrupted by SIGTERM; nothing was listed\\n$`));
    assert.equal(res.r.stdout, '', 'something was listed');
  });
}
