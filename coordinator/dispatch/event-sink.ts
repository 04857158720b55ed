// Job events from every stream this coordinator holds are written in batches: one transaction for
// everything that arrived while the previous write was in flight. Workers get their acks after the
// commit, so a coordinator that dies mid-write loses nothing (the worker resends).
import type pg from "pg";
import type { JobEvents } from "../../shared/gen/baton/v1/worker.js";
import { recordFinished, recordStarted, type FinishedEvent, type StartedEvent } from "../sql/record-events.js";
import type { WorkerStream } from "./worker-stream.js";

export interface EventSinkHooks {
  /** attempts ended: capacity is free again */
  capacityFreed(): void;
  /** a job that started has a cancel pending: tell its worker again */
  cancelAgain(workerStream: WorkerStream, jobId: string, attempt: number): void;
}

export class EventSink {
  private started: { ev: StartedEvent; stream: WorkerStream }[] = [];
  private finished: FinishedEvent[] = [];
  private acks = new Map<WorkerStream, number>();
  private flushing: Promise<void> | undefined;
  private scheduled = false;
  private stopped = false;

  constructor(
    private readonly pool: pg.Pool,
    private readonly hooks: EventSinkHooks,
  ) {}

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
        case undefined:
          break;
      }
    }
    this.acks.set(stream, Math.max(this.acks.get(stream) ?? 0, batch.seq));
    this.kick();
  }

  /** Writes whatever is buffered; resolves when the buffer was written. */
  async drain(): Promise<void> {
    while (this.flushing || this.started.length || this.finished.length || this.acks.size) {
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
          if (this.started.length || this.finished.length || this.acks.size) this.kick();
        });
    });
  }

  private async flush(): Promise<void> {
    const started = this.started;
    const finished = this.finished;
    const acks = this.acks;
    this.started = [];
    this.finished = [];
    this.acks = new Map();
    let result: { started: Awaited<ReturnType<typeof recordStarted>>; finished: { id: string; state: string }[] };
    try {
      // A start reported in the same batch as its end is carried by the end (finished has
      // started_at_ms), so the two statements touch different jobs and can run side by side.
      const ended = new Set(finished.map((f) => `${f.jobId}:${f.attempt}`));
      const starts = started.filter((x) => !ended.has(`${x.ev.jobId}:${x.ev.attempt}`)).map((x) => x.ev);
      const [s, f] = await Promise.all([recordStarted(this.pool, starts), recordFinished(this.pool, finished)]);
      result = { started: s, finished: f };
    } catch (err) {
      // Put everything back in front of what arrived meanwhile.
      this.started = started.concat(this.started);
      this.finished = finished.concat(this.finished);
      for (const [stream, seq] of acks) this.acks.set(stream, Math.max(seq, this.acks.get(stream) ?? 0));
      throw err;
    }
    for (const [stream, seq] of acks) stream.send({ msg: { $case: "ack", ack: { seq } } });
    if (finished.length > 0) this.hooks.capacityFreed();
    if (result.started.cancelRequested.length > 0) {
      const byJob = new Map(started.map((x) => [`${x.ev.jobId}:${x.ev.attempt}`, x.stream]));
      for (const c of result.started.cancelRequested) {
        const stream = byJob.get(`${c.jobId}:${c.attempt}`);
        if (stream) this.hooks.cancelAgain(stream, c.jobId, c.attempt);
      }
    }
  }
}
