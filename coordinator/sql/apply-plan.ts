import type { Placement } from "../../shared/scheduling/types.js";
import type { Queryable } from "../db/pool.js";
import type { JobRow } from "./job-row.js";
import { CHANNELS } from "./notify.js";

/** A placement as written: what the worker needs to run the attempt, and its trace. */
export type AssignedJob = Pick<
  JobRow,
  | "id" | "attempt" | "name" | "queue" | "tenant" | "priority" | "cpu_millis" | "memory_mb" | "gpus" | "labels"
  | "executor" | "payload" | "timeout_ms" | "max_attempts"
> & {
  worker_id: string;
  trace_context: Record<string, string> | null;
  // Dates when read as rows, ISO strings when they come back through json_agg.
  created_at: Date | string;
  assigned_at: Date | string | null;
};

export const ASSIGNED_COLUMNS = `j.id, j.attempt, j.worker_id, j.name, j.queue, j.tenant, j.priority, j.cpu_millis,
  j.memory_mb, j.gpus, j.labels, j.executor, j.payload, j.timeout_ms, j.max_attempts, j.trace_context, j.created_at,
  j.assigned_at`;

export interface PlacementResult {
  /** false: the term has moved on; nothing was written */
  termHeld: boolean;
  assigned: AssignedJob[];
}

/**
 * Commits placements in ONE statement (one round trip on the leader's hot path), fenced and
 * re-checked:
 * - the term row is read FOR SHARE and must still be `term`, so a newly elected leader's bump
 *   waits for this statement, and a deposed leader writes nothing;
 * - worker rows are locked and each placement must fit what the worker has free now, counting the
 *   placements before it in the plan on the same worker (cumulative sums of the sizes the plan was
 *   built with; a job whose size changed since is not placed), so a plan built on a
 *   stale snapshot can never over-commit a worker; what does not fit is simply not written;
 * - each job's queue (as the jobs table says now) must not be paused, and a capped queue must stay
 *   within its cap counting the jobs of the queue assigned or running now plus the placements before
 *   it in the plan (cumulative, like the worker re-check): since the leader is the only placer and
 *   this statement is fenced, a cap holds cluster-wide even across a failover or a stale plan;
 * - only jobs still pending and not delayed (UpdateJob may have moved run_at since) move:
 *   pending → assigned with attempt + 1 (the fencing token), and the attempt lives on the job row
 *   until it ends (then it is written to job_attempts).
 * assigned_at is the statement's clock, after the capacity it relies on was freed.
 * Worker ids in `announce` get a baton_assign notification (their streams are held elsewhere), and
 * every placed job a baton_job_changed one.
 */
export interface SizedPlacement extends Placement {
  /** what the scheduler believed the job needs: the write is refused if the job changed since */
  cpuMillis: number;
  memoryMb: number;
  gpus: number;
}

