import type { Queryable } from "../db/pool.js";

export type RetryTarget = { ids: string[] } | { allDeadInQueue: string };

/**
 * Puts finished jobs that failed or were cancelled back in the queue with a fresh attempt budget
 * (attempt_base = attempt: the attempt number, the fencing token, never goes back). The last
 * attempt, which lives on the job row, is copied to history first. Jobs in other states are left
 * alone. Returns the ids put back. Run it in a transaction with the checks that precede it.
 */
export async function retryFinishedJobs(db: Queryable, target: RetryTarget): Promise<string[]> {
  const byIds = "ids" in target;
  const { rows } = await db.query<{ id: string }>(
    `WITH target AS (
       SELECT id FROM jobs
       WHERE ${byIds ? "id = ANY($1::bigint[]) AND state IN ('failed', 'cancelled')" : "state = 'failed' AND ($1 = '' OR queue = $1)"}
       ORDER BY id
       FOR UPDATE
     ),
     hist AS (
       INSERT INTO job_attempts (job_id, attempt, worker_id, assigned_at, started_at, finished_at, exit_code, reason, message,
                                 cpu_seconds, peak_memory_bytes)
       SELECT j.id, j.attempt, j.worker_id, coalesce(j.assigned_at, j.started_at, j.finished_at, now()), j.started_at,
              j.finished_at, j.exit_code, j.reason, j.message, j.cpu_seconds, j.peak_memory_bytes
       FROM jobs j JOIN target t ON t.id = j.id
       WHERE j.attempt > 0 AND j.worker_id IS NOT NULL
       ON CONFLICT (job_id, attempt) DO NOTHING
     )
     UPDATE jobs j SET state = 'pending', attempt_base = j.attempt, worker_id = NULL, exit_code = NULL, reason = '',
            message = '', unschedulable_reason = '', cancel_requested = false, assigned_at = NULL, started_at = NULL,
            finished_at = NULL, cpu_seconds = NULL, peak_memory_bytes = NULL, usage = NULL, run_at = now(), delayed = false
     FROM target t WHERE j.id = t.id
     RETURNING j.id::text AS id`,
    [byIds ? target.ids : target.allDeadInQueue],
  );
  return rows.map((r) => r.id).sort((a, b) => (BigInt(a) < BigInt(b) ? -1 : 1));
}

/** States of the given jobs, for the checks before a retry by ids (locks them for the transaction). */
export async function lockJobStates(db: Queryable, ids: string[]): Promise<Map<string, string>> {
  const { rows } = await db.query<{ id: string; state: string }>(
    "SELECT id::text AS id, state FROM jobs WHERE id = ANY($1::bigint[]) ORDER BY id FOR UPDATE",
    [ids],
  );
  return new Map(rows.map((r) => [r.id, r.state]));
}
