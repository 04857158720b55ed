import type { Queryable } from "../db/pool.js";

export interface JobLogRow {
  attempt: number;
  seq: string; // int8
  stream: number;
  at: Date;
  data: Buffer;
}

export interface LogCursor {
  attempt: number;
  seq: string;
}

/** The next page of a job's output after `after`, in (attempt, seq) order; `attempt` 0 = every attempt. */
export async function readJobLogs(
  db: Queryable,
  jobId: string,
  opts: { attempt: number; after: LogCursor; limit: number },
): Promise<JobLogRow[]> {
  const { rows } = await db.query<JobLogRow>(
    `SELECT attempt, seq, stream, at, data FROM job_logs
     WHERE job_id = $1 AND ($2::int = 0 OR attempt = $2) AND (attempt, seq) > ($3::int, $4::bigint)
     ORDER BY attempt, seq
     LIMIT $5`,
    [jobId, opts.attempt, opts.after.attempt, opts.after.seq, opts.limit],
  );
  return rows;
}

/** The state and attempt of a job, or undefined when there is no such job. */
export async function readJobProgress(db: Queryable, jobId: string): Promise<{ state: string; attempt: number } | undefined> {
  const { rows } = await db.query<{ state: string; attempt: number }>("SELECT state, attempt FROM jobs WHERE id = $1", [jobId]);
  return rows[0];
}
