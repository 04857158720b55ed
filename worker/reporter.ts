// Batches job events upstream and keeps every batch until the coordinator acknowledges it, so that
// no event (above all no `finished`) is lost to a broken stream while the worker process lives.
import type { JobEvent, JobEvents } from "../shared/gen/baton/v1/worker.js";

/** Where batches go while the worker is registered with a coordinator. */
export type BatchSink = (batch: JobEvents) => void;

export interface ReporterOptions {
  /** A batch is cut at this many events even within one event-loop turn. */
  maxBatch?: number;
}

export class Reporter {
  private readonly maxBatch: number;
  private pending: JobEvent[] = [];
  private flushScheduled = false;
  /** Sent or not, in seq order, until acknowledged. */
  private readonly unacked: JobEvents[] = [];
  private nextSeq = 1;
  private sink: BatchSink | undefined;
  private ackWaiters: Array<() => void> = [];

  constructor(options: ReporterOptions = {}) {
    this.maxBatch = options.maxBatch ?? 1000;
  }

  /** Queues one event; everything emitted in the same event-loop turn goes out as one batch. */
  emit(event: JobEvent): void {
    this.pending.push(event);
    if (this.pending.length >= this.maxBatch) this.flush();
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
    this.pending = [];
    this.unacked.push(batch);
    this.sink?.(batch);
  }

  /** A coordinator accepted our Register: resend what it may not have, in order, then stream on. */
  attach(sink: BatchSink): void {
    this.sink = sink;
    this.flush();
    for (const batch of this.unacked) sink(batch);
  }

  detach(): void {
    this.sink = undefined;
  }

  /** Cumulative: every batch up to and including `seq` is safe upstream. */
  ack(seq: number): void {
    let n = 0;
    while (n < this.unacked.length && this.unacked[n]!.seq <= seq) n++;
    if (n > 0) this.unacked.splice(0, n);
    if (this.idle()) {
      const waiters = this.ackWaiters;
      this.ackWaiters = [];
      for (const w of waiters) w();
    }
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
