// The leader's scheduling loop: wakes on a submit, a freed slot or a tick (bursts coalesce into one
// pass), loads a snapshot, calls the pure scheduler, and hands the plan to the applier.
import type pg from "pg";
import { schedule } from "../../shared/scheduling/schedule.js";
import type { Plan, Reservation, SchedJob, SchedQueue, SchedWorker, Strategy } from "../../shared/scheduling/types.js";
import { loadSnapshot } from "../sql/load-snapshot.js";
import type { AssignedJob, JobContent } from "../sql/apply-plan.js";
import { schedJobOf, type InsertedJob, type InsertedPlaced, type NewJob } from "../sql/insert-jobs.js";
import { KnownQueue, submitOrder } from "./known-queue.js";
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
  // The queue as this leader knows it without reading it, in scheduling order: set when a submit
  // to this leader leaves jobs pending while the queue was known to be empty, and kept while
  // nothing else can have queued work (anything that wakes the scheduler drops it, and so does any
  // surprise: a placement the applier refused, a job that cannot be placed). While it is set, ends
  // recorded here give capacity back in the view and a step places from it with no snapshot read;
  // the applier re-checks every placement against the database as always.
  // Its placements read back only what they decide: the content is the submit's (writePlacements).
  private known: KnownQueue | undefined;
  // What this leader placed, kept until its end gives the capacity back in the view.
  private readonly placedSizes = new Map<string, PlacedSize>();
  private snapshots = 0;

  constructor(
    private readonly pool: pg.Pool,
    private readonly applier: PlanApplier,
    private readonly opts: SchedulerLoopOptions,
  ) {}

  start(): void {
    this.ticker = setInterval(() => this.tick(), this.opts.tickMs);
    this.wake();
  }

  /** Snapshots read so far. */
  get snapshotsRead(): number {
    return this.snapshots;
  }

  /** Resolves when no step is running (at once when none is). */
  idle(): Promise<void> {
    return this.running ?? Promise.resolve();
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
    this.known = undefined;
    this.kick(() => this.pass());
  }

  /**
   * The periodic safety net against a missed notification: a pass. A known queue survives it if
   * the snapshot shows nothing it does not hold (see pass).
   */
  private tick(): void {
    if (this.stopped) return;
    if (!this.known) return this.wake();
    this.kick(() => this.pass());
  }

  private kick(step: () => Promise<boolean>): void {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.loop(step).finally(() => (this.running = undefined));
  }

  /**
   * Jobs were just submitted to this leader. When nothing older is waiting and no pass is running,
   * they are planned against the workers as last seen (the applier re-checks real capacity) and
   * placed in one statement; whatever does not fit falls back to a normal pass.
   */
  submitted(jobs: SchedJob[]): void {
    if (this.stopped) return;
    this.known = undefined; // these are not in it
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
    // The head of the batch, as a pass would read it (the free slots and 200 more): what can be
    // placed now is in it, and no object is built for the rest.
    const order = submitOrder(rows, Array.from(rows, (_, i) => i));
    const jobs = order.slice(0, 200 + this.freeSlots()).map((i) => schedJobOf(String(i), rows[i]!, now));
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
      // The applier refused some of the plan (the view is off), or some job can never be placed (a
      // pass records why): a pass reads the truth.
      if (result.assigned.length < plan.placements.length || plan.unschedulable.length > 0) return true;
      // The queue was empty before this batch: what is left of it is the whole queue. It did not
      // fit the view, so it waits for ends.
      const rest: number[] = [];
      for (let i = 0, p = 0; i < rows.length; i++) {
        if (result.placedRows[p] === i) p++;
        else rest.push(i);
      }
      this.known = new KnownQueue(rows, result.inserted.map((r) => r.id), now, result.createdMs, rest);
      return false;
    }).finally(() => (this.running = undefined));
    return inserted;
  }

  /**
   * Attempts ended and freed capacity (`ended`: the jobs whose ends this coordinator recorded, when
   * it knows them). That matters only if something is waiting: with the queue drained (and no
   * retry re-queued by those ends), there is nothing to place and no pass to run. With a known
   * queue, the capacity goes back in the view and a step places from it.
   */
  capacityFreed(requeued: boolean, ended: readonly string[] = []): void {
    if (this.stopped) return;
    const released = this.release(ended);
    if (requeued) return this.wake();
    // ends this leader cannot account for (recorded elsewhere, or of jobs it did not place): a pass
    if (this.known) return released > 0 ? this.kick(() => this.placeKnown()) : this.wake();
    if (this.queueDrained && !this.running) return;
    this.wake();
  }

  /** Free slots in the view, over all workers. */
  private freeSlots(): number {
    return this.workers.reduce((n, w) => n + Math.max(0, w.capacity.slots - w.allocated.slots), 0);
  }

  /** Gives back in the view the capacity of ended jobs this leader placed; how many it gave back. */
  private release(ended: readonly string[]): number {
    if (ended.length === 0 || this.placedSizes.size === 0) return 0;
    let released = 0;
    const workers = new Map(this.workers.map((w) => [w.id, w]));
    const queues = new Map(this.queues.map((q) => [q.name, q]));
    // Each worker's counts are copied once per call and updated in place (not one object per job).
    const copied = new Set<SchedWorker>();
    for (const id of ended) {
      const s = this.placedSizes.get(id);
      if (!s) continue;
      this.placedSizes.delete(id);
      released++;
      const q = queues.get(s.queue);
      if (q && q.running > 0) q.running--;
      const w = workers.get(s.workerId);
      if (!w) continue;
      ownCounts(w, copied);
      take(w.allocated, s);
      if (s.low && w.lowAllocated) take(w.lowAllocated, s);
    }
    return released;
  }

  /**
   * One step from the known queue: its head (as many jobs as a pass would read) against the
   * workers as last seen. Nothing placeable in the view waits for the next ends recorded here
   * (ends recorded elsewhere wake a pass). Anything a pass would handle differently hands over to
   * a pass: a job that can never be placed (a pass records why), a placement the applier refused
   * (the job changed, or the view was wrong). When the known queue is placed in full, the queue is
   * drained.
   */
  private async placeKnown(): Promise<boolean> {
    const known = this.known;
    if (!known) return this.pass();
    const { jobs: head, content } = known.head(Math.min(this.opts.batchSize, 200 + this.freeSlots()));
    const plan = schedule({ nowMs: Date.now(), strategy: this.opts.strategy(), jobs: head, workers: this.workers, queues: this.queues, reservation: this.opts.reservation });
    if (plan.unschedulable.length > 0) {
      this.known = undefined;
      return true;
    }
    // No room in the view: the ends recorded here give it back (and step again); ends recorded
    // elsewhere wake a pass.
    if (plan.placements.length === 0) return false;
    const placed = await this.apply(head, plan, [], content);
    if (placed < plan.placements.length) {
      this.known = undefined;
      return true; // a pass next
    }
    if (this.known?.size === 0) {
      this.known = undefined;
      this.queueDrained = true;
      return false;
    }
    // the head was cut at the batch size: there may be room for more at once
    return head.length === this.opts.batchSize && placed === head.length;
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
        this.known = undefined;
        this.opts.onError(err as Error);
        return;
      }
      const arrived = this.arrived.filter((j) => !this.placedInStep.has(j.id));
      this.arrived = [];
      this.placedInStep.clear();
      step = arrived.length > 0 && this.queueDrained && this.workers.length > 0
        ? () => this.placeSubmitted(arrived)
        : this.known ? () => this.placeKnown() : () => this.pass();
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
    this.snapshots++;
    this.wakeAt(nextDueMs);
    if (this.known) {
      // A known queue stays only if the database shows nothing it does not hold.
      const known = this.known;
      if (promoted > 0 || jobs.some((j) => !known.has(j.id))) this.known = undefined;
    }
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
    if (this.queueDrained) this.known = undefined;
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
  private async apply(
    jobs: SchedJob[],
    plan: Plan,
    unschedulable: PlanToApply["unschedulable"],
    content?: ReadonlyMap<string, JobContent>,
  ): Promise<number> {
    const byId = new Map(jobs.map((j) => [j.id, j]));
    const placements = plan.placements.map((p) => {
      const j = byId.get(p.jobId)!;
      return { jobId: p.jobId, workerId: p.workerId, cpuMillis: j.cpuMillis, memoryMb: j.memoryMb, gpus: j.gpus, queue: j.queue };
    });
    const applied = await this.applier.apply(this.opts.term, { placements, unschedulable }, content);
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
    if (this.known && assigned.length > 0) this.known.remove(assigned.map((a) => a.id));
    if (this.placedSizes.size + assigned.length > MAX_PLACED_SIZES) this.placedSizes.clear(); // ends recorded elsewhere
    this.opts.deliver(assigned); // first: the workers wait for it
    this.opts.metrics?.planApplied(planned, assigned, createdAtMs);
    const workers = new Map(this.workers.map((w) => [w.id, w]));
    const queues = new Map(this.queues.map((q) => [q.name, q]));
    const minPriority = this.opts.reservation?.minPriority ?? -Infinity;
    // Each worker's counts are copied once per call and updated in place (not one object per job).
    const copied = new Set<SchedWorker>();
    for (const a of assigned) {
      const low = a.priority < minPriority;
      this.placedSizes.set(a.id, {
        workerId: a.worker_id, cpuMillis: a.cpu_millis, memoryMb: a.memory_mb, gpus: a.gpus, queue: a.queue, low,
      });
      const q = queues.get(a.queue);
      if (q) q.running++;
      const w = workers.get(a.worker_id);
      if (!w) continue;
      ownCounts(w, copied);
      add(w.allocated, a);
      if (w.lowAllocated && low) add(w.lowAllocated, a);
    }
  }
}

