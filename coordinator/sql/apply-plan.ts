import type { PoolClient } from "pg";
import type { Placement } from "../../shared/scheduling/types.js";
import type { ExecPayload, JsPayload } from "./job-row.js";

export interface AssignedJob {
  id: string;
  attempt: number;
  worker_id: string;
  name: string;
  queue: string;
  tenant: string;
  priority: number;
  cpu_millis: number;
  memory_mb: number;
  gpus: number;
  labels: Record<string, string>;
  executor: "exec" | "js";
  payload: ExecPayload | JsPayload;
  timeout_ms: number;
  max_attempts: number;
}

export const ASSIGNED_COLUMNS = `j.id, j.attempt, j.worker_id, j.name, j.queue, j.tenant, j.priority, j.cpu_millis,
  j.memory_mb, j.gpus, j.labels, j.executor, j.payload, j.timeout_ms, j.max_attempts`;

interface Room {
  cpu: number;
  mem: number;
  gpus: number;
  slots: number;
}

/**
 * Re-checks a plan against the workers' capacity as it is inside the transaction (rows locked), and
 * returns only the placements that still fit. The scheduler's snapshot may be stale by now.
 */
export async function recheckCapacity(tx: PoolClient, placements: Placement[]): Promise<Placement[]> {
  const workerIds = [...new Set(placements.map((p) => p.workerId))];
  const { rows } = await tx.query<{ id: string; cpu: number; mem: number; gpus: number; slots: number }>(
    `WITH w AS (SELECT id, cpu_millis, memory_mb, gpus, slots FROM workers
                WHERE id = ANY($1::text[]) AND state = 'alive' ORDER BY id FOR UPDATE)
     SELECT w.id, w.cpu_millis - coalesce(sum(j.cpu_millis), 0)::int AS cpu,
            w.memory_mb - coalesce(sum(j.memory_mb), 0)::int AS mem,
            w.gpus - coalesce(sum(j.gpus), 0)::int AS gpus,
            w.slots - count(j.id)::int AS slots
     FROM w LEFT JOIN jobs j ON j.worker_id = w.id AND j.state IN ('assigned', 'running')
     GROUP BY w.id, w.cpu_millis, w.memory_mb, w.gpus, w.slots`,
    [workerIds],
  );
  const room = new Map<string, Room>(rows.map((r) => [r.id, { cpu: r.cpu, mem: r.mem, gpus: r.gpus, slots: r.slots }]));
  const jobIds = placements.map((p) => p.jobId);
  const need = await tx.query<{ id: string; cpu_millis: number; memory_mb: number; gpus: number }>(
    "SELECT id, cpu_millis, memory_mb, gpus FROM jobs WHERE id = ANY($1::bigint[]) AND state = 'pending'",
    [jobIds],
  );
  const needById = new Map(need.rows.map((r) => [r.id, r]));
  const fitting: Placement[] = [];
  for (const p of placements) {
    const r = room.get(p.workerId);
    const n = needById.get(p.jobId);
    if (!r || !n) continue;
    if (n.cpu_millis > r.cpu || n.memory_mb > r.mem || n.gpus > r.gpus || r.slots < 1) continue;
    r.cpu -= n.cpu_millis;
    r.mem -= n.memory_mb;
    r.gpus -= n.gpus;
    r.slots -= 1;
    fitting.push(p);
  }
  return fitting;
}

/**
 * Writes placements: each job moves pending → assigned with a new attempt (its fencing token).
 * assigned_at is the statement's clock, not the transaction's: it comes after the capacity it
 * relies on was freed.
 */
export async function writePlacements(tx: PoolClient, placements: Placement[]): Promise<AssignedJob[]> {
  if (placements.length === 0) return [];
  const { rows } = await tx.query<AssignedJob>(
    `WITH p AS (SELECT * FROM unnest($1::bigint[], $2::text[]) AS p(id, worker_id)),
     upd AS (
       UPDATE jobs j SET state = 'assigned', worker_id = p.worker_id, attempt = j.attempt + 1,
                         assigned_at = clock_timestamp(), unschedulable_reason = ''
       FROM p WHERE j.id = p.id AND j.state = 'pending'
       RETURNING ${ASSIGNED_COLUMNS}, j.assigned_at
     ),
     hist AS (INSERT INTO job_attempts (job_id, attempt, worker_id, assigned_at)
              SELECT id, attempt, worker_id, assigned_at FROM upd)
     SELECT * FROM upd j`,
    [placements.map((p) => p.jobId), placements.map((p) => p.workerId)],
  );
  return rows;
}

/** Assignments not yet started on these workers: what their coordinators must (re)send. */
export async function loadAssignedJobs(
  db: { query: PoolClient["query"] },
  workerIds: string[],
): Promise<AssignedJob[]> {
  const { rows } = await db.query<AssignedJob>(
    `SELECT ${ASSIGNED_COLUMNS} FROM jobs j
     WHERE j.worker_id = ANY($1::text[]) AND j.state = 'assigned' AND NOT j.cancel_requested ORDER BY j.id`,
    [workerIds],
  );
  return rows;
}
