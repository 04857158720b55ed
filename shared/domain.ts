// Domain names shared by coordinator, worker and client: job states as stored in Postgres and as
// carried on the wire, and the reasons an attempt can end with.
import { JobState } from "./gen/baton/v1/types.js";

export type JobStateName = "pending" | "assigned" | "running" | "succeeded" | "failed" | "cancelled";

export const JOB_STATE_NAMES: readonly JobStateName[] = [
  "pending",
  "assigned",
  "running",
  "succeeded",
  "failed",
  "cancelled",
];

export const TERMINAL_STATES: ReadonlySet<JobStateName> = new Set(["succeeded", "failed", "cancelled"]);

const toWire: Record<JobStateName, JobState> = {
  pending: JobState.JOB_STATE_PENDING,
  assigned: JobState.JOB_STATE_ASSIGNED,
  running: JobState.JOB_STATE_RUNNING,
  succeeded: JobState.JOB_STATE_SUCCEEDED,
  failed: JobState.JOB_STATE_FAILED,
  cancelled: JobState.JOB_STATE_CANCELLED,
};

export function jobStateToWire(name: JobStateName): JobState {
  return toWire[name];
}

export function jobStateFromWire(state: JobState): JobStateName {
  for (const name of JOB_STATE_NAMES) if (toWire[name] === state) return name;
  throw new Error(`unknown job state ${state}`);
}

export function isJobStateName(s: string): s is JobStateName {
  return (JOB_STATE_NAMES as readonly string[]).includes(s);
}

/** How an attempt ended. `exited` carries an exit code; the others explain why there is none. */
export type EndReason =
  | "exited"
  | "signaled"
  | "timed_out"
  | "oom_killed"
  | "cancelled"
  | "worker_lost"
  | "spawn_failed"
  | "task_failed"
  | "rejected";

/** Ends that say nothing about the job itself, so the job goes back to the queue. */
export const REQUEUE_REASONS: ReadonlySet<string> = new Set(["worker_lost", "rejected"]);

export interface ResourceAmounts {
  cpuMillis: number;
  memoryMb: number;
  gpus: number;
  slots: number;
}
