// Which queue each attempt this coordinator sent belongs to, so that the event sink can label
// started/finished counters by queue without a query. Filled when an assignment is sent on one of
// this coordinator's streams, emptied when the attempt's end is recorded. Attempts whose end is
// recorded elsewhere (the worker reconnected to another coordinator, or was lost) would stay: the
// map is bounded and forgets the oldest first.
import { UNKNOWN_QUEUE } from "../../shared/telemetry/metric-names.js";

const DEFAULT_MAX = 100_000;

export class AttemptQueues {
  private readonly queues = new Map<string, string>();

  constructor(private readonly max = DEFAULT_MAX) {}

  remember(jobId: string, attempt: number, queue: string): void {
    const key = `${jobId}:${attempt}`;
    this.queues.delete(key); // re-inserting moves it to the young end
    this.queues.set(key, queue);
    if (this.queues.size > this.max) this.queues.delete(this.queues.keys().next().value!);
  }

  /** The queue of an attempt sent from here; "unknown" when it was sent by another coordinator. */
  queueOf(jobId: string, attempt: number): string {
    return this.queues.get(`${jobId}:${attempt}`) ?? UNKNOWN_QUEUE;
  }

  forget(jobId: string, attempt: number): void {
    this.queues.delete(`${jobId}:${attempt}`);
  }

  get size(): number {
    return this.queues.size;
  }
}
