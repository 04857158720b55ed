// The one interface every way of running a job sits behind (child process, in-process js handler).
import type { Assignment } from "../../shared/gen/baton/v1/worker.js";

/** Why the worker itself stops an attempt before it ends on its own. */
export type StopReason = "cancelled" | "timed_out" | "worker_lost";

/** How an attempt ended, as reported in `Finished`. */
export type OutcomeReason = "exited" | "signaled" | "spawn_failed" | "task_failed" | "oom_killed" | StopReason;

export interface Outcome {
  reason: OutcomeReason;
  /** Set only with reason "exited". */
  exitCode?: number;
  message: string;
  /** When the attempt began running (0 when it never did, e.g. spawn_failed). */
  startedAtMs: number;
  /** CPU time of the attempt's processes (exec only). */
  cpuSeconds?: number;
  /** Peak memory of the attempt's processes (exec only). */
  peakMemoryBytes?: number;
}

/** A usage sample of a running attempt. */
export interface UsageSample {
  /** Rate since the previous sample, millicores. */
  cpuMillis: number;
  memoryBytes: number;
  /** Cumulative. */
  cpuSeconds: number;
  peakMemoryBytes: number;
}

export type LogStream = "stdout" | "stderr";

export interface AttemptHooks {
  /** A child process was spawned (exec only; js attempts have no pid). */
  onStarted?(pid: number, atMs: number): void;
  /**
   * Output of the attempt, as it comes; the pipes are drained whether or not this is set. false:
   * too much of this attempt's output is not yet acknowledged upstream: stop reading it until
   * `whenLogRoom` calls back (the job blocks on its writes meanwhile).
   */
  onLog?(stream: LogStream, chunk: Buffer): boolean | void;
  /** Calls `resume` once there is room for more output (at once when there is). */
  whenLogRoom?(resume: () => void): void;
  /** A usage sample while the attempt runs (exec only). */
  onUsage?(sample: UsageSample): void;
}

/** What the worker grants an attempt beyond its spec. */
export interface AttemptGrant {
  /** GPU indices for CUDA_VISIBLE_DEVICES. */
  gpuIndices: readonly number[];
}

export interface RunningAttempt {
  readonly pid?: number;
  /** Stops the attempt; the first stop reason wins. Idempotent. */
  cancel(reason: StopReason, message?: string): void;
  /** Settles once the attempt is over and (exec) its whole process group is gone. Never rejects. */
  readonly done: Promise<Outcome>;
  /**
   * How the attempt ended, when it was over before `start` returned (a js handler that returned
   * at once, a spec that could not start): the runner ends it there and then, with no promise.
   */
  readonly outcome?: Outcome;
}

export interface Executor {
  start(assignment: Assignment, hooks: AttemptHooks, grant?: AttemptGrant): RunningAttempt;
}

/** An attempt that ended before it began (bad spec, unknown task, …). */
export function ended(outcome: Outcome): RunningAttempt {
  return { cancel: () => {}, done: Promise.resolve(outcome), outcome };
}
