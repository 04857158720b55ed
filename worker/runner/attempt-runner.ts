// Takes assignments from the coordinator and runs them: dedupes resends, enforces the slot count
// and the GPUs, picks the executor, and turns every start, log chunk, usage sample and end into a
// job event.
import { traceRun } from "../../shared/tracing/job-spans.js";
import { LogStream as ProtoLogStream, type AttemptRef, type Resources } from "../../shared/gen/baton/v1/types.js";
import type { Assignment, Finished, JobEvent } from "../../shared/gen/baton/v1/worker.js";
import type { GpuPool } from "../gpus.js";
import type { LogBudget } from "../reporter.js";
import type { AttemptGrant, AttemptHooks, Executor, LogStream, Outcome, RunningAttempt, StopReason, UsageSample } from "./executor.js";
import { LogChunker } from "./log-chunker.js";

export interface AttemptRunnerOptions {
  slots: number;
  executors: { exec: Executor; js: Executor };
  /** Where job events go (the reporter). */
  emit(event: JobEvent): void;
  /** Flow control of output (the reporter); without it output is never held back. */
  logBudget?: LogBudget;
  /** The GPUs jobs may ask for; without it a job asking for one is rejected. */
  gpus?: GpuPool;
  /** This worker's id, for the run spans of traced jobs. */
  workerId?: string;
}

interface Entry {
  ref: AttemptRef;
  resources: Resources;
  attempt: RunningAttempt;
  /** Created at the first output. */
  chunker?: LogChunker;
  usage?: UsageSample;
  gpuIndices: number[];
}

/** How many finished attempts are remembered to recognise a resent assignment. */
const REMEMBERED_FINISHED = 100_000;
const MIB = 1024 * 1024;

const PROTO_STREAM: Record<LogStream, ProtoLogStream> = {
  stdout: ProtoLogStream.LOG_STREAM_STDOUT,
  stderr: ProtoLogStream.LOG_STREAM_STDERR,
};

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
    const resources = a.spec?.resources ?? { cpuMillis: 0, memoryMb: 0, gpus: 0 };
    let gpuIndices: number[] = [];
    if (resources.gpus > 0) {
      const pool = this.options.gpus;
      const got = pool?.take(resources.gpus);
      if (!got) {
        return this.reject(a, `needs ${resources.gpus} GPU${resources.gpus > 1 ? "s" : ""}, ${pool ? `${pool.freeCount} of ${pool.size}` : "none of 0"} free on this worker`);
      }
      gpuIndices = got;
    }

    const ref: AttemptRef = { jobId: a.jobId, attempt: a.attempt };
    const entry = { ref, resources, gpuIndices } as Entry;
    const hooks = new Hooks(a, entry, this.options.emit, this.options.logBudget);
    // A traced job runs under a span of its own here; its process gets that span's context.
    const run = a.traceContext?.traceparent
      ? traceRun({ jobId: a.jobId, attempt: a.attempt, traceContext: a.traceContext, workerId: this.options.workerId ?? "" })
      : undefined;
    const grant = gpuIndices.length > 0 ? { gpuIndices } : NO_GRANT;
    entry.attempt = this.options.executors[executorName].start(run ? { ...a, traceContext: run.carrier } : a, hooks, grant);
    this.running.set(key, entry);
    // Over already (a js handler that returned at once): ended here, with no promise in between.
    const over = entry.attempt.outcome;
    if (over) {
      run?.end(over);
      return this.onDone(key, entry, over);
    }
    entry.attempt.done.then((outcome) => {
      run?.end(outcome);
      this.onDone(key, entry, outcome);
    });
  }

  private onDone(key: string, entry: Entry, o: Outcome): void {
    this.running.delete(key);
    this.remember(key);
    // Every chunk of output goes before `finished`.
    entry.chunker?.close();
    if (entry.gpuIndices.length > 0) this.options.gpus?.give(entry.gpuIndices);
    const finished: Finished = {
      reason: o.reason,
      message: o.message,
      startedAtMs: o.startedAtMs,
      cpuSeconds: o.cpuSeconds ?? 0,
      peakMemoryBytes: o.peakMemoryBytes ?? 0,
    };
    if (o.exitCode !== undefined) finished.exitCode = o.exitCode;
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

  /**
   * What the running attempts use now, summed: CPU and memory from their latest usage samples
   * (js attempts run inside the worker and count 0), GPUs as granted.
   */
  used(): Resources {
    let cpuMillis = 0;
    let memoryBytes = 0;
    let gpus = 0;
    for (const e of this.running.values()) {
      cpuMillis += e.usage?.cpuMillis ?? 0;
      memoryBytes += e.usage?.memoryBytes ?? 0;
      gpus += e.gpuIndices.length;
    }
    return { cpuMillis: Math.min(cpuMillis, 2 ** 31 - 1), memoryMb: Math.min(Math.round(memoryBytes / MIB), 2 ** 31 - 1), gpus };
  }
}

const NO_GRANT: AttemptGrant = { gpuIndices: [] };

/**
 * An attempt's hooks: one object of a class per job rather than a literal of four closures (this
 * is the hot path of short jobs).
 */
class Hooks implements AttemptHooks {
  constructor(
    private readonly a: Assignment,
    private readonly entry: Entry,
    private readonly emit: (event: JobEvent) => void,
    private readonly budget: LogBudget | undefined,
  ) {}

  onStarted(pid: number, atMs: number): void {
    this.emit({ jobId: this.a.jobId, attempt: this.a.attempt, atMs, kind: { $case: "started", started: { pid } } });
  }

  onLog(stream: LogStream, chunk: Buffer): boolean {
    const { a, emit } = this;
    this.entry.chunker ??= new LogChunker({
      emit: (s, data, seq) =>
        emit({ jobId: a.jobId, attempt: a.attempt, atMs: Date.now(), kind: { $case: "log", log: { stream: PROTO_STREAM[s], data, seq } } }),
    });
    this.entry.chunker.write(stream, chunk);
    return this.budget ? this.budget.hasRoom(this.entry.ref) : true;
  }

  whenLogRoom(resume: () => void): void {
    if (this.budget) this.budget.whenRoom(this.entry.ref, resume);
    else resume();
  }

  onUsage(u: UsageSample): void {
    this.entry.usage = u;
    this.emit({ jobId: this.a.jobId, attempt: this.a.attempt, atMs: Date.now(), kind: { $case: "usage", usage: u } });
  }
}

function keyOf(jobId: string, attempt: number): string {
  return `${jobId}\u0000${attempt}`;
}
