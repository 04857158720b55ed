import type { Placement } from "../../shared/scheduling/types.js";
import type { Queryable } from "../db/pool.js";
import type { JobRow } from "./job-row.js";
import { Dictionary, numericArray, numericElements, PREPARED_MAX_ROWS } from "./batch-params.js";
import { CHANNELS } from "./notify.js";

/** A placement as written: what the worker needs to run the attempt, and its trace. */
export type AssignedJob = Pick<
  JobRow,
  | "id" | "attempt" | "name" | "queue" | "tenant" | "priority" | "cpu_millis" | "memory_mb" | "gpus" | "labels"
  | "executor" | "payload" | "timeout_ms" | "max_attempts"
> & {
  worker_id: string;
  trace_context: Record<string, string> | null;
  /** epoch ms (read as float8: far cheaper to parse than timestamps) */
  created_ms: number;
  assigned_ms: number | null;
};

export const ASSIGNED_COLUMNS = `j.id::text AS id, j.attempt, j.worker_id, j.name, j.queue, j.tenant, j.priority, j.cpu_millis,
  j.memory_mb, j.gpus, j.labels, j.executor, j.payload, j.timeout_ms, j.max_attempts, j.trace_context,
  (extract(epoch FROM j.created_at) * 1000)::float8 AS created_ms, (extract(epoch FROM j.assigned_at) * 1000)::float8 AS assigned_ms`;

/**
 * What an assignment carries that a job keeps for life once stored (UpdateJob changes only its
 * priority, resources, queue and run_at): a leader that inserted the job may hand it over with the
 * placement so that the statement reads back only what a placement decides.
 */
export type JobContent = Pick<
  AssignedJob,
  "name" | "tenant" | "labels" | "executor" | "payload" | "timeout_ms" | "max_attempts" | "trace_context" | "created_ms"
>;

export interface PlacementResult {
  /** false: the term has moved on; nothing was written */
  termHeld: boolean;
  assigned: AssignedJob[];
}

/** A placement as the scheduler sized it: the write is refused if the job changed since. */
export interface SizedPlacement extends Placement {
  cpuMillis: number;
  memoryMb: number;
  gpus: number;
  /** the job's queue as the scheduler saw it (its cap and pause are re-checked) */
  queue: string;
}

/**
 * The fenced capacity re-check every placement goes through, as CTEs over a relation
 * `p(ord, worker_id, cpu, mem, gpus, queue)` (the plan, `ord` its order) that the statement
 * defines first; `ok` ends up holding the placements that may be written (ord, worker_id):
 * - the term row is read FOR SHARE and must still be `$term`, so a newly elected leader's bump
 *   waits for this statement, and a deposed leader writes nothing;
 * - worker rows are locked and each placement must fit what the worker has free now, counting the
 *   placements before it in the plan on the same worker (cumulative sums of the planned sizes), so
 *   a plan built on a stale snapshot can never over-commit a worker; what does not fit is not written;
 * - a paused queue places nothing, and a capped queue stays within its cap counting its jobs
 *   assigned or running now plus the placements before it in the plan: since the leader is the
 *   only placer and this is fenced, a cap holds cluster-wide even across a failover or a stale plan.
 * The cumulative sums (two sorts and window aggregates over the plan) are computed only when they
 * can decide anything: when each worker's and each queue's whole share of the plan fits (sizes are
 * never negative, so then every prefix fits too), the plan is `ok` as it is. That is the common
 * case: the leader plans against its own view of what is free.
 * `workers` and `queues` name the parameters holding the plan's distinct worker ids and queues.
 */
