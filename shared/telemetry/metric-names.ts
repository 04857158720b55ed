// Every Prometheus metric and label name Baton exports, in one place: the coordinator, the worker,
// the Grafana dashboard (deploy/grafana) and the tests all refer to these. Renaming one breaks
// dashboards and alerts in the field, so treat them as a public interface.
// Default process metrics (process_*, nodejs_*) keep prom-client's standard names so that
// ready-made Node.js dashboards work as they are.

export const METRICS = {
  // ── coordinator: jobs (counters and histograms updated in memory on the hot paths) ──
  /** counter {queue}: jobs accepted by SubmitJobs on this coordinator */
  jobsSubmitted: "baton_jobs_submitted_total",
  /** counter {queue}: attempts that started running (reported by workers on this coordinator's streams) */
  jobsStarted: "baton_jobs_started_total",
  /** counter {queue, outcome, reason}: attempts that ended, by what became of the job */
  jobsFinished: "baton_jobs_finished_total",
  /** histogram {queue, outcome}: attempt run time, started → finished, seconds */
  jobDuration: "baton_job_duration_seconds",
  /** histogram {queue}: first placement of a job, created → placed, seconds (leader) */
  schedulingLatency: "baton_scheduling_latency_seconds",
  /** histogram: placements in each plan the leader applied */
  planPlacements: "baton_scheduler_plan_placements",
  /** counter: planned placements the plan applier refused (worker full or job changed since the snapshot) */
  placementsDropped: "baton_scheduler_placements_dropped_total",
  /** histogram: one scheduler pass (snapshot, schedule, apply), seconds */
  schedulerPassDuration: "baton_scheduler_pass_duration_seconds",

  // ── coordinator: cluster state, read from Postgres at scrape time by the leader only ──
  /** gauge {state}: jobs not yet ended (pending, assigned, running) */
  queueDepth: "baton_jobs_queue_depth",
  /** gauge: pending jobs that fit no live worker */
  jobsUnschedulable: "baton_jobs_unschedulable",
  /** gauge {worker, resource}: what a live worker offers */
  workerCapacity: "baton_worker_resource_capacity",
  /** gauge {worker, resource}: what is placed on it (assigned + running jobs' requests) */
  workerAllocated: "baton_worker_resource_allocated",
  /** gauge {worker, resource}: what its jobs really use (last heartbeat; slots: running attempts) */
  workerUsed: "baton_worker_resource_used",

  // ── coordinator: leadership, streams, database ──
  /** gauge: 1 while this coordinator is the leader */
  leader: "baton_leader",
  /** gauge: the leader term this coordinator last held (0: never) */
  leaderTerm: "baton_leader_term",
  /** counter: heartbeats received on this coordinator's worker streams */
  heartbeatsReceived: "baton_heartbeats_received_total",
  /** gauge: worker streams held by this coordinator now */
  workerStreams: "baton_worker_streams",
  /** counter: worker streams registered here (first connects and reconnects) */
  workerStreamRegistrations: "baton_worker_stream_registrations_total",
  /** gauge: pg.Pool clients open / idle, and queries waiting for a client */
  pgPoolTotal: "baton_pg_pool_clients",
  pgPoolIdle: "baton_pg_pool_idle_clients",
  pgPoolWaiting: "baton_pg_pool_waiting_queries",

  // ── worker process ──
  /** gauge: attempts running on this worker */
  workerRunningAttempts: "baton_worker_running_attempts",
  /** gauge: slots (concurrent attempts) this worker offers */
  workerSlots: "baton_worker_slots",
  /** counter {reason}: attempts that ended on this worker, by end reason */
  workerAttemptsFinished: "baton_worker_attempts_finished_total",
  /** gauge: 1 while registered with a coordinator */
  workerRegistered: "baton_worker_registered",
  /** counter: successful registrations with a coordinator (the first and every reconnect) */
  workerRegistrations: "baton_worker_registrations_total",
  /** counter: registrations after a broken stream */
  workerReconnects: "baton_worker_reconnects_total",
  /** counter: heartbeats sent */
  workerHeartbeatsSent: "baton_worker_heartbeats_sent_total",
  /** counter: event batches sent (resends after a reconnect included) */
  workerEventBatchesSent: "baton_worker_event_batches_sent_total",
  /** counter: event batches a coordinator acknowledged */
  workerEventBatchesAcked: "baton_worker_event_batches_acked_total",
  /** gauge: event batches kept until a coordinator acknowledges them */
  workerEventBatchesUnacked: "baton_worker_event_batches_unacked",
} as const;

export const LABELS = {
  queue: "queue",
  outcome: "outcome",
  reason: "reason",
  state: "state",
  worker: "worker",
  resource: "resource",
} as const;

/** What became of a job when an attempt ended (label `outcome`). */
export type JobOutcome = "succeeded" | "failed" | "cancelled" | "requeued";
export const JOB_OUTCOMES: readonly JobOutcome[] = ["succeeded", "failed", "cancelled", "requeued"];

/** Label `resource` of the worker resource gauges. */
export type ResourceName = "cpu_millis" | "memory_mb" | "slots";
export const RESOURCES: readonly ResourceName[] = ["cpu_millis", "memory_mb", "slots"];

/** Label `state` of the queue depth gauge: the states a job waits or runs in. */
export const QUEUE_STATES = ["pending", "assigned", "running"] as const;

/** Label `reason` values; a reason a worker sends outside this list is counted as "other". */
export const END_REASONS = [
  "exited",
  "signaled",
  "timed_out",
  "oom_killed",
  "cancelled",
  "worker_lost",
  "spawn_failed",
  "task_failed",
  "rejected",
] as const;

export function endReasonLabel(reason: string): string {
  return (END_REASONS as readonly string[]).includes(reason) ? reason : "other";
}

/** Label `queue`: when a coordinator did not send the assignment itself it cannot name the queue. */
export const UNKNOWN_QUEUE = "unknown";
