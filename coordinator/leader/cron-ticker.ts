// Leader-only: fires the due occurrences of cron schedules. Each schedule's occurrences are fired in
// one fenced transaction that creates their jobs and moves the schedule's next_run_at past them,
// conditional on the value it read: an occurrence is fired by exactly one committed transaction,
// whichever leader runs it, so a failover neither skips nor repeats one.
import type pg from "pg";
import { JobSpec } from "../../shared/gen/baton/v1/types.js";
import { beginSubmit } from "../../shared/tracing/job-spans.js";
import { withTransaction, type Queryable } from "../db/pool.js";
import { insertJobs, type NewJob } from "../sql/insert-jobs.js";
import { CHANNELS, notifyIds } from "../sql/notify.js";
import { advanceSchedule, earliestNextRun, loadDueSchedules, tagScheduledJobs, type ScheduleRow } from "../sql/schedules.js";
import { assertTerm, FencedError } from "../sql/term.js";
import { planFiring, type FirePlan } from "./cron-occurrences.js";

/** Turns job specs (maybe naming a template) into rows to insert; throws on a spec that is not valid. */
export type PrepareJobs = (db: Queryable, specs: JobSpec[]) => Promise<NewJob[]>;

export interface CronTickerOptions {
  term: number;
  /** the longest the ticker sleeps without looking (a schedule created elsewhere also wakes it) */
  maxSleepMs: number;
  /** an occurrence later than this is missed (SKIP drops it, CATCH_UP fires it within its bound) */
  misfireGraceMs: number;
  prepare: PrepareJobs;
  /** jobs were created: the scheduler should look */
  fired: (jobIds: string[]) => void;
  onError: (err: Error) => void;
  log: (line: string) => void;
  now?: () => number;
}

/** Schedules handled per pass; a pass that fills it runs again at once. */
const DUE_BATCH = 100;

export const DEFAULT_MISFIRE_GRACE_MS = 5_000;

export class CronTicker {
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly pool: pg.Pool,
    private readonly opts: CronTickerOptions,
  ) {}

  private now(): number {
    return this.opts.now ? this.opts.now() : Date.now();
  }

  start(): void {
    this.wake();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  /** Schedules changed, or an occurrence is due: run a pass (or one more after the running one). */
  wake(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    clearTimeout(this.timer);
    this.running = this.pass().finally(() => {
      this.running = undefined;
      if (this.again) {
        this.again = false;
        this.wake();
      }
    });
  }

  private async pass(): Promise<void> {
    let sleepMs = this.opts.maxSleepMs;
    try {
      const { handled } = await this.step(this.now());
      if (this.stopped) return;
      if (handled >= DUE_BATCH) sleepMs = 0;
      else {
        const next = await earliestNextRun(this.pool);
        if (next !== undefined) sleepMs = Math.min(sleepMs, Math.max(0, next - this.now()));
      }
    } catch (err) {
      this.opts.onError(err as Error);
      if (err instanceof FencedError) return;
    }
    if (!this.stopped) this.timer = setTimeout(() => this.wake(), sleepMs);
  }

  /** One pass at `nowMs`: fires what is due; returns the schedules handled and the jobs made. */
  async step(nowMs: number): Promise<{ handled: number; jobIds: string[] }> {
    const due = await loadDueSchedules(this.pool, nowMs, DUE_BATCH);
    const jobIds: string[] = [];
    for (const s of due) {
      if (this.stopped) break;
      jobIds.push(...(await this.fireSchedule(s, nowMs)));
    }
    if (jobIds.length > 0) this.opts.fired(jobIds);
    return { handled: due.length, jobIds };
  }

  private async fireSchedule(s: ScheduleRow, nowMs: number): Promise<string[]> {
    const plan = planFiring(
      {
        cron: s.cron,
        timeZone: s.time_zone,
        nextRunAtMs: s.next_run_at.getTime(),
        missedPolicy: s.missed_policy,
        catchUpLimit: s.catch_up_limit,
      },
      nowMs,
      this.opts.misfireGraceMs,
    );
    let ids: string[];
    try {
      ids = await withTransaction(this.pool, (tx) => this.fire(tx, s, plan, true));
    } catch (err) {
      const code = (err as { code?: string }).code;
      if (err instanceof FencedError || !(code === "INVALID_JOB_SPEC" || code === "INVALID_ARGUMENT" || code === "NOT_FOUND")) throw err;
      // The spec no longer makes a job (its template went away, say): move on rather than retry forever.
      this.opts.log(`schedule ${s.name}: ${plan.fire.length} occurrence(s) not fired: ${(err as Error).message}`);
      await withTransaction(this.pool, (tx) => this.fire(tx, s, plan, false));
      return [];
    }
    if (plan.dropped > 0) {
      this.opts.log(`schedule ${s.name}: ${plan.dropped} missed occurrence(s) not fired (${s.missed_policy === "skip" ? "missed policy SKIP" : `CATCH_UP bound ${s.catch_up_limit}`})`);
    }
    return ids;
  }

  private async fire(tx: pg.PoolClient, s: ScheduleRow, plan: FirePlan, makeJobs: boolean): Promise<string[]> {
    await assertTerm(tx, this.opts.term);
    const expected = s.next_run_at.getTime();
    const last = makeJobs ? plan.fire.at(-1) : undefined;
    if (!(await advanceSchedule(tx, s.id, expected, plan.nextRunAtMs, last))) return []; // someone else handled it
    if (!makeJobs || plan.fire.length === 0) return [];
    const spec = JobSpec.fromJSON(s.job_spec);
    const rows = await this.opts.prepare(tx, plan.fire.map(() => spec));
    rows.forEach((r, i) => {
      r.payload = withOccurrence(r, s, plan.fire[i]!);
      // One job per occurrence, runnable now: a key or a run_at from a template must not fold or delay them.
      r.idempotencyKey = undefined;
      r.idempotencyWindowS = undefined;
      r.runAtMs = 0;
    });
    const spans = beginSubmit(rows);
    if (spans) rows.forEach((r, i) => (r.traceContext = spans.carriers[i]));
    let ids: string[] = [];
    try {
      ids = await insertJobs(tx, rows);
      await tagScheduledJobs(tx, s.id, ids, plan.fire);
      await notifyIds(tx, CHANNELS.jobChanged, ids);
    } finally {
      spans?.end(ids);
    }
    return ids;
  }
}

/** Exec jobs learn their occurrence from their environment (BATON_SCHEDULED_AT, RFC 3339 UTC). */
function withOccurrence(row: NewJob, s: ScheduleRow, atMs: number): object {
  if (row.executor !== "exec") return row.payload;
  const payload = row.payload as { env?: Record<string, string> };
  return {
    ...payload,
    env: {
      ...payload.env,
      BATON_SCHEDULED_AT: new Date(atMs).toISOString(),
      BATON_SCHEDULE_ID: s.id,
      BATON_SCHEDULE_NAME: s.name,
    },
  };
}
