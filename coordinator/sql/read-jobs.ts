import type { Queryable } from "../db/pool.js";
import { JOB_COLUMNS, type AttemptRow, type JobRow } from "./job-row.js";

/**
 * A job and its attempts. Both statements are prepared: every WatchJob update reads them, and
 * planning cost more than running them (the attempts view alone: 0.22 ms against 0.03 ms).
 */
export async function getJob(db: Queryable, id: string): Promise<{ job: JobRow; attempts: AttemptRow[] } | undefined> {
  const { rows } = await db.query<JobRow>({ name: "baton_get_job", text: `SELECT ${JOB_COLUMNS} FROM jobs j WHERE j.id = $1`, values: [id] });
  const job = rows[0];
  if (!job) return undefined;
  const attempts = await db.query<AttemptRow>({
    name: "baton_get_attempts",
    text: "SELECT * FROM attempts WHERE job_id = $1 ORDER BY attempt",
    values: [id],
  });
  return { job, attempts: attempts.rows };
}

export interface JobFilter {
  states: string[];
  queue: string;
  workerId: string;
  /** only ids below this one (pages go newest first) */
  beforeId: string | undefined;
  limit: number;
}

/** Newest first; keyset pagination on id. */
export async function listJobs(db: Queryable, f: JobFilter): Promise<JobRow[]> {
  const where: string[] = [];
  const params: unknown[] = [];
  if (f.states.length > 0) {
    // Pending jobs are asked for as their two partial indexes spell them (not delayed; delayed),
    // so that listing them reads the backlog, not the history newer than its oldest job.
    const parts: string[] = [];
    const others = f.states.filter((s) => s !== "pending");
    if (others.length > 0) {
      params.push(others);
      parts.push(`j.state = ANY($${params.length}::text[])`);
    }
    if (others.length < f.states.length) parts.push("(j.state = 'pending' AND NOT j.delayed)", "(j.state = 'pending' AND j.delayed)");
    where.push(`(${parts.join(" OR ")})`);
  }
  if (f.queue) {
    params.push(f.queue);
    where.push(`j.queue = $${params.length}`);
  }
  if (f.workerId) {
    params.push(f.workerId);
    where.push(`j.worker_id = $${params.length}`);
  }
  if (f.beforeId) {
    params.push(f.beforeId);
    where.push(`j.id < $${params.length}::bigint`);
  }
  params.push(f.limit);
  const { rows } = await db.query<JobRow>(
    `SELECT ${JOB_COLUMNS} FROM jobs j ${where.length ? `WHERE ${where.join(" AND ")}` : ""}
     ORDER BY j.id DESC LIMIT $${params.length}`,
    params,
  );
  return rows;
}
