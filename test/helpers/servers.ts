// Throwaway database servers for integration tests: a MariaDB and a PostgreSQL started from the
// Debian binaries in a temp folder, on a free 127.0.0.1 port, never the system services.
// Each start function returns null (with a reason) when the binaries are missing, so a test can
// skip, or fail when REQUIRE_SERVERS is set.
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export { freePort } from './net.js';
import { freePort } from './net.js';

/** The first of the candidates found on PATH or as an absolute path, or null. */
export function findBinary(...candidates: string[]): string | null {
  const dirs = (process.env.PATH ?? '').split(':').concat(['/usr/sbin', '/usr/bin', '/sbin']);
  for (const c of candidates) {
    if (c.includes('/')) {
      if (fs.existsSync(c)) return c;
      continue;
    }
    for (const d of dirs) {
      const p = path.join(d, c);
      if (d && fs.existsSync(p)) return p;
    }
  }
  return null;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor(what: string, ok: () => boolean, timeoutMs: number, log?: string): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (ok()) return;
    await sleep(250);
  }
  const tail = log && fs.existsSync(log) ? `\n${fs.readFileSync(log, 'utf8').split('\n').slice(-20).join('\n')}` : '';
  throw new Error(`${what} did not come up within ${timeoutMs / 1000}s${tail}`);
}

// ---------------------------------------------------------------------------------------------
// MariaDB

export interface MariaDB {
  dir: string;
  datadir: string;
  port: number;
  socket: string;
  /** Runs SQL as root over the socket; returns stdout (tab-separated, no column names). */
  sql(query: string, db?: string): string;
  stop(): Promise<void>;
}

export interface MariaDBTools {
  server: string;
  installDb: string;
  client: string;
  dump: string;
}

export function mariadbTools(): MariaDBTools | null {
  const server = findBinary('mariadbd', 'mysqld');
  const installDb = findBinary('mariadb-install-db', 'mysql_install_db');
  const client = findBinary('mariadb', 'mysql');
  const dump = findBinary('mariadb-dump', 'mysqldump');
  return server && installDb && client && dump ? { server, installDb, client, dump } : null;
}

export interface MariaDBOptions {
  /**
   * How root@localhost logs in: 'normal' (default: no password) or 'unix_socket', as Debian's
   * package sets it up (mariadb-install-db's own default): only the OS user root is let in, over
   * the socket. The test process must then be root (sql() connects as root).
   */
  rootAuth?: 'normal' | 'unix_socket';
  /** Start on this existing data directory (e.g. a restored one) instead of a fresh one; it is not removed by stop(). */
  datadir?: string;
  /** More mariadbd options, after the tests' own (the last one wins), e.g. a bigger buffer pool for bench/db.ts. */
  serverArgs?: string[];
}

