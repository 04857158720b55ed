import type { Queryable } from "../db/pool.js";

export interface JobChange {
  priority: number;
  queue: string;
  cpuMillis: number;
  memoryMb: number;
  gpus: number;
  /** epoch ms; 0: now */
  runAtMs: number;
}

/**
 * Changes a job only while it is pending (one statement: a job placed meanwhile is left alone).
 * Returns the job's state when it was not changed, or "pending" when it was; undefined: no such job.
 */
export async function changePendingJob(db: Queryable, id: string, c: JobChange): Promise<string | undefined> {
  const { rows } = await db.query<{ state: string; changed: boolean }>(
    `WITH upd AS (
       UPDATE jobs SET priority = $2, queue = $3, cpu_millis = $4, memory_mb = $5, gpus = $6,
              run_at = CASE WHEN $7::float8 > 0 THEN to_timestamp($7::float8 / 1000.0) ELSE now() END,
              delayed = $7::float8 > 0 AND to_timestamp($7::float8 / 1000.0) > now(),
              unschedulable_reason = ''
       WHERE id = $1 AND (state = 'pending') IS TRUE -- by primary key whatever the statistics say (see stillPending)
       RETURNING id
     )
     SELECT 'pending' AS state, true AS changed FROM upd
     UNION ALL
     SELECT state, false FROM jobs WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM upd)`,
    [id, c.priority, c.queue, c.cpuMillis, c.memoryMb, c.gpus, c.runAtMs],
  );
  return rows[0]?.state;
}

/**
 * Deletes a job that is not on a worker (pending or finished); its attempt history and output go
 * with it (foreign keys cascade). Returns "deleted", the state that kept it, or undefined: no such job.
 */
export async function deleteJob(db: Queryable, id: string): Promise<string | undefined> {
  const { rows } = await db.query<{ state: string }>(
    `WITH gone AS (DELETE FROM jobs WHERE id = $1 AND state NOT IN ('assigned', 'running') RETURNING id)
     SELECT 'deleted' AS state FROM gone
     UNION ALL
     SELECT state FROM jobs WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM gone)`,
    [id],
  );
  return rows[0]?.state;
}
