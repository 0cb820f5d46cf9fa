// SYSLOG=yes / a facility (issue 23): the run's start, each service's result and the summary
// reach the syslog socket with tag batt and a priority from the status. A fake /dev/log: a unix
// datagram socket bound by python3 (node has no unix datagram sockets), named by SYSLOG_SOCKET.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { batt, sandbox, writeScript } from '../helpers/batt.js';

const LISTENER = `
import socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(sys.argv[1])
print("ready", flush=True)
while True:
    print(s.recv(65536).decode("utf-8", "replace").replace("\\n", " "), flush=True)
`;

async function fakeDevLog(sock: string) {
  const child = spawn('python3', ['-c', LISTENER, sock], { stdio: ['ignore', 'pipe', 'inherit'] });
  const lines: string[] = [];
  let buf = '';
  await new Promise<void>((resolve, reject) => {
    child.on('error', reject);
    child.stdout.on('data', (c: Buffer) => {
      buf += c.toString();
      let i;
      while ((i = buf.indexOf('\n')) >= 0) {
        const l = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (l === 'ready') resolve();
        else lines.push(l);
      }
    });
  });
  return { lines, stop: () => child.kill('SIGKILL') };
}

test('each run start, service result and summary go to syslog with tag batt and a priority from the status', async () => {
  const s = sandbox();
  const sock = path.join(s.dir, 'log.sock');
  const devlog = await fakeDevLog(sock);
  try {
    writeScript(s.home, 'good', 'echo data > "$BATT_DEST/good.txt"');
    writeScript(s.home, 'bad', 'echo "dump failed: table crashed" >&2; exit 3');
    fs.writeFileSync(path.join(s.home, 'conf', 'batt.conf'), `SYSLOG=local3\nSYSLOG_SOCKET=${sock}\n`);
    let pid = 0;
    const r = await batt(['good', 'bad', '--path', s.pattern, '--jobs', '1'], { home: s.home, onSpawn: (c) => (pid = c.pid!) });
    assert.equal(r.code, 1);
    assert.doesNotMatch(r.stderr, /syslog/);
    await new Promise((res) => setTimeout(res, 200));
    // local3 = 19: info 19*8+6 = 158, err 19*8+3 = 155; RFC 3164 as logger writes to a local socket
    const msgs = devlog.lines.map((l) => {
      const m = /^<(\d+)>\w{3} [ \d]\d \d\d:\d\d:\d\d batt\[(\d+)\]: (.*)$/.exec(l);
      assert.ok(m, l);
      return { pri: Number(m[1]), pid: Number(m[2]), text: m[3]! };
    });
    assert.equal(msgs.length, 4, devlog.lines.join('\n'));
    assert.ok(msgs.every((m) => m.pid === pid), 'the pid is batt\'s');
    assert.equal(msgs[0]!.pri, 158);
    assert.match(msgs[0]!.text, /^run \d{8}T\d{6}-[0-9a-f]{6} started: good bad -> /);
    assert.equal(msgs[1]!.pri, 158);
    assert.match(msgs[1]!.text, /^good: ok, 1 file, 5 B in [\d.]+m?s -> .*\/good$/);
    assert.equal(msgs[2]!.pri, 155);
    assert.equal(msgs[2]!.text, 'bad: FAILED: backup script exited with code 3: dump failed: table crashed');
    assert.equal(msgs[3]!.pri, 155);
    assert.match(msgs[3]!.text, /^run \S+ done: 1 ok, 1 failed in /);

    // a good run's summary is info; SYSLOG=yes is facility daemon (3): 3*8+6 = 30
    devlog.lines.length = 0;
    fs.writeFileSync(path.join(s.home, 'conf', 'batt.conf'), `SYSLOG=yes\nSYSLOG_SOCKET=${sock}\n`);
    assert.equal((await batt(['good', '--path', s.pattern], { home: s.home })).code, 0);
    await new Promise((res) => setTimeout(res, 200));
    assert.deepEqual(devlog.lines.map((l) => l.slice(0, 4)), ['<30>', '<30>', '<30>']);
    assert.match(devlog.lines[2]!, /done: 1 ok, 0 failed in/);
  } finally {
    devlog.stop();
    s.cleanup();
  }
});

test('a syslog socket that is not there: one warning, the exit code is the run\'s', async () => {
  const s = sandbox();
  try {
    writeScript(s.home, 'good', 'echo data > "$BATT_DEST/good.txt"');
    fs.writeFileSync(path.join(s.home, 'conf', 'batt.conf'), `SYSLOG=yes\nSYSLOG_SOCKET=${path.join(s.dir, 'none.sock')}\n`);
    const r = await batt(['good', '--path', s.pattern], { home: s.home });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr.match(/syslog/g)?.length, 1, r.stderr);
    assert.match(r.stderr, /batt: warning: syslog: .*none\.sock/);
  } finally {
    s.cleanup();
  }
});
