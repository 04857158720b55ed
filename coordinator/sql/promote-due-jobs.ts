import type { Queryable } from "../db/pool.js";

/**
 * Delayed pending jobs whose run_at has come become runnable (they join the queue head's index),
 * in one statement; also says when the next delayed job comes due, so the leader can wake then.
 * Idempotent and placement-free, so it needs no fencing.
 */
export async function promoteDueJobs(db: Queryable): Promise<{ promoted: number; nextDueMs: number | null }> {
  const { rows } = await db.query<{ promoted: number; next_ms: number | null }>(
    `WITH due AS (
       UPDATE jobs SET delayed = false WHERE state = 'pending' AND delayed AND run_at <= now() RETURNING id
     )
     SELECT (SELECT count(*) FROM due)::int AS promoted,
            (SELECT (extract(epoch FROM min(run_at)) * 1000)::float8 FROM jobs
             WHERE state = 'pending' AND delayed AND run_at > now()) AS next_ms`,
  );
  const r = rows[0]!;
  return { promoted: r.promoted, nextDueMs: r.next_ms };
}
