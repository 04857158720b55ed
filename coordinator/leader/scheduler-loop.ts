// The leader's scheduling loop: wakes on a submit, a freed slot or a tick (bursts coalesce into one
// pass), loads a snapshot, calls the pure scheduler, and hands the plan to the applier.
import type pg from "pg";
import { schedule } from "../../shared/scheduling/schedule.js";
import type { Plan, Reservation, SchedJob, SchedQueue, SchedWorker, Strategy } from "../../shared/scheduling/types.js";
import { loadSnapshot } from "../sql/load-snapshot.js";
import type { AssignedJob } from "../sql/apply-plan.js";
import { schedJobOf, type InsertedJob, type InsertedPlaced, type NewJob } from "../sql/insert-jobs.js";
import type { SchedulerMetrics } from "../metrics/coordinator-metrics.js";
import type { PlanApplier, PlanToApply } from "./plan-applier.js";

export interface SchedulerLoopOptions {
  term: number;
  /** live setting: read at every pass */
  strategy: () => Strategy;
  batchSize: number;
  tickMs: number;
  /** a share of each worker kept for urgent priorities; absent: none */
  reservation?: Reservation;
  /** after commit: send the placements to the workers this coordinator holds */
  deliver: (assigned: AssignedJob[]) => void;
  /** the plan was fenced off or the database failed */
  onError: (err: Error) => void;
  metrics?: SchedulerMetrics;
}

export class SchedulerLoop {
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private ticker: NodeJS.Timeout | undefined;
  // Wakes the loop when the earliest delayed job (a run_at, a retry's backoff) comes due.
  private dueTimer: NodeJS.Timeout | undefined;
  private dueAtMs = Infinity;
  // What the last pass saw: the workers (with what this leader placed since) and whether the
  // queue was left empty. Lets a submit to the leader be placed at once, without a snapshot.
  private workers: SchedWorker[] = [];
  private queues: SchedQueue[] = [];
  private queueDrained = false;
  // Jobs submitted here while a step was running, and the ids that step placed: once it ends, the
  // arrivals it did not place are placed at once if the queue is still drained.
  private arrived: SchedJob[] = [];
  private placedInStep = new Set<string>();

  constructor(
    private readonly pool: pg.Pool,
    private readonly applier: PlanApplier,
    private readonly opts: SchedulerLoopOptions,
  ) {}

