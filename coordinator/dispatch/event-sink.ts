// Job events from every stream this coordinator holds are written in batches: one transaction for
// everything that arrived while the previous write was in flight. Workers get their acks after the
// commit, so a coordinator that dies mid-write loses nothing (the worker resends).
// Output chunks and usage samples ride the same flush: logs first (so that a follower who sees the
// job end has its last output stored already), then starts and ends, then usage.
import type pg from "pg";
import type { JobEvents } from "../../shared/gen/baton/v1/worker.js";
import { recordFinished, recordStarted, type FinishedEvent, type StartedEvent } from "../sql/record-events.js";
import { recordLogChunks, type LogChunkEvent } from "../sql/record-logs.js";
import { recordUsage, type UsageSample } from "../sql/record-usage.js";
import type { WorkerStream } from "./worker-stream.js";

export interface EventSinkHooks {
  /** attempts ended: capacity is free again (`ended`: their jobs) */
  capacityFreed(requeued: boolean, ended: string[]): void;
  /** a job that started has a cancel pending: tell its worker again */
  cancelAgain(workerStream: WorkerStream, jobId: string, attempt: number): void;
  /** a write committed: what it carried and changed (metrics; memory only) */
  recorded?(started: StartedEvent[], finished: FinishedEvent[], result: { started: { changed: string[] }; finished: { id: string; state: string }[] }): void;
}

export interface EventSinkLimits {
  /** output kept per job (the database enforces it; this side drops chunks of jobs known to be full) */
  logMaxBytesPerJob: () => number;
}

/** Output written per statement: a flush of a chatty cluster is split into statements of this size. */
const LOG_BYTES_PER_STATEMENT = 4 * 1024 * 1024;
/** How many full jobs are remembered; past that the set starts over (the database still enforces the cap). */
const FULL_JOBS_REMEMBERED = 10_000;

export class EventSink {
  private started: { ev: StartedEvent; stream: WorkerStream }[] = [];
  private finished: FinishedEvent[] = [];
  private logs: LogChunkEvent[] = [];
  private usage: UsageSample[] = [];
  /** jobs whose output reached the cap: their chunks are acknowledged and dropped here */
  private fullJobs = new Set<string>();
  /** the cap fullJobs was learned under: a changed cap (live config) forgets them */
  private fullJobsCap: number | undefined;
  private acks = new Map<WorkerStream, number>();
  private flushing: Promise<void> | undefined;
  private scheduled = false;
  private stopped = false;

  constructor(
    private readonly pool: pg.Pool,
    private readonly hooks: EventSinkHooks,
    private readonly limits: EventSinkLimits = { logMaxBytesPerJob: () => 16 * 1024 * 1024 },
  ) {}

  private isFull(jobId: string): boolean {
    const cap = this.limits.logMaxBytesPerJob();
    if (cap !== this.fullJobsCap) {
      this.fullJobs.clear();
      this.fullJobsCap = cap;
    }
    return this.fullJobs.has(jobId);
  }

  add(stream: WorkerStream, batch: JobEvents): void {
    for (const ev of batch.events) {
      switch (ev.kind?.$case) {
        case "started":
          this.started.push({ ev: { jobId: ev.jobId, attempt: ev.attempt, atMs: ev.atMs }, stream });
          break;
        case "finished": {
          const f = ev.kind.finished;
          this.finished.push({
            jobId: ev.jobId,
            attempt: ev.attempt,
            workerId: stream.workerId,
            atMs: ev.atMs,
            startedAtMs: f.startedAtMs,
            exitCode: f.exitCode ?? null,
            reason: f.reason || "exited",
            message: f.message,
            cpuSeconds: f.cpuSeconds,
            peakMemoryBytes: f.peakMemoryBytes,
          });
          break;
        }
        case "rejected":
          this.finished.push({
            jobId: ev.jobId,
            attempt: ev.attempt,
            workerId: stream.workerId,
            atMs: ev.atMs,
            startedAtMs: 0,
            exitCode: null,
            reason: "rejected",
            message: ev.kind.rejected.message,
          });
          break;
        case "log": {
          const l = ev.kind.log;
          if (this.isFull(ev.jobId) || l.data.length === 0) break;
          this.logs.push({ jobId: ev.jobId, attempt: ev.attempt, seq: l.seq, stream: l.stream, atMs: ev.atMs, data: l.data });
          break;
        }
        case "usage": {
          const u = ev.kind.usage;
          this.usage.push({
            jobId: ev.jobId,
            attempt: ev.attempt,
            cpuMillis: u.cpuMillis,
            memoryBytes: u.memoryBytes,
            cpuSeconds: u.cpuSeconds,
            peakMemoryBytes: u.peakMemoryBytes,
          });
          break;
        }
        case undefined:
          break;
      }
    }
    this.acks.set(stream, Math.max(this.acks.get(stream) ?? 0, batch.seq));
    this.kick();
  }

