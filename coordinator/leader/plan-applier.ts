// The one writer of placements: commits a plan in one transaction fenced by the leader term,
// re-checking every worker's capacity inside it so that no worker is ever over-committed.
import type pg from "pg";
import type { Placement } from "../../shared/scheduling/types.js";
import { withTransaction } from "../db/pool.js";
import { recheckCapacity, writePlacements, type AssignedJob } from "../sql/apply-plan.js";
import { setUnschedulable } from "../sql/load-snapshot.js";
import { CHANNELS, notifyIds } from "../sql/notify.js";
import { assertTerm } from "../sql/term.js";

export interface PlanToApply {
  placements: Placement[];
  /** jobs whose unschedulable reason changed (empty reason: clear it) */
  unschedulable: { jobId: string; reason: string }[];
}

export interface AppliedPlan {
  assigned: AssignedJob[];
  /** placements dropped because the worker no longer had room (stale snapshot) */
  dropped: number;
}

export class PlanApplier {
  constructor(
    private readonly pool: pg.Pool,
    /** workers whose streams this coordinator holds: assignments for others are announced by NOTIFY */
    private readonly holdsStream: (workerId: string) => boolean,
  ) {}

  async apply(term: number, plan: PlanToApply): Promise<AppliedPlan> {
    return withTransaction(this.pool, async (tx) => {
      await assertTerm(tx, term);
      const fitting = plan.placements.length > 0 ? await recheckCapacity(tx, plan.placements) : [];
      const assigned = await writePlacements(tx, fitting);
      await setUnschedulable(
        tx,
        plan.unschedulable.map((u) => u.jobId),
        plan.unschedulable.map((u) => u.reason),
      );
      const remote = [...new Set(assigned.map((a) => a.worker_id))].filter((w) => !this.holdsStream(w));
      if (remote.length > 0) await notifyIds(tx, CHANNELS.assign, remote);
      await notifyIds(tx, CHANNELS.jobChanged, [...assigned.map((a) => a.id), ...plan.unschedulable.map((u) => u.jobId)]);
      return { assigned, dropped: plan.placements.length - fitting.length };
    });
  }
}
