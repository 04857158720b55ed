// A coordinator's Prometheus metrics. Hot paths (submit, event sink, scheduler) only bump counters
// and histograms in memory. Gauges of state are read when Prometheus scrapes: the pool and the
// streams from memory, and the cluster-wide ones (queue depth, workers' capacity, allocation and
// usage) from Postgres in one statement, cached for a second — on the LEADER ONLY, so that there is
// one series per job state and per worker in the whole cluster (sum or max over coordinators gives
// the same answer) and followers add no load. Names: shared/telemetry/metric-names.ts.
import type pg from "pg";
import { metrics as otelMetrics } from "@opentelemetry/api";
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import {
  endReasonLabel,
  LABELS,
  METRICS,
  QUEUE_STATES,
  RESOURCES,
  type JobOutcome,
  type ResourceName,
} from "../../shared/telemetry/metric-names.js";
import { exposition, type MetricsBody } from "../../shared/telemetry/process-metrics.js";
import { AttemptQueues } from "./attempt-queues.js";
import { readClusterState, type ClusterState } from "./read-cluster-state.js";

const CLUSTER_STATE_TTL_MS = 1000;

/** What SubmitJobs reports. */
export interface SubmitMetrics {
  submitted(jobs: readonly { queue: string }[]): void;
}

/** What the scheduler loop reports (leader). */
export interface SchedulerMetrics {
  /** one pass (or the fast path of a submit) took this long */
  passDone(seconds: number): void;
  /** a plan was applied: `planned` placements asked for, `assigned` written */
  planApplied(
    planned: number,
    assigned: readonly { id: string; attempt: number; queue: string }[],
    createdAtMs: (jobId: string) => number | undefined,
  ): void;
}

export interface LeadershipMetrics extends SchedulerMetrics {
  /** leadership won (its term) or lost (undefined) */
  leadership(term: number | undefined): void;
}

/** What the worker streams and the event sink report. */
export interface DispatchMetrics {
  /** assignments about to be sent on this coordinator's streams */
  assigned(jobs: readonly { id: string; attempt: number; queue: string }[]): void;
  heartbeat(): void;
  streamRegistered(): void;
  /** one event-sink write committed: what was in it and what it changed */
  eventsRecorded(
    started: readonly { jobId: string; attempt: number }[],
    finished: readonly { jobId: string; attempt: number; atMs: number; startedAtMs: number; reason: string }[],
    result: { started: { changed: readonly string[] }; finished: readonly { id: string; state: string }[] },
  ): void;
}

export interface CoordinatorMetricsSources {
  isLeader(): boolean;
  /** worker streams held now */
  streams(): number;
}

/** Ends of one write with the same queue, outcome and reason, and the label objects they share. */
interface EndTally {
  queue: string;
  outcome: string;
  reason: string;
  n: number;
  /** jobs_finished's labels */
  labels: Record<string, string>;
  /** job duration's labels (no reason) */
  timed: Record<string, string>;
}

function outcomeOf(state: string): JobOutcome | undefined {
  switch (state) {
    case "succeeded":
    case "failed":
    case "cancelled":
      return state;
    case "pending":
      return "requeued";
    default:
      return undefined;
  }
}

export class CoordinatorMetrics implements SubmitMetrics, LeadershipMetrics, DispatchMetrics {
  readonly registry = new Registry();
  private readonly queues = new AttemptQueues();
  private cluster: { at: number; state: Promise<ClusterState | undefined> } | undefined;

