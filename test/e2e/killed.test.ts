// A killed batt leaves nothing running (issue 15, RELIABILITY 18): scripts run in their own process
// groups, so SIGKILL of batt, or of batt's whole group, does not reach their pipelines by itself.
// Within a few seconds of batt's death every process of its scripts must be gone.
import { test } from 'node:test';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { BATT, sandbox, writeScript, type Sandbox } from '../helpers/batt.js';

/** Pids of live processes whose environment mentions the sandbox (the scripts carry BATT_DEST under it). */
function scriptProcesses(sb: Sandbox): number[] {
  const out: number[] = [];
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (fs.readFileSync(`/proc/${name}/environ`, 'latin1').includes(`BATT_DEST=${sb.root}/`)) {
        // a zombie has no environment to read; one that can still be read is alive
        const state = fs.readFileSync(`/proc/${name}/stat`, 'latin1').replace(/^.*\) /, '')[0];
        if (state !== 'Z') out.push(Number(name));
      }
    } catch {
      /* gone, or not ours to read */
    }
  }
  return out;
}

async function until(what: string, cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

for (const target of ['batt alone', 'its whole process group'] as const) {
  test(`SIGKILL of ${target} during a run: within seconds no process of its scripts is left`, async () => {
    const sb = sandbox();
    // batt in its own group (as under cron), so that the group kill does not reach this test
    const child = spawn(process.execPath, [BATT, 'slow', 'slower', '--path', sb.pattern], {
      env: { ...process.env, NO_COLOR: '1', BATT_HOME: sb.home },
      stdio: 'ignore',
      detached: true,
    });
    try {
      // a careless drop-in: a pipeline with a child of a child, not waiting on anything
      writeScript(sb.home, 'slow', `#!/bin/sh\nsleep 300 | cat > "$BATT_DEST/x"\n`);
      writeScript(sb.home, 'slower', `#!/usr/bin/env bash\n( sleep 301 & wait ) | gzip > "$BATT_DEST/y.gz"\n`);
      // both pipelines up: sh, sleep, cat; bash, subshell, sleep, gzip
      await until('the scripts to start', () => scriptProcesses(sb).length >= 7, 20_000);
      process.kill(target === 'batt alone' ? child.pid! : -child.pid!, 'SIGKILL');
      await until('batt to die', () => child.exitCode !== null || child.signalCode !== null, 5_000);
      await until('the scripts to be gone', () => scriptProcesses(sb).length === 0, 5_000).catch((err) => {
        const left = scriptProcesses(sb).map((p) => `${p}: ${fs.readFileSync(`/proc/${p}/cmdline`, 'latin1').replace(/\0/g, ' ')}`);
        throw new Error(`${(err as Error).message}; still running:\n${left.join('\n')}`);
      });
    } finally {
      for (const pid of scriptProcesses(sb)) process.kill(pid, 'SIGKILL');
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        /* gone */
      }
      sb.cleanup();
    }
  });
}
