import type pg from "pg";
import type { SchedJob } from "../../shared/scheduling/types.js";
import type { Queryable } from "../db/pool.js";
import { ANNOUNCE_ASSIGNED, assignmentOf, fitCheck, type AssignedJob, type JobContent } from "./apply-plan.js";
import { Dictionary, numericArray, numericElements, PREPARED_MAX_ROWS } from "./batch-params.js";
import type { StoredRetry } from "../api/retry-policy.js";

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
  /** W3C carrier of the job's root span, when tracing is on */
  traceContext?: Record<string, string>;
  /** a repeat submit with this key within the window returns the first job instead */
  idempotencyKey?: string;
  idempotencyWindowS?: number;
  templateName?: string;
  templateVersion?: number;
  /** the retry policy, resolved (the cluster default filled in); absent: retry at once */
  retry?: StoredRetry;
  /** not placed before this time (epoch ms); 0 or absent: now */
  runAtMs?: number;
}

/** What an assignment of a new job carries for life (see JobContent), as the batch gave it. */
export function contentOf(r: NewJob, createdMs: number): JobContent {
  return {
    name: r.name, tenant: r.tenant, labels: r.labels, executor: r.executor, payload: r.payload as JobContent["payload"],
    timeout_ms: r.timeoutMs, max_attempts: r.maxAttempts, trace_context: r.traceContext ?? null, created_ms: createdMs,
  };
}

/** A new job as the scheduler sees it. */
export function schedJobOf(id: string, r: NewJob, createdAtMs: number): SchedJob {
  return {
    id, priority: r.priority, createdAtMs, cpuMillis: r.cpuMillis, memoryMb: r.memoryMb, gpus: r.gpus,
    labels: r.labels, queue: r.queue, tenant: r.tenant,
  };
}

export interface InsertedJob {
  id: string;
  /** false: the idempotency key was already claimed (or repeats in the batch); id is the first job's */
  created: boolean;
}

/**
 * The batch as the statement reads it, relation `x`: one row per job, `ord` its index in the
 * request. Jobs of a batch mostly share everything but their payload and name, so what they share
 * (queue, resources, labels, retry policy...) travels once per distinct "shape" ($1, JSON), and
 * each row carries only its shape's index ($6) and its own values: payloads and trace contexts as
 * one JSON array each ($3, $5; parsed once, read by index), names and idempotency keys as JSON
 * arrays of distinct values ($2, $4), run_at as a number. A per-row column whose every row holds
 * the default (the first name, payload; no trace, no key, run now) travels as an empty array and
 * reads as the default: a batch of like jobs sends one array of shape indexes. Several times
 * cheaper, on both sides, than a JSON record of twenty fields per job.
 *
 * The rows come out in request order with no sort: `unnest ... WITH ORDINALITY` is known to be
 * ordered by `ord`, and the shapes are a one-row relation on the inner side of a nested loop
 * (which keeps that order). A join with the shapes as a relation of their own was hashed and
 * then sorted back into request order: 20,000 rows of 200 bytes, a fifth of a batch's insert.
 * One shape (the usual batch) is read as is; several as one array per column, indexed by shape.
 */
function input(shapes: number): string {
  const field = (c: string) => (shapes === 1 ? `sh.${c}` : `sh.${c}[r.si]`);
  const shapeColumns = SHAPE_COLUMNS.map(([c]) => `${field(c)} AS ${c}`).join(", ");
  const shapeRelation = shapes === 1
    ? `(SELECT * FROM ${SHAPES} LIMIT 1) sh`
    : `(SELECT ${SHAPE_COLUMNS.map(([c]) => `array_agg(${c} ORDER BY si) AS ${c}`).join(", ")} FROM ${SHAPES}) sh`;
  return `(SELECT r.ord, $2::jsonb ->> (coalesce(($7::int[])[r.ord::int], 1) - 1) AS name,
    $3::jsonb -> (coalesce(($8::int[])[r.ord::int], 1) - 1) AS payload,
    $5::jsonb -> (nullif(coalesce(($9::int[])[r.ord::int], 0), 0) - 1) AS "traceContext",
    $4::jsonb ->> (nullif(coalesce(($10::int[])[r.ord::int], 0), 0) - 1) AS "idempotencyKey",
    coalesce(($11::float8[])[r.ord::int], 0) AS "runAtMs", ${shapeColumns}
  FROM unnest($6::int[]) WITH ORDINALITY AS r(si, ord) CROSS JOIN ${shapeRelation}) x`;
}