export async function writePlacements(
  db: Queryable,
  term: number,
  placements: SizedPlacement[],
  announce: string[],
): Promise<PlacementResult> {
  const { rows } = await db.query<{ term_held: boolean; assigned: AssignedJob[] }>(
    `WITH t AS (SELECT term FROM baton_term WHERE id = 1 AND term = $2 FOR SHARE),
     p AS (SELECT * FROM json_to_recordset($1::json) AS p(ord int, id bigint, worker_id text, cpu int, mem int, gpus int)),
     w AS (SELECT id, cpu_millis, memory_mb, gpus, slots FROM workers
           WHERE id IN (SELECT worker_id FROM p) AND state = 'alive' AND EXISTS (SELECT 1 FROM t)
           ORDER BY id FOR UPDATE),
     used AS MATERIALIZED (SELECT worker_id, sum(cpu_millis) AS cpu, sum(memory_mb) AS mem, sum(gpus) AS gpus, count(*) AS n
              FROM jobs WHERE worker_id IN (SELECT id FROM w) AND state IN ('assigned', 'running')
              GROUP BY worker_id),
     cum AS MATERIALIZED (SELECT p.ord, p.id, p.worker_id, p.cpu AS j_cpu, p.mem AS j_mem, p.gpus AS j_gpus,
                    sum(p.cpu) OVER win AS cpu, sum(p.mem) OVER win AS mem,
                    sum(p.gpus) OVER win AS gpus, count(*) OVER win AS n
             FROM p WINDOW win AS (PARTITION BY p.worker_id ORDER BY p.ord)),
     fits AS (SELECT cum.ord, cum.id, cum.worker_id, cum.j_cpu, cum.j_mem, cum.j_gpus FROM cum JOIN w ON w.id = cum.worker_id
            LEFT JOIN used u ON u.worker_id = w.id
            WHERE cum.cpu + coalesce(u.cpu, 0) <= w.cpu_millis AND cum.mem + coalesce(u.mem, 0) <= w.memory_mb
              AND cum.gpus + coalesce(u.gpus, 0) <= w.gpus AND cum.n + coalesce(u.n, 0) <= w.slots),
     fq AS MATERIALIZED (SELECT fits.*, j.queue FROM fits JOIN jobs j ON j.id = fits.id
                         WHERE j.state = 'pending' AND j.cpu_millis = fits.j_cpu AND j.memory_mb = fits.j_mem
                           AND j.gpus = fits.j_gpus),
     qs AS (SELECT name, concurrency_cap AS cap, paused FROM queues
            WHERE name IN (SELECT queue FROM fq) AND (paused OR concurrency_cap IS NOT NULL) ORDER BY name FOR SHARE),
     qused AS MATERIALIZED (SELECT queue, count(*) AS n FROM jobs
              WHERE queue IN (SELECT name FROM qs WHERE cap IS NOT NULL) AND state IN ('assigned', 'running')
              GROUP BY queue),
     qcum AS (SELECT fq.*, count(*) OVER (PARTITION BY fq.queue ORDER BY fq.ord) AS qn FROM fq),
     ok AS (SELECT qcum.id, qcum.worker_id, qcum.j_cpu, qcum.j_mem, qcum.j_gpus FROM qcum
            LEFT JOIN qs ON qs.name = qcum.queue LEFT JOIN qused ON qused.queue = qcum.queue
            WHERE qs.name IS NULL OR (NOT qs.paused AND (qs.cap IS NULL OR qcum.qn + coalesce(qused.n, 0) <= qs.cap))),
     upd AS (UPDATE jobs j SET state = 'assigned', worker_id = ok.worker_id, attempt = j.attempt + 1,
                               assigned_at = clock_timestamp(), unschedulable_reason = ''
             FROM ok WHERE j.id = ok.id AND j.state = 'pending' AND NOT j.delayed
               AND j.cpu_millis = ok.j_cpu AND j.memory_mb = ok.j_mem AND j.gpus = ok.j_gpus
             RETURNING j.id::text AS id, j.attempt, j.worker_id, j.name, j.queue, j.tenant, j.priority, j.cpu_millis,
                       j.memory_mb, j.gpus, j.labels, j.executor, j.payload, j.timeout_ms, j.max_attempts,
                       j.trace_context, j.created_at, j.assigned_at),
     note AS (SELECT pg_notify('${CHANNELS.assign}', w) FROM unnest($3::text[]) AS w
              WHERE EXISTS (SELECT 1 FROM upd WHERE upd.worker_id = w)),
     changed AS (SELECT pg_notify('${CHANNELS.jobChanged}', string_agg(id::text, ','))
                 FROM (SELECT id, (row_number() OVER ()) / 350 AS chunk FROM upd) c GROUP BY chunk)
     SELECT EXISTS (SELECT 1 FROM t) AS term_held, (SELECT coalesce(json_agg(upd), '[]') FROM upd) AS assigned,
            (SELECT count(*) FROM note) + (SELECT count(*) FROM changed) AS notes`,
    [
      JSON.stringify(placements.map((p, ord) => ({ ord, id: p.jobId, worker_id: p.workerId, cpu: p.cpuMillis, mem: p.memoryMb, gpus: p.gpus }))),
      term,
      announce,
    ],
  );
  return { termHeld: rows[0]!.term_held, assigned: rows[0]!.assigned };
}

/** Assignments not yet started on these workers: what their coordinators must (re)send. */
export async function loadAssignedJobs(db: Queryable, workerIds: string[]): Promise<AssignedJob[]> {
  const { rows } = await db.query<AssignedJob>(
    `SELECT ${ASSIGNED_COLUMNS} FROM jobs j
     WHERE j.worker_id = ANY($1::text[]) AND j.state = 'assigned' AND NOT j.cancel_requested ORDER BY j.id`,
    [workerIds],
  );
  return rows;
}