/** Starts a fresh MariaDB (root over its socket, see MariaDBOptions). Null when not installed. */
export async function startMariaDB(opts: MariaDBOptions = {}): Promise<MariaDB | null> {
  const tools = mariadbTools();
  if (!tools) return null;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'batt-mariadb-'));
  const datadir = opts.datadir ?? path.join(dir, 'data');
  const socket = path.join(dir, 'mysqld.sock');
  const errlog = path.join(dir, 'error.log');
  // Its own temp folder: in the shared /tmp, another test's cleanup removed a temporary table of
  // mariadb-install-db once ('Could not remove temporary table ... Unknown table').
  const tmpdir = path.join(dir, 'tmp');
  fs.mkdirSync(tmpdir);
  const asRoot = process.getuid?.() === 0 ? ['--user=root'] : [];
  const install = opts.datadir ? { status: 0, stderr: '', stdout: '' } : spawnSync(
    tools.installDb,
    [
      '--no-defaults',
      `--datadir=${datadir}`,
      `--auth-root-authentication-method=${opts.rootAuth === 'unix_socket' ? 'socket' : 'normal'}`,
      '--skip-test-db',
      `--tmpdir=${tmpdir}`,
      ...asRoot,
    ],
    { encoding: 'utf8' },
  );
  if (install.status !== 0) {
    fs.rmSync(dir, { recursive: true, force: true });
    throw new Error(`mariadb-install-db failed: ${install.stderr || install.stdout}`);
  }
  const sql = (query: string, db?: string): string =>
    execFileSync(
      tools.client,
      ['--no-defaults', `--socket=${socket}`, '-uroot', '--default-character-set=utf8mb4', '--batch', '--skip-column-names', ...(db ? [db] : [])],
      { input: query, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] },
    );
  // A port found free can be taken by another test process before mariadbd binds it: retry.
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const child: ChildProcess = spawn(
      tools.server,
      [
        '--no-defaults',
        `--datadir=${datadir}`,
        `--socket=${socket}`,
        `--port=${port}`,
        `--tmpdir=${tmpdir}`,
        '--bind-address=127.0.0.1',
        `--pid-file=${path.join(dir, 'mysqld.pid')}`,
        `--log-error=${errlog}`,
        '--skip-log-bin',
        '--skip-name-resolve',
        '--performance-schema=OFF',
        '--innodb-buffer-pool-size=16M',
        '--innodb-log-file-size=8M',
        '--key-buffer-size=1M',
        '--max-connections=20',
        ...(opts.serverArgs ?? []),
        ...asRoot,
      ],
      { stdio: 'ignore', detached: false },
    );
    let exited = false;
    child.on('exit', () => (exited = true));
    const stop = async () => {
      if (!exited) {
        child.kill('SIGTERM');
        const until = Date.now() + 60_000;
        while (!exited && Date.now() < until) await sleep(100);
        if (!exited) child.kill('SIGKILL');
      }
      fs.rmSync(dir, { recursive: true, force: true });
    };
    try {
      await waitFor(
        'MariaDB',
        () => {
          if (exited) throw new Error(`mariadbd exited:\n${fs.existsSync(errlog) ? fs.readFileSync(errlog, 'utf8') : ''}`);
          try {
            sql('SELECT 1');
            return true;
          } catch {
            return false;
          }
        },
        90_000,
        errlog,
      );
    } catch (err) {
      const portTaken = exited && /Address already in use/.test(fs.existsSync(errlog) ? fs.readFileSync(errlog, 'utf8') : '');
      if (portTaken && attempt < 3) {
        fs.rmSync(errlog, { force: true });
        continue;
      }
      await stop();
      throw err;
    }
    return { dir, datadir, port, socket, sql, stop };
  }
}

