// A server kept busy during a physical backup: a "bank" of 100 accounts holding 1000 each, and a
// writer, a separate client process (mariadb or psql) fed an endless stream of short transactions,
// each moving a random amount from one account to another, appending a row to `log` and counting
// itself in `tx`, all in one transaction. A copy of the data files taken while it runs is torn
// unless the redo log / WAL written during the copy is replayed on it; these invariants tell:
//  - SUM(balance) is 100000 (no half-done transfer);
//  - each account's balance is 1000 plus what `log` says came in, minus what went out (every log
//    row's transfer is there, and no transfer without its log row);
//  - tx.n equals the number of log rows.
// The SQL is the same for MariaDB (InnoDB) and PostgreSQL.
import { spawn, type ChildProcess } from 'node:child_process';
import { Readable } from 'node:stream';

export const ACCOUNTS = 100;
export const TOTAL = ACCOUNTS * 1000;

/** The tables, for MariaDB or PostgreSQL, in the current database. */
export function bankSchema(kind: 'mariadb' | 'postgresql'): string {
  const [serial, engine] = kind === 'mariadb' ? ['BIGINT AUTO_INCREMENT', ' ENGINE=InnoDB'] : ['BIGINT GENERATED ALWAYS AS IDENTITY', ''];
  return `
    CREATE TABLE accounts (id INT PRIMARY KEY, balance BIGINT NOT NULL)${engine};
    INSERT INTO accounts (id, balance) SELECT g, 1000 FROM ${kind === 'mariadb' ? `(SELECT seq AS g FROM seq_1_to_${ACCOUNTS}) s` : `generate_series(1, ${ACCOUNTS}) g`};
    CREATE TABLE log (id ${serial} PRIMARY KEY, src INT NOT NULL, dst INT NOT NULL, amount INT NOT NULL, pad VARCHAR(200) NOT NULL)${engine};
    CREATE TABLE tx (k INT PRIMARY KEY, n BIGINT NOT NULL)${engine};
    INSERT INTO tx VALUES (1, 0);
  `;
}

/** The query whose one line of output is `sum<TAB>log rows<TAB>tx.n<TAB>accounts that disagree with the log`. */
export const BANK_CHECK = `SELECT
  (SELECT SUM(balance) FROM accounts),
  (SELECT COUNT(*) FROM log),
  (SELECT n FROM tx WHERE k = 1),
  (SELECT COUNT(*) FROM accounts a WHERE a.balance <> 1000
     + COALESCE((SELECT SUM(amount) FROM log WHERE dst = a.id), 0)
     - COALESCE((SELECT SUM(amount) FROM log WHERE src = a.id), 0));`;

export interface BankState {
  sum: number;
  logRows: number;
  tx: number;
  /** Accounts whose balance is not what the log says. */
  disagree: number;
}

/** Parses BANK_CHECK's output (tab- or |-separated). */
export function bankState(out: string): BankState {
  const f = out.trim().split(/[\t|]/).map(Number);
  if (f.length !== 4 || f.some((n) => !Number.isFinite(n))) throw new Error(`not a bank check: ${JSON.stringify(out)}`);
  return { sum: f[0]!, logRows: f[1]!, tx: f[2]!, disagree: f[3]! };
}

/** Asserts the invariants; returns the state. `what` names the server in the message. */
export function checkBank(what: string, out: string): BankState {
  const s = bankState(out);
  const bad: string[] = [];
  if (s.sum !== TOTAL) bad.push(`SUM(balance) is ${s.sum}, not ${TOTAL}`);
  if (s.tx !== s.logRows) bad.push(`tx.n is ${s.tx} but log has ${s.logRows} rows`);
  if (s.disagree !== 0) bad.push(`${s.disagree} account(s) disagree with the log`);
  if (bad.length) throw new Error(`${what}: torn bank: ${bad.join('; ')}`);
  return s;
}

function* transfers(): Generator<string> {
  const r = (n: number) => 1 + Math.floor(Math.random() * n);
  for (;;) {
    let chunk = '';
    for (let i = 0; i < 50; i++) {
      const [src, dst, amount] = [r(ACCOUNTS), r(ACCOUNTS), r(100)];
      chunk +=
        `BEGIN; UPDATE accounts SET balance = balance - ${amount} WHERE id = ${src}; ` +
        `UPDATE accounts SET balance = balance + ${amount} WHERE id = ${dst}; ` +
        `INSERT INTO log (src, dst, amount, pad) VALUES (${src}, ${dst}, ${amount}, REPEAT('x', 150)); ` +
        `UPDATE tx SET n = n + 1 WHERE k = 1; COMMIT;\n`;
    }
    yield chunk;
  }
}

export interface Writer {
  child: ChildProcess;
  /** Ends the stream of transactions (the client finishes the one it is in) and waits for the client; throws unless it exited 0. */
  stop(): Promise<void>;
}

/**
 * Starts the writer: `cmd args` is a client reading SQL on stdin (stopping at the first error),
 * connected to the database holding the bank. Returns once it runs; `countLog` polls the log until
 * it has grown, so the server is busy before the backup starts.
 */
export async function startWriter(cmd: string, args: string[], countLog: () => number): Promise<Writer> {
  const child = spawn(cmd, args, { stdio: ['pipe', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (c) => (stderr += c));
  let stopped = false;
  const gen = transfers();
  const source = new Readable({
    read() {
      this.push(stopped ? null : gen.next().value);
    },
  });
  source.pipe(child.stdin!);
  child.stdin!.on('error', () => {}); // a client that died is reported by stop()
  const exit = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  let exited: number | null | undefined;
  void exit.then((c) => (exited = c));
  const first = countLog();
  const until = Date.now() + 60_000;
  while (countLog() <= first) {
    if (exited !== undefined) throw new Error(`the writer exited (${exited}) before writing: ${stderr}`);
    if (Date.now() > until) throw new Error(`the writer wrote nothing in 60 s: ${stderr}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    child,
    async stop() {
      stopped = true;
      source.push(null);
      const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
      const code = await exit;
      clearTimeout(timer);
      if (code !== 0) throw new Error(`the writer failed (exit ${code}): ${stderr.slice(-2000)}`);
    },
  };
}

/**
 * The text of a stand-in for zstd (the scripts' ZSTD) that feeds the stream to the real one at most
 * `bytesPerSecond`: the copy of a small test server then takes seconds, not a fraction of one, so
 * the writer certainly writes while the data files are being copied. Decompression passes through.
 */
export function throttledZstd(zstd: string, bytesPerSecond: number): string {
  return `#!/usr/bin/env bash
# test stand-in: the real zstd, fed at most ${bytesPerSecond} bytes a second when it compresses stdin
set -o pipefail
case " $* " in *" -d"*) exec ${JSON.stringify(zstd)} "$@" ;; esac
perl -e 'use Time::HiRes qw(time sleep); my ($rate, $t0, $n, $r) = ($ARGV[0], time, 0);
  while ($r = sysread(STDIN, my $b, 65536)) {
    for (my $o = 0; $o < $r;) { my $w = syswrite(STDOUT, $b, $r - $o, $o); defined $w or die "throttle: write: $!\\n"; $o += $w }
    $n += $r; my $ahead = $n / $rate - (time - $t0); sleep($ahead) if $ahead > 0 }
  defined $r or die "throttle: read: $!\\n"' ${bytesPerSecond} | ${JSON.stringify(zstd)} "$@"
`;
}
