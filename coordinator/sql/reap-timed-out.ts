import type { PoolClient } from "pg";
import { CHANNELS } from "./notify.js";

export interface TimedOutAttempt {
  id: string;
  attempt: number;
  workerId: string;
  state: string;
}

/**
 * Leader-only, inside a fenced transaction: attempts still running past their timeout (the job's,
 * else `defaultTimeoutMs`; 0 = none) plus `graceMs` end as timed_out. Their worker should have
 * killed them and reported it but has gone silent, or lost the report. Like a timeout the worker
 * reports: retried after the job's backoff while attempts remain (the attempt goes to history), else failed; cancelled when a
 * cancel was requested. The worker holding each attempt is told to stop it (NOTIFY baton_cancel,
 * delivered on commit by whichever coordinator holds its stream).
 */
export async function reapTimedOut(tx: PoolClient, defaultTimeoutMs: number, graceMs: number): Promise<TimedOutAttempt[]> {
  const { rows } = await tx.query<{ id: string; attempt: number; worker_id: string; state: string }>(
    `WITH late AS (
       SELECT j.id, j.attempt, j.worker_id, j.assigned_at, j.started_at, t.timeout_ms,
              CASE WHEN j.cancel_requested THEN 'cancelled'
                   WHEN j.attempt - j.attempt_base < j.max_attempts THEN 'pending'
                   ELSE 'failed' END AS next_state,
              baton_retry_delay_ms(j.retry, j.attempt - j.attempt_base) AS delay_ms
       FROM jobs j
       CROSS JOIN LATERAL (SELECT CASE WHEN j.timeout_ms > 0 THEN j.timeout_ms ELSE $1::int END AS timeout_ms) t
       WHERE j.state = 'running' AND t.timeout_ms > 0
         AND j.started_at < now() - make_interval(secs => (t.timeout_ms + $2::int) / 1000.0)
       FOR UPDATE OF j
     ),
     described AS (
       SELECT late.*, 'ran past its timeout of ' || trim_scale(timeout_ms / 1000.0)::text || ' s and worker ' ||
              coalesce(worker_id, '?') || ' did not report its end within ' || trim_scale($2::int / 1000.0)::text || ' s more'
              AS message
       FROM late
     ),
     hist AS (
       INSERT INTO job_attempts (job_id, attempt, worker_id, assigned_at, started_at, finished_at, reason, message)
       SELECT id, attempt, worker_id, coalesce(assigned_at, started_at), started_at, now(), 'timed_out', message
       FROM described WHERE next_state = 'pending'
       ON CONFLICT (job_id, attempt) DO NOTHING
     ),
     upd AS (
       UPDATE jobs j SET state = d.next_state, reason = 'timed_out', message = d.message, exit_code = NULL,
              usage = NULL, finished_at = CASE WHEN d.next_state = 'pending' THEN NULL ELSE now() END,
              run_at = CASE WHEN d.next_state = 'pending' THEN now() + make_interval(secs => d.delay_ms / 1000.0) ELSE j.run_at END,
              delayed = d.next_state = 'pending' AND d.delay_ms > 0
       FROM described d WHERE j.id = d.id
       RETURNING j.id, j.attempt, d.worker_id, j.state
     ),
     cancel AS (
       SELECT pg_notify('${CHANNELS.cancel}',
                        json_build_object('workerId', worker_id, 'jobId', id::text, 'attempt', attempt,
                                          'reason', 'timed out: the coordinator ended the attempt')::text)
       FROM upd WHERE worker_id IS NOT NULL
     )
     SELECT id, attempt, worker_id, state FROM upd WHERE (SELECT count(*) FROM cancel) >= 0`,
    [defaultTimeoutMs, graceMs],
  );
  return rows.map((r) => ({ id: r.id, attempt: r.attempt, workerId: r.worker_id, state: r.state }));
}
