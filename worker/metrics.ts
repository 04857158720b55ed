// A worker's Prometheus metrics, served on its HTTP port at /metrics. Everything is counted in
// memory where it happens (events emitted, heartbeats, registrations, acks); running attempts,
// registration and unacknowledged batches are read when Prometheus scrapes.
// Names: shared/telemetry/metric-names.ts.
import { Counter, Gauge, Registry } from "prom-client";
import type { JobEvent } from "../shared/gen/baton/v1/worker.js";
import { endReasonLabel, LABELS, METRICS } from "../shared/telemetry/metric-names.js";
import { exposition, type MetricsBody } from "../shared/telemetry/process-metrics.js";
import type { ConnectionHandlers } from "./connection.js";
import type { BatchSink } from "./reporter.js";

export interface WorkerMetricsSources {
  slots: number;
  running(): number;
  registered(): boolean;
  unackedBatches(): number;
}

export class WorkerMetrics {
  readonly registry = new Registry();
  private readonly attemptsFinished: Counter<string>;
  private readonly registrations: Counter<string>;
  private readonly reconnects: Counter<string>;
  private readonly heartbeatsSent: Counter<string>;
  private readonly batchesSent: Counter<string>;
  private readonly batchesAcked: Counter<string>;
  private everRegistered = false;
  /** attempts ended since the counter was last read, by reason label */
  private readonly ended = new Map<string, number>();

  constructor(private readonly sources: WorkerMetricsSources) {
    const registers = [this.registry];
    new Gauge({
      name: METRICS.workerRunningAttempts,
      help: "Attempts running on this worker.",
      registers,
      collect() {
        this.set(sources.running());
      },
    });
    new Gauge({ name: METRICS.workerSlots, help: "Concurrent attempts this worker offers.", registers }).set(sources.slots);
    new Gauge({
      name: METRICS.workerRegistered,
      help: "1 while this worker is registered with a coordinator, else 0.",
      registers,
      collect() {
        this.set(sources.registered() ? 1 : 0);
      },
    });
    new Gauge({
      name: METRICS.workerEventBatchesUnacked,
      help: "Event batches kept until a coordinator acknowledges them.",
      registers,
      collect() {
        this.set(sources.unackedBatches());
      },
    });
    const ended = this.ended;
    this.attemptsFinished = new Counter({
      name: METRICS.workerAttemptsFinished,
      help: "Attempts that ended on this worker, by end reason (rejected: the worker refused the assignment).",
      labelNames: [LABELS.reason],
      registers,
      // Ends are tallied per reason on the hot path and added here, when the counter is read.
      collect() {
        for (const [reason, n] of ended) this.inc({ [LABELS.reason]: reason }, n);
        ended.clear();
      },
    });
    this.registrations = new Counter({
      name: METRICS.workerRegistrations,
      help: "Successful registrations with a coordinator (the first one and every reconnect).",
      registers,
    });
    this.reconnects = new Counter({
      name: METRICS.workerReconnects,
      help: "Registrations with a coordinator after the stream broke.",
      registers,
    });
    this.heartbeatsSent = new Counter({ name: METRICS.workerHeartbeatsSent, help: "Heartbeats sent to a coordinator.", registers });
    this.batchesSent = new Counter({
      name: METRICS.workerEventBatchesSent,
      help: "Event batches sent to a coordinator (resends after a reconnect included).",
      registers,
    });
    this.batchesAcked = new Counter({
      name: METRICS.workerEventBatchesAcked,
      help: "Event batches a coordinator acknowledged.",
      registers,
    });
  }

  /** The /metrics body: process metrics, then this worker's. */
  exposition(): Promise<MetricsBody> {
    return exposition(this.registry);
  }

  /** Every event the runner emits passes here on its way to the reporter. */
  event(event: JobEvent): void {
    switch (event.kind?.$case) {
      case "finished":
        this.tallyEnd(endReasonLabel(event.kind.finished.reason || "exited"));
        break;
      case "rejected":
        this.tallyEnd("rejected");
        break;
      default:
        break;
    }
  }

  private tallyEnd(reason: string): void {
    this.ended.set(reason, (this.ended.get(reason) ?? 0) + 1);
  }

  /** Wraps where batches go, counting each one sent. */
  countBatches(sink: BatchSink): BatchSink {
    return (batch) => {
      this.batchesSent.inc();
      sink(batch);
    };
  }

  /** Wraps the connection's handlers: heartbeats, registrations, reconnects and acknowledged batches. */
  instrument(handlers: ConnectionHandlers): ConnectionHandlers {
    return {
      ...handlers,
      heartbeat: () => {
        this.heartbeatsSent.inc();
        return handlers.heartbeat();
      },
      onRegistered: (registered, address) => {
        this.registrations.inc();
        if (this.everRegistered) this.reconnects.inc();
        this.everRegistered = true;
        handlers.onRegistered(registered, address);
      },
      onAck: (seq) => {
        const before = this.sources.unackedBatches();
        handlers.onAck(seq);
        this.batchesAcked.inc(Math.max(0, before - this.sources.unackedBatches()));
      },
    };
  }
}
