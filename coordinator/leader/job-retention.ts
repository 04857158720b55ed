// Leader-only: deletes finished jobs (succeeded, failed, cancelled) older than the retention period
// with their attempt history and output, in bounded batches so that one pass never holds a long
// transaction or a large lock set. Same shape as the log retention loop.
import type pg from "pg";
import { deleteExpiredJobs } from "../sql/delete-expired-jobs.js";

export interface JobRetentionOptions {
  /** read at every pass; 0 keeps finished jobs forever */
  retentionMs: () => number;
  intervalMs: (retentionMs: number) => number;
  batchSize: number;
  log: (line: string) => void;
}

export class JobRetention {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly pool: pg.Pool,
    private readonly opts: JobRetentionOptions,
  ) {}

  start(): void {
    this.passNow();
  }

  /** Sweeps now and restarts the timer. */
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

  /** Deletes batches until none is left; returns how many jobs went. */
  async sweep(): Promise<number> {
    const retentionMs = this.opts.retentionMs();
    if (retentionMs <= 0) return 0;
    let total = 0;
    try {
      while (!this.stopped) {
        const n = await deleteExpiredJobs(this.pool, retentionMs, this.opts.batchSize);
        total += n;
        if (n < this.opts.batchSize) break;
        await new Promise((r) => setImmediate(r)); // let other work in between batches
      }
    } catch (err) {
      // A later pass tries again; deleting old jobs is never urgent.
      this.opts.log(`job retention pass failed, retrying later: ${(err as Error).message}`);
    }
    if (total > 0) this.opts.log(`deleted ${total} finished job(s) older than ${Math.round(retentionMs / 3_600_000)} h`);
    return total;
  }
}
