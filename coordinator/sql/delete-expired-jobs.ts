import type { Queryable } from "../db/pool.js";

/**
 * Deletes up to `limit` finished jobs (succeeded, failed, cancelled) that ended before
 * `retentionMs` ago, lowest ids first; their attempt history and output go with them (foreign keys
 * cascade). Returns how many jobs went.
 *
 * No index serves "finished before" (one would take an entry for every job that ends). A job that
 * finished before the cutoff was created before it, and ids are drawn in creation order, so the
 * statement first bisects the primary key for the newest job created before the cutoff (one
 * index probe a step, at most 63 steps) and then walks the primary key up to it. What it reads
 * beyond the jobs it deletes is what is still kept from before the cutoff: jobs not finished
 * (long-running, or delayed past it) and jobs that finished since. Ids follow creation time only
 * as closely as concurrent submits commit (within a statement's duration): a job the bisection
 * leaves above the bound goes in a later pass, never one that is not expired.
 */
export async function deleteExpiredJobs(db: Queryable, retentionMs: number, limit: number): Promise<number> {
  const { rows } = await db.query<{ deleted: number }>(
    `WITH RECURSIVE
     cutoff AS MATERIALIZED (SELECT now() - make_interval(secs => $1 / 1000.0) AS at),
     -- lo: a job created before the cutoff (0: none found yet); hi: no such job has a higher id
     bisect(lo, hi) AS (
       SELECT 0::bigint, coalesce((SELECT max(id) FROM jobs), 0)
       UNION ALL
       SELECT CASE WHEN older THEN m.id ELSE b.lo END, CASE WHEN older THEN b.hi ELSE b.mid - 1 END
       FROM (SELECT lo, hi, (lo + hi + 1) / 2 AS mid FROM bisect WHERE lo < hi) b
       LEFT JOIN LATERAL (SELECT id, created_at FROM jobs WHERE id >= b.mid ORDER BY id LIMIT 1) m ON true
       CROSS JOIN LATERAL (SELECT coalesce(m.id <= b.hi AND m.created_at < (SELECT at FROM cutoff), false) AS older) o
     ),
     old AS (
       SELECT id FROM jobs
       WHERE id <= (SELECT lo FROM bisect WHERE lo >= hi)
         AND state IN ('succeeded', 'failed', 'cancelled') AND finished_at < (SELECT at FROM cutoff)
       ORDER BY id LIMIT $2
       FOR UPDATE SKIP LOCKED
     ),
     -- by the id array: as a join, the planner would hash the batch against the whole table
     gone AS (
       DELETE FROM jobs j
       WHERE j.id = ANY(ARRAY(SELECT id FROM old)) AND j.state IN ('succeeded', 'failed', 'cancelled')
       RETURNING j.id
     )
     SELECT count(*)::int AS deleted FROM gone`,
    [retentionMs, limit],
  );
  return rows[0]!.deleted;
}