/** What the jobs of a shape share ($1), as `input` reads it. */
const SHAPE_COLUMNS: [string, string][] = [
  ["queue", "text"], ["tenant", "text"], ["priority", "int"], [`"cpuMillis"`, "int"], [`"memoryMb"`, "int"], ["gpus", "int"],
  ["labels", "jsonb"], ["executor", "text"], [`"timeoutMs"`, "int"], [`"maxAttempts"`, "int"], [`"idempotencyWindowS"`, "int"],
  [`"templateName"`, "text"], [`"templateVersion"`, "int"], ["retry", "jsonb"],
];
const SHAPES = `json_to_recordset($1::json) AS s(si int, ${SHAPE_COLUMNS.map(([c, t]) => `${c} ${t}`).join(", ")})`;

const COLUMNS = `name, queue, tenant, priority, cpu_millis, memory_mb, gpus, labels, executor, payload,
  timeout_ms, max_attempts, trace_context, idempotency_key, template_name, template_version, retry, run_at, delayed`;

/** The values of COLUMNS, from an `input` row. */
const VALUES = `name, queue, tenant, priority, "cpuMillis", "memoryMb", gpus, labels, executor, payload,
  "timeoutMs", "maxAttempts", "traceContext", "idempotencyKey", "templateName", "templateVersion",
  coalesce(retry, '{"backoff": "none"}'), CASE WHEN "runAtMs" > 0 THEN to_timestamp("runAtMs" / 1000.0) ELSE now() END,
  coalesce("runAtMs" > 0 AND to_timestamp("runAtMs" / 1000.0) > now(), false)`;

/** The parameters `input` reads, for a batch, and how many shapes it has. */
function encodeBatch(jobs: NewJob[]): { params: unknown[]; shapes: number } {
  const shapes: object[] = [];
  const shapeOf = new Map<string, number>();
  const retryText = new Map<StoredRetry, string>(); // a batch shares few policy objects (usually the default)
  const names = new Dictionary();
  const payloads = new Dictionary();
  const traces = new Dictionary();
  const keys = new Dictionary();
  const si: number[] = [];
  const ni: number[] = [];
  const pi: number[] = [];
  const ti: number[] = []; // 0: none
  const ki: number[] = []; // 0: none
  const runAt: number[] = [];
  let prev: NewJob | undefined;
  let shape = 0;
  for (const j of jobs) {
    if (!prev || !sameShape(prev, j)) shape = shapeIndex(j);
    prev = j;
    si.push(shape);
    ni.push(names.index(j.name));
    pi.push(payloads.index(JSON.stringify(j.payload)));
    ti.push(j.traceContext ? traces.index(JSON.stringify(j.traceContext)) : 0);
    ki.push(j.idempotencyKey ? keys.index(j.idempotencyKey) : 0);
    runAt.push(j.runAtMs ?? 0);
  }
  const params = [
    JSON.stringify(shapes),
    names.json(),
    `[${payloads.values.join(",")}]`,
    keys.json(),
    `[${traces.values.join(",")}]`,
    numericArray(si),
    unlessAll(ni, 1),
    unlessAll(pi, 1),
    unlessAll(ti, 0),
    unlessAll(ki, 0),
    unlessAll(runAt, 0),
  ];
  return { params, shapes: shapes.length };

  function shapeIndex(j: NewJob): number {
    let retry: string | undefined;
    if (j.retry) {
      retry = retryText.get(j.retry);
      if (retry === undefined) retryText.set(j.retry, (retry = JSON.stringify(j.retry)));
    }
    const labels = isEmpty(j.labels) ? "{}" : JSON.stringify(j.labels);
    const key = `${j.queue}\u0000${j.tenant}\u0000${j.priority}\u0000${j.cpuMillis}\u0000${j.memoryMb}\u0000${j.gpus}\u0000${labels}\u0000${j.executor}\u0000${j.timeoutMs}\u0000${j.maxAttempts}\u0000${j.idempotencyWindowS ?? ""}\u0000${j.templateName ?? ""}\u0000${j.templateVersion ?? ""}\u0000${retry ?? ""}`;
    let shape = shapeOf.get(key);
    if (shape === undefined) {
      shapeOf.set(key, (shape = shapes.length + 1));
      shapes.push({
        si: shape, queue: j.queue, tenant: j.tenant, priority: j.priority, cpuMillis: j.cpuMillis, memoryMb: j.memoryMb,
        gpus: j.gpus, labels: j.labels, executor: j.executor, timeoutMs: j.timeoutMs, maxAttempts: j.maxAttempts,
        idempotencyWindowS: j.idempotencyWindowS ?? null, templateName: j.templateName ?? null,
        templateVersion: j.templateVersion ?? null, retry: j.retry ?? null,
      });
    }
    return shape;
  }
}