  start(): void {
    this.ticker = setInterval(() => this.wake(), this.opts.tickMs);
    this.wake();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.ticker);
    clearTimeout(this.dueTimer);
    await this.running;
  }

  /** Something may be placeable: run a pass (or one more, if one is running). */
  wake(): void {
    if (this.stopped) return;
    this.queueDrained = false; // whatever woke us may have queued work
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.loop(() => this.pass()).finally(() => (this.running = undefined));
  }

  /**
   * Jobs were just submitted to this leader. When nothing older is waiting and no pass is running,
   * they are planned against the workers as last seen (the applier re-checks real capacity) and
   * placed in one statement; whatever does not fit falls back to a normal pass.
   */
  submitted(jobs: SchedJob[]): void {
    if (this.stopped) return;
    if (this.running) {
      this.arrived.push(...jobs);
      this.again = true;
      return;
    }
    if (!this.queueDrained || this.workers.length === 0) return this.wake();
    this.running = this.loop(() => this.placeSubmitted(jobs)).finally(() => (this.running = undefined));
  }

  /**
   * A batch submitted to this leader, not yet inserted. When nothing older waits and no pass runs,
   * the jobs that fit the workers as last seen are inserted already placed, in the same statement
   * as the rest of the batch (one round trip from submit to assignment; the statement re-checks
   * real capacity like any plan). Resolves with the ids once that statement committed; whatever
   * was not placed is left to the pass that follows. Undefined when this does not apply: the
   * caller inserts the batch itself and hands it to `submitted`.
   */
  insertSubmitted(rows: NewJob[]): Promise<InsertedJob[]> | undefined {
    if (this.stopped || this.running || !this.queueDrained || this.workers.length === 0) return undefined;
    const now = Date.now();
    if (rows.some((r) => r.idempotencyKey || (r.runAtMs ?? 0) > now)) return undefined;
    const jobs = rows.map((r, i) => schedJobOf(String(i), r, now));
    const plan = schedule({ nowMs: now, strategy: this.opts.strategy(), jobs, workers: this.workers, queues: this.queues, reservation: this.opts.reservation });
    if (plan.placements.length === 0) return undefined;
    let resolve!: (inserted: InsertedJob[]) => void;
    let reject!: (err: Error) => void;
    const inserted = new Promise<InsertedJob[]>((res, rej) => ((resolve = res), (reject = rej)));
    this.running = this.loop(async () => {
      let result: InsertedPlaced;
      try {
        result = await this.applier.insertPlaced(this.opts.term, rows, plan.placements.map((p) => ({ ord: Number(p.jobId), workerId: p.workerId })));
      } catch (err) {
        reject(err as Error);
        throw err;
      }
      resolve(result.inserted);
      if (!result.termHeld) throw await this.applier.fenced(this.opts.term);
      this.placed(plan.placements.length, result.assigned, () => now);
      if (result.assigned.length === rows.length) return false;
      this.queueDrained = false;
      return true; // a pass places the rest (and reports what can never be placed)
    }).finally(() => (this.running = undefined));
    return inserted;
  }

  /**
   * Attempts ended and freed capacity. That matters only if something is waiting: with the queue
   * drained (and no retry re-queued by those ends), there is nothing to place and no pass to run.
   */
  capacityFreed(requeued: boolean): void {
    if (this.stopped || (!requeued && this.queueDrained && !this.running)) return;
    this.wake();
  }

  private async loop(first: () => Promise<boolean>): Promise<void> {
    let step = first;
    do {
      this.again = false;
      try {
        const t0 = performance.now();
        if (await step()) this.again = true;
        this.opts.metrics?.passDone((performance.now() - t0) / 1000);
      } catch (err) {
        this.arrived = [];
        this.opts.onError(err as Error);
        return;
      }
      const arrived = this.arrived.filter((j) => !this.placedInStep.has(j.id));
      this.arrived = [];
      this.placedInStep.clear();
      step = arrived.length > 0 && this.queueDrained && this.workers.length > 0 ? () => this.placeSubmitted(arrived) : () => this.pass();
    } while (this.again && !this.stopped);
  }

  private async placeSubmitted(jobs: SchedJob[]): Promise<boolean> {
    const plan = schedule({ nowMs: Date.now(), strategy: this.opts.strategy(), jobs, workers: this.workers, queues: this.queues, reservation: this.opts.reservation });
    if (plan.placements.length < jobs.length) {
      this.queueDrained = false;
      if (plan.placements.length === 0) return true; // a full pass decides (and reports unschedulable)
    }
    const applied = await this.apply(jobs, plan, []);
    return applied < jobs.length;
  }

  /** One scheduling pass; true when there may be more to place right away. */
  private async pass(): Promise<boolean> {
    const { workers, jobs, queues, limit, promoted, nextDueMs } = await loadSnapshot(
      this.pool,
      this.opts.batchSize,
      this.opts.reservation?.minPriority ?? null,
    );
    this.wakeAt(nextDueMs);
    this.workers = workers;
    this.queues = queues;
    // Jobs that just came due are in the next snapshot: go round once more.
    if (jobs.length === 0 || this.stopped) {
      this.queueDrained = !this.stopped && promoted === 0;
      return promoted > 0;
    }
    const plan = schedule({ nowMs: Date.now(), strategy: this.opts.strategy(), jobs, workers, queues, reservation: this.opts.reservation });
    const reasons = new Map(plan.unschedulable.map((u) => [u.jobId, u.reason]));
    const unschedulable = jobs
      .filter((j) => (reasons.get(j.id) ?? "") !== j.unschedulableReason)
      .map((j) => ({ jobId: j.id, reason: reasons.get(j.id) ?? "" }));
    if (plan.placements.length === 0 && unschedulable.length === 0) return promoted > 0;
    const placed = await this.apply(jobs, plan, unschedulable);
    const more = jobs.length === limit || placed < plan.placements.length;
    this.queueDrained = !more && placed === jobs.length && promoted === 0;
    return (placed > 0 && more) || promoted > 0;
  }

  /** Sets the timer for the next delayed job to come due (one timer: the earliest wins). */
  private wakeAt(dueMs: number | null): void {
    if (dueMs === null || this.stopped) return;
    if (this.dueTimer && dueMs >= this.dueAtMs) return;
    clearTimeout(this.dueTimer);
    this.dueAtMs = dueMs;
    // +1 ms: run_at <= now() must hold when the pass reads the clock
    this.dueTimer = setTimeout(() => {
      this.dueTimer = undefined;
      this.dueAtMs = Infinity;
      this.wake();
    }, Math.min(2 ** 31 - 1, Math.max(0, dueMs - Date.now()) + 1));
  }

  /** Applies a plan; returns how many placements were written. */
  private async apply(jobs: SchedJob[], plan: Plan, unschedulable: PlanToApply["unschedulable"]): Promise<number> {
    const byId = new Map(jobs.map((j) => [j.id, j]));
    const placements = plan.placements.map((p) => {
      const j = byId.get(p.jobId)!;
      return { jobId: p.jobId, workerId: p.workerId, cpuMillis: j.cpuMillis, memoryMb: j.memoryMb, gpus: j.gpus, queue: j.queue };
    });
    const applied = await this.applier.apply(this.opts.term, { placements, unschedulable });
    this.placed(placements.length, applied.assigned, (id) => byId.get(id)?.createdAtMs);
    return applied.assigned.length;
  }

  /**
   * Placements were written (by a pass or with a submit): remembered for this step, measured, sent
   * to the workers, and counted in the cached view. The view stays conservative: what was just
   * placed counts as allocated (and as running in its queue).
   */
  private placed(planned: number, assigned: AssignedJob[], createdAtMs: (jobId: string) => number | undefined): void {
    for (const a of assigned) this.placedInStep.add(a.id);
    this.opts.metrics?.planApplied(planned, assigned, createdAtMs);
    this.opts.deliver(assigned);
    const workers = new Map(this.workers.map((w) => [w.id, w]));
    const queues = new Map(this.queues.map((q) => [q.name, q]));
    const minPriority = this.opts.reservation?.minPriority ?? -Infinity;
    for (const a of assigned) {
      const q = queues.get(a.queue);
      if (q) q.running++;
      const w = workers.get(a.worker_id);
      if (!w) continue;
      w.allocated = {
        cpuMillis: w.allocated.cpuMillis + a.cpu_millis,
        memoryMb: w.allocated.memoryMb + a.memory_mb,
        gpus: w.allocated.gpus + a.gpus,
        slots: w.allocated.slots + 1,
      };
      if (w.lowAllocated && a.priority < minPriority) {
        w.lowAllocated = {
          cpuMillis: w.lowAllocated.cpuMillis + a.cpu_millis,
          memoryMb: w.lowAllocated.memoryMb + a.memory_mb,
          gpus: w.lowAllocated.gpus + a.gpus,
          slots: w.lowAllocated.slots + 1,
        };
      }
    }
  }
}