/** Row count and CHECKSUM TABLE of every base table of a database, by table name. */
export function mariadbTableSums(server: MariaDB, db: string): Map<string, string> {
  const tables = server.sql(`SELECT TABLE_NAME FROM information_schema.TABLES WHERE TABLE_SCHEMA='${db}' AND TABLE_TYPE='BASE TABLE' ORDER BY 1`).trim().split('\n').filter(Boolean);
  const out = new Map<string, string>();
  for (const t of tables) {
    const count = server.sql(`SELECT COUNT(*) FROM \`${db}\`.\`${t}\``).trim();
    const sum = server.sql(`CHECKSUM TABLE \`${db}\`.\`${t}\``).trim().split('\t')[1];
    out.set(t, `${count}:${sum}`);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

export interface PostgreSQL {
  dir: string;
  /** The data directory. */
  data: string;
  port: number;
  /** The superuser `postgres` uses this password over TCP (scram-sha-256). */
  password: string;
  bin: string;
  /** Runs SQL as postgres over the local socket; returns unaligned, tuples-only output. */
  sql(query: string, db?: string): string;
  stop(): Promise<void>;
}

/** The newest /usr/lib/postgresql/<ver>/bin holding initdb, or null. */
export function postgresBin(): string | null {
  const base = '/usr/lib/postgresql';
  if (!fs.existsSync(base)) return null;
  const versions = fs
    .readdirSync(base)
    .filter((v) => fs.existsSync(path.join(base, v, 'bin', 'initdb')))
    .sort((a, b) => Number(b) - Number(a));
  return versions.length ? path.join(base, versions[0]!, 'bin') : null;
}

/** Command prefix that runs a program as the `postgres` user when we are root (initdb refuses root). */
function asPostgres(): string[] {
  if (process.getuid?.() !== 0) return [];
  const runuser = findBinary('runuser');
  if (runuser) return [runuser, '-u', 'postgres', '--'];
  return [findBinary('setpriv') ?? 'setpriv', '--reuid=postgres', '--regid=postgres', '--init-groups'];
}

/** The OS user `postgres`, created as Debian's postgresql package does when it is missing (root only). */
function ensurePostgresUser(): void {
  if (spawnSync('id', ['-u', 'postgres']).status === 0) return;
  execFileSync('useradd', ['--system', '--user-group', '--home-dir', '/var/lib/postgresql', '--shell', '/bin/bash', 'postgres']);
}

/** Row count and md5 of the ordered rows of every table of a database, by qualified table name. */
export function pgTableSums(server: PostgreSQL, db: string): Map<string, string> {
  const tables = server
    .sql("SELECT quote_ident(schemaname) || '.' || quote_ident(tablename) FROM pg_tables WHERE schemaname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1", db)
    .trim()
    .split('\n')
    .filter(Boolean);
  const out = new Map<string, string>();
  for (const t of tables) {
    out.set(t, server.sql(`SELECT count(*) || ':' || coalesce(md5(string_agg(x::text, '|' ORDER BY x::text)), '') FROM ${t} x`, db).trim());
  }
  return out;
}

/**
 * Starts a fresh PostgreSQL cluster. Null when the binaries are missing. `peer`: initialised the
 * way Debian's package does (`--auth-local=peer`, superuser `postgres`, run by the OS user
 * postgres), so over the socket only the OS user postgres gets in as postgres; needs root.
 */
export async function startPostgreSQL(password = 'pg-Secret-93f1', opts: { peer?: boolean; datadir?: string } = {}): Promise<PostgreSQL | null> {
  const bin = postgresBin();
  if (!bin) return null;
  if (opts.peer && process.getuid?.() !== 0) throw new Error('a peer-authentication PostgreSQL needs root (to run as the OS user postgres)');
  if (process.getuid?.() === 0) ensurePostgresUser();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'batt-pg-'));
  // An existing data directory (a restored one) is started as it is, and not removed by stop().
  const data = opts.datadir ?? path.join(dir, 'data');
  const log = path.join(dir, 'postgres.log');
  const prefix = asPostgres();
  if (prefix.length) {
    const pw = execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim();
    const gr = execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim();
    fs.chownSync(dir, Number(pw), Number(gr));
  }
  const run = (cmd: string, args: string[], input?: string) => {
    const all = [...prefix, path.join(bin, cmd), ...args];
    return execFileSync(all[0]!, all.slice(1), { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], cwd: dir });
  };
  let port = 0;
  const stop = async () => {
    try {
      run('pg_ctl', ['-D', data, '-m', 'fast', '-w', '-t', '60', 'stop']);
    } catch {
      /* not running */
    }
    fs.rmSync(dir, { recursive: true, force: true });
  };
  const sql = (query: string, db = 'postgres') =>
    run('psql', ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-h', dir, '-p', String(port), '-U', 'postgres', '-d', db], query);
  try {
    if (!opts.datadir) run('initdb', ['-D', data, '-U', 'postgres', '-E', 'UTF8', '--locale=C', `--auth-local=${opts.peer ? 'peer' : 'trust'}`, '--auth-host=scram-sha-256', '--no-sync']);
    // A port found free can be taken by another test process before postgres binds it: retry.
    for (let attempt = 1; ; attempt++) {
      port = await freePort();
      try {
        run('pg_ctl', [
          '-D', data, '-l', log, '-w', '-t', '90',
          '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c shared_buffers=16MB -c fsync=off -c max_connections=20`,
          'start',
        ]);
        break;
      } catch (err) {
        const taken = /Address already in use|could not create any TCP\/IP sockets/.test(fs.existsSync(log) ? fs.readFileSync(log, 'utf8') : '');
        if (!taken || attempt >= 3) throw err;
      }
    }
    sql(`ALTER ROLE postgres PASSWORD '${password.replace(/'/g, "''")}'`);
  } catch (err) {
    const tail = fs.existsSync(log) ? fs.readFileSync(log, 'utf8').slice(-2000) : '';
    await stop();
    const e = err as { stderr?: string; message: string };
    throw new Error(`PostgreSQL did not start: ${e.stderr ?? e.message}\n${tail}`);
  }
  return { dir, data, port, password, bin, sql, stop };
}