export function fitCheck(term: string, workers: string, queues: string): string {
  return `t AS (SELECT term FROM baton_term WHERE id = 1 AND term = ${term} FOR SHARE),
     w AS (SELECT id, cpu_millis, memory_mb, gpus, slots FROM workers
           WHERE id = ANY(${workers}::text[]) AND state = 'alive' AND EXISTS (SELECT 1 FROM t)
           ORDER BY id FOR UPDATE),
     used AS MATERIALIZED (SELECT worker_id, sum(cpu_millis) AS cpu, sum(memory_mb) AS mem, sum(gpus) AS gpus, count(*) AS n
              FROM jobs WHERE worker_id IN (SELECT id FROM w) AND state IN ('assigned', 'running')
              GROUP BY worker_id),
     qs AS (SELECT name, concurrency_cap AS cap, paused FROM queues
            WHERE name = ANY(${queues}::text[]) AND (paused OR concurrency_cap IS NOT NULL) ORDER BY name FOR SHARE),
     -- the EXISTS is a one-time test: with no capped queue in the plan (the usual case) the
     -- active jobs are not read at all
     qused AS MATERIALIZED (SELECT queue, count(*) AS n FROM jobs
              WHERE EXISTS (SELECT 1 FROM qs WHERE cap IS NOT NULL)
                AND queue IN (SELECT name FROM qs WHERE cap IS NOT NULL) AND state IN ('assigned', 'running')
              GROUP BY queue),
     tot AS (SELECT worker_id, sum(cpu) AS cpu, sum(mem) AS mem, sum(gpus) AS gpus, count(*) AS n FROM p GROUP BY worker_id),
     qtot AS (SELECT queue, count(*) AS n FROM p GROUP BY queue),
     all_fit AS MATERIALIZED (
       SELECT (SELECT count(*) FROM tot JOIN w ON w.id = tot.worker_id LEFT JOIN used u ON u.worker_id = w.id
               WHERE tot.cpu + coalesce(u.cpu, 0) <= w.cpu_millis AND tot.mem + coalesce(u.mem, 0) <= w.memory_mb
                 AND tot.gpus + coalesce(u.gpus, 0) <= w.gpus AND tot.n + coalesce(u.n, 0) <= w.slots) = (SELECT count(*) FROM tot)
          AND NOT EXISTS (SELECT 1 FROM qtot JOIN qs ON qs.name = qtot.queue LEFT JOIN qused ON qused.queue = qtot.queue
                          WHERE qs.paused OR (qs.cap IS NOT NULL AND qtot.n + coalesce(qused.n, 0) > qs.cap)) AS yes),
     cum AS (SELECT p.ord, sum(p.cpu) OVER win AS c_cpu, sum(p.mem) OVER win AS c_mem, sum(p.gpus) OVER win AS c_gpus,
                    count(*) OVER win AS c_n, count(*) OVER (PARTITION BY p.queue ORDER BY p.ord) AS c_q
             FROM p WINDOW win AS (PARTITION BY p.worker_id ORDER BY p.ord)),
     ok AS (SELECT p.* FROM p WHERE (SELECT yes FROM all_fit)
            UNION ALL
            SELECT p.* FROM p JOIN cum ON cum.ord = p.ord JOIN w ON w.id = p.worker_id LEFT JOIN used u ON u.worker_id = w.id
            LEFT JOIN qs ON qs.name = p.queue LEFT JOIN qused ON qused.queue = p.queue
            WHERE NOT (SELECT yes FROM all_fit) AND cum.c_cpu + coalesce(u.cpu, 0) <= w.cpu_millis AND cum.c_mem + coalesce(u.mem, 0) <= w.memory_mb
              AND cum.c_gpus + coalesce(u.gpus, 0) <= w.gpus AND cum.c_n + coalesce(u.n, 0) <= w.slots
              AND (qs.name IS NULL OR (NOT qs.paused AND (qs.cap IS NULL OR cum.c_q + coalesce(qused.n, 0) <= qs.cap))))`;
}

/**
 * "Still pending and not delayed", for a row found by id. The same test as `state = 'pending' AND
 * NOT delayed` (both columns are NOT NULL), written so that it implies no partial index's
 * predicate. The pending indexes hold `id` as well; with statistics taken while the queue was
 * empty (an idle cluster, then a burst) the planner believes them empty and reads one end to end
 * for every row (~150 buffers a row at 20,000 pending) instead of the primary key (~4).
 */
export const stillPending = (alias: string) => `(${alias}.state = 'pending') IS TRUE AND ${alias}.delayed IS FALSE`;

/** Worker ids in `announce` get a baton_assign notification (their streams are held elsewhere). */
export const ANNOUNCE_ASSIGNED = (announce: string) =>
  `SELECT pg_notify('${CHANNELS.assign}', w) FROM unnest(${announce}::text[]) AS w
   WHERE EXISTS (SELECT 1 FROM upd WHERE upd.worker_id = w)`;

/** Every changed job in `upd` gets a baton_job_changed notification (chunks fit NOTIFY's payload limit). */
export const ANNOUNCE_CHANGED = `SELECT pg_notify('${CHANNELS.jobChanged}', string_agg(id::text, ','))
   FROM (SELECT id, (row_number() OVER ()) / 350 AS chunk FROM upd) c GROUP BY chunk`;

/**
 * Commits placements in ONE statement (one round trip on the leader's hot path), through
 * fitCheck; only jobs still pending, not delayed (UpdateJob may have moved run_at since), and of
 * the size and queue the plan was built with move: pending → assigned with attempt + 1 (the
 * fencing token); the attempt lives on the job row until it ends (then it goes to job_attempts).
 * assigned_at is the statement's clock, after the capacity it relies on was freed.
 * The plan travels as numeric arrays (worker ids and queues once each, rows by index).
 * `content`: the jobs' content (JobContent) by id, when the caller has it.
 */
