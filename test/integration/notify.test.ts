// Notifications against real listeners started here: an SMTP server (the smtp-server package,
// with AUTH) and an HTTP server (node:http) on free 127.0.0.1 ports; the BUILT batt runs against them.
import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { SMTPServer } from 'smtp-server';
import { batt, listFiles, sandbox, writeScript, type Sandbox } from '../helpers/batt.js';

interface Mail {
  user: string | undefined;
  secure: boolean;
  from: string | undefined;
  to: string[];
  raw: string;
}
interface Hit {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

const USER = 'batt-mailer';
const PASSWORD = 'pw-9f3c-secret';
const PING = '/ping/5b3c1e0a-0000-4000-8000-000000000001';

let smtp: SMTPServer;
let smtpPort: number;
let web: http.Server;
let webPort: number;
let hung: http.Server;
let hungPort: number;
let closedPort: number;
let tlsDir: string;
let caFile: string;
let tlsSmtp: SMTPServer;
let tlsPort: number;
let starttlsSmtp: SMTPServer;
let starttlsPort: number;
const mails: Mail[] = [];
const hits: Hit[] = [];
const authFailures: string[] = [];

function listen(server: net.Server | http.Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port));
  });
}

/** Decodes quoted-printable soft breaks and escapes, enough to read a text body. */
function unqp(raw: string): string {
  return raw.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
}

function makeSmtp(opts: ConstructorParameters<typeof SMTPServer>[0]): SMTPServer {
  const server = new SMTPServer({
    ...opts,
    authMethods: ['PLAIN', 'LOGIN'],
    logger: false,
    onAuth(auth, _session, cb) {
      if (auth.username === USER && auth.password === PASSWORD) return cb(null, { user: auth.username });
      authFailures.push(String(auth.username));
      return cb(new Error('Invalid username or password'));
    },
    onData(stream, session, cb) {
      let raw = '';
      stream.on('data', (c: Buffer) => (raw += c.toString()));
      stream.on('end', () => {
        mails.push({
          user: session.user as string | undefined,
          secure: session.secure,
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : undefined,
          to: session.envelope.rcptTo.map((r) => r.address),
          raw,
        });
        cb();
      });
    },
  });
  // A client that rejects the certificate drops the connection mid-handshake: expected here.
  server.on('error', () => {});
  return server;
}

before(async () => {
  smtp = makeSmtp({ allowInsecureAuth: true, disabledCommands: ['STARTTLS'] }); // plain SMTP on loopback (SMTP_TLS=none)
  smtpPort = await listen(smtp.server as unknown as net.Server);

  // A self-signed certificate for 127.0.0.1, trusted by batt only through SMTP_CA_FILE.
  tlsDir = fs.mkdtempSync(path.join(os.tmpdir(), 'batt-smtp-tls-'));
  caFile = path.join(tlsDir, 'cert.pem');
  const keyFile = path.join(tlsDir, 'key.pem');
  execFileSync(
    'openssl',
    ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2',
      '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', keyFile, '-out', caFile],
    { stdio: 'ignore' },
  );
  const tls = { key: fs.readFileSync(keyFile), cert: fs.readFileSync(caFile) };
  tlsSmtp = makeSmtp({ secure: true, ...tls }); // implicit TLS, like port 465
  tlsPort = await listen(tlsSmtp.server as unknown as net.Server);
  starttlsSmtp = makeSmtp({ ...tls }); // plain, upgraded by STARTTLS, like port 587
  starttlsPort = await listen(starttlsSmtp.server as unknown as net.Server);

  web = http.createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      hits.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      res.writeHead(200, { 'content-type': 'text/plain' }).end('OK');
    });
  });
  webPort = await listen(web);

  // Accepts requests and never answers: a hung endpoint.
  hung = http.createServer(() => {});
  hungPort = await listen(hung);

  const probe = net.createServer();
  closedPort = await listen(probe);
  await new Promise((r) => probe.close(r));
});

