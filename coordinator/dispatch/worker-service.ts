// WorkerService.Connect: every coordinator holds some workers' streams. It registers them, records
// their heartbeats in one batched write per interval, feeds their events to the event sink, and
// sends them the assignments and cancels meant for them.
import { status, type ServerDuplexStream } from "@grpc/grpc-js";
import type pg from "pg";
import type { AttemptRef } from "../../shared/gen/baton/v1/types.js";
import type { CoordinatorMessage, Register, WorkerMessage, WorkerServiceServer } from "../../shared/gen/baton/v1/worker.js";
import { loadAssignedJobs, type AssignedJob } from "../sql/apply-plan.js";
import { detachWorker, touchLiveness, upsertWorker } from "../sql/workers.js";
import type { DispatchMetrics } from "../metrics/coordinator-metrics.js";
import { EventSink } from "./event-sink.js";
import { WorkerStream } from "./worker-stream.js";

export interface DispatchOptions {
  coordinatorId: string;
  grpcAddress: () => string;
  httpAddress: () => string;
  /** live settings, read where used: a change applies to streams that register from then on */
  heartbeatIntervalMs: () => number;
  leaseMs: () => number;
  defaultTimeoutMs: () => number;
  metrics?: DispatchMetrics;
  logMaxBytesPerJob: () => number;
  log?: (line: string) => void;
}

export class Dispatcher {
  readonly streams = new Map<string, WorkerStream>();
  readonly events: EventSink;
  private livenessTimer: NodeJS.Timeout | undefined;
  private assignQueue = new Set<string>();
  private assignScheduled = false;
  /** real usage from each stream's latest heartbeat, written with the next liveness write */
  private readonly used = new WeakMap<WorkerStream, { cpuMillis: number; memoryMb: number }>();
  /** set by the coordinator: work may be placeable now (the leader wakes its scheduler) */
  wakeScheduler: (why: "work" | "capacity", requeued?: boolean, ended?: string[]) => void = () => {};

  constructor(
    private readonly pool: pg.Pool,
    private readonly opts: DispatchOptions,
  ) {
    this.events = new EventSink(pool, {
      capacityFreed: (requeued, ended) => this.wakeScheduler("capacity", requeued, ended),
      cancelAgain: (stream, jobId, attempt) => stream.sendCancel([{ jobId, attempt }], "cancelled"),
      recorded: (started, finished, result) => this.opts.metrics?.eventsRecorded(started, finished, result),
    }, { logMaxBytesPerJob: opts.logMaxBytesPerJob });
  }

  start(): void {
    let lastWritten = Date.now();
    const beat = async () => {
      const heard = [...this.streams.values()].filter((s) => s.heard);
      for (const s of heard) s.heard = false;
      const ok = await touchLiveness(
        this.pool,
        { id: this.opts.coordinatorId, grpcAddress: this.opts.grpcAddress(), httpAddress: this.opts.httpAddress() },
        heard.map((s) => {
          const used = this.used.get(s);
          return { id: s.workerId, usedCpuMillis: used?.cpuMillis ?? 0, usedMemoryMb: used?.memoryMb ?? 0 };
        }),
      ).then(
        () => true,
        () => {
          for (const s of heard) s.heard = true;
          return false;
        },
      );
      if (ok) lastWritten = Date.now();
      else if (this.streams.size > 0 && Date.now() - lastWritten > this.opts.leaseMs() / 2) {
        // This coordinator cannot reach Postgres: its workers' heartbeats are not being recorded
        // and the leader will soon declare them lost and re-queue their jobs. Let them go, so
        // they reconnect to a coordinator that can vouch for them.
        this.opts.log?.(`cannot record worker heartbeats for ${Date.now() - lastWritten} ms: closing ${this.streams.size} worker stream(s) so they reconnect elsewhere`);
        for (const stream of [...this.streams.values()]) stream.close();
      }
      this.livenessTimer = setTimeout(() => void beat(), this.opts.heartbeatIntervalMs());
    };
    void beat();
  }

  async stop(): Promise<void> {
    clearTimeout(this.livenessTimer);
    for (const s of this.streams.values()) s.close();
    await this.events.drain().catch(() => {});
    this.events.stop();
  }

  readonly service: WorkerServiceServer = {
    connect: (call) => this.connect(call),
  };

  /** Placements written by the leader: sends those whose workers this coordinator holds. */
  deliver(jobs: readonly AssignedJob[]): void {
    this.opts.metrics?.assigned(jobs.filter((j) => this.streams.has(j.worker_id)));
    const byWorker = new Map<string, AssignedJob[]>();
    for (const job of jobs) {
      const list = byWorker.get(job.worker_id);
      if (list) list.push(job);
      else byWorker.set(job.worker_id, [job]);
    }
    for (const [workerId, list] of byWorker) this.streams.get(workerId)?.sendAssignments(list);
  }

  /** Another coordinator placed work on these workers: load and send what is ours to send. */
  assignmentsWritten(workerIds: readonly string[]): void {
    for (const id of workerIds) if (this.streams.has(id)) this.assignQueue.add(id);
    if (this.assignQueue.size === 0 || this.assignScheduled) return;
    this.assignScheduled = true;
    setImmediate(() => void this.sendQueuedAssignments());
  }

  cancel(workerId: string, attempt: AttemptRef, reason: string): void {
    this.streams.get(workerId)?.sendCancel([attempt], reason);
  }

