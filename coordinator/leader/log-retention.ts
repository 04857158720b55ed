// Leader-only: deletes job output older than the retention period, in bounded batches so that one
// pass never holds a long transaction or a large lock set.
import type pg from "pg";
import { deleteExpiredLogs } from "../sql/delete-expired-logs.js";

export interface LogRetentionOptions {
  /** live setting, read at every pass; 0 keeps output forever */
  retentionMs: () => number;
  /** time between passes for a given retention */
  intervalMs: (retentionMs: number) => number;
  batchSize: number;
  log: (line: string) => void;
}

export class LogRetention {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly pool: pg.Pool,
    private readonly opts: LogRetentionOptions,
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

  /** Deletes batches until none is left; returns how many chunks went. */
  async sweep(): Promise<number> {
    let total = 0;
    const retentionMs = this.opts.retentionMs();
    if (retentionMs <= 0) return 0;
    try {
      while (!this.stopped) {
        const n = await deleteExpiredLogs(this.pool, retentionMs, this.opts.batchSize);
        total += n;
        if (n < this.opts.batchSize) break;
        await new Promise((r) => setImmediate(r)); // let other work in between batches
      }
    } catch (err) {
      // A later pass tries again; deleting old output is never urgent.
      this.opts.log(`log retention pass failed, retrying later: ${(err as Error).message}`);
    }
    if (total > 0) this.opts.log(`deleted ${total} log chunk(s) older than ${Math.round(retentionMs / 3_600_000)} h`);
    return total;
  }
}