/** A per-row column for `input`: empty when every row holds the default (`input` reads it back so). */
function unlessAll(values: readonly number[], fallback: number): string {
  return values.every((v) => v === fallback) ? "{}" : numericArray(values);
}

/** Whether two jobs share a shape, judged cheaply (a batch's jobs usually repeat their neighbour's). */
function sameShape(a: NewJob, b: NewJob): boolean {
  return a.queue === b.queue && a.tenant === b.tenant && a.priority === b.priority && a.cpuMillis === b.cpuMillis &&
    a.memoryMb === b.memoryMb && a.gpus === b.gpus && a.executor === b.executor && a.timeoutMs === b.timeoutMs &&
    a.maxAttempts === b.maxAttempts && a.idempotencyWindowS === b.idempotencyWindowS && a.templateName === b.templateName &&
    a.templateVersion === b.templateVersion && a.retry === b.retry &&
    (a.labels === b.labels || (isEmpty(a.labels) && isEmpty(b.labels)));
}

function isEmpty(o: object): boolean {
  for (const _ in o) return false;
  return true;
}

/**
 * Inserts a whole batch in one statement (all or nothing); returns ids in input order.
 *
 * Idempotency keys are claimed in the same statement: each distinct key of the batch is upserted
 * into idempotency_keys with a fresh job id; a live key keeps its job (the upsert always updates,
 * so RETURNING yields the row even when a concurrent transaction committed it after this
 * statement's snapshot), an expired one takes the new id. Only rows whose key this statement won
 * (and unkeyed rows) become jobs; the rest get the existing job's id. A batch without keys takes
 * the plain INSERT (about twice as fast on large batches).
 */
