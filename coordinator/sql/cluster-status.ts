import type { Queryable } from "../db/pool.js";

/**
 * Pending jobs matching `and` (a condition on jobs' columns, unqualified), counted in two parts,
 * each read through its partial index (jobs_pending_idx: not delayed; jobs_delayed_idx: delayed):
 * the cost follows the backlog, never the history.
 */
export const PENDING_COUNT = (and: string) =>
  `((SELECT count(*) FROM jobs WHERE state = 'pending' AND NOT delayed ${and})
    + (SELECT count(*) FROM jobs WHERE state = 'pending' AND delayed ${and}))`;

export interface CoordinatorRow {
  id: string;
  grpc_address: string;
  http_address: string;
  started_at: Date;
  last_seen: Date;
}

export interface WorkerStatusRow {
  id: string;
  name: string;
  cpu_millis: number;
  memory_mb: number;
  gpus: number;
  slots: number;
  labels: Record<string, string>;
  limits_mechanism: string;
  coordinator_id: string | null;
  state: string;
  last_heartbeat: Date;
  used_cpu_millis: number;
  used_memory_mb: number;
  gpu_ids: string[];
  a_cpu: number;
  a_mem: number;
  a_gpus: number;
  a_slots: number;
  running: number;
}

export async function loadClusterStatus(db: Queryable, coordinatorStaleMs: number) {
  const [term, coordinators, workers, counts, unschedulable] = await Promise.all([
    db.query<{ term: string; leader_id: string | null }>("SELECT term, leader_id FROM baton_term WHERE id = 1"),
    db.query<CoordinatorRow>(
      `SELECT * FROM coordinators WHERE last_seen > now() - make_interval(secs => $1 / 1000.0) ORDER BY started_at`,
      [coordinatorStaleMs],
    ),
    db.query<WorkerStatusRow>(
      `SELECT w.*, coalesce(a.cpu, 0)::int AS a_cpu, coalesce(a.mem, 0)::int AS a_mem,
              coalesce(a.gpus, 0)::int AS a_gpus, coalesce(a.n, 0)::int AS a_slots, coalesce(a.running, 0)::int AS running
       FROM workers w
       LEFT JOIN (SELECT worker_id, sum(cpu_millis) AS cpu, sum(memory_mb) AS mem, sum(gpus) AS gpus, count(*) AS n,
                         count(*) FILTER (WHERE state = 'running') AS running
                  FROM jobs WHERE state IN ('assigned', 'running') GROUP BY worker_id) a ON a.worker_id = w.id
       WHERE w.state = 'alive' OR w.last_heartbeat > now() - interval '1 hour'
       ORDER BY w.name, w.id`,
    ),
    db.query<{ state: string; n: string }>("SELECT state, count(*) AS n FROM jobs GROUP BY state"),
    db.query<{ n: string }>(`SELECT ${PENDING_COUNT("AND unschedulable_reason <> ''")} AS n`),
  ]);
  return {
    term: Number(term.rows[0]!.term),
    leaderId: term.rows[0]!.leader_id ?? "",
    coordinators: coordinators.rows,
    workers: workers.rows,
    jobCounts: Object.fromEntries(counts.rows.map((r) => [r.state, Number(r.n)])) as Record<string, number>,
    unschedulable: Number(unschedulable.rows[0]!.n),
  };
}
