import type { Queryable } from "../db/pool.js";

/**
 * Deletes up to `limit` finished jobs (succeeded, failed, cancelled) that ended before
 * `retentionMs` ago, oldest first by the finished-jobs index; their attempt history and output go
 * with them (foreign keys cascade). Returns how many jobs went.
 */
export async function deleteExpiredJobs(db: Queryable, retentionMs: number, limit: number): Promise<number> {
  const { rows } = await db.query<{ deleted: number }>(
    `WITH old AS (
       SELECT id FROM jobs
       WHERE state IN ('succeeded', 'failed', 'cancelled') AND finished_at < now() - make_interval(secs => $1 / 1000.0)
       ORDER BY finished_at LIMIT $2
       FOR UPDATE SKIP LOCKED
     ),
     gone AS (
       DELETE FROM jobs j USING old
       WHERE j.id = old.id AND j.state IN ('succeeded', 'failed', 'cancelled')
       RETURNING j.id
     )
     SELECT count(*)::int AS deleted FROM gone`,
    [retentionMs, limit],
  );
  return rows[0]!.deleted;
}