export async function insertJobsReporting(db: Queryable, jobs: NewJob[]): Promise<InsertedJob[]> {
  if (jobs.length === 0) return [];
  const { params, shapes } = encodeBatch(jobs);
  if (!jobs.some((j) => j.idempotencyKey)) {
    const query: pg.QueryArrayConfig = {
      name: jobs.length <= PREPARED_MAX_ROWS ? `baton_insert_jobs${shapes === 1 ? "" : "_shapes"}` : undefined,
      text: `INSERT INTO jobs (${COLUMNS}) SELECT ${VALUES} FROM ${input(shapes)} ORDER BY ord RETURNING id::text AS id`,
      values: params,
      rowMode: "array", // no object per row: a batch can be 50,000 rows
    };
    const { rows } = await (db as pg.Pool).query<[string]>(query);
    return rows.map((r) => ({ id: r[0], created: true }));
  }
  const { rows } = await db.query<{ id: string; created: boolean }>(
    `WITH input AS MATERIALIZED (SELECT * FROM ${input(shapes)}),
     -- ids drawn in request order, so a batch keeps its order (age breaks priority ties)
     numbered AS MATERIALIZED (
       SELECT ord, nextval((SELECT pg_get_serial_sequence('jobs', 'id'))::regclass) AS new_id FROM (SELECT ord FROM input ORDER BY ord) o
     ),
     keyed AS MATERIALIZED (
       SELECT DISTINCT ON (i."idempotencyKey") i."idempotencyKey" AS key, i.ord, i."idempotencyWindowS" AS window_s, n.new_id
       FROM input i JOIN numbered n USING (ord)
       WHERE i."idempotencyKey" IS NOT NULL ORDER BY i."idempotencyKey", i.ord
     ),
     claimed AS (
       INSERT INTO idempotency_keys AS ik (key, job_id, expires_at)
       SELECT key, new_id, now() + make_interval(secs => window_s) FROM keyed ORDER BY key
       ON CONFLICT (key) DO UPDATE SET
         job_id = CASE WHEN ik.expires_at <= now() THEN EXCLUDED.job_id ELSE ik.job_id END,
         expires_at = CASE WHEN ik.expires_at <= now() THEN EXCLUDED.expires_at ELSE ik.expires_at END
       RETURNING key, job_id
     ),
     ids AS MATERIALIZED (
       SELECT i.ord,
              CASE WHEN i."idempotencyKey" IS NULL THEN n.new_id ELSE c.job_id END AS id,
              (i."idempotencyKey" IS NULL OR (c.job_id = k.new_id AND k.ord = i.ord)) AS created
       FROM input i
       JOIN numbered n ON n.ord = i.ord
       LEFT JOIN claimed c ON c.key = i."idempotencyKey"
       LEFT JOIN keyed k ON k.key = i."idempotencyKey"
     ),
     inserted AS (
       INSERT INTO jobs (id, ${COLUMNS}) OVERRIDING SYSTEM VALUE
       SELECT d.id, ${VALUES}
       FROM input i JOIN ids d ON d.ord = i.ord
       WHERE d.created
       ORDER BY i.ord
       RETURNING id
     )
     SELECT id::text AS id, created FROM ids ORDER BY ord`,
    params,
  );
  return rows;
}

/** insertJobsReporting, ids only. */
export async function insertJobs(db: Queryable, jobs: NewJob[]): Promise<string[]> {
  return (await insertJobsReporting(db, jobs)).map((r) => r.id);
}

/** Where the leader wants a new job of the batch (its index in the batch) to run. */
export interface SubmitPlacement {
  ord: number;
  workerId: string;
}

export interface InsertedPlaced {
  /** in input order */
  inserted: InsertedJob[];
  /** the jobs inserted already placed, as the worker must be sent them */
  assigned: AssignedJob[];
  /** the batch rows of `assigned`, ascending */
  placedRows: number[];
  /** false: the term has moved on; everything was inserted pending */
  termHeld: boolean;
  /** the jobs' created_at (the statement's clock), epoch ms */
  createdMs: number;
}

/**
 * The leader's submit: inserts a batch (no idempotency keys) and places the jobs of `placements`
 * in the same statement — one round trip from submit to assignment. The placements go through the
 * same fenced re-check as any plan (fitCheck): what does not fit, or everything under a term that
 * moved on, is inserted pending for the next pass. `announce`: worker ids whose streams are held
 * elsewhere (they get a baton_assign notification).
 */
