// Leader-only: deletes job output older than the retention period (log_retention_hours).
import type pg from "pg";
import { deleteExpiredLogs } from "../sql/delete-expired-logs.js";
import { RetentionLoop, type RetentionOptions } from "./retention-loop.js";

export type LogRetentionOptions = RetentionOptions;

export class LogRetention extends RetentionLoop {
  constructor(pool: pg.Pool, opts: LogRetentionOptions) {
    super(pool, opts, { noun: "log chunk(s)", deleteBatch: deleteExpiredLogs });
  }
}
