import type { Queryable } from "../db/pool.js";
import { opaque } from "./batch-params.js";

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
       FROM unnest(${opaque("$1::bigint[]")}, ${opaque("$2::int[]")}, ${opaque("$3::int[]")}, ${opaque("$4::int8[]")},
                   ${opaque("$5::float8[]")}, ${opaque("$6::int8[]")})
         WITH ORDINALITY AS u(id, attempt, cpu_millis, memory_bytes, cpu_seconds, peak_memory_bytes, n)
       ORDER BY id, attempt, n DESC
     )
     UPDATE jobs j SET usage = jsonb_build_object('cpu_millis', u.cpu_millis, 'memory_bytes', u.memory_bytes,
                                                  'cpu_seconds', u.cpu_seconds, 'peak_memory_bytes', u.peak_memory_bytes)
     -- each job read by its primary key whatever the statistics say (see opaque)
     FROM u WHERE j.id = u.id AND j.attempt = u.attempt AND (j.state IN ('assigned', 'running')) IS TRUE`,
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
