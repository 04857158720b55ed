-- Queues: a row only for a queue with settings; a queue without one is unlimited and active.
-- concurrency_cap bounds the jobs of the queue assigned or running across the whole cluster at
-- once (NULL = unlimited); the leader's placement statement re-checks it under the term fence.
CREATE TABLE queues (
  name             text PRIMARY KEY,
  concurrency_cap  int CHECK (concurrency_cap >= 0),
  paused           boolean NOT NULL DEFAULT false,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now()
);

-- The snapshot reads each capped queue's head on its own (so a full queue cannot crowd the
-- others out of the snapshot), and the cap re-check counts a queue's active jobs.
CREATE INDEX jobs_pending_queue_idx ON jobs (queue, priority DESC, id) WHERE state = 'pending';
CREATE INDEX jobs_active_queue_idx ON jobs (queue) WHERE state IN ('assigned', 'running');