export async function writePlacements(
  db: Queryable,
  term: number,
  placements: SizedPlacement[],
  announce: string[],
  content?: ReadonlyMap<string, JobContent>,
): Promise<PlacementResult> {
  // With every job's content at hand (read now: the caller's map may change while the statement
  // runs), the statement returns only what the placement decided and the priority, which UpdateJob
  // may have changed: no labels, executor or payload read back and parsed.
  const contents = content && placements.every((p) => content.has(p.jobId)) ? placements.map((p) => content.get(p.jobId)!) : undefined;
  const lean = contents !== undefined;
  const workers = new Dictionary();
  const queues = new Dictionary();
  const { rows } = await db.query<AssignedArrays & LeanArrays & { term_held: boolean; notes: string }>({
    name: placements.length > PREPARED_MAX_ROWS ? undefined : lean ? "baton_write_placements_lean" : "baton_write_placements",
    text: `WITH p AS (SELECT ord, id, ($6::text[])[wi] AS worker_id, cpu, mem, gpus, ($7::text[])[qi] AS queue
           FROM unnest($2::bigint[], $3::int[], $4::int[], $5::int[], $8::int[], $9::int[])
             WITH ORDINALITY AS p(id, wi, cpu, mem, gpus, qi, ord)),
     ${fitCheck("$1", "$6", "$7")},
     upd AS (UPDATE jobs j SET state = 'assigned', worker_id = ok.worker_id, attempt = j.attempt + 1,
                               assigned_at = clock_timestamp(), unschedulable_reason = ''
             -- the queue with IS NOT DISTINCT FROM and the state with stillPending: nothing that a pending
             -- index could serve, so each job is read by its primary key; the ids as an array too, as
             -- the planner may believe (statistics from an idle moment) that no job is pending and
             -- read the whole table once rather than look up 1,000 ids
             FROM ok WHERE j.id = ANY(ARRAY(SELECT id FROM ok)) AND j.id = ok.id AND ${stillPending("j")} AND j.queue IS NOT DISTINCT FROM ok.queue
               AND j.cpu_millis = ok.cpu AND j.memory_mb = ok.mem AND j.gpus = ok.gpus
             RETURNING ${lean ? LEAN_COLUMNS : ASSIGNED_COLUMNS}),
     note AS (${ANNOUNCE_ASSIGNED("$10")}),
     changed AS (${ANNOUNCE_CHANGED}),
     -- notes is selected so that the notifications are sent (an unread CTE column is never computed)
     held AS MATERIALIZED (SELECT EXISTS (SELECT 1 FROM t) AS term_held, (SELECT count(*) FROM note) + (SELECT count(*) FROM changed) AS notes)
     SELECT held.term_held, held.notes, a.* FROM held, (SELECT ${lean ? LEAN_ARRAYS : ASSIGNED_ARRAYS} FROM upd) a`,
    values: [
      term,
      numericArray(placements.map((p) => p.jobId)),
      numericArray(placements.map((p) => workers.index(p.workerId))),
      numericArray(placements.map((p) => p.cpuMillis)),
      numericArray(placements.map((p) => p.memoryMb)),
      workers.values,
      queues.values,
      numericArray(placements.map((p) => p.gpus)),
      numericArray(placements.map((p) => queues.index(p.queue))),
      announce,
    ],
  });
  // in plan order (the order the scheduler chose: priority, then age): each job goes to its place
  // in the plan, and the places of jobs not written are dropped (no sort, no lookups per comparison)
  const order = new Map(placements.map((p, i) => [p.jobId, i]));
  const written = contents ? leanAssignedOf(rows[0]!, placements, contents, order) : assignedOf(rows[0]!);
  const byPlace: (AssignedJob | undefined)[] = new Array(placements.length);
  for (const a of written) byPlace[order.get(a.id)!] = a;
  const assigned: AssignedJob[] = [];
  for (const a of byPlace) if (a !== undefined) assigned.push(a);
  return { termHeld: rows[0]!.term_held, assigned };
}

/** What a lean placement reads back (worker_id for the notifications; the plan says it too). */
const LEAN_COLUMNS = `j.id::text AS id, j.attempt, j.worker_id, j.priority,
  (extract(epoch FROM j.assigned_at) * 1000)::float8 AS assigned_ms`;

const LEAN_ARRAYS = `array_agg(id)::text AS ids, array_agg(attempt)::text AS attempts, array_agg(priority)::text AS priorities,
  array_agg(assigned_ms)::text AS assigned`;

interface LeanArrays {
  ids: string | null;
  attempts: string | null;
  priorities: string | null;
  assigned: string | null;
}

