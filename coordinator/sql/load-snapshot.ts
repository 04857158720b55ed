import type { Queryable } from "../db/pool.js";
import type { SchedJob, SchedWorker } from "../../shared/scheduling/types.js";

interface WorkerCapRow {
  id: string;
  labels: Record<string, string>;
  cpu_millis: number;
  memory_mb: number;
  gpus: number;
  slots: number;
  a_cpu: number;
  a_mem: number;
  a_gpus: number;
  a_slots: number;
}

/** Live workers with what is allocated on them now (jobs assigned or running). */
export async function loadLiveWorkers(db: Queryable): Promise<SchedWorker[]> {
  const { rows } = await db.query<WorkerCapRow>(
    `SELECT w.id, w.labels, w.cpu_millis, w.memory_mb, w.gpus, w.slots,
            coalesce(a.cpu, 0)::int AS a_cpu, coalesce(a.mem, 0)::int AS a_mem,
            coalesce(a.gpus, 0)::int AS a_gpus, coalesce(a.n, 0)::int AS a_slots
     FROM workers w
     LEFT JOIN (SELECT worker_id, sum(cpu_millis) AS cpu, sum(memory_mb) AS mem, sum(gpus) AS gpus, count(*) AS n
                FROM jobs WHERE state IN ('assigned', 'running') GROUP BY worker_id) a ON a.worker_id = w.id
     WHERE w.state = 'alive'
     ORDER BY w.id`,
  );
  return rows.map((r) => ({
    id: r.id,
    labels: r.labels,
    capacity: { cpuMillis: r.cpu_millis, memoryMb: r.memory_mb, gpus: r.gpus, slots: r.slots },
    allocated: { cpuMillis: r.a_cpu, memoryMb: r.a_mem, gpus: r.a_gpus, slots: r.a_slots },
  }));
}

export interface PendingJob extends SchedJob {
  unschedulableReason: string;
}

/** Runnable jobs in the order the scheduler considers them. */
export async function loadPendingJobs(db: Queryable, limit: number): Promise<PendingJob[]> {
  const { rows } = await db.query<{
    id: string;
    priority: number;
    created_ms: number;
    cpu_millis: number;
    memory_mb: number;
    gpus: number;
    labels: Record<string, string>;
    queue: string;
    tenant: string;
    unschedulable_reason: string;
  }>(
    `SELECT id, priority, (extract(epoch FROM created_at) * 1000)::float8 AS created_ms, cpu_millis, memory_mb,
            gpus, labels, queue, tenant, unschedulable_reason
     FROM jobs WHERE state = 'pending' ORDER BY priority DESC, id LIMIT $1`,
    [limit],
  );
  return rows.map((r) => ({
    id: r.id,
    priority: r.priority,
    createdAtMs: r.created_ms,
    cpuMillis: r.cpu_millis,
    memoryMb: r.memory_mb,
    gpus: r.gpus,
    labels: r.labels,
    queue: r.queue,
    tenant: r.tenant,
    unschedulableReason: r.unschedulable_reason,
  }));
}

/** Records (or clears) why jobs cannot be placed anywhere; only rows whose reason changed. */
export async function setUnschedulable(db: Queryable, ids: string[], reasons: string[]): Promise<void> {
  if (ids.length === 0) return;
  await db.query(
    `UPDATE jobs j SET unschedulable_reason = u.reason
     FROM unnest($1::bigint[], $2::text[]) AS u(id, reason)
     WHERE j.id = u.id AND j.state = 'pending'`,
    [ids, reasons],
  );
}
