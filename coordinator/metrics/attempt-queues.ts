// Which queue each attempt this coordinator sent belongs to, so that the event sink can label
// started/finished counters by queue without a query. Filled when an assignment is sent on one of
// this coordinator's streams, emptied when the attempt's end is recorded. Attempts whose end is
// recorded elsewhere (the worker reconnected to another coordinator, or was lost) would stay: the
// map is bounded and forgets the oldest first.
import { UNKNOWN_QUEUE } from "../../shared/telemetry/metric-names.js";

const DEFAULT_MAX = 100_000;

export class AttemptQueues {
  // By job id (no key to build per lookup); one attempt per job: a newer one replaces the older.
  private readonly queues = new Map<string, { attempt: number; queue: string }>();

  constructor(private readonly max = DEFAULT_MAX) {}

  remember(jobId: string, attempt: number, queue: string): void {
    this.queues.delete(jobId); // re-inserting moves it to the young end
    this.queues.set(jobId, { attempt, queue });
    if (this.queues.size > this.max) this.queues.delete(this.queues.keys().next().value!);
  }

  /** The queue of an attempt sent from here; "unknown" when it was sent by another coordinator. */
  queueOf(jobId: string, attempt: number): string {
    const e = this.queues.get(jobId);
    return e !== undefined && e.attempt === attempt ? e.queue : UNKNOWN_QUEUE;
  }

  forget(jobId: string, attempt: number): void {
    if (this.queues.get(jobId)?.attempt === attempt) this.queues.delete(jobId);
  }

  get size(): number {
    return this.queues.size;
  }
}
