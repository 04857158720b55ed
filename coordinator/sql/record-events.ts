import type { Queryable } from "../db/pool.js";
import { Dictionary, numericArray, numericElements, opaque, PREPARED_MAX_ROWS } from "./batch-params.js";
import { CHANNELS } from "./notify.js";

// Each writer announces the jobs it changed in the same statement (chunks fit NOTIFY's payload limit).
const ANNOUNCE = (cte: string) =>
  `SELECT pg_notify('${CHANNELS.jobChanged}', string_agg(id::text, ','))
   FROM (SELECT id, (row_number() OVER ()) / 350 AS chunk FROM ${cte}) c GROUP BY chunk`;

/**
 * Attempts that never count against max_attempts beyond this allowance: losing the worker or a
 * worker refusing the assignment says nothing about the job, but a job must not loop forever.
 */
export const REQUEUE_ALLOWANCE = 10;

export interface StartedEvent {
  jobId: string;
  attempt: number;
  atMs: number;
}

export interface FinishedEvent {
  jobId: string;
  attempt: number;
  workerId: string; // who reported it
  atMs: number;
  startedAtMs: number; // 0 when unknown
  exitCode: number | null;
  reason: string;
  message: string;
  /** CPU time and peak memory of the attempt's process tree; 0 or absent when unknown */
  cpuSeconds?: number;
  peakMemoryBytes?: number;
}

/** assigned → running, for the current attempt only; returns the jobs whose cancel was requested. */
export async function recordStarted(
  db: Queryable,
  events: StartedEvent[],
): Promise<{ changed: string[]; cancelRequested: { jobId: string; attempt: number }[] }> {
  if (events.length === 0) return { changed: [], cancelRequested: [] };
  const { rows } = await db.query<{ id: string; attempt: number; cancel_requested: boolean }>({
    name: events.length <= PREPARED_MAX_ROWS ? "baton_record_started" : undefined,
    text: `WITH e AS (SELECT * FROM unnest(${opaque("$1::bigint[]")}, ${opaque("$2::int[]")}, ${opaque("$3::float8[]")}) AS e(id, attempt, at_ms)),
     upd AS (UPDATE jobs j SET state = 'running', started_at = to_timestamp(e.at_ms / 1000.0), usage = NULL
             -- each job read by its primary key whatever the statistics say (see opaque)
             FROM e WHERE j.id = e.id AND j.attempt = e.attempt AND (j.state = 'assigned') IS TRUE
             RETURNING j.id, j.attempt, j.cancel_requested),
     note AS (${ANNOUNCE("upd")})
     SELECT id, attempt, cancel_requested FROM upd WHERE (SELECT count(*) FROM note) >= 0`,
    values: [numericArray(events.map((e) => e.jobId)), numericArray(events.map((e) => e.attempt)), numericArray(events.map((e) => e.atMs))],
  });
  return {
    changed: rows.map((r) => r.id),
    cancelRequested: rows.filter((r) => r.cancel_requested).map((r) => ({ jobId: r.id, attempt: r.attempt })),
  };
}

/**
 * Records how attempts ended. Only a report for the job's current attempt changes the job (the
 * attempt is the fencing token); every report is kept in the attempt history.
 * Success → succeeded; cancelled (or cancel requested) → cancelled; a refusal by the worker or a
 * worker shutting down → back to the queue at once; any other failure → retried after the job's
 * backoff while attempts remain and the exit code is not one of its final ones, else failed.
 */
export async function recordFinished(db: Queryable, events: FinishedEvent[]): Promise<{ id: string; state: string }[]> {
  if (events.length === 0) return [];
  // A worker that resends after a reconnect may report an attempt twice: the first report counts.
  const seen = new Set<string>();
  const unique = events.filter((e) => {
    const key = `${e.jobId}:${e.attempt}`;
    return seen.has(key) ? false : (seen.add(key), true);
  });
  // Most reports are plain successes of the current attempt: they take the short statement. What
  // it did not change (a stale attempt, a job that ended meanwhile) goes through the full one,
  // which decides it exactly as if the short one had not run.
  const successes = unique.filter(isPlainSuccess);
  if (successes.length === 0) return recordEnds(db, unique);
  const succeeded = await recordSuccesses(db, successes);
  if (succeeded.length === unique.length) return succeeded;
  const done = new Set(succeeded.map((r) => r.id));
  const rest = unique.filter((e) => !done.has(e.jobId) || !isPlainSuccess(e));
  return rest.length === 0 ? succeeded : succeeded.concat(await recordEnds(db, rest));
}

const isPlainSuccess = (e: FinishedEvent) => e.reason === "exited" && e.exitCode === 0 && e.message === "";

