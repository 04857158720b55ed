-- Jobs assigned or running are found through one index, by worker. The per-queue twin
-- (jobs_active_queue_idx) cost every placement a third index entry (about 1/8 of a placement's
-- buffer reads and 1/5 of its WAL records) to serve only counts of a queue's active jobs: those
-- read the active jobs through jobs_active_worker_idx instead, and the active set is bounded by
-- the cluster's slots.
DROP INDEX jobs_active_queue_idx;