export async function insertJobsPlaced(
  db: Queryable,
  term: number,
  jobs: NewJob[],
  placements: SubmitPlacement[],
  announce: string[],
): Promise<InsertedPlaced> {
  if (jobs.length === 1 && placements.length === 1) return insertOnePlaced(db, term, jobs[0]!, placements[0]!.workerId, announce);
  const workers = new Dictionary();
  const queues = new Dictionary();
  const queueIndexes = numericArray(placements.map((p) => queues.index(jobs[p.ord]!.queue)));
  const batch = encodeBatch(jobs);
  const { rows } = await db.query<{
    term_held: boolean; notes: string; ids: string | null; created_ms: number | null;
    placed: string | null; placed_on: string[] | null; assigned_ms: string | null;
  }>({
    name: jobs.length <= PREPARED_MAX_ROWS ? `baton_insert_jobs_placed${batch.shapes === 1 ? "" : "_shapes"}` : undefined,
    // The placements carry their jobs' sizes and queues, so the batch itself is read only once.
    text: `WITH p AS (SELECT ord, ($12::text[])[wi] AS worker_id, cpu, mem, gpus, ($16::text[])[qi] AS queue
           FROM unnest($13::int[], $14::int[], $18::int[], $19::int[], $20::int[], $21::int[]) AS p(ord, wi, cpu, mem, gpus, qi)),
     ${fitCheck("$15", "$12", "$16")},
     ins AS (INSERT INTO jobs (${COLUMNS}, state, worker_id, attempt, assigned_at)
             SELECT ${VALUES}, CASE WHEN placed_on IS NULL THEN 'pending' ELSE 'assigned' END, placed_on,
                    CASE WHEN placed_on IS NULL THEN 0 ELSE 1 END, CASE WHEN placed_on IS NULL THEN NULL ELSE clock_timestamp() END
             FROM (SELECT x.*, ok.worker_id AS placed_on FROM ${input(batch.shapes)} LEFT JOIN ok ON ok.ord = x.ord) x ORDER BY x.ord
             RETURNING id, state, worker_id, created_at, assigned_at),
     upd AS (SELECT id, worker_id FROM ins WHERE state = 'assigned'),
     note AS (${ANNOUNCE_ASSIGNED("$17")}),
     -- No baton_job_changed: nobody can be watching a job before the statement that makes it commits.
     -- notes is selected so that the notifications are sent (an unread CTE column is never computed)
     held AS MATERIALIZED (SELECT EXISTS (SELECT 1 FROM t) AS term_held, (SELECT count(*) FROM note) AS notes),
     -- One row: the ids as one array (a 20,000-job batch is one value to read, not 20,000 rows), the
     -- statement's creation time (now(): the same for every row), and the placed jobs as arrays.
     placed AS (SELECT array_agg(id ORDER BY id)::text AS ids, json_agg(worker_id ORDER BY id) AS placed_on,
                       array_agg(round(extract(epoch FROM assigned_at) * 1000, 3) ORDER BY id)::text AS assigned_ms
                FROM ins WHERE state = 'assigned')
     SELECT held.term_held, held.notes, (SELECT array_agg(id ORDER BY id)::text FROM ins) AS ids,
            (extract(epoch FROM now()) * 1000)::float8 AS created_ms, placed.ids AS placed, placed.placed_on, placed.assigned_ms
     FROM held, placed`,
    values: [
      ...batch.params,
      workers.values,
      numericArray(placements.map((p) => p.ord + 1)), // input's ord counts from 1
      numericArray(placements.map((p) => workers.index(p.workerId))),
      term,
      queues.values,
      announce,
      numericArray(placements.map((p) => jobs[p.ord]!.cpuMillis)),
      numericArray(placements.map((p) => jobs[p.ord]!.memoryMb)),
      numericArray(placements.map((p) => jobs[p.ord]!.gpus)),
      queueIndexes,
    ],
  });
  // ids are drawn in batch order (the insert reads the batch ORDER BY ord), so id order is input order
  const r = rows[0]!;
  const ids = numericElements(r.ids);
  const placedOn = r.placed_on ?? [];
  const assignedMs = numericElements(r.assigned_ms);
  // The placed ids are in id order too: each one's row is found walking the batch once.
  const placedRows: number[] = [];
  const assigned: AssignedJob[] = [];
  let row = 0;
  for (const [k, id] of numericElements(r.placed).entries()) {
    while (ids[row] !== id) row++;
    placedRows.push(row);
    const j = jobs[row]!;
    assigned.push(assignmentOf(contentOf(j, r.created_ms!), j, id, 1, placedOn[k]!, j.priority, Number(assignedMs[k])));
  }
  return { inserted: ids.map((id) => ({ id, created: true })), assigned, placedRows, termHeld: r.term_held, createdMs: r.created_ms! };
}

