// Leader-only: finds workers whose lease ran out and puts the attempts they held back in the queue,
// and ends attempts that ran past their timeout while their worker stayed silent about them.
import type pg from "pg";
import { withTransaction } from "../db/pool.js";
import { CHANNELS, notifyIds } from "../sql/notify.js";
import { reapLostWorkers } from "../sql/reap-lost-workers.js";
import { reapTimedOut } from "../sql/reap-timed-out.js";
import { assertTerm } from "../sql/term.js";

export interface ReaperOptions {
  term: number;
  /** live settings, read at every pass */
  leaseMs: () => number;
  intervalMs: number;
  /** timeout of jobs that set none (0 = none) */
  defaultTimeoutMs: () => number;
  /** how long past its timeout a running attempt may go unreported before the leader ends it */
  timeoutGraceMs: number;
  requeued: () => void;
  onError: (err: Error) => void;
  log: (line: string) => void;
}

export class Reaper {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly pool: pg.Pool,
    private readonly opts: ReaperOptions,
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      if (!this.running) this.running = this.reap().finally(() => (this.running = undefined));
    }, this.opts.intervalMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    await this.running;
  }

  private async reap(): Promise<void> {
    if (this.stopped) return;
    try {
      const result = await withTransaction(this.pool, async (tx) => {
        await assertTerm(tx, this.opts.term);
        const r = await reapLostWorkers(tx, this.opts.leaseMs());
        const timedOut = await reapTimedOut(tx, this.opts.defaultTimeoutMs(), this.opts.timeoutGraceMs);
        await notifyIds(tx, CHANNELS.jobChanged, [...r.requeued, ...timedOut].map((j) => j.id));
        return { ...r, timedOut };
      });
      for (const t of result.timedOut) {
        this.opts.log(`job ${t.id} attempt ${t.attempt} ran past its timeout on silent worker ${t.workerId}: ${t.state}`);
      }
      for (const w of result.lostWorkers) this.opts.log(`worker ${w} lost (no heartbeat for ${this.opts.leaseMs()} ms)`);
      if (result.requeued.length > 0) {
        this.opts.log(`re-queued ${result.requeued.filter((j) => j.state === "pending").length} attempt(s) of lost workers`);
      }
      if (result.requeued.length > 0 || result.timedOut.length > 0) this.opts.requeued();
    } catch (err) {
      this.opts.onError(err as Error);
    }
  }
}
