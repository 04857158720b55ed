import type { PoolClient } from "pg";
import { REQUEUE_ALLOWANCE } from "./record-events.js";

/**
 * Leader-only, inside a fenced transaction: workers whose heartbeats stopped for the lease become
 * lost, and the attempts they held go back to the queue (or end, when cancelled or out of tries).
 * The lost attempt is written to history; when the job ends here, the view shows it once.
 */
export async function reapLostWorkers(
  tx: PoolClient,
  leaseMs: number,
): Promise<{ lostWorkers: string[]; requeued: { id: string; state: string }[] }> {
  const lost = await tx.query<{ id: string }>(
    `UPDATE workers SET state = 'lost', coordinator_id = NULL
     WHERE state = 'alive' AND last_heartbeat < now() - make_interval(secs => $1 / 1000.0)
     RETURNING id`,
    [leaseMs],
  );
  const { rows } = await tx.query<{ id: string; state: string }>(
    `WITH gone AS (
       SELECT j.id, j.attempt, j.worker_id, j.assigned_at, j.started_at FROM jobs j JOIN workers w ON w.id = j.worker_id
       WHERE j.state IN ('assigned', 'running') AND w.state = 'lost'
       FOR UPDATE OF j
     ),
     hist AS (
       INSERT INTO job_attempts (job_id, attempt, worker_id, assigned_at, started_at, finished_at, reason, message)
       SELECT id, attempt, worker_id, coalesce(assigned_at, now()), started_at, now(), 'worker_lost',
              'worker ' || worker_id || ' stopped heartbeating'
       FROM gone
       ON CONFLICT (job_id, attempt) DO NOTHING
     )
     UPDATE jobs j SET
       state = CASE WHEN j.cancel_requested THEN 'cancelled'
                    WHEN j.attempt - j.attempt_base < j.max_attempts + ${REQUEUE_ALLOWANCE} THEN 'pending'
                    ELSE 'failed' END,
       reason = 'worker_lost', message = 'worker ' || j.worker_id || ' stopped heartbeating', exit_code = NULL,
       finished_at = CASE WHEN j.cancel_requested OR j.attempt - j.attempt_base >= j.max_attempts + ${REQUEUE_ALLOWANCE}
                          THEN now() END
     FROM gone WHERE j.id = gone.id
     RETURNING j.id, j.state`,
  );
  return { lostWorkers: lost.rows.map((r) => r.id), requeued: rows };
}