/**
 * insertJobsPlaced for a lone job: the same fenced re-check (fitCheck over a plan of one), with the
 * job's values as plain parameters rather than the batch encoding, and one row back rather than
 * arrays. A lone submit is what a client waits on: this statement takes about 0.45 ms a round trip
 * (commit included) where the batch form took 0.58.
 */
async function insertOnePlaced(db: Queryable, term: number, job: NewJob, workerId: string, announce: string[]): Promise<InsertedPlaced> {
  const { rows } = await db.query<{ term_held: boolean; notes: string; id: string; state: string; created_ms: number; assigned_ms: number | null }>({
    name: "baton_insert_one_placed",
    text: `WITH p AS (SELECT 1 AS ord, $2::text AS worker_id, $5::int AS cpu, $6::int AS mem, $7::int AS gpus, $3::text AS queue),
     ${fitCheck("$1", "ARRAY[$2::text]", "ARRAY[$3::text]")},
     ins AS (INSERT INTO jobs (name, queue, tenant, priority, cpu_millis, memory_mb, gpus, labels, executor, payload, timeout_ms,
                               max_attempts, trace_context, template_name, template_version, retry, state, worker_id, attempt, assigned_at)
             SELECT $8, $3, $9, $10, $5, $6, $7, $11::jsonb, $12, $13::jsonb, $14, $15, $16::jsonb, $17, $18,
                    coalesce($19::jsonb, '{"backoff": "none"}'),
                    CASE WHEN ok.ord IS NULL THEN 'pending' ELSE 'assigned' END, ok.worker_id,
                    CASE WHEN ok.ord IS NULL THEN 0 ELSE 1 END, CASE WHEN ok.ord IS NULL THEN NULL ELSE clock_timestamp() END
             FROM (SELECT 1) one LEFT JOIN ok ON true
             RETURNING id, state, worker_id, created_at, assigned_at),
     upd AS (SELECT id, worker_id FROM ins WHERE state = 'assigned'),
     note AS (${ANNOUNCE_ASSIGNED("$4")}),
     -- notes is selected so that the notifications are sent (an unread CTE column is never computed)
     held AS MATERIALIZED (SELECT EXISTS (SELECT 1 FROM t) AS term_held, (SELECT count(*) FROM note) AS notes)
     SELECT held.term_held, held.notes, ins.id::text AS id, ins.state, (extract(epoch FROM ins.created_at) * 1000)::float8 AS created_ms,
            (extract(epoch FROM ins.assigned_at) * 1000)::float8 AS assigned_ms
     FROM held, ins`,
    values: [
      term, workerId, job.queue, announce, job.cpuMillis, job.memoryMb, job.gpus, job.name, job.tenant, job.priority,
      JSON.stringify(job.labels), job.executor, JSON.stringify(job.payload), job.timeoutMs, job.maxAttempts,
      job.traceContext ? JSON.stringify(job.traceContext) : null, job.templateName ?? null, job.templateVersion ?? null,
      job.retry ? JSON.stringify(job.retry) : null,
    ],
  });
  const r = rows[0]!;
  const placed = r.state === "assigned";
  return {
    inserted: [{ id: r.id, created: true }],
    assigned: placed ? [assignmentOf(contentOf(job, r.created_ms), job, r.id, 1, workerId, job.priority, r.assigned_ms!)] : [],
    placedRows: placed ? [0] : [],
    termHeld: r.term_held,
    createdMs: r.created_ms,
  };
}
