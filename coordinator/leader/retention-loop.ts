// Leader-only: deletes what is older than a retention period, in bounded batches so that one pass
// never holds a long transaction or a large lock set. Job output and finished jobs both use it.
import type pg from "pg";

export interface RetentionOptions {
  /** live setting, read at every pass; 0 keeps everything */
  retentionMs: () => number;
  /** time between passes for a given retention */
  intervalMs: (retentionMs: number) => number;
  batchSize: number;
  log: (line: string) => void;
}

export interface RetentionTarget {
  /** what is deleted, for log lines: "log chunk(s)" */
  noun: string;
  /** deletes one batch of rows older than the retention; returns how many went */
  deleteBatch(pool: pg.Pool, retentionMs: number, batchSize: number): Promise<number>;
}

export class RetentionLoop {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly pool: pg.Pool,
    private readonly opts: RetentionOptions,
    private readonly target: RetentionTarget,
  ) {}

  start(): void {
    this.passNow();
  }

  /** Sweeps now and restarts the timer (at start, and when the retention setting changed). */
  passNow(): void {
    clearTimeout(this.timer);
    if (this.stopped) return;
    if (!this.running) {
      this.running = this.sweep().then(
        () => (this.running = undefined),
        () => (this.running = undefined),
      );
    }
    this.timer = setTimeout(() => this.passNow(), this.opts.intervalMs(this.opts.retentionMs()));
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  /** Deletes batches until none is left; returns how many rows went. */
  async sweep(): Promise<number> {
    const retentionMs = this.opts.retentionMs();
    if (retentionMs <= 0) return 0;
    let total = 0;
    try {
      while (!this.stopped) {
        const n = await this.target.deleteBatch(this.pool, retentionMs, this.opts.batchSize);
        total += n;
        if (n < this.opts.batchSize) break;
        await new Promise((r) => setImmediate(r)); // let other work in between batches
      }
    } catch (err) {
      // A later pass tries again; deleting old rows is never urgent.
      this.opts.log(`${this.target.noun} retention pass failed, retrying later: ${(err as Error).message}`);
    }
    if (total > 0) this.opts.log(`deleted ${total} ${this.target.noun} older than ${Math.round(retentionMs / 3_600_000)} h`);
    return total;
  }
}
