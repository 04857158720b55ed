-- Idempotency keys and job templates.
ALTER TABLE jobs
  ADD COLUMN idempotency_key text,
  ADD COLUMN template_name text,
  ADD COLUMN template_version int;

-- One row per key: the job it made and until when a repeat submit returns that job. Submits claim
-- keys with INSERT … ON CONFLICT inside the statement that inserts the jobs, so concurrent
-- duplicates (on any coordinator) serialise on this primary key and make exactly one job.
-- Deleting the job frees its key.
CREATE TABLE idempotency_keys (
  key         text PRIMARY KEY,
  job_id      bigint NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  expires_at  timestamptz NOT NULL
);
CREATE INDEX idempotency_keys_job_idx ON idempotency_keys (job_id);

-- A template's name and its latest version; the counter survives a delete so that a version
-- number, once recorded on a job, never names a different spec.
CREATE TABLE job_templates (
  name            text PRIMARY KEY,
  latest_version  int NOT NULL
);

CREATE TABLE job_template_versions (
  name        text NOT NULL REFERENCES job_templates (name) ON DELETE CASCADE,
  version     int NOT NULL CHECK (version >= 1),
  spec        jsonb NOT NULL, -- JobSpec in proto JSON, with {{param}} placeholders
  params      jsonb NOT NULL, -- [{"name", "default"?, "required", "description"}]
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (name, version)
);
