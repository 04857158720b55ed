import type { Queryable } from "../db/pool.js";
import type { SchedJob, SchedQueue, SchedWorker } from "../../shared/scheduling/types.js";
import { numericElements } from "./batch-params.js";
import { CHANNELS } from "./notify.js";

export interface PendingJob extends SchedJob {
  unschedulableReason: string;
}

export interface LoadedSnapshot {
  workers: SchedWorker[];
  jobs: PendingJob[];
  /** queues that are paused or capped, with how many of their jobs are assigned or running */
  queues: SchedQueue[];
  /** how many pending jobs were asked for: fewer returned means the queue was read to its end */
  limit: number;
  /** delayed jobs that came due in this statement (they join the next snapshot) */
  promoted: number;
  /** when the next delayed job comes due (epoch ms), if any */
  nextDueMs: number | null;
}

/**
 * The scheduler's input in one round trip: live workers with what is allocated on them now (jobs
 * assigned or running), and the head of the queue (priority, then age; delayed jobs wait for the
 * promoter) — the free slots plus 200, so that unschedulable jobs just behind the head are still
 * reported without reading twice what can be placed.
 * Jobs of paused queues and of queues at their cap are left out of the head, so that they cannot
 * crowd out the others (a capped queue with room may fill one pass's head; once full it drops out).
 * With `reservedPriority`, each worker also carries what jobs below it hold (the reservation).
 * The same statement promotes delayed jobs whose run_at has come (idempotent, placement-free, so
 * unfenced) and says when the next one comes due: no extra round trip per pass for the promoter.
 */
export async function loadSnapshot(db: Queryable, maxJobs: number, reservedPriority: number | null = null): Promise<LoadedSnapshot> {
  const { rows } = await db.query<{ workers: WorkerJson[]; queues: QueueJson[]; lim: number; promoted: number; next_ms: number | null } & HeadColumns>({
    name: "baton_load_snapshot",
    text: `WITH due AS (
       UPDATE jobs SET delayed = false WHERE state = 'pending' AND delayed AND run_at <= now() RETURNING id
     ),
     w AS (
       SELECT w.id, w.labels, w.cpu_millis, w.memory_mb, w.gpus, w.slots,
              coalesce(a.cpu, 0)::int AS a_cpu, coalesce(a.mem, 0)::int AS a_mem,
              coalesce(a.gpus, 0)::int AS a_gpus, coalesce(a.n, 0)::int AS a_slots,
              coalesce(a.low_cpu, 0)::int AS l_cpu, coalesce(a.low_mem, 0)::int AS l_mem,
              coalesce(a.low_gpus, 0)::int AS l_gpus, coalesce(a.low_n, 0)::int AS l_slots
       FROM workers w
       LEFT JOIN (SELECT worker_id, sum(cpu_millis) AS cpu, sum(memory_mb) AS mem, sum(gpus) AS gpus, count(*) AS n,
                         sum(cpu_millis) FILTER (WHERE priority < $2) AS low_cpu,
                         sum(memory_mb) FILTER (WHERE priority < $2) AS low_mem,
                         sum(gpus) FILTER (WHERE priority < $2) AS low_gpus,
                         count(*) FILTER (WHERE priority < $2) AS low_n
                  FROM jobs WHERE state IN ('assigned', 'running') GROUP BY worker_id) a ON a.worker_id = w.id
       WHERE w.state = 'alive'),
     q AS (SELECT q.name, q.concurrency_cap AS cap, q.paused,
                  (SELECT count(*) FROM jobs j WHERE j.queue = q.name AND j.state IN ('assigned', 'running'))::int AS running
           FROM queues q WHERE q.paused OR q.concurrency_cap IS NOT NULL),
     lim AS (SELECT least($1::int, 200 + coalesce(sum(greatest(0, slots - a_slots)), 0))::int AS n FROM w)
     SELECT (SELECT coalesce(json_agg(w ORDER BY w.id), '[]') FROM w) AS workers,
            h.*,
            (SELECT coalesce(json_agg(q), '[]') FROM q) AS queues,
            (SELECT n FROM lim) AS lim,
            (SELECT count(*) FROM due)::int AS promoted,
            (SELECT (extract(epoch FROM min(run_at)) * 1000)::float8 FROM jobs
             WHERE state = 'pending' AND delayed AND run_at > now()) AS next_ms
     -- The head as one array per column (aligned: one aggregation over the same rows; the scheduler
     -- orders the jobs itself): numbers as array text, split here, far cheaper than a JSON object
     -- per job on both sides; strings and labels as JSON arrays.
     FROM (SELECT array_agg(id)::text AS ids, array_agg(priority)::text AS priorities, array_agg(created_ms)::text AS created,
                  array_agg(cpu_millis)::text AS cpus, array_agg(memory_mb)::text AS mems, array_agg(gpus)::text AS gpus,
                  json_agg(labels) AS labels, json_agg(queue) AS queues_of, json_agg(tenant) AS tenants,
                  json_agg(unschedulable_reason) AS reasons
           FROM (SELECT id, priority, round(extract(epoch FROM created_at) * 1000, 3) AS created_ms, cpu_millis, memory_mb, gpus,
                        labels, queue, tenant, unschedulable_reason
                 FROM jobs WHERE queue NOT IN (SELECT name FROM q WHERE paused OR running >= cap) AND state = 'pending' AND NOT delayed
                 ORDER BY priority DESC, jobs.id LIMIT (SELECT n FROM lim)) j) h`,
    values: [maxJobs, reservedPriority],
  });
  const r = rows[0]!;
  return {
    limit: r.lim,
    promoted: r.promoted,
    nextDueMs: r.next_ms,
    workers: r.workers.map((w) => ({
      id: w.id,
      labels: w.labels,
      capacity: { cpuMillis: w.cpu_millis, memoryMb: w.memory_mb, gpus: w.gpus, slots: w.slots },
      allocated: { cpuMillis: w.a_cpu, memoryMb: w.a_mem, gpus: w.a_gpus, slots: w.a_slots },
      lowAllocated: { cpuMillis: w.l_cpu, memoryMb: w.l_mem, gpus: w.l_gpus, slots: w.l_slots },
    })),
    queues: r.queues.map((q) => ({ name: q.name, cap: q.cap, running: q.running, paused: q.paused })),
    jobs: headOf(r),
  };
}