/** What a placement took from its worker (and its queue), to give back when it ends. */
interface PlacedSize {
  workerId: string;
  cpuMillis: number;
  memoryMb: number;
  gpus: number;
  queue: string;
  /** below the reservation's priority: counted in the worker's lowAllocated too */
  low: boolean;
}

/** Past this many placements whose end was not seen here (recorded by another coordinator), forget them. */
const MAX_PLACED_SIZES = 200_000;

/**
 * Gives a worker counts of its own the first time a step changes them (`copied`: the workers
 * already done), so that an allocation object someone else may hold is never changed in place.
 */
function ownCounts(w: SchedWorker, copied: Set<SchedWorker>): void {
  if (copied.has(w)) return;
  copied.add(w);
  w.allocated = { ...w.allocated };
  if (w.lowAllocated) w.lowAllocated = { ...w.lowAllocated };
}

/** Counts a placement in a worker's (copied) allocation. */
function add(allocated: SchedWorker["allocated"], a: AssignedJob): void {
  allocated.cpuMillis += a.cpu_millis;
  allocated.memoryMb += a.memory_mb;
  allocated.gpus += a.gpus;
  allocated.slots += 1;
}

/** Takes an ended placement out of a worker's (copied) allocation, never below zero. */
function take(allocated: SchedWorker["allocated"], s: PlacedSize): void {
  allocated.cpuMillis = Math.max(0, allocated.cpuMillis - s.cpuMillis);
  allocated.memoryMb = Math.max(0, allocated.memoryMb - s.memoryMb);
  allocated.gpus = Math.max(0, allocated.gpus - s.gpus);
  allocated.slots = Math.max(0, allocated.slots - 1);
}
