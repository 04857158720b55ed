// Batches job events upstream and keeps every batch until the coordinator acknowledges it, so that
// no event (above all no `finished`) is lost to a broken stream while the worker process lives.
// Log chunks are counted while unacknowledged: past a cap per attempt (and one for the worker) the
// attempt's output is held back at its pipes, so a chatty job can fill neither the worker's memory
// nor a slow coordinator.
import type { AttemptRef } from "../shared/gen/baton/v1/types.js";
import type { JobEvent, JobEvents } from "../shared/gen/baton/v1/worker.js";

/** Where batches go while the worker is registered with a coordinator. */
export type BatchSink = (batch: JobEvents) => void;

export interface ReporterOptions {
  /** A batch is cut at this many events even within one event-loop turn. */
  maxBatch?: number;
  /** …and at this many bytes of log data. */
  maxBatchLogBytes?: number;
  /** Unacknowledged log bytes of one attempt past which its output is held back. */
  maxUnackedLogBytesPerAttempt?: number;
  /** Unacknowledged log bytes of all attempts past which all output is held back. */
  maxUnackedLogBytes?: number;
}

export const REPORTER_DEFAULTS = {
  maxBatch: 1000,
  maxBatchLogBytes: 1024 * 1024,
  maxUnackedLogBytesPerAttempt: 8 * 1024 * 1024,
  maxUnackedLogBytes: 64 * 1024 * 1024,
} as const;

/** Flow control of one attempt's output (what the attempt runner needs of the reporter). */
export interface LogBudget {
  hasRoom(ref: AttemptRef): boolean;
  /** Calls `resume` once there is room for `ref`'s output (at once when there is). */
  whenRoom(ref: AttemptRef, resume: () => void): void;
}

interface Batch {
  batch: JobEvents;
  /** Log bytes in the batch, by attempt. */
  logBytes: Map<string, number> | undefined;
}

export class Reporter implements LogBudget {
  private readonly maxBatch: number;
  private readonly maxBatchLogBytes: number;
  private readonly maxPerAttempt: number;
  private readonly maxTotal: number;
  private pending: JobEvent[] = [];
  private pendingLog: Map<string, number> | undefined;
  private pendingLogBytes = 0;
  private flushScheduled = false;
  /** Sent or not, in seq order, until acknowledged. */
  private readonly unacked: Batch[] = [];
  private nextSeq = 1;
  private sink: BatchSink | undefined;
  private ackWaiters: Array<() => void> = [];
  /** Unacknowledged log bytes (pending or sent), by attempt, and in all. */
  private readonly logBytes = new Map<string, number>();
  private totalLogBytes = 0;
  private roomWaiters: Array<{ key: string; resume: () => void }> = [];

  constructor(options: ReporterOptions = {}) {
    this.maxBatch = options.maxBatch ?? REPORTER_DEFAULTS.maxBatch;
    this.maxBatchLogBytes = options.maxBatchLogBytes ?? REPORTER_DEFAULTS.maxBatchLogBytes;
    this.maxPerAttempt = options.maxUnackedLogBytesPerAttempt ?? REPORTER_DEFAULTS.maxUnackedLogBytesPerAttempt;
    this.maxTotal = options.maxUnackedLogBytes ?? REPORTER_DEFAULTS.maxUnackedLogBytes;
  }

  /** Queues one event; everything emitted in the same event-loop turn goes out as one batch. */
  emit(event: JobEvent): void {
    this.pending.push(event);
    if (event.kind?.$case === "log") {
      const n = event.kind.log.data.length;
      const key = keyOf(event.jobId, event.attempt);
      this.pendingLog ??= new Map();
      this.pendingLog.set(key, (this.pendingLog.get(key) ?? 0) + n);
      this.pendingLogBytes += n;
      this.logBytes.set(key, (this.logBytes.get(key) ?? 0) + n);
      this.totalLogBytes += n;
    }
    if (this.pending.length >= this.maxBatch || this.pendingLogBytes >= this.maxBatchLogBytes) this.flush();
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => {
        this.flushScheduled = false;
        this.flush();
      });
    }
  }

  /** Cuts a batch of what is pending now and sends it if a coordinator is attached. */
  flush(): void {
    if (this.pending.length === 0) return;
    const batch: JobEvents = { seq: this.nextSeq++, events: this.pending };
    this.unacked.push({ batch, logBytes: this.pendingLog });
    this.pending = [];
    this.pendingLog = undefined;
    this.pendingLogBytes = 0;
    this.sink?.(batch);
  }

  /** A coordinator accepted our Register: resend what it may not have, in order, then stream on. */
  attach(sink: BatchSink): void {
    this.sink = sink;
    this.flush();
    for (const b of this.unacked) sink(b.batch);
  }

  detach(): void {
    this.sink = undefined;
  }

  /** Cumulative: every batch up to and including `seq` is safe upstream. */
  ack(seq: number): void {
    let n = 0;
    while (n < this.unacked.length && this.unacked[n]!.batch.seq <= seq) {
      const logBytes = this.unacked[n]!.logBytes;
      if (logBytes) for (const [key, bytes] of logBytes) this.release(key, bytes);
      n++;
    }
    if (n === 0) return;
    this.unacked.splice(0, n);
    this.wakeRoomWaiters();
    if (this.idle()) {
      const waiters = this.ackWaiters;
      this.ackWaiters = [];
      for (const w of waiters) w();
    }
  }

  private release(key: string, bytes: number): void {
    const left = (this.logBytes.get(key) ?? 0) - bytes;
    if (left > 0) this.logBytes.set(key, left);
    else this.logBytes.delete(key);
    this.totalLogBytes -= bytes;
  }

  hasRoom(ref: AttemptRef): boolean {
    return this.roomFor(keyOf(ref.jobId, ref.attempt));
  }

  whenRoom(ref: AttemptRef, resume: () => void): void {
    const key = keyOf(ref.jobId, ref.attempt);
    if (this.roomFor(key)) resume();
    else this.roomWaiters.push({ key, resume });
  }

  private roomFor(key: string): boolean {
    return (this.logBytes.get(key) ?? 0) < this.maxPerAttempt && this.totalLogBytes < this.maxTotal;
  }

  private wakeRoomWaiters(): void {
    if (this.roomWaiters.length === 0) return;
    const ready = this.roomWaiters.filter((w) => this.roomFor(w.key));
    if (ready.length === 0) return;
    this.roomWaiters = this.roomWaiters.filter((w) => !ready.includes(w));
    for (const w of ready) w.resume();
  }

  /** Unacknowledged log bytes of one attempt (pending or sent). */
  unackedLogBytes(ref: AttemptRef): number {
    return this.logBytes.get(keyOf(ref.jobId, ref.attempt)) ?? 0;
  }

  /** Nothing pending and nothing unacknowledged. */
  idle(): boolean {
    return this.pending.length === 0 && this.unacked.length === 0;
  }

  get unackedBatches(): number {
    return this.unacked.length;
  }

  /** Settles once every event emitted so far is acknowledged. */
  whenAllAcked(): Promise<void> {
    this.flush();
    if (this.idle()) return Promise.resolve();
    return new Promise((resolve) => this.ackWaiters.push(resolve));
  }
}

function keyOf(jobId: string, attempt: number): string {
  return `${jobId}\u0000${attempt}`;
}
