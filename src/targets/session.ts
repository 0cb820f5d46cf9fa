// One connection to a file server (SFTP, FTP), opened on first use and shared by a target's
// operations. A failure that may have broken it drops it, so the next operation (a retry)
// connects again; close() ends it. An operation given a signal (SIGINT/SIGTERM) stops at once when
// it aborts, wherever it is: a connection still being opened (TCP, ssh handshake, FTP login, TLS)
// is cut and forgotten, one in use is cut the hard way, which fails what runs on it at once.
import { TargetInterruptedError } from './retry.js';

export class Session<C> {
  private conn?: Promise<C>;
  private current?: C;
  /** Stops the connection being opened (conn, not yet resolved). */
  private opening?: AbortController;

  constructor(
    /** Opens a connection; `signal` aborts when it is no longer wanted: cut it (no graceful end). */
    private readonly connect: (signal: AbortSignal) => Promise<C>,
    /** Ends a connection (gracefully where the protocol can). */
    private readonly end: (c: C) => unknown,
    /** Cuts a connection at once (sockets destroyed): what runs on it fails. */
    private readonly kill: (c: C) => unknown = end,
    /** What the connection is to, for the interrupted error (no credentials). */
    private readonly label = 'connection',
  ) {}

  private interrupted(): TargetInterruptedError {
    return new TargetInterruptedError(`${this.label}: interrupted`);
  }

  private get(signal?: AbortSignal): Promise<C> {
    if (!this.conn) {
      const opening = new AbortController();
      const p: Promise<C> = this.connect(opening.signal).then((c) => {
        if (opening.signal.aborted) {
          // it came through after all: nobody waits for it any more
          void (async () => this.kill(c))().catch(() => {});
          throw this.interrupted();
        }
        if (this.conn === p) {
          this.current = c;
          this.opening = undefined;
        }
        return c;
      });
      p.catch(() => {
        if (this.conn === p) {
          this.conn = undefined;
          this.opening = undefined;
        }
      });
      this.conn = p;
      this.opening = opening;
    }
    const p = this.conn;
    if (!signal) return p;
    return new Promise<C>((resolve, reject) => {
      const stop = () => {
        // forget the connection being opened, and cut it (else its socket and timer keep the
        // process alive until the connect timeout)
        if (this.conn === p && !this.current) {
          this.opening?.abort();
          this.conn = undefined;
          this.opening = undefined;
        }
        reject(this.interrupted());
      };
      if (signal.aborted) return stop();
      signal.addEventListener('abort', stop, { once: true });
      p.then(resolve, reject).finally(() => signal.removeEventListener('abort', stop));
    });
  }

  /**
   * Runs fn on the connection; an error for which keep(err) is not true drops the connection.
   * `signal`: its abort stops the connecting or cuts the connection under fn, and the call rejects
   * with TargetInterruptedError.
   */
  async use<T>(fn: (c: C) => Promise<T>, keep: (err: unknown) => boolean, signal?: AbortSignal): Promise<T> {
    if (signal?.aborted) throw this.interrupted();
    const c = await this.get(signal);
    const cut = () => this.drop(c, this.kill);
    signal?.addEventListener('abort', cut, { once: true });
    try {
      return await fn(c);
    } catch (err) {
      if (signal?.aborted) throw this.interrupted();
      if (!keep(err)) this.drop(c);
      throw err;
    } finally {
      signal?.removeEventListener('abort', cut);
    }
  }

  /** Forgets c, if it is still the connection, and ends it (with `how`, by default this.end). */
  drop(c: C, how: (c: C) => unknown = this.end): void {
    if (this.current !== c) return;
    this.conn = undefined;
    this.current = undefined;
    void (async () => how(c))().catch(() => {});
  }

  async close(): Promise<void> {
    const p = this.conn;
    const connected = this.current !== undefined;
    // a connection still being opened is not waited for (the server may not answer): cut
    if (!connected) this.opening?.abort();
    this.conn = undefined;
    this.current = undefined;
    this.opening = undefined;
    if (connected) await p?.then((c) => this.end(c)).catch(() => {});
  }
}
