// One connection to a file server (SFTP, FTP), opened on first use and shared by a target's
// operations. A failure that may have broken it drops it, so the next operation (a retry)
// connects again; an interrupted transfer drops it the hard way, which fails what runs on it at
// once; close() ends it.

export class Session<C> {
  private conn?: Promise<C>;
  private current?: C;

  constructor(
    private readonly connect: () => Promise<C>,
    /** Ends a connection (gracefully where the protocol can). */
    private readonly end: (c: C) => unknown,
  ) {}

  private async get(): Promise<C> {
    this.conn ??= this.connect().then((c) => (this.current = c));
    try {
      return await this.conn;
    } catch (err) {
      this.conn = undefined;
      throw err;
    }
  }

  /** Runs fn on the connection; an error for which keep(err) is not true drops the connection. */
  async use<T>(fn: (c: C) => Promise<T>, keep: (err: unknown) => boolean): Promise<T> {
    const c = await this.get();
    try {
      return await fn(c);
    } catch (err) {
      if (!keep(err)) this.drop(c);
      throw err;
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
    this.conn = undefined;
    this.current = undefined;
    await p?.then((c) => this.end(c)).catch(() => {});
  }
}