after(async () => {
  hung.closeAllConnections();
  await new Promise((r) => hung.close(r));
  web.closeAllConnections();
  await new Promise((r) => web.close(r));
  for (const server of [smtp, tlsSmtp, starttlsSmtp]) await new Promise<void>((r) => server.close(() => r()));
  fs.rmSync(tlsDir, { recursive: true, force: true });
});

let sb: Sandbox;
beforeEach(() => {
  mails.length = 0;
  hits.length = 0;
  authFailures.length = 0;
});

function setup(conf: Record<string, string>): Sandbox {
  sb = sandbox();
  writeScript(sb.home, 'good', 'echo "good data" > "$BATT_DEST/good.txt"');
  writeScript(sb.home, 'bad', 'echo partial > "$BATT_DEST/bad.sql"\necho "dump failed: table crashed" >&2\nexit 3');
  const file = path.join(sb.home, 'conf', 'batt.conf');
  fs.writeFileSync(file, Object.entries(conf).map(([k, v]) => `${k}=${v}\n`).join(''), { mode: 0o600 });
  fs.chmodSync(file, 0o600);
  return sb;
}

const smtpConf = (port = () => smtpPort, password = PASSWORD) => ({
  SMTP_HOST: '127.0.0.1',
  SMTP_PORT: String(port()),
  SMTP_TLS: 'none',
  SMTP_USER: USER,
  SMTP_PASSWORD: password,
  SMTP_FROM: 'batt@test.example',
  SMTP_TO: 'ops@test.example, oncall@test.example',
});