  private readonly jobsSubmitted: Counter<string>;
  private readonly jobsStarted: Counter<string>;
  private readonly jobsFinished: Counter<string>;
  private readonly jobDuration: Histogram<string>;
  private readonly schedulingLatency: Histogram<string>;
  private readonly planPlacements: Histogram<string>;
  private readonly placementsDropped: Counter<string>;
  private readonly passDuration: Histogram<string>;
  private readonly leader: Gauge<string>;
  private readonly leaderTerm: Gauge<string>;
  private readonly heartbeats: Counter<string>;
  private readonly streamRegistrations: Counter<string>;
  // The same job figures over OTLP (no-ops unless the OpenTelemetry SDK was started first).
  private readonly otel = (() => {
    const meter = otelMetrics.getMeter("baton");
    return {
      submitted: meter.createCounter(METRICS.jobsSubmitted.replace(/_total$/, ""), { description: "Jobs accepted by SubmitJobs." }),
      finished: meter.createCounter(METRICS.jobsFinished.replace(/_total$/, ""), { description: "Attempts that ended, by outcome and reason." }),
      latency: meter.createHistogram(METRICS.schedulingLatency, { description: "Submission to first placement.", unit: "s" }),
      duration: meter.createHistogram(METRICS.jobDuration, { description: "Run time of attempts.", unit: "s" }),
    };
  })();