/**
 * A lean placement's jobs: what the statement decided, the worker, size and queue the plan gave
 * (the statement wrote only placements that matched them), and the rest from `contents` (aligned
 * with the plan).
 */
function leanAssignedOf(
  a: LeanArrays,
  placements: SizedPlacement[],
  contents: JobContent[],
  order: ReadonlyMap<string, number>,
): AssignedJob[] {
  const ids = numericElements(a.ids);
  const attempts = numericElements(a.attempts);
  const priorities = numericElements(a.priorities);
  const assigned = numericElements(a.assigned);
  return ids.map((id, i) => {
    const at = order.get(id)!;
    const p = placements[at]!;
    return assignmentOf(contents[at]!, p, id, Number(attempts[i]), p.workerId, Number(priorities[i]), Number(assigned[i]));
  });
}

/**
 * An assignment built from a job's content, its size and queue as placed, and what the placement
 * decided (field by field: an object spread here cost microseconds a job).
 */
export function assignmentOf(
  c: JobContent,
  size: { queue: string; cpuMillis: number; memoryMb: number; gpus: number },
  id: string,
  attempt: number,
  workerId: string,
  priority: number,
  assignedMs: number,
): AssignedJob {
  return {
    id, attempt, worker_id: workerId, name: c.name, queue: size.queue, tenant: c.tenant, priority,
    cpu_millis: size.cpuMillis, memory_mb: size.memoryMb, gpus: size.gpus, labels: c.labels, executor: c.executor,
    payload: c.payload, timeout_ms: c.timeout_ms, max_attempts: c.max_attempts, trace_context: c.trace_context,
    created_ms: c.created_ms, assigned_ms: assignedMs,
  };
}

/**
 * ASSIGNED_COLUMNS of a relation's rows as one row of aligned arrays (one aggregation over the
 * same rows): numbers as array text, the rest as JSON arrays. A placement of a thousand jobs is
 * then a handful of values to read rather than a thousand rows of eighteen fields.
 */
const ASSIGNED_ARRAYS = `array_agg(id)::text AS ids, array_agg(attempt)::text AS attempts, json_agg(worker_id) AS worker_ids,
  json_agg(name) AS names, json_agg(queue) AS queues, json_agg(tenant) AS tenants, array_agg(priority)::text AS priorities,
  array_agg(cpu_millis)::text AS cpus, array_agg(memory_mb)::text AS mems, array_agg(gpus)::text AS gpus, json_agg(labels) AS labels,
  json_agg(executor) AS executors, json_agg(payload) AS payloads, array_agg(timeout_ms)::text AS timeouts,
  array_agg(max_attempts)::text AS max_attempts, json_agg(trace_context) AS traces, array_agg(created_ms)::text AS created,
  array_agg(assigned_ms)::text AS assigned`;

interface AssignedArrays {
  /** array text; null when no row */
  ids: string | null;
  attempts: string | null;
  worker_ids: string[] | null;
  names: string[] | null;
  queues: string[] | null;
  tenants: string[] | null;
  priorities: string | null;
  cpus: string | null;
  mems: string | null;
  gpus: string | null;
  labels: Record<string, string>[] | null;
  executors: AssignedJob["executor"][] | null;
  payloads: AssignedJob["payload"][] | null;
  timeouts: string | null;
  max_attempts: string | null;
  traces: (Record<string, string> | null)[] | null;
  created: string | null;
  assigned: string | null;
}

function assignedOf(a: AssignedArrays): AssignedJob[] {
  const ids = numericElements(a.ids);
  if (ids.length === 0) return [];
  const attempts = numericElements(a.attempts);
  const priorities = numericElements(a.priorities);
  const cpus = numericElements(a.cpus);
  const mems = numericElements(a.mems);
  const gpus = numericElements(a.gpus);
  const timeouts = numericElements(a.timeouts);
  const maxAttempts = numericElements(a.max_attempts);
  const created = numericElements(a.created);
  const assigned = numericElements(a.assigned);
  return ids.map((id, i) => ({
    id,
    attempt: Number(attempts[i]),
    worker_id: a.worker_ids![i]!,
    name: a.names![i]!,
    queue: a.queues![i]!,
    tenant: a.tenants![i]!,
    priority: Number(priorities[i]),
    cpu_millis: Number(cpus[i]),
    memory_mb: Number(mems[i]),
    gpus: Number(gpus[i]),
    labels: a.labels![i]!,
    executor: a.executors![i]!,
    payload: a.payloads![i]!,
    timeout_ms: Number(timeouts[i]),
    max_attempts: Number(maxAttempts[i]),
    trace_context: a.traces![i] ?? null,
    created_ms: Number(created[i]),
    assigned_ms: Number(assigned[i]),
  }));
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
