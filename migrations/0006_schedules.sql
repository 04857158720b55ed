-- Cron schedules: the leader's cron ticker fires each occurrence exactly once, even across failover.
-- next_run_at is the one occurrence not yet handled; the fenced transaction that fires occurrences
-- creates their jobs and moves next_run_at past them with `UPDATE … WHERE next_run_at = <what it
-- read>`, so a second ticker (or a deposed leader) that read the same value changes nothing.
CREATE TABLE schedules (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name            text NOT NULL UNIQUE,
  cron            text NOT NULL,
  time_zone       text NOT NULL DEFAULT 'UTC',
  -- the JobSpec (proto JSON) each occurrence submits; it may name a template
  job_spec        jsonb NOT NULL,
  missed_policy   text NOT NULL CHECK (missed_policy IN ('skip', 'catch_up')),
  catch_up_limit  int NOT NULL CHECK (catch_up_limit >= 1),
  paused          boolean NOT NULL DEFAULT false,
  next_run_at     timestamptz NOT NULL,
  last_run_at     timestamptz,
  created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX schedules_due_idx ON schedules (next_run_at) WHERE NOT paused;

-- No foreign key: a job made by a schedule keeps its schedule id after the schedule is deleted.
ALTER TABLE jobs ADD COLUMN schedule_id bigint;
ALTER TABLE jobs ADD COLUMN scheduled_at timestamptz;
-- The second guard of exactly-once: one job per occurrence of a schedule.
CREATE UNIQUE INDEX jobs_schedule_occurrence_idx ON jobs (schedule_id, scheduled_at) WHERE schedule_id IS NOT NULL;