  private async sendQueuedAssignments(): Promise<void> {
    const ids = [...this.assignQueue];
    this.assignQueue.clear();
    try {
      this.deliver(await loadAssignedJobs(this.pool, ids));
    } catch {
      for (const id of ids) this.assignQueue.add(id);
      await new Promise((r) => setTimeout(r, 200));
    } finally {
      this.assignScheduled = false;
      if (this.assignQueue.size > 0) this.assignmentsWritten([]);
    }
  }

  private connect(call: ServerDuplexStream<WorkerMessage, CoordinatorMessage>): void {
    let stream: WorkerStream | undefined;
    let registering: Promise<void> | undefined;
    const pendingBeforeRegistered: WorkerMessage[] = [];

    const handle = (msg: WorkerMessage) => {
      if (!stream) {
        pendingBeforeRegistered.push(msg);
        return;
      }
      stream.heard = true;
      if (msg.msg?.$case === "heartbeat") this.opts.metrics?.heartbeat();
      switch (msg.msg?.$case) {
        case "heartbeat": {
          const used = msg.msg.heartbeat.used;
          this.used.set(stream, { cpuMillis: used?.cpuMillis ?? 0, memoryMb: used?.memoryMb ?? 0 });
          break;
        }
        case "events":
          stream.settled(msg.msg.events.events);
          this.events.add(stream, msg.msg.events);
          break;
        case "drain":
          break;
        case "register":
          call.emit("error", { code: status.FAILED_PRECONDITION, details: "a stream registers once" });
          break;
        case undefined:
          break;
      }
    };

    call.on("data", (msg: WorkerMessage) => {
      if (!stream && !registering) {
        if (msg.msg?.$case !== "register") {
          call.destroy(Object.assign(new Error("the first message on a worker stream must be register"), {
            code: status.FAILED_PRECONDITION,
          }));
          return;
        }
        const reg = msg.msg.register;
        registering = this.register(call, reg)
          .then((s) => {
            stream = s;
            for (const m of pendingBeforeRegistered.splice(0)) handle(m);
          })
          .catch((err: Error) => {
            call.destroy(Object.assign(new Error(`registration failed: ${err.message}`), { code: status.UNAVAILABLE }));
          });
        return;
      }
      handle(msg);
    });
    const closed = () => {
      if (stream && this.streams.get(stream.workerId) === stream) {
        this.streams.delete(stream.workerId);
        void detachWorker(this.pool, stream.workerId, this.opts.coordinatorId).catch(() => {});
      }
    };
    call.on("end", () => {
      closed();
      call.end();
    });
    call.on("error", closed);
    call.on("close", closed);
  }

  private async register(call: ServerDuplexStream<WorkerMessage, CoordinatorMessage>, reg: Register): Promise<WorkerStream> {
    if (!reg.workerId) throw new Error("register.worker_id is empty");
    const capacity = reg.capacity ?? { cpuMillis: 0, memoryMb: 0, gpus: 0 };
    await upsertWorker(this.pool, {
      id: reg.workerId,
      name: reg.name || reg.workerId,
      cpuMillis: capacity.cpuMillis,
      memoryMb: capacity.memoryMb,
      gpus: capacity.gpus,
      slots: reg.slots,
      labels: reg.labels,
      limitsMechanism: reg.limitsMechanism || "none",
      coordinatorId: this.opts.coordinatorId,
      gpuIds: reg.gpuIds,
    });
    const stream = new WorkerStream(reg.workerId, reg.name, call, this.opts.defaultTimeoutMs);
    this.streams.get(reg.workerId)?.close(); // a newer stream from the same worker replaces the old one
    this.streams.set(reg.workerId, stream);
    this.opts.metrics?.streamRegistered();
    stream.send({
      msg: {
        $case: "registered",
        registered: {
          coordinatorId: this.opts.coordinatorId,
          heartbeatIntervalMs: this.opts.heartbeatIntervalMs(),
          leaseMs: this.opts.leaseMs(),
        },
      },
    });
    await this.reconcile(stream, reg.running);
    this.deliver(await loadAssignedJobs(this.pool, [reg.workerId]));
    this.wakeScheduler("work");
    return stream;
  }

  /**
   * After a reconnect the worker lists what it still runs. Attempts that are no longer current for
   * this worker (re-queued by the reaper, re-assigned, cancelled) are stopped.
   */
  private async reconcile(stream: WorkerStream, running: AttemptRef[]): Promise<void> {
    if (running.length === 0) return;
    const { rows } = await this.pool.query<{ id: string; attempt: number; state: string; worker_id: string | null; cancel_requested: boolean }>(
      "SELECT id, attempt, state, worker_id, cancel_requested FROM jobs WHERE id = ANY($1::bigint[])",
      [running.map((r) => r.jobId)],
    );
    const byId = new Map(rows.map((r) => [r.id, r]));
    const stale: AttemptRef[] = [];
    const cancelled: AttemptRef[] = [];
    for (const ref of running) {
      const row = byId.get(ref.jobId);
      const current =
        row && row.attempt === ref.attempt && row.worker_id === stream.workerId && (row.state === "assigned" || row.state === "running");
      if (!current) stale.push(ref);
      else if (row.cancel_requested) cancelled.push(ref);
    }
    stream.sendCancel(stale, "stale attempt: the job is no longer assigned to this worker");
    stream.sendCancel(cancelled, "cancelled");
  }
}