  /** Writes whatever is buffered; resolves when the buffer was written. */
  async drain(): Promise<void> {
    while (this.flushing || this.pending()) {
      if (this.flushing) await this.flushing;
      else await (this.flushing = this.flush().finally(() => (this.flushing = undefined)));
    }
  }

  stop(): void {
    this.stopped = true;
  }

  private kick(): void {
    if (this.scheduled || this.flushing || this.stopped) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      if (this.flushing) return;
      this.flushing = this.flush()
        .catch(() => new Promise<void>((r) => setTimeout(r, 200))) // keep the buffer; try again
        .finally(() => {
          this.flushing = undefined;
          if (this.pending()) this.kick();
        });
    });
  }

  private pending(): boolean {
    return this.started.length > 0 || this.finished.length > 0 || this.logs.length > 0 || this.usage.length > 0 || this.acks.size > 0;
  }

  private async flush(): Promise<void> {
    const started = this.started;
    const finished = this.finished;
    const logs = this.logs;
    const usage = this.usage;
    const acks = this.acks;
    this.started = [];
    this.finished = [];
    this.logs = [];
    this.usage = [];
    this.acks = new Map();
    let result: { started: Awaited<ReturnType<typeof recordStarted>>; finished: { id: string; state: string }[] };
    let logsWritten = 0;
    try {
      // Statements that touch the same job rows run one after the other, never side by side (no
      // lock-order deadlocks between them).
      for (let i = 0; i < logs.length; ) {
        let bytes = 0;
        let j = i;
        while (j < logs.length && (j === i || bytes + logs[j]!.data.length <= LOG_BYTES_PER_STATEMENT)) bytes += logs[j++]!.data.length;
        const r = await recordLogChunks(this.pool, logs.slice(i, j), this.limits.logMaxBytesPerJob());
        logsWritten = j;
        if (this.fullJobs.size + r.full.length > FULL_JOBS_REMEMBERED) this.fullJobs.clear();
        for (const id of r.full) this.fullJobs.add(id);
        i = j;
      }
      // A start reported in the same batch as its end is carried by the end (finished has
      // started_at_ms), so the two statements touch different jobs and can run side by side.
      let starts: StartedEvent[] = [];
      if (started.length > 0) {
        const ended = new Set(finished.map((f) => `${f.jobId}:${f.attempt}`));
        starts = started.filter((x) => !ended.has(`${x.ev.jobId}:${x.ev.attempt}`)).map((x) => x.ev);
      }
      const [s, f] = await Promise.all([recordStarted(this.pool, starts), recordFinished(this.pool, finished)]);
      result = { started: s, finished: f };
    } catch (err) {
      // Put everything back in front of what arrived meanwhile.
      this.started = started.concat(this.started);
      this.finished = finished.concat(this.finished);
      this.logs = logs.slice(logsWritten).concat(this.logs);
      this.usage = usage.concat(this.usage);
      for (const [stream, seq] of acks) this.acks.set(stream, Math.max(seq, this.acks.get(stream) ?? 0));
      throw err;
    }
    // The freed capacity first: the next placement is the critical path of a busy cluster (its
    // statement goes out before anything below runs).
    if (finished.length > 0) {
      this.hooks.capacityFreed(result.finished.some((r) => r.state === "pending"), result.finished.map((r) => r.id));
    }
    // After the starts (a start clears the previous attempt's sample) and the ends (an ended
    // attempt keeps none: samples only land on assigned or running jobs). A sample that cannot be
    // written is dropped: the next one comes a second later, and the batch is acknowledged anyway.
    await recordUsage(this.pool, usage).catch(() => {});
    for (const [stream, seq] of acks) stream.send({ msg: { $case: "ack", ack: { seq } } });
    this.hooks.recorded?.(started.map((x) => x.ev), finished, result);
    if (result.started.cancelRequested.length > 0) {
      const byJob = new Map(started.map((x) => [`${x.ev.jobId}:${x.ev.attempt}`, x.stream]));
      for (const c of result.started.cancelRequested) {
        const stream = byJob.get(`${c.jobId}:${c.attempt}`);
        if (stream) this.hooks.cancelAgain(stream, c.jobId, c.attempt);
      }
    }
  }
}
