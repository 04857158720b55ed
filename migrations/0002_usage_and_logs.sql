-- Usage of each attempt's process tree, real usage of workers, and jobs' output.
ALTER TABLE jobs
  ADD COLUMN cpu_seconds double precision,
  ADD COLUMN peak_memory_bytes bigint,
  ADD COLUMN usage jsonb, -- latest sample while running: {"cpu_millis", "memory_bytes", "cpu_seconds", "peak_memory_bytes"}
  ADD COLUMN log_bytes bigint NOT NULL DEFAULT 0,
  ADD COLUMN log_truncated boolean NOT NULL DEFAULT false,
  ADD COLUMN trace_context jsonb; -- W3C trace context of the submission, for the job's trace

ALTER TABLE job_attempts
  ADD COLUMN cpu_seconds double precision,
  ADD COLUMN peak_memory_bytes bigint;

ALTER TABLE workers
  ADD COLUMN used_cpu_millis int NOT NULL DEFAULT 0,
  ADD COLUMN used_memory_mb int NOT NULL DEFAULT 0,
  ADD COLUMN gpu_ids text[] NOT NULL DEFAULT '{}';

-- Output chunks of each attempt, in order (seq from 1 per attempt), kept up to a per-job cap and
-- for a retention period.
CREATE TABLE job_logs (
  job_id   bigint NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  attempt  int NOT NULL,
  seq      bigint NOT NULL,
  stream   smallint NOT NULL CHECK (stream IN (1, 2)), -- 1 stdout, 2 stderr
  at       timestamptz NOT NULL,
  data     bytea NOT NULL,
  PRIMARY KEY (job_id, attempt, seq)
);
CREATE INDEX job_logs_at_idx ON job_logs (at);

DROP VIEW attempts;
CREATE VIEW attempts AS
  SELECT job_id, attempt, worker_id, assigned_at, started_at, finished_at, exit_code, reason, message,
         cpu_seconds, peak_memory_bytes
  FROM job_attempts
  UNION ALL
  SELECT j.id, j.attempt, j.worker_id, j.assigned_at, j.started_at, j.finished_at, j.exit_code, j.reason, j.message,
         j.cpu_seconds, j.peak_memory_bytes
  FROM jobs j
  WHERE j.attempt > 0 AND j.worker_id IS NOT NULL AND j.state <> 'pending'
    AND NOT EXISTS (SELECT 1 FROM job_attempts a WHERE a.job_id = j.id AND a.attempt = j.attempt);
