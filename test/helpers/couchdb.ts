// A throwaway CouchDB-protocol server for the tests: pouchdb-server from npm (a devDependency),
// in memory, on a free 127.0.0.1 port, with a server admin. CouchDB itself is not packaged in
// Debian 12; pouchdb-server serves the same HTTP API (_all_dbs, _all_docs with attachments,
// _bulk_docs with new_edits=false, _security, basic auth with CouchDB's own error bodies).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { REPO } from './batt.js';
import { freePort } from './net.js';

export const POUCHDB_SERVER = path.join(REPO, 'node_modules', '.bin', 'pouchdb-server');

export interface Couch {
  url: string;
  user: string;
  password: string;
  /** A request as the admin; the parsed JSON body and the status. */
  call(method: string, p: string, body?: unknown): Promise<{ status: number; body: any }>;
  stop(): Promise<void>;
}

export async function startCouch(user = 'admin', password = 'couch-S3cret-"q\\x'): Promise<Couch> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'batt-couch-'));
  const port = await freePort();
  const log = fs.openSync(path.join(dir, 'server.log'), 'a');
  // its config.json and log.txt go to its own folder (cwd), never the repo
  const child = spawn(POUCHDB_SERVER, ['--in-memory', '-p', String(port), '-o', '127.0.0.1', '-n'], { cwd: dir, stdio: ['ignore', log, log] });
  const url = `http://127.0.0.1:${port}`;
  const auth = `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
  const call = async (method: string, p: string, body?: unknown, headers: Record<string, string> = { authorization: auth }) => {
    const r = await fetch(url + p, {
      method,
      headers: { ...headers, 'content-type': 'application/json', accept: 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    return { status: r.status, body: text ? JSON.parse(text) : undefined };
  };
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await gone;
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  const until = Date.now() + 30_000;
  for (;;) {
    try {
      if ((await fetch(`${url}/`)).ok) break;
    } catch {
      /* not up yet */
    }
    if (Date.now() > until || child.exitCode !== null) {
      await stop().catch(() => {});
      throw new Error(`pouchdb-server did not answer on ${url}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  // the end of the "admin party": from now on, only the admin's login reads everything
  const made = await call('PUT', `/_config/admins/${user}`, password, {});
  if (made.status !== 200) throw new Error(`cannot make the admin: ${JSON.stringify(made)}`);
  return { url, user, password, call: (m, p, b) => call(m, p, b), stop };
}

/** Whether pouchdb-server is installed (npm ci). */
export const hasPouchdbServer = (): boolean => fs.existsSync(POUCHDB_SERVER);
