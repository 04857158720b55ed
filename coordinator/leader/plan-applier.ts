// The one writer of placements: commits a plan fenced by the leader term, re-checking every
// worker's capacity as it writes, so that no worker is ever over-committed (see writePlacements).
import type pg from "pg";
import { writePlacements, type AssignedJob, type JobContent, type SizedPlacement } from "../sql/apply-plan.js";
import { insertJobsPlaced, type InsertedPlaced, type NewJob, type SubmitPlacement } from "../sql/insert-jobs.js";
import { setUnschedulable } from "../sql/load-snapshot.js";
import { FencedError, readTerm } from "../sql/term.js";

export interface PlanToApply {
  placements: SizedPlacement[];
  /** jobs whose unschedulable reason changed (empty reason: clear it) */
  unschedulable: { jobId: string; reason: string }[];
}

export interface AppliedPlan {
  assigned: AssignedJob[];
  /** placements not written because the worker no longer had room or the job was no longer pending */
  dropped: number;
}

export class PlanApplier {
  constructor(
    private readonly pool: pg.Pool,
    /** workers whose streams this coordinator holds: assignments for others are announced by NOTIFY */
    private readonly holdsStream: (workerId: string) => boolean,
  ) {}

  /** `content`: the jobs' content, when the caller has it (see writePlacements). */
  async apply(term: number, plan: PlanToApply, content?: ReadonlyMap<string, JobContent>): Promise<AppliedPlan> {
    let assigned: AssignedJob[] = [];
    if (plan.placements.length > 0) {
      const remote = [...new Set(plan.placements.map((p) => p.workerId))].filter((w) => !this.holdsStream(w));
      const result = await writePlacements(this.pool, term, plan.placements, remote, content);
      if (!result.termHeld) throw new FencedError(term, (await readTerm(this.pool)).term);
      assigned = result.assigned;
    }
    if (plan.unschedulable.length > 0) {
      await setUnschedulable(this.pool, term, plan.unschedulable.map((u) => u.jobId), plan.unschedulable.map((u) => u.reason));
    }
    return { assigned, dropped: plan.placements.length - assigned.length };
  }

  /** A batch submitted to the leader, inserted with what fits placed at once (see insertJobsPlaced). */
  async insertPlaced(term: number, jobs: NewJob[], placements: SubmitPlacement[]): Promise<InsertedPlaced> {
    const remote = [...new Set(placements.map((p) => p.workerId))].filter((w) => !this.holdsStream(w));
    return insertJobsPlaced(this.pool, term, jobs, placements, remote);
  }

  /** The error of a leader whose term moved on. */
  async fenced(term: number): Promise<FencedError> {
    return new FencedError(term, (await readTerm(this.pool)).term);
  }
}
