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

-- Every ended attempt is kept as history (the current one lives on the jobs row until it ends),
-- including reports that arrived for a stale attempt.
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
