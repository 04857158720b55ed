-- The leader term: bumped by each newly elected leader; every leader-only write checks it.
CREATE TABLE baton_term (
  id          int PRIMARY KEY CHECK (id = 1),
  term        bigint NOT NULL,
  leader_id   text,
  elected_at  timestamptz
);
INSERT INTO baton_term (id, term) VALUES (1, 0);

CREATE TABLE coordinators (
  id            text PRIMARY KEY,
  grpc_address  text NOT NULL,
  http_address  text NOT NULL DEFAULT '',
  started_at    timestamptz NOT NULL DEFAULT now(),
  last_seen     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE workers (
  id                text PRIMARY KEY,
  name              text NOT NULL,
  cpu_millis        int NOT NULL CHECK (cpu_millis >= 0),
  memory_mb         int NOT NULL CHECK (memory_mb >= 0),
  gpus              int NOT NULL DEFAULT 0 CHECK (gpus >= 0),
  slots             int NOT NULL CHECK (slots >= 0),
  labels            jsonb NOT NULL DEFAULT '{}',
  limits_mechanism  text NOT NULL DEFAULT 'none',
  coordinator_id    text,
  state             text NOT NULL DEFAULT 'alive' CHECK (state IN ('alive', 'lost')),
  registered_at     timestamptz NOT NULL DEFAULT now(),
  last_heartbeat    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE jobs (
  id                    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name                  text NOT NULL DEFAULT '',
  queue                 text NOT NULL DEFAULT 'default',
  tenant                text NOT NULL DEFAULT '',
  priority              int NOT NULL DEFAULT 0,
  cpu_millis            int NOT NULL DEFAULT 0 CHECK (cpu_millis >= 0),
  memory_mb             int NOT NULL DEFAULT 0 CHECK (memory_mb >= 0),
  gpus                  int NOT NULL DEFAULT 0 CHECK (gpus >= 0),
  labels                jsonb NOT NULL DEFAULT '{}',
  executor              text NOT NULL CHECK (executor IN ('exec', 'js')),
  -- exec: {"argv": [...], "env": {...}, "cwd": "..."}; js: {"task": "...", "payload": "<json text>"}
  payload               jsonb NOT NULL,
  timeout_ms            int NOT NULL DEFAULT 0 CHECK (timeout_ms >= 0),
  max_attempts          int NOT NULL DEFAULT 1 CHECK (max_attempts >= 1),
  state                 text NOT NULL DEFAULT 'pending'
                          CHECK (state IN ('pending', 'assigned', 'running', 'succeeded', 'failed', 'cancelled')),
  attempt               int NOT NULL DEFAULT 0,
  worker_id             text,
  exit_code             int,
  reason                text NOT NULL DEFAULT '',
  message               text NOT NULL DEFAULT '',
  unschedulable_reason  text NOT NULL DEFAULT '',
  cancel_requested      boolean NOT NULL DEFAULT false,
  created_at            timestamptz NOT NULL DEFAULT now(),
  assigned_at           timestamptz,
  started_at            timestamptz,
  finished_at           timestamptz
);

-- What the scheduler reads: runnable jobs in priority order, then age.
CREATE INDEX jobs_pending_idx ON jobs (priority DESC, id) WHERE state = 'pending';
-- What each worker holds: allocation and the reaper's scans.
CREATE INDEX jobs_active_worker_idx ON jobs (worker_id) WHERE state IN ('assigned', 'running');

-- Attempts that were superseded (re-queued, lost, reported late) are kept here; a job's latest
-- attempt lives on its jobs row, so the common path (one attempt, succeeded) writes no history row.
-- The `attempts` view below is the whole history.
CREATE TABLE job_attempts (
  job_id       bigint NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
  attempt      int NOT NULL,
  worker_id    text NOT NULL,
  assigned_at  timestamptz NOT NULL DEFAULT now(),
  started_at   timestamptz,
  finished_at  timestamptz,
  exit_code    int,
  reason       text NOT NULL DEFAULT '',
  message      text NOT NULL DEFAULT '',
  PRIMARY KEY (job_id, attempt)
);

-- Every attempt of every job: superseded ones from job_attempts, the latest from the jobs row.
CREATE VIEW attempts AS
  SELECT job_id, attempt, worker_id, assigned_at, started_at, finished_at, exit_code, reason, message
  FROM job_attempts
  UNION ALL
  SELECT j.id, j.attempt, j.worker_id, j.assigned_at, j.started_at, j.finished_at, j.exit_code, j.reason, j.message
  FROM jobs j
  WHERE j.attempt > 0 AND j.worker_id IS NOT NULL AND j.state <> 'pending'
    AND NOT EXISTS (SELECT 1 FROM job_attempts a WHERE a.job_id = j.id AND a.attempt = j.attempt);