  constructor(
    private readonly pool: pg.Pool,
    private readonly sources: CoordinatorMetricsSources,
  ) {
    const registers = [this.registry];
    this.jobsSubmitted = new Counter({
      name: METRICS.jobsSubmitted,
      help: "Jobs accepted by SubmitJobs on this coordinator.",
      labelNames: [LABELS.queue],
      registers,
    });
    this.jobsStarted = new Counter({
      name: METRICS.jobsStarted,
      help: "Attempts that started running, as reported on this coordinator's worker streams.",
      labelNames: [LABELS.queue],
      registers,
    });
    this.jobsFinished = new Counter({
      name: METRICS.jobsFinished,
      help: "Attempts that ended, by what became of the job (succeeded, failed, cancelled, requeued) and the end reason.",
      labelNames: [LABELS.queue, LABELS.outcome, LABELS.reason],
      registers,
    });
    this.jobDuration = new Histogram({
      name: METRICS.jobDuration,
      help: "Run time of attempts, started to finished, in seconds.",
      labelNames: [LABELS.queue, LABELS.outcome],
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 1800, 3600, 7200, 21600, 86400],
      registers,
    });
    this.schedulingLatency = new Histogram({
      name: METRICS.schedulingLatency,
      help: "Time from a job's submission to its first placement on a worker, in seconds (leader).",
      labelNames: [LABELS.queue],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600],
      registers,
    });
    this.planPlacements = new Histogram({
      name: METRICS.planPlacements,
      help: "Placements in each plan the leader applied.",
      buckets: [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000],
      registers,
    });
    this.placementsDropped = new Counter({
      name: METRICS.placementsDropped,
      help: "Planned placements the plan applier did not write (the worker had no room left or the job changed since the snapshot).",
      registers,
    });
    this.passDuration = new Histogram({
      name: METRICS.schedulerPassDuration,
      help: "Duration of one scheduler pass (snapshot, schedule, apply), in seconds (leader).",
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    this.leader = new Gauge({ name: METRICS.leader, help: "1 while this coordinator is the leader, else 0.", registers });
    this.leaderTerm = new Gauge({
      name: METRICS.leaderTerm,
      help: "The leader term this coordinator last held (0: it has not been leader).",
      registers,
    });
    this.heartbeats = new Counter({
      name: METRICS.heartbeatsReceived,
      help: "Heartbeats received on this coordinator's worker streams.",
      registers,
    });
    this.streamRegistrations = new Counter({
      name: METRICS.workerStreamRegistrations,
      help: "Worker streams registered on this coordinator (first connects and reconnects).",
      registers,
    });
    new Gauge({
      name: METRICS.workerStreams,
      help: "Worker streams held by this coordinator.",
      registers,
      collect() {
        this.set(sources.streams());
      },
    });
    new Gauge({
      name: METRICS.pgPoolTotal,
      help: "Clients open in this coordinator's Postgres pool.",
      registers,
      collect() {
        this.set(pool.totalCount);
      },
    });
    new Gauge({
      name: METRICS.pgPoolIdle,
      help: "Idle clients in this coordinator's Postgres pool.",
      registers,
      collect() {
        this.set(pool.idleCount);
      },
    });
    new Gauge({
      name: METRICS.pgPoolWaiting,
      help: "Queries waiting for a client of this coordinator's Postgres pool.",
      registers,
      collect() {
        this.set(pool.waitingCount);
      },
    });
    this.clusterGauges(registers);
  }

  /** The /metrics body: process metrics, then this coordinator's. */
  exposition(): Promise<MetricsBody> {
    return exposition(this.registry);
  }

  // ── hot paths: memory only ──

  submitted(jobs: readonly { queue: string }[]): void {
    for (const [queue, n] of countBy(jobs, (j) => j.queue)) {
      this.jobsSubmitted.inc({ [LABELS.queue]: queue }, n);
      this.otel.submitted.add(n, { [LABELS.queue]: queue });
    }
  }

  assigned(jobs: readonly { id: string; attempt: number; queue: string }[]): void {
    for (const j of jobs) this.queues.remember(j.id, j.attempt, j.queue);
  }

  heartbeat(): void {
    this.heartbeats.inc();
  }

  streamRegistered(): void {
    this.streamRegistrations.inc();
  }

  eventsRecorded(
    started: readonly { jobId: string; attempt: number }[],
    finished: readonly { jobId: string; attempt: number; atMs: number; startedAtMs: number; reason: string }[],
    result: { started: { changed: readonly string[] }; finished: readonly { id: string; state: string }[] },
  ): void {
    // Counters are bumped once per label set of the batch; histograms observe each value.
    const startedAttempt = new Map(started.map((s) => [s.jobId, s.attempt]));
    const startsByQueue = countBy(result.started.changed, (id) => this.queues.queueOf(id, startedAttempt.get(id) ?? 0));
    // One tally per label set, with the label objects its observations share (most of a batch is
    // one set: the last one used is checked first, without building its key).
    const endsByLabels = new Map<string, EndTally>();
    let last: EndTally | undefined;
    // The report that changed each job is the one for its current attempt: the highest reported.
    const ends = new Map<string, (typeof finished)[number]>();
    for (const f of finished) {
      const prev = ends.get(f.jobId);
      if (!prev || f.attempt > prev.attempt) ends.set(f.jobId, f);
    }
    for (const row of result.finished) {
      const f = ends.get(row.id);
      const outcome = outcomeOf(row.state);
      if (!f || !outcome) continue;
      const queue = this.queues.queueOf(f.jobId, f.attempt);
      // A start that arrived in the same write as its end is carried by the end (not in `changed`).
      if (f.startedAtMs > 0 && startedAttempt.get(f.jobId) === f.attempt) startsByQueue.set(queue, (startsByQueue.get(queue) ?? 0) + 1);
      const reason = endReasonLabel(f.reason);
      let tally = last;
      if (!tally || tally.queue !== queue || tally.outcome !== outcome || tally.reason !== reason) {
        const key = `${queue}\u0000${outcome}\u0000${reason}`;
        tally = endsByLabels.get(key);
        if (!tally) {
          tally = {
            queue, outcome, reason, n: 0,
            labels: { [LABELS.queue]: queue, [LABELS.outcome]: outcome, [LABELS.reason]: reason },
            timed: { [LABELS.queue]: queue, [LABELS.outcome]: outcome },
          };
          endsByLabels.set(key, tally);
        }
        last = tally;
      }
      tally.n++;
      if (f.startedAtMs > 0 && f.atMs >= f.startedAtMs) {
        const seconds = (f.atMs - f.startedAtMs) / 1000;
        this.jobDuration.observe(tally.timed, seconds);
        this.otel.duration.record(seconds, tally.timed);
      }
    }
    for (const [queue, n] of startsByQueue) this.jobsStarted.inc({ [LABELS.queue]: queue }, n);
    for (const { labels, n } of endsByLabels.values()) {
      this.jobsFinished.inc(labels, n);
      this.otel.finished.add(n, labels);
    }
    for (const f of finished) this.queues.forget(f.jobId, f.attempt);
  }

  passDone(seconds: number): void {
    this.passDuration.observe(seconds);
  }

  planApplied(
    planned: number,
    assigned: readonly { id: string; attempt: number; queue: string }[],
    createdAtMs: (jobId: string) => number | undefined,
  ): void {
    if (planned > 0) this.planPlacements.observe(planned);
    if (planned > assigned.length) this.placementsDropped.inc(planned - assigned.length);
    const now = Date.now();
    let labels: Record<string, string> | undefined; // shared by a run of jobs of one queue
    for (const a of assigned) {
      const created = a.attempt === 1 ? createdAtMs(a.id) : undefined; // retries are not submit → placed
      if (created === undefined) continue;
      const seconds = Math.max(0, now - created) / 1000;
      if (labels?.[LABELS.queue] !== a.queue) labels = { [LABELS.queue]: a.queue };
      this.schedulingLatency.observe(labels, seconds);
      this.otel.latency.record(seconds, labels);
    }
  }

  leadership(term: number | undefined): void {
    this.leader.set(term === undefined ? 0 : 1);
    if (term !== undefined) this.leaderTerm.set(term);
  }

  // ── scrape time ──

  private clusterGauges(registers: Registry[]): void {
    const read = () => this.clusterState();
    new Gauge({
      name: METRICS.queueDepth,
      help: "Jobs not yet ended, by state (leader only).",
      labelNames: [LABELS.state],
      registers,
      async collect() {
        this.reset();
        const s = await read();
        if (!s) return;
        for (const state of QUEUE_STATES) this.set({ [LABELS.state]: state }, s.depth[state] ?? 0);
      },
    });
    new Gauge({
      name: METRICS.jobsUnschedulable,
      help: "Pending jobs that fit no live worker (leader only).",
      registers,
      async collect() {
        this.reset();
        const s = await read();
        if (s) this.set(s.unschedulable);
      },
    });
    const perWorker = (name: string, help: string, value: (w: ClusterState["workers"][number], r: ResourceName) => number) =>
      new Gauge({
        name,
        help,
        labelNames: [LABELS.worker, LABELS.resource],
        registers,
        async collect() {
          this.reset();
          const s = await read();
          for (const w of s?.workers ?? []) {
            for (const r of RESOURCES) this.set({ [LABELS.worker]: w.name, [LABELS.resource]: r }, value(w, r));
          }
        },
      });
    perWorker(METRICS.workerCapacity, "What each live worker offers, by resource (leader only).", (w, r) =>
      r === "cpu_millis" ? w.cpu_millis : r === "memory_mb" ? w.memory_mb : w.slots,
    );
    perWorker(METRICS.workerAllocated, "Requests of the jobs assigned to or running on each live worker, by resource (leader only).", (w, r) =>
      r === "cpu_millis" ? w.alloc_cpu_millis : r === "memory_mb" ? w.alloc_memory_mb : w.alloc_slots,
    );
    perWorker(METRICS.workerUsed, "Real usage on each live worker from its heartbeats; slots: attempts running (leader only).", (w, r) =>
      r === "cpu_millis" ? w.used_cpu_millis : r === "memory_mb" ? w.used_memory_mb : w.running,
    );
  }

  /** One read per second at most, shared by the gauges of one scrape; none on a follower. */
  private clusterState(): Promise<ClusterState | undefined> {
    if (!this.sources.isLeader()) return Promise.resolve(undefined);
    const now = Date.now();
    if (!this.cluster || now - this.cluster.at >= CLUSTER_STATE_TTL_MS) {
      // A failed read leaves the gauges empty for this scrape (a gap, not a failed scrape).
      this.cluster = { at: now, state: readClusterState(this.pool).catch(() => undefined) };
    }
    return this.cluster.state;
  }
}

/** How many items fall under each key. */
function countBy<T>(items: readonly T[], key: (item: T) => string): Map<string, number> {
  const counts = new Map<string, number>();
  for (const item of items) {
    const k = key(item);
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  return counts;
}
