-- Retries with backoff, delayed jobs, the dead-letter view, retention of finished jobs.

-- run_at: not placed before this time (also the next retry's time). `delayed` is true while a
-- pending job waits for its run_at; the leader promotes due jobs (delayed → false) before each pass,
-- so the queue head stays a plain index scan however many jobs wait for later.
-- retry: the job's policy, resolved at submit (the cluster default filled in):
--   {"backoff": "exponential"|"fixed"|"none", "initial_ms", "max_ms" (0: no cap), "multiplier",
--    "jitter" (0..1), "final_exit_codes": [int]}
-- attempt_base: attempts used before the last RetryJobs; a job has tried (attempt - attempt_base)
-- times of its max_attempts (the attempt number itself never goes back: it is the fencing token).
ALTER TABLE jobs
  ADD COLUMN run_at timestamptz NOT NULL DEFAULT now(),
  ADD COLUMN delayed boolean NOT NULL DEFAULT false,
  ADD COLUMN retry jsonb NOT NULL DEFAULT '{"backoff": "none"}',
  ADD COLUMN attempt_base int NOT NULL DEFAULT 0;

DROP INDEX jobs_pending_idx;
CREATE INDEX jobs_pending_idx ON jobs (priority DESC, id) WHERE state = 'pending' AND NOT delayed;
CREATE INDEX jobs_delayed_idx ON jobs (run_at) WHERE state = 'pending' AND delayed;
-- Retention and the dead-letter view read finished jobs by age.
CREATE INDEX jobs_finished_idx ON jobs (finished_at) WHERE state IN ('succeeded', 'failed', 'cancelled');

-- The delay before retrying after attempt `tries` (1 = after the first attempt) under `policy`, in
-- ms. Volatile: jitter scales it by a random factor in [1 - jitter, 1].
CREATE FUNCTION baton_retry_delay_ms(policy jsonb, tries int) RETURNS double precision
LANGUAGE sql VOLATILE AS $$
  SELECT CASE policy->>'backoff'
           WHEN 'exponential' THEN
             least(coalesce(nullif((policy->>'max_ms')::float8, 0), 'infinity'::float8),
                   coalesce((policy->>'initial_ms')::float8, 0)
                     * power(coalesce(nullif((policy->>'multiplier')::float8, 0), 2), greatest(tries - 1, 0)))
           WHEN 'fixed' THEN coalesce((policy->>'initial_ms')::float8, 0)
           ELSE 0
         END * (1 - least(1, greatest(0, coalesce((policy->>'jitter')::float8, 0))) * random())
$$;

-- Whether an attempt that exited with `exit_code` must not be retried under `policy`.
CREATE FUNCTION baton_final_exit(policy jsonb, exit_code int) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
  SELECT exit_code IS NOT NULL AND coalesce(policy->'final_exit_codes' @> to_jsonb(exit_code), false)
$$;