/**
 * Plain successes (exit 0, no message) of attempts that are still current: running or assigned →
 * succeeded, in one UPDATE by id. Returns the jobs it changed. A success ends the job even when
 * its cancel was requested meanwhile (as in recordEnds), and a current attempt leaves no history row.
 */
async function recordSuccesses(db: Queryable, events: FinishedEvent[]): Promise<{ id: string; state: string }[]> {
  const { rows } = await db.query<{ ids: string | null }>({
    // Prepared at any size (planning was ~0.7 ms of a 150-job write): its generic plan is the one
    // a custom plan finds, a nested loop reading each job by primary key.
    name: "baton_record_succeeded",
    text: `WITH e AS (SELECT * FROM unnest(${opaque("$1::bigint[]")}, ${opaque("$2::int[]")}, ${opaque("$3::float8[]")},
                                          ${opaque("$4::float8[]")}, ${opaque("$5::float8[]")}, ${opaque("$6::int8[]")})
                     AS e(id, attempt, at_ms, started_ms, cpu_seconds, peak_memory_bytes)),
     upd AS (UPDATE jobs j SET state = 'succeeded', exit_code = 0, reason = 'exited', message = '',
                    started_at = coalesce(j.started_at, CASE WHEN e.started_ms > 0 THEN to_timestamp(e.started_ms / 1000.0) END),
                    finished_at = to_timestamp(e.at_ms / 1000.0), cpu_seconds = nullif(e.cpu_seconds, 0),
                    peak_memory_bytes = nullif(e.peak_memory_bytes, 0), usage = NULL, delayed = false
             -- each job read by its primary key whatever the statistics say (see opaque)
             FROM e WHERE j.id = e.id AND j.attempt = e.attempt AND (j.state IN ('assigned', 'running')) IS TRUE
             RETURNING j.id),
     note AS (${ANNOUNCE("upd")})
     -- one row: the changed ids as one array (a flush can end thousands of jobs)
     SELECT array_agg(id)::text AS ids FROM upd WHERE (SELECT count(*) FROM note) >= 0`,
    values: [
      numericArray(events.map((e) => e.jobId)),
      numericArray(events.map((e) => e.attempt)),
      numericArray(events.map((e) => e.atMs)),
      numericArray(events.map((e) => e.startedAtMs)),
      numericArray(events.map((e) => e.cpuSeconds ?? 0)),
      numericArray(events.map((e) => Math.round(e.peakMemoryBytes ?? 0))),
    ],
  });
  return numericElements(rows[0]!.ids).map((id) => ({ id, state: "succeeded" }));
}

