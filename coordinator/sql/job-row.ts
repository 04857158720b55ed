// The columns every read of a job selects, and the row type they produce.
import type { StoredRetry } from "../api/retry-policy.js";
export const JOB_COLUMNS = `j.id, j.name, j.queue, j.tenant, j.priority, j.cpu_millis, j.memory_mb, j.gpus, j.labels,
  j.executor, j.payload, j.timeout_ms, j.max_attempts, j.state, j.attempt, j.worker_id, j.exit_code, j.reason,
  j.message, j.unschedulable_reason, j.cancel_requested, j.created_at, j.assigned_at, j.started_at, j.finished_at,
  j.cpu_seconds, j.peak_memory_bytes, j.usage, j.log_bytes, j.log_truncated, j.run_at, j.retry,
  j.idempotency_key, j.template_name, j.template_version, j.schedule_id`;

export interface JobRow {
  id: string;
  name: string;
  queue: string;
  tenant: string;
  priority: number;
  cpu_millis: number;
  memory_mb: number;
  gpus: number;
  labels: Record<string, string>;
  executor: "exec" | "js";
  payload: ExecPayload | JsPayload;
  timeout_ms: number;
  max_attempts: number;
  state: string;
  attempt: number;
  worker_id: string | null;
  exit_code: number | null;
  reason: string;
  message: string;
  unschedulable_reason: string;
  cancel_requested: boolean;
  created_at: Date;
  assigned_at: Date | null;
  started_at: Date | null;
  finished_at: Date | null;
  cpu_seconds: number | null;
  peak_memory_bytes: string | null; // int8
  usage: UsageJson | null;
  log_bytes: string; // int8
  log_truncated: boolean;
  schedule_id: string | null; // int8: the cron schedule that made it
  run_at: Date;
  retry: StoredRetry | null;
  idempotency_key: string | null;
  template_name: string | null;
  template_version: number | null;
}

export interface UsageJson {
  cpu_millis: number;
  memory_bytes: number;
  cpu_seconds: number;
  peak_memory_bytes: number;
}

export interface ExecPayload {
  argv: string[];
  env?: Record<string, string>;
  cwd?: string;
}

export interface JsPayload {
  task: string;
  payload?: string;
}

/** A row of the `attempts` view. */
export interface AttemptRow {
  job_id: string;
  attempt: number;
  worker_id: string;
  assigned_at: Date | null;
  started_at: Date | null;
  finished_at: Date | null;
  exit_code: number | null;
  reason: string;
  message: string;
  cpu_seconds: number | null;
  peak_memory_bytes: string | null;
}