describe('notifications after a run', () => {
  test('a failed run: mail with auth, webhook JSON, start and fail pings; exit code stays 1', async () => {
    setup({
      ...smtpConf(),
      WEBHOOK_URL: `http://127.0.0.1:${webPort}/hook`,
      WEBHOOK_TOKEN: 'hook-token-77',
      HEALTHCHECK_URL: `http://127.0.0.1:${webPort}${PING}`,
    });
    try {
      const r = await batt(['good', 'bad', '--path', sb.pattern], { home: sb.home });
      assert.equal(r.code, 1, r.stderr);
      assert.doesNotMatch(r.stderr, /notification failed/);
      for (const s of [r.stdout, r.stderr]) assert.ok(!s.includes(PASSWORD) && !s.includes('hook-token-77'));

      assert.equal(mails.length, 1);
      const mail = mails[0]!;
      assert.equal(mail.user, USER);
      assert.equal(mail.from, 'batt@test.example');
      assert.deepEqual(mail.to.sort(), ['oncall@test.example', 'ops@test.example']);
      const text = unqp(mail.raw);
      assert.match(text, /^Subject: batt on .+: backup FAILED \(bad\)/m);
      assert.match(text, /^X-Batt-Status: failed/m);
      assert.match(text, /FAILED bad/);
      assert.match(text, /ok +good/);
      assert.match(text, /dump failed: table crashed/);
      assert.ok(!text.includes(PASSWORD));

      const hook = hits.find((h) => h.url === '/hook');
      assert.ok(hook, `webhook not called: ${JSON.stringify(hits.map((h) => h.url))}`);
      assert.equal(hook.method, 'POST');
      assert.equal(hook.headers['content-type'], 'application/json');
      assert.equal(hook.headers.authorization, 'Bearer hook-token-77');
      const body = JSON.parse(hook.body);
      assert.equal(body.ok, false);
      assert.match(body.runId, /^\d{8}T\d{6}-[0-9a-f]{6}$/);
      assert.equal(typeof body.host, 'string');
      const byName = Object.fromEntries(body.services.map((s: { service: string }) => [s.service, s]));
      assert.equal(byName.good.status, 'ok');
      assert.ok(byName.good.bytes > 0);
      assert.equal(typeof byName.good.durationMs, 'number');
      assert.equal(byName.bad.status, 'failed');
      assert.match(byName.bad.error, /exited with code 3: dump failed: table crashed/);

      const pings = hits.filter((h) => h.url.startsWith(PING)).map((h) => h.url);
      assert.deepEqual(pings, [`${PING}/start`, `${PING}/fail`]);
      assert.match(hits.find((h) => h.url === `${PING}/fail`)!.body, /dump failed: table crashed/);
    } finally {
      sb.cleanup();
    }
  });

  test('a run that cannot start (another batt holds the lock) is mailed, posted and pinged as failed; exit 11', async () => {
    setup({ ...smtpConf(), WEBHOOK_URL: `http://127.0.0.1:${webPort}/hook`, HEALTHCHECK_URL: `http://127.0.0.1:${webPort}${PING}` });
    try {
      // A live process (this test runner) holds the lock of the backup root.
      fs.mkdirSync(sb.root, { recursive: true });
      const stat = fs.readFileSync(`/proc/${process.pid}/stat`, 'utf8');
      const procStart = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
      fs.writeFileSync(path.join(sb.root, '.batt.lock'), JSON.stringify({ pid: process.pid, host: os.hostname(), procStart, since: new Date().toISOString() }));
      const r = await batt(['good', '--path', sb.pattern], { home: sb.home });
      assert.equal(r.code, 11, r.stderr);
      assert.match(r.stderr, /another batt run/);
      assert.equal(mails.length, 1);
      const text = unqp(mails[0]!.raw);
      assert.match(text, /^Subject: batt on .+: backup FAILED \(did not run\)/m);
      assert.match(text, /The run stopped: another batt run/);
      const hook = hits.find((h) => h.url === '/hook');
      assert.ok(hook);
      assert.equal(JSON.parse(hook.body).ok, false);
      assert.match(JSON.parse(hook.body).error, /another batt run/);
      assert.deepEqual(hits.filter((h) => h.url.startsWith(PING)).map((h) => h.url), [`${PING}/fail`]);
      assert.deepEqual(listFiles(sb.root), ['.batt.lock'], 'nothing ran');
    } finally {
      sb.cleanup();
    }
  });

  test('a good run with NOTIFY_ON=failure: only the start and success pings', async () => {
    setup({ ...smtpConf(), WEBHOOK_URL: `http://127.0.0.1:${webPort}/hook`, HEALTHCHECK_URL: `http://127.0.0.1:${webPort}${PING}/` });
    try {
      const r = await batt(['good', '--path', sb.pattern], { home: sb.home });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(mails.length, 0);
      assert.deepEqual(hits.map((h) => h.url), [`${PING}/start`, PING]);
    } finally {
      sb.cleanup();
    }
  });

  test('NOTIFY_ON=always: a good run is mailed and posted too', async () => {
    setup({ ...smtpConf(), NOTIFY_ON: 'always', WEBHOOK_URL: `http://127.0.0.1:${webPort}/hook` });
    try {
      const r = await batt(['good', '--path', sb.pattern], { home: sb.home });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(mails.length, 1);
      assert.match(unqp(mails[0]!.raw), /^Subject: batt on .+: backup complete \(1 ok\)/m);
      assert.equal(JSON.parse(hits.find((h) => h.url === '/hook')!.body).ok, true);
    } finally {
      sb.cleanup();
    }
  });

  test('WEBHOOK_FORMAT=slack and NTFY_URL: {"text": ...} and an ntfy message, each with the failed script\'s last lines', async () => {
    setup({ WEBHOOK_URL: `http://127.0.0.1:${webPort}/slack`, WEBHOOK_FORMAT: 'slack', NTFY_URL: `http://127.0.0.1:${webPort}/batt-alerts`, NTFY_TOKEN: 'tk_ntfy_5' });
    writeScript(sb.home, 'bad', 'echo "connecting to db1"\necho "dump failed: table crashed" >&2\nexit 3');
    try {
      const r = await batt(['good', 'bad', '--path', sb.pattern], { home: sb.home });
      assert.equal(r.code, 1, r.stderr);
      assert.doesNotMatch(r.stderr, /notification failed/);
      assert.ok(!r.stderr.includes('tk_ntfy_5'));
      const slack = hits.find((h) => h.url === '/slack');
      assert.ok(slack, JSON.stringify(hits.map((h) => h.url)));
      assert.equal(slack.headers['content-type'], 'application/json');
      const body = JSON.parse(slack.body);
      assert.deepEqual(Object.keys(body), ['text']);
      assert.match(body.text, /^\*batt on .+: backup FAILED \(bad\)\*\nBackup FAILED on .+: 1 ok, 1 failed\n/);
      assert.match(body.text, /Last lines of bad:\n```\ndump failed: table crashed\n```\n$/);
      const ntfy = hits.find((h) => h.url === '/batt-alerts');
      assert.ok(ntfy);
      assert.match(String(ntfy.headers.title), /^batt on .+: backup FAILED \(bad\)$/);
      assert.equal(ntfy.headers.priority, 'high');
      assert.equal(ntfy.headers.tags, 'warning');
      assert.equal(ntfy.headers.authorization, 'Bearer tk_ntfy_5');
      assert.match(ntfy.body, /^Backup FAILED on .+: 1 ok, 1 failed\n/);
      assert.match(ntfy.body, /Last lines of bad:\ndump failed: table crashed\n$/);
    } finally {
      sb.cleanup();
    }
  });

  test('ntfy with NOTIFY_ON=always: a good run is a default-priority message', async () => {
    setup({ NOTIFY_ON: 'always', NTFY_URL: `http://127.0.0.1:${webPort}/batt-alerts` });
    try {
      const r = await batt(['good', '--path', sb.pattern], { home: sb.home });
      assert.equal(r.code, 0, r.stderr);
      const ntfy = hits.find((h) => h.url === '/batt-alerts');
      assert.ok(ntfy);
      assert.equal(ntfy.headers.priority, 'default');
      assert.match(String(ntfy.headers.title), /backup complete \(1 ok\)$/);
      assert.doesNotMatch(ntfy.body, /Last lines/);
      assert.equal(ntfy.headers.authorization, undefined);
    } finally {
      sb.cleanup();
    }
  });

  test('NOTIFY_ON=warning: a run with a warning is mailed and posted as warn; a good run is not', async () => {
    setup({ ...smtpConf(), NOTIFY_ON: 'warning', WEBHOOK_URL: `http://127.0.0.1:${webPort}/hook`, HEALTHCHECK_URL: `http://127.0.0.1:${webPort}${PING}` });
    try {
      writeScript(sb.home, 'noisy', 'echo "noisy data" > "$BATT_DEST/n.txt"\necho "mysqldump: Couldn\'t read status" >&2');
      const good = await batt(['good', '--path', sb.pattern], { home: sb.home });
      assert.equal(good.code, 0, good.stderr);
      assert.equal(mails.length, 0, 'NOTIFY_ON=warning: a clean run sends nothing');
      const r = await batt(['good', 'noisy', '--path', sb.pattern], { home: sb.home });
      assert.equal(r.code, 0, r.stderr);
      assert.equal(mails.length, 1);
      const text = unqp(mails[0]!.raw);
      assert.match(text, /^Subject: batt on .+: backup complete with warnings \(noisy\)/m);
      assert.match(text, /^X-Batt-Status: warning/m);
      assert.match(text, /^warn +noisy/m);
      assert.match(text, /noisy: the script exited 0 but wrote to stderr: mysqldump: Couldn't read status/);
      const body = JSON.parse(hits.find((h) => h.url === '/hook')!.body);
      assert.equal(body.ok, true);
      assert.equal(body.services.find((x: { service: string }) => x.service === 'noisy').status, 'warning');
      // a warning is a success for the monitor (the backup was kept)
      assert.ok(hits.some((h) => h.url === PING) && !hits.some((h) => h.url === `${PING}/fail`));
    } finally {
      sb.cleanup();
    }
  });

  test('notifiers at a closed port are reported on stderr; the backup and exit code are unchanged', async () => {
    setup({
      ...smtpConf(() => closedPort),
      NOTIFY_ON: 'always',
      WEBHOOK_URL: `http://127.0.0.1:${closedPort}/hook`,
      HEALTHCHECK_URL: `http://127.0.0.1:${closedPort}${PING}`,
    });
    try {
      const r = await batt(['good', '--path', sb.pattern], { home: sb.home });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /notification failed: email: smtp:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED/);
      assert.match(r.stderr, /notification failed: webhook: http:\/\/127\.0\.0\.1:\d+\/…: ECONNREFUSED/);
      assert.match(r.stderr, /notification failed: health-check start: .*ECONNREFUSED/);
      assert.match(r.stderr, /notification failed: health-check: .*ECONNREFUSED/);
      assert.ok(!r.stderr.includes(PING), 'the ping URL (a secret) is not printed');
      assert.equal(listFiles(sb.root).filter((f) => f.endsWith('good/good.txt')).length, 1);
    } finally {
      sb.cleanup();
    }
  });

  test('a failed run stays exit 1 when its notifiers fail', async () => {
    setup({ WEBHOOK_URL: `http://127.0.0.1:${closedPort}/hook` });
    try {
      const r = await batt(['bad', '--path', sb.pattern], { home: sb.home });
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /notification failed: webhook/);
    } finally {
      sb.cleanup();
    }
  });

  test('a hung webhook times out (NOTIFY_TIMEOUT) instead of hanging the run', async () => {
    setup({ NOTIFY_ON: 'always', NOTIFY_TIMEOUT: '1', WEBHOOK_URL: `http://127.0.0.1:${hungPort}/hook` });
    try {
      const r = await batt(['good', '--path', sb.pattern], { home: sb.home, timeoutMs: 60_000 });
      assert.equal(r.signal, null, 'batt was killed by the test: it hung');
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /notification failed: webhook: .*timed out after 1s/);
    } finally {
      sb.cleanup();
    }
  });

  test('a mail server that accepts and never greets times out too', async () => {
    const silent = net.createServer(() => {}); // holds every connection open, says nothing
    const port = await listen(silent);
    setup({ ...smtpConf(() => port), NOTIFY_ON: 'always', NOTIFY_TIMEOUT: '1' });
    try {
      const r = await batt(['good', '--path', sb.pattern], { home: sb.home, timeoutMs: 60_000 });
      assert.equal(r.signal, null, 'batt was killed by the test: it hung');
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /notification failed: email: smtp:\/\/127\.0\.0\.1:\d+: .*(greeting|timed out)/i);
    } finally {
      sb.cleanup();
      await new Promise((res) => silent.close(res));
    }
  });

  test('a wrong SMTP password is reported without printing it; exit code unchanged', async () => {
    setup({ ...smtpConf(undefined, 'wrong-password-xyz'), NOTIFY_ON: 'always' });
    try {
      const r = await batt(['good', '--path', sb.pattern], { home: sb.home });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(authFailures, [USER]);
      assert.equal(mails.length, 0);
      assert.match(r.stderr, /notification failed: email: .*535/);
      assert.ok(!r.stderr.includes('wrong-password-xyz'));
    } finally {
      sb.cleanup();
    }
  });

  test('implicit TLS (SMTP_TLS=tls) and STARTTLS against servers with a private CA (SMTP_CA_FILE)', async () => {
    for (const [tls, port] of [['tls', () => tlsPort], ['starttls', () => starttlsPort]] as const) {
      setup({ ...smtpConf(port), SMTP_TLS: tls, SMTP_CA_FILE: caFile, NOTIFY_ON: 'always' });
      try {
        mails.length = 0;
        const r = await batt(['good', '--path', sb.pattern], { home: sb.home });
        assert.equal(r.code, 0, r.stderr);
        assert.doesNotMatch(r.stderr, /notification failed/);
        assert.equal(mails.length, 1, tls);
        assert.equal(mails[0]!.secure, true, `${tls}: the session was encrypted`);
        assert.equal(mails[0]!.user, USER);
      } finally {
        sb.cleanup();
      }
    }
  });

  test('a relative SMTP_CA_FILE fails only the mail, the same from any folder, and is never read', async () => {
    // A valid CA for the server sits at the relative path inside the folder batt is run from: read,
    // it would make the mail go through (as the absolute path does in the test above).
    const here = fs.mkdtempSync(path.join(os.tmpdir(), 'batt-cwd-'));
    fs.copyFileSync(caFile, path.join(here, 'ca.pem'));
    let connections = 0;
    const count = () => connections++;
    tlsSmtp.server.on('connection', count);
    setup({ ...smtpConf(() => tlsPort), SMTP_TLS: 'tls', SMTP_CA_FILE: 'ca.pem', NOTIFY_ON: 'always' });
    try {
      // By hand from the folder that holds ca.pem, as cron would from /, and with --json.
      for (const [cwd, json] of [[here, false], ['/', false], [here, true]] as const) {
        const r = await batt(['good', '--path', sb.pattern, ...(json ? ['--json'] : [])], { home: sb.home, cwd });
        assert.equal(r.code, 0, r.stderr);
        const lines = r.stderr.split('\n').filter((l) => l.includes('notification failed'));
        assert.deepEqual(lines, ['batt: notification failed: email: SMTP_CA_FILE "ca.pem" must be an absolute path'], `${cwd}: ${r.stderr}`);
        if (json) assert.equal(JSON.parse(r.stdout).ok, true);
        // The backup ran and was kept.
        assert.ok(listFiles(sb.root).some((f) => f.endsWith('/good/good.txt')), listFiles(sb.root).join(' '));
      }
      assert.equal(connections, 0, 'no connection to the mail server');
      assert.equal(mails.length, 0);
      assert.deepEqual(authFailures, []);
      const log = fs.readFileSync(path.join(sb.home, 'log', 'batt.log'), 'utf8');
      assert.equal(log.match(/run \S+ done: 1 ok, 0 failed/g)?.length, 3, log);
    } finally {
      tlsSmtp.server.off('connection', count);
      sb.cleanup();
      fs.rmSync(here, { recursive: true, force: true });
    }
  });

  test('a certificate batt cannot verify is refused before AUTH', async () => {
    setup({ ...smtpConf(() => tlsPort), SMTP_TLS: 'tls', NOTIFY_ON: 'always' });
    try {
      const r = await batt(['good', '--path', sb.pattern], { home: sb.home });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /notification failed: email: smtp:\/\/127\.0\.0\.1:\d+: .*self[- ]signed certificate/i);
      assert.deepEqual(authFailures, []);
      assert.equal(mails.length, 0);
    } finally {
      sb.cleanup();
    }
  });

  test('SMTP_TLS=starttls (the default) never sends the password to a server without STARTTLS', async () => {
    const conf: Record<string, string> = { ...smtpConf(), NOTIFY_ON: 'always' };
    delete conf.SMTP_TLS;
    setup(conf);
    try {
      const r = await batt(['good', '--path', sb.pattern], { home: sb.home });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stderr, /notification failed: email: smtp:\/\/127\.0\.0\.1:\d+: .*STARTTLS/i);
      assert.deepEqual(authFailures, [], 'no AUTH was attempted');
      assert.equal(mails.length, 0);
    } finally {
      sb.cleanup();
    }
  });

  test('a batt.conf holding SMTP_PASSWORD that others can read is refused before anything runs', async () => {
    setup(smtpConf());
    fs.chmodSync(path.join(sb.home, 'conf', 'batt.conf'), 0o644);
    try {
      const r = await batt(['good', '--path', sb.pattern], { home: sb.home });
      assert.equal(r.code, 3, r.stderr);
      assert.match(r.stderr, /holds SMTP_PASSWORD but is readable by others/);
      assert.ok(!r.stderr.includes(PASSWORD));
      assert.equal(mails.length, 0);
      assert.deepEqual(listFiles(sb.root), []);
    } finally {
      sb.cleanup();
    }
  });
});
