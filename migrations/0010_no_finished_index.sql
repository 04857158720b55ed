-- Finished jobs are no longer indexed by when they finished. jobs_finished_idx took an entry for
-- every job that ended (a tenth of the statement that records a thousand ends, and an index as
-- large as the whole history) to serve only the retention sweep, which now walks the primary key
-- instead: a job that finished before the cutoff was created before it, and ids are drawn in
-- creation order, so the sweep reads only the ids of jobs created before the cutoff
-- (see coordinator/sql/delete-expired-jobs.ts).
DROP INDEX jobs_finished_idx;
