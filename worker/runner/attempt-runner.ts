// Takes assignments from the coordinator and runs them: dedupes resends, enforces the slot count,
// picks the executor, and turns every start and end into a job event.
import type { AttemptRef, Resources } from "../../shared/gen/baton/v1/types.js";
import type { Assignment, Finished, JobEvent } from "../../shared/gen/baton/v1/worker.js";
import type { AttemptHooks, Executor, Outcome, RunningAttempt, StopReason } from "./executor.js";

export interface AttemptRunnerOptions {
  slots: number;
  executors: { exec: Executor; js: Executor };
  /** Where job events go (the reporter). */
  emit(event: JobEvent): void;
  /** Output of exec attempts (log shipping plugs in here). */
  onLog?(ref: AttemptRef, stream: "stdout" | "stderr", chunk: Buffer): void;
}

interface Entry {
  ref: AttemptRef;
  resources: Resources;
  attempt: RunningAttempt;
}

/** How many finished attempts are remembered to recognise a resent assignment. */
const REMEMBERED_FINISHED = 100_000;

export class AttemptRunner {
  private readonly running = new Map<string, Entry>();
  /** Keys of attempts that already ran here, oldest first (a Map keeps insertion order). */
  private readonly finished = new Map<string, true>();
  private draining: string | undefined;
  private idleWaiters: Array<() => void> = [];

  constructor(private readonly options: AttemptRunnerOptions) {}

  /** Starts each new assignment; a resend of one this worker has or had is ignored. */
  assign(assignments: readonly Assignment[]): void {
    for (const a of assignments) this.assignOne(a);
  }

  private assignOne(a: Assignment): void {
    const key = keyOf(a.jobId, a.attempt);
    if (this.running.has(key) || this.finished.has(key)) return;
    const executorName = a.spec?.executor?.$case;
    if (this.draining !== undefined) return this.reject(a, `worker is shutting down (${this.draining})`);
    if (!executorName) return this.reject(a, "assignment names no executor (exec or js): this worker cannot run it");
    if (this.running.size >= this.options.slots) {
      return this.reject(a, `no free slot: ${this.running.size} of ${this.options.slots} slots in use`);
    }
    const ref: AttemptRef = { jobId: a.jobId, attempt: a.attempt };
    const hooks: AttemptHooks = {
      onStarted: (pid, atMs) => this.options.emit({ jobId: a.jobId, attempt: a.attempt, atMs, kind: { $case: "started", started: { pid } } }),
    };
    const onLog = this.options.onLog;
    if (onLog) hooks.onLog = (stream, chunk) => onLog(ref, stream, chunk);
    const attempt = this.options.executors[executorName].start(a, hooks);
    const entry: Entry = { ref, resources: a.spec?.resources ?? { cpuMillis: 0, memoryMb: 0, gpus: 0 }, attempt };
    this.running.set(key, entry);
    attempt.done.then((outcome) => this.onDone(key, entry, outcome));
  }

  private onDone(key: string, entry: Entry, o: Outcome): void {
    this.running.delete(key);
    this.remember(key);
    const finished: Finished =
      o.exitCode === undefined
        ? { reason: o.reason, message: o.message, startedAtMs: o.startedAtMs, cpuSeconds: 0, peakMemoryBytes: 0 }
        : { exitCode: o.exitCode, reason: o.reason, message: o.message, startedAtMs: o.startedAtMs, cpuSeconds: 0, peakMemoryBytes: 0 };
    this.options.emit({ jobId: entry.ref.jobId, attempt: entry.ref.attempt, atMs: Date.now(), kind: { $case: "finished", finished } });
    if (this.running.size === 0 && this.idleWaiters.length > 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  private reject(a: Assignment, message: string): void {
    this.options.emit({ jobId: a.jobId, attempt: a.attempt, atMs: Date.now(), kind: { $case: "rejected", rejected: { message } } });
  }

  private remember(key: string): void {
    this.finished.set(key, true);
    if (this.finished.size > REMEMBERED_FINISHED) {
      const oldest = this.finished.keys().next().value;
      if (oldest !== undefined) this.finished.delete(oldest);
    }
  }

  /** Stops the named attempts; ones not running here are ignored. */
  cancel(refs: readonly AttemptRef[], reason: StopReason, message: string): void {
    for (const r of refs) this.running.get(keyOf(r.jobId, r.attempt))?.attempt.cancel(reason, message);
  }

  cancelAll(reason: StopReason, message: string): void {
    for (const e of this.running.values()) e.attempt.cancel(reason, message);
  }

  /** From now on every assignment is rejected with `why`. */
  drain(why: string): void {
    this.draining = why;
  }

  /** Settles when no attempt is running. */
  whenIdle(): Promise<void> {
    if (this.running.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  runningRefs(): AttemptRef[] {
    return Array.from(this.running.values(), (e) => ({ ...e.ref }));
  }

  get runningCount(): number {
    return this.running.size;
  }

  /** What the running attempts asked for, summed: the `used` of a heartbeat until usage is sampled. */
  requested(): Resources {
    const used: Resources = { cpuMillis: 0, memoryMb: 0, gpus: 0 };
    for (const e of this.running.values()) {
      used.cpuMillis += e.resources.cpuMillis;
      used.memoryMb += e.resources.memoryMb;
      used.gpus += e.resources.gpus;
    }
    return used;
  }
}

function keyOf(jobId: string, attempt: number): string {
  return `${jobId}\u0000${attempt}`;
}