/** Any reports, each decided as recordFinished describes; `unique` holds one report per attempt. */
async function recordEnds(db: Queryable, unique: FinishedEvent[]): Promise<{ id: string; state: string }[]> {
  // Reasons, workers and messages repeat across a batch: each travels once, rows carry its index.
  const reasons = new Dictionary();
  const workers = new Dictionary();
  const messages = new Dictionary(); // mostly empty
  const messageIndexes = numericArray(unique.map((e) => messages.index(e.message)));
  const { rows } = await db.query<{ id: string; state: string }>({
    name: unique.length <= PREPARED_MAX_ROWS ? "baton_record_finished" : undefined,
    text: `WITH e AS (
       SELECT e.id, e.attempt, e.at_ms, e.started_ms, e.exit_code, ($6::text[])[e.ri] AS reason,
              $9::jsonb ->> (e.mi - 1) AS message, ($8::text[])[e.wi] AS worker_id, e.cpu_seconds, e.peak_memory_bytes
       FROM unnest($1::bigint[], $2::int[], $3::float8[], $4::float8[], $5::int[], $7::int[], $13::int[], $10::int[],
                   $11::float8[], $12::int8[])
         AS e(id, attempt, at_ms, started_ms, exit_code, ri, mi, wi, cpu_seconds, peak_memory_bytes)
     ),
     -- Each report next to its job, read once: the current attempt's reports end it; reports for an
     -- attempt that is no longer current only go to the history.
     m AS MATERIALIZED (
       SELECT e.*, j.attempt AS job_attempt, j.state AS job_state, j.cancel_requested, j.attempt - j.attempt_base AS tries,
              j.max_attempts, j.retry, j.assigned_at, j.started_at
       -- the jobs are read by id first (an index scan), so the planner never hashes the whole table
       FROM e JOIN (SELECT * FROM jobs WHERE id = ANY($1::bigint[])) j ON j.id = e.id
     ),
     outcome AS (
       SELECT m.*,
              CASE WHEN reason = 'exited' AND exit_code = 0 THEN 'succeeded'
                   WHEN reason = 'cancelled' OR cancel_requested THEN 'cancelled'
                   WHEN reason IN ('rejected', 'worker_lost') THEN
                     CASE WHEN tries < max_attempts + ${REQUEUE_ALLOWANCE} THEN 'requeue' ELSE 'failed' END
                   WHEN tries < max_attempts AND NOT baton_final_exit(retry, exit_code) THEN 'retry'
                   ELSE 'failed' END AS outcome
       FROM m WHERE attempt = job_attempt AND job_state IN ('assigned', 'running')
     ),
     cur AS (
       SELECT o.*, CASE WHEN o.outcome IN ('requeue', 'retry') THEN 'pending' ELSE o.outcome END AS state,
              -- a failure retried after its backoff (from the end of the attempt); a requeue is immediate
              CASE WHEN o.outcome = 'retry' THEN baton_retry_delay_ms(o.retry, o.tries) ELSE 0 END AS delay_ms
       FROM outcome o
     ),
     -- History: the attempts that are superseded now (the job goes back to the queue), and reports
     -- that arrive for an attempt that is no longer current. A latest attempt stays on the job row.
     hist AS (
       INSERT INTO job_attempts (job_id, attempt, worker_id, assigned_at, started_at, finished_at, exit_code, reason, message,
                                 cpu_seconds, peak_memory_bytes)
       SELECT id, attempt, worker_id,
              CASE WHEN attempt = job_attempt THEN coalesce(assigned_at, to_timestamp(at_ms / 1000.0))
                   ELSE to_timestamp(coalesce(nullif(started_ms, 0), at_ms) / 1000.0) END,
              CASE WHEN attempt = job_attempt THEN coalesce(started_at, CASE WHEN started_ms > 0 THEN to_timestamp(started_ms / 1000.0) END)
                   ELSE CASE WHEN started_ms > 0 THEN to_timestamp(started_ms / 1000.0) END END,
              to_timestamp(at_ms / 1000.0), exit_code, reason, message,
              nullif(cpu_seconds, 0), nullif(peak_memory_bytes, 0)
       FROM (SELECT id, attempt, job_attempt, worker_id, assigned_at, started_at, started_ms, at_ms, exit_code, reason, message,
                    cpu_seconds, peak_memory_bytes
             FROM cur WHERE state = 'pending'
             UNION ALL
             SELECT id, attempt, job_attempt, worker_id, NULL, NULL, started_ms, at_ms, exit_code, reason, message,
                    cpu_seconds, peak_memory_bytes
             FROM m WHERE attempt < job_attempt) h
       ON CONFLICT (job_id, attempt) DO NOTHING
     ),
     upd AS (
       UPDATE jobs j SET state = n.state, exit_code = n.exit_code, reason = n.reason, message = n.message,
              started_at = coalesce(j.started_at, CASE WHEN n.started_ms > 0 THEN to_timestamp(n.started_ms / 1000.0) END),
              finished_at = CASE WHEN n.state = 'pending' THEN NULL ELSE to_timestamp(n.at_ms / 1000.0) END,
              -- a superseded attempt's usage lives in its history row; the job row shows the latest attempt's
              cpu_seconds = CASE WHEN n.state = 'pending' THEN NULL ELSE nullif(n.cpu_seconds, 0) END,
              peak_memory_bytes = CASE WHEN n.state = 'pending' THEN NULL ELSE nullif(n.peak_memory_bytes, 0) END,
              usage = NULL,
              run_at = CASE WHEN n.state = 'pending'
                            THEN greatest(now(), to_timestamp(n.at_ms / 1000.0)) + make_interval(secs => n.delay_ms / 1000.0)
                            ELSE j.run_at END,
              delayed = n.state = 'pending' AND n.delay_ms > 0
       FROM cur n WHERE j.id = n.id
       RETURNING j.id, j.state
     ),
     note AS (${ANNOUNCE("upd")})
     SELECT id, state FROM upd WHERE (SELECT count(*) FROM note) >= 0`,
    values: [
      numericArray(unique.map((e) => e.jobId)),
      numericArray(unique.map((e) => e.attempt)),
      numericArray(unique.map((e) => e.atMs)),
      numericArray(unique.map((e) => e.startedAtMs)),
      numericArray(unique.map((e) => e.exitCode)),
      reasons.values,
      numericArray(unique.map((e) => reasons.index(e.reason))),
      workers.values,
      messages.json(),
      numericArray(unique.map((e) => workers.index(e.workerId))),
      numericArray(unique.map((e) => e.cpuSeconds ?? 0)),
      numericArray(unique.map((e) => Math.round(e.peakMemoryBytes ?? 0))),
      messageIndexes,
    ],
  });
  return rows;
}
