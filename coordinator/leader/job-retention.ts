// Leader-only: deletes finished jobs (succeeded, failed, cancelled) older than the retention period,
// with their attempt history and output.
import type pg from "pg";
import { deleteExpiredJobs } from "../sql/delete-expired-jobs.js";
import { RetentionLoop, type RetentionOptions } from "./retention-loop.js";

export type JobRetentionOptions = RetentionOptions;

export class JobRetention extends RetentionLoop {
  constructor(pool: pg.Pool, opts: JobRetentionOptions) {
    super(pool, opts, { noun: "finished job(s)", deleteBatch: deleteExpiredJobs });
  }
}
