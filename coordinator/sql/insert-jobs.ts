import type { Queryable } from "../db/pool.js";

export interface NewJob {
  name: string;
  queue: string;
  tenant: string;
  priority: number;
  cpuMillis: number;
  memoryMb: number;
  gpus: number;
  labels: Record<string, string>;
  executor: "exec" | "js";
  payload: object;
  timeoutMs: number;
  maxAttempts: number;
}

/** Inserts a whole batch in one statement (all or nothing); returns ids in input order. */
export async function insertJobs(db: Queryable, jobs: NewJob[]): Promise<string[]> {
  if (jobs.length === 0) return [];
  const { rows } = await db.query<{ id: string }>(
    `INSERT INTO jobs (name, queue, tenant, priority, cpu_millis, memory_mb, gpus, labels, executor, payload,
                       timeout_ms, max_attempts)
     SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::int[], $6::int[], $7::int[],
                          $8::jsonb[], $9::text[], $10::jsonb[], $11::int[], $12::int[])
     RETURNING id`,
    [
      jobs.map((j) => j.name),
      jobs.map((j) => j.queue),
      jobs.map((j) => j.tenant),
      jobs.map((j) => j.priority),
      jobs.map((j) => j.cpuMillis),
      jobs.map((j) => j.memoryMb),
      jobs.map((j) => j.gpus),
      jobs.map((j) => JSON.stringify(j.labels)),
      jobs.map((j) => j.executor),
      jobs.map((j) => JSON.stringify(j.payload)),
      jobs.map((j) => j.timeoutMs),
      jobs.map((j) => j.maxAttempts),
    ],
  );
  return rows.map((r) => r.id);
}
