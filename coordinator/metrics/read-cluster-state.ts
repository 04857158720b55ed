// The cluster-wide gauges' one read at scrape time: jobs waiting or running by state, pending jobs
// that fit no worker, and each live worker's capacity, allocation and real usage. Only jobs that
// have not ended are counted (the partial indexes on pending and active jobs), so its cost follows
// the size of the queue, not of the history.
import type { Queryable } from "../db/pool.js";
import { PENDING_COUNT } from "../sql/cluster-status.js";

export interface WorkerResourceRow {
  name: string;
  cpu_millis: number;
  memory_mb: number;
  slots: number;
  used_cpu_millis: number;
  used_memory_mb: number;
  alloc_cpu_millis: number;
  alloc_memory_mb: number;
  alloc_slots: number;
  running: number;
}

export interface ClusterState {
  /** pending, assigned, running → count (states with no job are absent) */
  depth: Record<string, number>;
  unschedulable: number;
  workers: WorkerResourceRow[];
}

export async function readClusterState(db: Queryable): Promise<ClusterState> {
  const { rows } = await db.query<ClusterState>(
    `WITH active AS (
       SELECT worker_id, state, cpu_millis, memory_mb FROM jobs WHERE state IN ('assigned', 'running')
     ),
     alloc AS (
       SELECT worker_id, sum(cpu_millis)::int AS cpu, sum(memory_mb)::int AS mem, count(*)::int AS n,
              (count(*) FILTER (WHERE state = 'running'))::int AS running
       FROM active GROUP BY worker_id
     )
     SELECT
       (SELECT coalesce(json_object_agg(state, n), '{}') FROM (
          SELECT 'pending' AS state, ${PENDING_COUNT("")}::int AS n
          UNION ALL
          SELECT state, count(*)::int FROM active GROUP BY state) d) AS depth,
       ${PENDING_COUNT("AND unschedulable_reason <> ''")}::int AS unschedulable,
       (SELECT coalesce(json_agg(w ORDER BY w.name), '[]') FROM (
          SELECT w.name, w.cpu_millis, w.memory_mb, w.slots, w.used_cpu_millis, w.used_memory_mb,
                 coalesce(a.cpu, 0) AS alloc_cpu_millis, coalesce(a.mem, 0) AS alloc_memory_mb,
                 coalesce(a.n, 0) AS alloc_slots, coalesce(a.running, 0) AS running
          FROM workers w LEFT JOIN alloc a ON a.worker_id = w.id
          WHERE w.state = 'alive') w) AS workers`,
  );
  return rows[0]!;
}
