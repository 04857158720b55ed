// The leader's scheduling loop: wakes on a submit, a freed slot or a tick (bursts coalesce into one
// pass), loads a snapshot, calls the pure scheduler, and hands the plan to the applier.
import type pg from "pg";
import { schedule } from "../../shared/scheduling/schedule.js";
import type { Strategy } from "../../shared/scheduling/types.js";
import { loadSnapshot } from "../sql/load-snapshot.js";
import type { AssignedJob } from "../sql/apply-plan.js";
import type { PlanApplier } from "./plan-applier.js";

export interface SchedulerLoopOptions {
  term: number;
  strategy: Strategy;
  batchSize: number;
  tickMs: number;
  /** after commit: send the placements to the workers this coordinator holds */
  deliver: (assigned: AssignedJob[]) => void;
  /** the plan was fenced off or the database failed */
  onError: (err: Error) => void;
}

export class SchedulerLoop {
  private running: Promise<void> | undefined;
  private again = false;
  private stopped = false;
  private ticker: NodeJS.Timeout | undefined;

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
    await this.running;
  }

  wake(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.loop().finally(() => (this.running = undefined));
  }

  private async loop(): Promise<void> {
    do {
      this.again = false;
      try {
        if (await this.pass()) this.again = true;
      } catch (err) {
        this.opts.onError(err as Error);
        return;
      }
    } while (this.again && !this.stopped);
  }

  /** One scheduling pass; true when there may be more to place right away. */
  private async pass(): Promise<boolean> {
    const { workers, jobs, limit } = await loadSnapshot(this.pool, this.opts.batchSize);
    if (jobs.length === 0 || this.stopped) return false;
    const plan = schedule({ nowMs: Date.now(), strategy: this.opts.strategy, jobs, workers });
    const reasons = new Map(plan.unschedulable.map((u) => [u.jobId, u.reason]));
    const unschedulable = jobs
      .filter((j) => (reasons.get(j.id) ?? "") !== j.unschedulableReason)
      .map((j) => ({ jobId: j.id, reason: reasons.get(j.id) ?? "" }));
    if (plan.placements.length === 0 && unschedulable.length === 0) return false;
    const applied = await this.applier.apply(this.opts.term, { placements: plan.placements, unschedulable });
    this.opts.deliver(applied.assigned);
    return applied.assigned.length > 0 && (jobs.length === limit || applied.dropped > 0);
  }
}
