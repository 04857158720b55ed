import type { Queryable } from "../db/pool.js";

export interface UsageSample {
  jobId: string;
  attempt: number;
  cpuMillis: number;
  memoryBytes: number;
  cpuSeconds: number;
  peakMemoryBytes: number;
}

/**
 * Keeps the latest usage sample of each running attempt on its job row, one statement for the
 * whole batch. Samples of an attempt that is no longer current change nothing. No notification:
 * usage is read on demand, and a sample a second per job would flood the watchers.
 */
export async function recordUsage(db: Queryable, samples: readonly UsageSample[]): Promise<number> {
  if (samples.length === 0) return 0;
  const { rowCount } = await db.query(
    `WITH u AS (
       SELECT DISTINCT ON (id, attempt) *
       FROM unnest($1::bigint[], $2::int[], $3::int[], $4::int8[], $5::float8[], $6::int8[])
         WITH ORDINALITY AS u(id, attempt, cpu_millis, memory_bytes, cpu_seconds, peak_memory_bytes, n)
       ORDER BY id, attempt, n DESC
     )
     UPDATE jobs j SET usage = jsonb_build_object('cpu_millis', u.cpu_millis, 'memory_bytes', u.memory_bytes,
                                                  'cpu_seconds', u.cpu_seconds, 'peak_memory_bytes', u.peak_memory_bytes)
     FROM u WHERE j.id = u.id AND j.attempt = u.attempt AND j.state IN ('assigned', 'running')`,
    [
      samples.map((s) => s.jobId),
      samples.map((s) => s.attempt),
      samples.map((s) => s.cpuMillis),
      samples.map((s) => Math.round(s.memoryBytes)),
      samples.map((s) => s.cpuSeconds),
      samples.map((s) => Math.round(s.peakMemoryBytes)),
    ],
  );
  return rowCount ?? 0;
}
