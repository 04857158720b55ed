import type { Queryable } from "../db/pool.js";

/**
 * A pending job is cancelled at once; an assigned or running one is marked, and the worker holding
 * it is told to stop it (its report then ends the job as cancelled). Finished jobs are unchanged.
 */
export async function cancelJob(
  db: Queryable,
  id: string,
): Promise<{ state: string; workerId: string | null; attempt: number } | undefined> {
  const { rows } = await db.query<{ state: string; worker_id: string | null; attempt: number }>(
    `UPDATE jobs SET
       state = CASE WHEN state = 'pending' THEN 'cancelled' ELSE state END,
       cancel_requested = cancel_requested OR state IN ('assigned', 'running'),
       reason = CASE WHEN state = 'pending' THEN 'cancelled' ELSE reason END,
       finished_at = CASE WHEN state = 'pending' THEN now() ELSE finished_at END
     WHERE id = $1
     RETURNING state, worker_id, attempt`,
    [id],
  );
  const r = rows[0];
  return r && { state: r.state, workerId: r.worker_id, attempt: r.attempt };
}
