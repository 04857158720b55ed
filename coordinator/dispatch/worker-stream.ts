// One worker's Connect stream as held by this coordinator: what it was sent, and how to send more.
import type { ServerDuplexStream } from "@grpc/grpc-js";
import type { AttemptRef, JobSpec } from "../../shared/gen/baton/v1/types.js";
import type { Assignment, CoordinatorMessage, JobEvent, WorkerMessage } from "../../shared/gen/baton/v1/worker.js";
import { traceDispatch } from "../../shared/tracing/job-spans.js";
import type { AssignedJob } from "../sql/apply-plan.js";
import type { ExecPayload, JsPayload } from "../sql/job-row.js";
import { retryToWire, type StoredRetry } from "../api/retry-policy.js";

const SENT_ROTATION_MS = 120_000;

export class WorkerStream {
  /** Heard from since the last liveness write. */
  heard = true;
  // Assignments sent on this stream whose attempt has not ended here yet, so that a resend (after
  // a notification raced with a direct send) is not sent twice. An attempt's end takes it out
  // (settled): the set holds what is in flight, not every assignment of the last minutes (at
  // 20,000 jobs/s that was millions of keys). Two generations, rotated, for attempts whose end
  // never comes on this stream.
  private sent = new Set<string>();
  private sentOld = new Set<string>();
  private rotatedAt = Date.now();

  constructor(
    readonly workerId: string,
    readonly name: string,
    private readonly call: ServerDuplexStream<WorkerMessage, CoordinatorMessage>,
    private readonly defaultTimeoutMs: () => number,
  ) {}

  get open(): boolean {
    return !this.call.destroyed && this.call.writable;
  }

  send(msg: CoordinatorMessage): void {
    if (this.open) this.call.write(msg);
  }

  sendAssignments(jobs: readonly AssignedJob[]): number {
    this.rotate();
    const assignments: Assignment[] = [];
    for (const job of jobs) {
      const key = `${job.id}:${job.attempt}`;
      if (this.sent.has(key) || this.sentOld.has(key)) continue;
      this.sent.add(key);
      assignments.push({
        jobId: job.id,
        attempt: job.attempt,
        spec: toJobSpec(job),
        timeoutMs: job.timeout_ms > 0 ? job.timeout_ms : this.defaultTimeoutMs(),
        traceContext: traceDispatch({
          id: job.id,
          attempt: job.attempt,
          workerId: this.workerId,
          carrier: job.trace_context,
          queuedSinceMs: job.attempt === 1 ? job.created_ms : null,
          assignedAtMs: job.assigned_ms,
        }),
      });
    }
    if (assignments.length > 0) this.send({ msg: { $case: "assignments", assignments: { assignments } } });
    return assignments.length;
  }

  /** Attempts whose end the worker reported (finished or rejected): no longer in flight here. */
  settled(events: readonly JobEvent[]): void {
    for (const ev of events) {
      const kind = ev.kind?.$case;
      if (kind !== "finished" && kind !== "rejected") continue;
      const key = `${ev.jobId}:${ev.attempt}`;
      if (!this.sent.delete(key)) this.sentOld.delete(key);
    }
  }

  /** Assignments sent on this stream whose end has not come back on it. */
  get inFlight(): number {
    return this.sent.size + this.sentOld.size;
  }

  sendCancel(attempts: AttemptRef[], reason: string): void {
    if (attempts.length > 0) this.send({ msg: { $case: "cancel", cancel: { attempts, reason } } });
  }

  close(): void {
    this.call.end();
  }

  private rotate(): void {
    const now = Date.now();
    if (now - this.rotatedAt < SENT_ROTATION_MS) return;
    this.sentOld = this.sent;
    this.sent = new Set();
    this.rotatedAt = now;
  }
}

export function toJobSpec(
  job: Pick<AssignedJob, "name" | "queue" | "tenant" | "priority" | "cpu_millis" | "memory_mb" | "gpus" | "labels" | "executor" | "payload" | "timeout_ms" | "max_attempts">
    & { retry?: StoredRetry | null; run_at?: Date | string | null },
): JobSpec {
  return {
    name: job.name,
    queue: job.queue,
    tenant: job.tenant,
    priority: job.priority,
    resources: { cpuMillis: job.cpu_millis, memoryMb: job.memory_mb, gpus: job.gpus },
    labels: job.labels,
    executor:
      job.executor === "exec"
        ? {
            $case: "exec",
            exec: {
              argv: (job.payload as ExecPayload).argv,
              env: (job.payload as ExecPayload).env ?? {},
              cwd: (job.payload as ExecPayload).cwd ?? "",
            },
          }
        : {
            $case: "js",
            js: { task: (job.payload as JsPayload).task, payloadJson: (job.payload as JsPayload).payload ?? "" },
          },
    timeoutMs: job.timeout_ms,
    maxAttempts: job.max_attempts,
    retry: retryToWire(job.retry),
    runAtMs: job.run_at ? new Date(job.run_at).getTime() : 0,
    idempotencyKey: "",
    idempotencyWindowS: 0,
    template: undefined,
  };
}
