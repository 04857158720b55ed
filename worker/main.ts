// Wires the worker together: executors and the attempt runner, the reporter, the coordinator
// connection and the HTTP probes; and takes it apart again in order on stop.
import type { CompiledWorkerOptions } from "./options.js";
import { CoordinatorConnection, type ConnectionOptions } from "./connection.js";
import { detectGpus, GpuPool, offeredGpus } from "./gpus.js";
import { startHealthServer } from "./http.js";
import { detectLimits } from "./limits/detect.js";
import type { LimitsMechanism } from "./limits/limits.js";
import { WorkerMetrics } from "./metrics.js";
import { Reporter } from "./reporter.js";
import { AttemptRunner } from "./runner/attempt-runner.js";
import { ExecExecutor } from "./runner/exec-executor.js";
import { JsExecutor, loadTaskModule } from "./runner/js-executor.js";

export type WorkerLifecycle = "RUNNING" | "DRAINING" | "STOPPED";

export interface StartWorkerDeps {
  /** Operational lines (connection lost, registered…); never per job. Default: silent. */
  log?: (line: string) => void;
  /** Overrides for the reconnect backoff and timers (tests). */
  connection?: ConnectionOptions;
}

export interface StopOptions {
  /** How long running attempts may still run before they are stopped (default: --shutdown-grace-ms). */
  graceMs?: number;
  /** How long to wait for the coordinator to acknowledge the last events (default 5000). */
  flushMs?: number;
}

export interface RunningWorker {
  readonly id: string;
  readonly name: string;
  /** The HTTP port actually bound. */
  readonly httpPort: number;
  /** How jobs are confined, as detected (or forced) at start. */
  readonly limitsMechanism: LimitsMechanism;
  /** GPUs offered to jobs. */
  readonly gpus: number;
  readonly state: WorkerLifecycle;
  /** True while registered with a coordinator (what /readyz reports). */
  isRegistered(): boolean;
  /** Attempts running now. */
  runningCount(): number;
  /**
   * Stops taking work (rejects new assignments, sends Drain), lets running attempts finish for up
   * to `graceMs`, stops the rest (reported as `worker_lost` so they are re-queued), waits for the
   * coordinator to acknowledge the last events, then closes. A second call with a smaller grace
   * shortens the wait.
   */
  stop(opts?: StopOptions): Promise<void>;
}

export async function startWorker(options: CompiledWorkerOptions, deps: StartWorkerDeps = {}): Promise<RunningWorker> {
  const log = deps.log ?? (() => {});
  const tasks = options.tasksModule ? await loadTaskModule(options.tasksModule) : undefined;
  // Throws when the mechanism --limits names cannot be used here: better not to start than to run
  // jobs unconfined.
  const { limits, skipped } = await detectLimits(options.limits, options.workerId);
  for (const why of skipped) log(`limits: ${why}`);
  const found = options.gpus === 0 ? { gpus: [] } : await detectGpus();
  if (found.problem) log(found.problem);
  const gpus = new GpuPool(offeredGpus(found.gpus, options.gpus));

  let state: WorkerLifecycle = "RUNNING";
  const unreachable = new Set<string>();
  const reporter = new Reporter();
  const metrics = new WorkerMetrics({ slots: options.slots, running: () => runner.runningCount, registered: () => connection.registered, unackedBatches: () => reporter.unackedBatches });
  const runner = new AttemptRunner({
    slots: options.slots,
    workerId: options.workerId,
    executors: {
      exec: new ExecExecutor({ killGraceMs: options.killGraceMs, limits, usageIntervalMs: options.usageIntervalMs }),
      js: new JsExecutor(tasks),
    },
    emit: (event) => {
      metrics.event(event);
      reporter.emit(event);
    },
    logBudget: reporter,
    gpus,
  });

  const connection = new CoordinatorConnection(
    options.coordinators,
    metrics.instrument({
      register: () => ({
        workerId: options.workerId,
        name: options.name,
        capacity: { cpuMillis: options.cpuMillis, memoryMb: options.memoryMb, gpus: gpus.size },
        gpuIds: gpus.gpus.map((g) => g.uuid).filter((u) => u !== ""),
        slots: options.slots,
        labels: options.labels,
        running: runner.runningRefs(),
        limitsMechanism: limits.mechanism,
        version: options.version,
      }),
      heartbeat: () => ({ running: runner.runningCount, used: runner.used() }),
      onRegistered: (r, address) => {
        log(`registered with coordinator ${r.coordinatorId || "?"} at ${address} (heartbeat ${r.heartbeatIntervalMs} ms, lease ${r.leaseMs} ms)`);
        if (state === "DRAINING") connection.send({ msg: { $case: "drain", drain: {} } });
        reporter.attach(metrics.countBatches((batch) => connection.send({ msg: { $case: "events", events: batch } })));
      },
      onAssignments: (list) => runner.assign(list),
      onCancel: (c) => runner.cancel(c.attempts, "cancelled", c.reason ? `cancelled: ${c.reason}` : "cancelled by the coordinator"),
      onAck: (seq) => reporter.ack(seq),
      onDisconnected: (address, error, wasRegistered) => {
        reporter.detach();
        if (wasRegistered) unreachable.clear();
        // One line per address per outage, not one per retry.
        if (state !== "STOPPED" && !unreachable.has(address)) {
          unreachable.add(address);
          log(`${wasRegistered ? "lost" : "cannot reach"} coordinator ${address}${error ? `: ${error.message}` : ""}; retrying`);
        }
      },
    }),
    deps.connection,
  );

  let http: Awaited<ReturnType<typeof startHealthServer>>;
  try {
    http = await startHealthServer(options.httpHost, options.httpPort, () => connection.registered, () => metrics.exposition());
  } catch (e) {
    limits.close();
    throw e;
  }
  connection.start();

  let stopping: Promise<void> | undefined;
  let hurry: ((graceMs: number) => void) | undefined;

  const stop = (opts: StopOptions = {}): Promise<void> => {
    const graceMs = opts.graceMs ?? options.shutdownGraceMs;
    if (stopping) {
      hurry?.(graceMs);
      return stopping;
    }
    stopping = (async () => {
      state = "DRAINING";
      runner.drain(`worker ${options.name} is stopping`);
      connection.send({ msg: { $case: "drain", drain: {} } });

      // Let running attempts end on their own, for up to the grace period (shortened by a second stop()).
      await new Promise<void>((resolve) => {
        let timer = setTimeout(resolve, graceMs);
        hurry = (ms) => {
          clearTimeout(timer);
          timer = setTimeout(resolve, ms);
        };
        runner.whenIdle().then(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      runner.cancelAll("worker_lost", `worker ${options.name} stopped before the attempt ended`);
      await runner.whenIdle();
      limits.close();

      const flushMs = opts.flushMs ?? 5000;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, flushMs);
        reporter.whenAllAcked().then(() => {
          clearTimeout(timer);
          resolve();
        });
      });
      if (!reporter.idle()) log(`stopping with ${reporter.unackedBatches} event batches not acknowledged by a coordinator`);
      state = "STOPPED";
      await connection.close();
      await http.close();
    })();
    return stopping;
  };

  return {
    id: options.workerId,
    name: options.name,
    httpPort: http.port,
    limitsMechanism: limits.mechanism,
    gpus: gpus.size,
    get state() {
      return state;
    },
    isRegistered: () => connection.registered,
    runningCount: () => runner.runningCount,
    stop,
  };
}
