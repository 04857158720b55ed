// Leader-only services start and stop as one unit when leadership is won or lost.
import type pg from "pg";
import type { Reservation, SchedJob, Strategy } from "../../shared/scheduling/types.js";
import type { AssignedJob } from "../sql/apply-plan.js";
import type { InsertedJob, NewJob } from "../sql/insert-jobs.js";
import type { LeadershipMetrics } from "../metrics/coordinator-metrics.js";
import { JobRetention } from "./job-retention.js";
import { CronTicker, DEFAULT_MISFIRE_GRACE_MS, type PrepareJobs } from "./cron-ticker.js";
import { LogRetention } from "./log-retention.js";
import { PlanApplier } from "./plan-applier.js";
import { Reaper } from "./reaper.js";
import { SchedulerLoop } from "./scheduler-loop.js";

// Live settings are getters, read where they are used, so a change applies without a restart.
export interface LeadershipOptions {
  strategy: () => Strategy;
  batchSize: number;
  tickMs: number;
  /** a share of each worker kept for urgent priorities; absent: none */
  reservation?: Reservation;
  leaseMs: () => number;
  reaperIntervalMs: number;
  metrics?: LeadershipMetrics;
  /** timeout of jobs that set none (0 = none), and how long past it the leader waits for the worker */
  defaultTimeoutMs: () => number;
  timeoutGraceMs: number;
  /** job output older than this is deleted; 0 keeps it forever */
  logRetentionMs: () => number;
  /** finished jobs older than this are deleted with their history and output; 0 keeps them */
  jobRetentionMs?: () => number;
  /** how a cron schedule's job spec (maybe a template ref) becomes rows to insert */
  prepareJobs: PrepareJobs;
  holdsStream: (workerId: string) => boolean;
  deliver: (assigned: AssignedJob[]) => void;
  /** a leader-only write failed: fenced, or the database is gone; give up leadership */
  failed: (err: Error) => void;
  log: (line: string) => void;
}

export class Leadership {
  private scheduler: SchedulerLoop | undefined;
  private reaper: Reaper | undefined;
  private logRetention: LogRetention | undefined;
  private cronTicker: CronTicker | undefined;
  private jobRetention: JobRetention | undefined;
  private term: number | undefined;

  constructor(
    private readonly pool: pg.Pool,
    private readonly opts: LeadershipOptions,
  ) {}

  get activeTerm(): number | undefined {
    return this.term;
  }

  establish(term: number): void {
    this.term = term;
    this.opts.metrics?.leadership(term);
    const applier = new PlanApplier(this.pool, this.opts.holdsStream);
    this.scheduler = new SchedulerLoop(this.pool, applier, {
      term,
      strategy: this.opts.strategy,
      batchSize: this.opts.batchSize,
      tickMs: this.opts.tickMs,
      reservation: this.opts.reservation,
      deliver: this.opts.deliver,
      metrics: this.opts.metrics,
      onError: this.opts.failed,
    });
    this.reaper = new Reaper(this.pool, {
      term,
      leaseMs: this.opts.leaseMs,
      intervalMs: this.opts.reaperIntervalMs,
      defaultTimeoutMs: this.opts.defaultTimeoutMs,
      timeoutGraceMs: this.opts.timeoutGraceMs,
      requeued: () => this.wake(),
      onError: this.opts.failed,
      log: this.opts.log,
    });
    this.logRetention = new LogRetention(this.pool, {
      retentionMs: this.opts.logRetentionMs,
      intervalMs: (retentionMs) => Math.min(3_600_000, Math.max(10_000, Math.floor(retentionMs / 100))),
      batchSize: 5000,
      log: this.opts.log,
    });
    this.jobRetention = new JobRetention(this.pool, {
      retentionMs: this.opts.jobRetentionMs ?? (() => 0),
      intervalMs: (retentionMs) => Math.min(3_600_000, Math.max(10_000, Math.floor(retentionMs / 100))),
      batchSize: 1000,
      log: this.opts.log,
    });
    this.cronTicker = new CronTicker(this.pool, {
      term,
      maxSleepMs: this.opts.tickMs,
      misfireGraceMs: DEFAULT_MISFIRE_GRACE_MS,
      prepare: this.opts.prepareJobs,
      fired: () => this.wake(),
      onError: this.opts.failed,
      log: this.opts.log,
    });
    this.scheduler.start();
    this.reaper.start();
    this.cronTicker.start();
    this.jobRetention.start();
    this.logRetention.start();
  }

  async revoke(): Promise<void> {
    const scheduler = this.scheduler;
    const reaper = this.reaper;
    const cronTicker = this.cronTicker;
    this.cronTicker = undefined;
    const logRetention = this.logRetention;
    const jobRetention = this.jobRetention;
    this.jobRetention = undefined;
    this.scheduler = undefined;
    this.reaper = undefined;
    this.logRetention = undefined;
    this.term = undefined;
    this.opts.metrics?.leadership(undefined);
    await Promise.all([cronTicker?.stop(), scheduler?.stop(), reaper?.stop(), logRetention?.stop(), jobRetention?.stop()]);
  }

  /** A schedule was created or resumed somewhere: the cron ticker looks now. */
  schedulesChanged(): void {
    this.cronTicker?.wake();
  }

  wake(): void {
    this.scheduler?.wake();
  }

  /** The log retention setting changed: sweep under the new one now rather than at the next pass. */
  logRetentionChanged(): void {
    this.logRetention?.passNow();
  }

  /** Attempts ended on this coordinator's streams (`requeued`: some went back to the queue). */
  capacityFreed(requeued: boolean, ended: readonly string[] = []): void {
    this.scheduler?.capacityFreed(requeued, ended);
  }

  /** A batch submitted to this coordinator, inserted (and placed) by its scheduler; undefined when it is not the leader or that does not apply. */
  insertSubmitted(rows: NewJob[]): Promise<InsertedJob[]> | undefined {
    return this.scheduler?.insertSubmitted(rows);
  }

  /** Jobs submitted to this coordinator; false when it is not the leader (someone else must wake). */
  submitted(jobs: SchedJob[]): boolean {
    if (!this.scheduler) return false;
    this.scheduler.submitted(jobs);
    return true;
  }
}
