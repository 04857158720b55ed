import type { Queryable } from "../db/pool.js";

/**
 * Deletes up to `limit` output chunks stored before `retentionMs` ago (oldest first, by the `at`
 * index) and takes their bytes off their jobs' counts, in one statement. Returns how many went.
 */
export async function deleteExpiredLogs(db: Queryable, retentionMs: number, limit: number): Promise<number> {
  const { rows } = await db.query<{ deleted: number }>(
    `WITH old AS (
       SELECT job_id, attempt, seq FROM job_logs
       WHERE at < now() - make_interval(secs => $1 / 1000.0)
       ORDER BY at LIMIT $2
     ),
     gone AS (
       DELETE FROM job_logs l USING old
       WHERE l.job_id = old.job_id AND l.attempt = old.attempt AND l.seq = old.seq
       RETURNING l.job_id, octet_length(l.data) AS n
     ),
     per_job AS (SELECT job_id, sum(n) AS n, count(*) AS rows FROM gone GROUP BY job_id),
     upd AS (
       UPDATE jobs j SET log_bytes = greatest(0, j.log_bytes - p.n) FROM per_job p WHERE j.id = p.job_id
     )
     SELECT coalesce(sum(rows), 0)::int AS deleted FROM per_job`,
    [retentionMs, limit],
  );
  return rows[0]!.deleted;
}
