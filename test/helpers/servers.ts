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

/** S as a MariaDB string literal: in single quotes, backslashes doubled, quotes doubled. */
export const sqlString = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;

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

/**
 * Runs the `# by hand: NAME` block of docs/restore-without-batt.md literally, as a sysadmin
 * without batt would, against MariaDB `target`: its `DB=` line set to `db`, B = the backup folder
 * `backup`, and HOME a folder under `dir` whose ~/.my.cnf logs in as root over the target's socket.
 * Returns bash's result.
 */
export function runMariaHandBlock(name: string, target: MariaDB, dir: string, backup: string, db: string): ReturnType<typeof spawnSync> {
  const home = path.join(dir, 'hand-home');
  fs.mkdirSync(home, { recursive: true });
  fs.writeFileSync(path.join(home, '.my.cnf'), `[client]\nsocket=${target.socket}\nuser=root\n`, { mode: 0o600 });
  const doc = fs.readFileSync(path.join(import.meta.dirname, '..', '..', 'docs', 'restore-without-batt.md'), 'utf8');
  const block = new RegExp('```sh\\n# by hand: ' + name + '\\n([\\s\\S]*?)```').exec(doc)?.[1];
  if (!block) throw new Error(`no ${name} block in docs/restore-without-batt.md`);
  return spawnSync('bash', ['-e', '-o', 'pipefail', '-c', block.replace(/^DB=.*$/m, `DB=${db}`)], {
    encoding: 'utf8',
    env: { ...process.env, HOME: home, B: backup },
  });
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL

export interface PostgreSQL {
  dir: string;
  /** The data directory. */
  data: string;
  /** The folder of postgresql.conf, pg_hba.conf and pg_ident.conf: the data directory, or with `debian` one of its own (Debian's /etc/postgresql/<version>/<cluster>). */
  conf: string;
  port: number;
  /** The superuser `postgres` uses this password over TCP (scram-sha-256). */
  password: string;
  bin: string;
  /** Runs SQL as postgres over the local socket; returns unaligned, tuples-only output. */
  sql(query: string, db?: string): string;
  /** Stops the server and keeps its files (stop() removes them), e.g. to restore into its data directory. */
  halt(): void;
  /** Starts it again on its data directory and configuration, after halt(). */
  start(): Promise<void>;
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
 * What pg_createcluster (postgresql-common) does to a data directory initdb made with
 * `--auth-local peer --auth-host scram-sha-256`: postgresql.conf, pg_hba.conf and pg_ident.conf
 * move into CONF (Debian's /etc/postgresql/<version>/<cluster>), postgresql.conf names
 * data_directory, hba_file and ident_file, and pg_hba.conf gets the superuser's line on top
 * (setup_pg_hba), so it reads as Debian's default: `local all postgres peer`, `local all all
 * peer`, host lines scram-sha-256, `local replication all peer`, host replication lines.
 */
function debianLayout(data: string, conf: string, owner: { uid: number; gid: number } | null): void {
  fs.mkdirSync(conf, { mode: 0o755 });
  for (const [f, mode] of [['postgresql.conf', 0o644], ['pg_hba.conf', 0o640], ['pg_ident.conf', 0o640]] as const) {
    fs.renameSync(path.join(data, f), path.join(conf, f));
    fs.chmodSync(path.join(conf, f), mode);
  }
  const hba = path.join(conf, 'pg_hba.conf');
  const lines = fs.readFileSync(hba, 'utf8').split(/(?<=\n)/);
  const at = lines.findIndex((l) => /#.*TYPE\s+DATABASE/.test(l));
  if (at < 0) throw new Error(`${hba}: no "# TYPE DATABASE" line to put the superuser's line before`);
  const su = `
# DO NOT DISABLE!
# If you change this first entry you will need to make sure that the
# database superuser can access the database using some other method.
# Noninteractive access to all databases is required during automatic
# maintenance (custom daily cronjobs, replication, and similar tasks).
#
# Database administrative login by Unix domain socket
${'local'.padEnd(7)} ${'all'.padEnd(15)} ${'postgres'.padEnd(39)} peer

`;
  lines.splice(at, 0, su);
  fs.writeFileSync(hba, lines.join(''));
  fs.appendFileSync(path.join(conf, 'postgresql.conf'), `data_directory = '${data}'\nhba_file = '${hba}'\nident_file = '${path.join(conf, 'pg_ident.conf')}'\n`);
  if (owner) for (const f of [conf, ...fs.readdirSync(conf).map((n) => path.join(conf, n))]) fs.chownSync(f, owner.uid, owner.gid);
}

/**
 * Starts a fresh PostgreSQL cluster. Null when the binaries are missing. `peer`: initialised the
 * way Debian's package does (`--auth-local=peer`, superuser `postgres`, run by the OS user
 * postgres), so over the socket only the OS user postgres gets in as postgres; needs root.
 * `debian`: peer, and laid out as pg_createcluster lays a cluster out (debianLayout): the
 * configuration in its own folder (`conf`), not in the data directory, the server started with
 * `-c config_file=` as pg_ctlcluster starts it.
 */
export async function startPostgreSQL(password = 'pg-Secret-93f1', opts: { peer?: boolean; datadir?: string; debian?: boolean } = {}): Promise<PostgreSQL | null> {
  const bin = postgresBin();
  if (!bin) return null;
  if ((opts.peer || opts.debian) && process.getuid?.() !== 0) throw new Error('a peer-authentication PostgreSQL needs root (to run as the OS user postgres)');
  if (opts.debian && opts.datadir) throw new Error('debian: a fresh cluster only (its configuration is made with it)');
  if (process.getuid?.() === 0) ensurePostgresUser();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'batt-pg-'));
  // An existing data directory (a restored one) is started as it is, and not removed by stop().
  const data = opts.datadir ?? path.join(dir, 'data');
  const conf = opts.debian ? path.join(dir, 'etc') : data;
  const log = path.join(dir, 'postgres.log');
  const prefix = asPostgres();
  let owner: { uid: number; gid: number } | null = null;
  if (prefix.length) {
    owner = {
      uid: Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim()),
      gid: Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim()),
    };
    fs.chownSync(dir, owner.uid, owner.gid);
  }
  const run = (cmd: string, args: string[], input?: string) => {
    const all = [...prefix, path.join(bin, cmd), ...args];
    return execFileSync(all[0]!, all.slice(1), { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'], cwd: dir });
  };
  let port = 0;
  const halt = () => {
    try {
      run('pg_ctl', ['-D', data, '-m', 'fast', '-w', '-t', '60', 'stop']);
    } catch {
      /* not running */
    }
  };
  const stop = async () => {
    halt();
    fs.rmSync(dir, { recursive: true, force: true });
  };
  const sql = (query: string, db = 'postgres') =>
    run('psql', ['-X', '-q', '-At', '-v', 'ON_ERROR_STOP=1', '-h', dir, '-p', String(port), '-U', 'postgres', '-d', db], query);
  const start = async () => {
    // A port found free can be taken by another test process before postgres binds it: retry
    // (on a restart the port it had first).
    for (let attempt = 1; ; attempt++) {
      if (!port || attempt > 1) port = await freePort();
      try {
        run('pg_ctl', [
          '-D', data, '-l', log, '-w', '-t', '90',
          '-o', `${opts.debian ? `-c config_file=${path.join(conf, 'postgresql.conf')} ` : ''}-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c shared_buffers=16MB -c fsync=off -c max_connections=20`,
          'start',
        ]);
        break;
      } catch (err) {
        const taken = /Address already in use|could not create any TCP\/IP sockets/.test(fs.existsSync(log) ? fs.readFileSync(log, 'utf8') : '');
        if (!taken || attempt >= 3) throw err;
      }
    }
  };
  try {
    if (!opts.datadir) run('initdb', ['-D', data, '-U', 'postgres', '-E', 'UTF8', '--locale=C', `--auth-local=${opts.peer || opts.debian ? 'peer' : 'trust'}`, '--auth-host=scram-sha-256', '--no-sync']);
    if (opts.debian) debianLayout(data, conf, owner);
    await start();
    sql(`ALTER ROLE postgres PASSWORD '${password.replace(/'/g, "''")}'`);
  } catch (err) {
    const tail = fs.existsSync(log) ? fs.readFileSync(log, 'utf8').slice(-2000) : '';
    await stop();
    const e = err as { stderr?: string; message: string };
    throw new Error(`PostgreSQL did not start: ${e.stderr ?? e.message}\n${tail}`);
  }
  return {
    dir,
    data,
    conf,
    get port() {
      return port;
    },
    password,
    bin,
    sql,
    halt,
    start,
    stop,
  };
}
