-- Pending jobs are found through jobs_pending_idx (not delayed) and jobs_delayed_idx. The
-- per-queue twin (jobs_pending_queue_idx) cost every submitted job a third index entry (about a
-- sixth of a 20,000-job insert) to serve only counts of one queue's pending jobs: those read the
-- two pending indexes instead, whose size is the queue's backlog, not the history.
DROP INDEX jobs_pending_queue_idx;
