import { isJobStateName, jobStateToWire } from "../../shared/domain.js";
import type { Attempt, Job } from "../../shared/gen/baton/v1/types.js";
import { JobState } from "../../shared/gen/baton/v1/types.js";
import { toJobSpec } from "../dispatch/worker-stream.js";
import type { AttemptRow, JobRow } from "../sql/job-row.js";

const ms = (d: Date | null) => (d ? d.getTime() : 0);

export function toJob(row: JobRow, attempts: AttemptRow[] = []): Job {
  return {
    id: row.id,
    spec: toJobSpec(row),
    state: isJobStateName(row.state) ? jobStateToWire(row.state) : JobState.JOB_STATE_UNSPECIFIED,
    attempt: row.attempt,
    workerId: row.worker_id ?? "",
    exitCode: row.exit_code ?? undefined,
    reason: row.reason,
    message: row.message,
    unschedulableReason: row.unschedulable_reason,
    createdAtMs: ms(row.created_at),
    assignedAtMs: ms(row.assigned_at),
    startedAtMs: ms(row.started_at),
    finishedAtMs: ms(row.finished_at),
    attempts: attempts.map(toAttempt),
    cancelRequested: row.cancel_requested,
    cpuSeconds: row.cpu_seconds ?? 0,
    peakMemoryBytes: Number(row.peak_memory_bytes ?? 0),
    usage: row.usage
      ? {
          cpuMillis: row.usage.cpu_millis,
          memoryBytes: row.usage.memory_bytes,
          cpuSeconds: row.usage.cpu_seconds,
          peakMemoryBytes: row.usage.peak_memory_bytes,
        }
      : undefined,
    logBytes: Number(row.log_bytes),
    logTruncated: row.log_truncated,
    runAtMs: ms(row.run_at),
    idempotencyKey: row.idempotency_key ?? "",
    templateName: row.template_name ?? "",
    templateVersion: row.template_version ?? 0,
    scheduleId: row.schedule_id ?? "",
  };
}

function toAttempt(a: AttemptRow): Attempt {
  return {
    attempt: a.attempt,
    workerId: a.worker_id,
    assignedAtMs: ms(a.assigned_at),
    startedAtMs: ms(a.started_at),
    finishedAtMs: ms(a.finished_at),
    exitCode: a.exit_code ?? undefined,
    reason: a.reason,
    message: a.message,
    cpuSeconds: a.cpu_seconds ?? 0,
    peakMemoryBytes: Number(a.peak_memory_bytes ?? 0),
  };
}