interface HeadColumns {
  /** array text, e.g. "{1,2}"; null when the head is empty */
  ids: string | null;
  priorities: string | null;
  created: string | null;
  cpus: string | null;
  mems: string | null;
  gpus: string | null;
  labels: Record<string, string>[] | null;
  queues_of: string[] | null;
  tenants: string[] | null;
  reasons: string[] | null;
}


function headOf(h: HeadColumns): PendingJob[] {
  if (h.ids === null) return [];
  const ids = numericElements(h.ids);
  const priorities = numericElements(h.priorities);
  const created = numericElements(h.created);
  const cpus = numericElements(h.cpus);
  const mems = numericElements(h.mems);
  const gpus = numericElements(h.gpus);
  return ids.map((id, i) => ({
    id,
    priority: Number(priorities[i]),
    createdAtMs: Number(created[i]),
    cpuMillis: Number(cpus[i]),
    memoryMb: Number(mems[i]),
    gpus: Number(gpus[i]),
    labels: h.labels![i]!,
    queue: h.queues_of![i]!,
    tenant: h.tenants![i]!,
    unschedulableReason: h.reasons![i]!,
  }));
}

interface WorkerJson {
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
  l_cpu: number;
  l_mem: number;
  l_gpus: number;
  l_slots: number;
}

interface QueueJson {
  name: string;
  cap: number | null;
  running: number;
  paused: boolean;
}


/**
 * Records (or clears) why jobs cannot be placed anywhere (leader-only, fenced by the term).
 * `(state = 'pending') IS TRUE`: read by primary key whatever the statistics say (see stillPending).
 */
export async function setUnschedulable(db: Queryable, term: number, ids: string[], reasons: string[]): Promise<void> {
  if (ids.length === 0) return;
  await db.query(
    `WITH t AS (SELECT term FROM baton_term WHERE id = 1 AND term = $3 FOR SHARE),
     upd AS (UPDATE jobs j SET unschedulable_reason = u.reason
             FROM unnest($1::bigint[], $2::text[]) AS u(id, reason)
             WHERE j.id = u.id AND (j.state = 'pending') IS TRUE AND EXISTS (SELECT 1 FROM t)
             RETURNING j.id)
     SELECT pg_notify('${CHANNELS.jobChanged}', string_agg(id::text, ','))
     FROM (SELECT id, (row_number() OVER ()) / 350 AS chunk FROM upd) c GROUP BY chunk`,
    [ids, reasons, term],
  );
}
