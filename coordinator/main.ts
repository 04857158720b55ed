// A coordinator: serves the API and worker streams, and runs the leader-only services while it
// holds the leader lock.
import http from "node:http";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { ReflectionService } from "@grpc/reflection";
import { HealthImplementation } from "grpc-health-check";
import type pg from "pg";
import { ClusterServiceService } from "../shared/gen/baton/v1/cluster.js";
import { ConfigServiceService } from "../shared/gen/baton/v1/config.js";
import { JobServiceService } from "../shared/gen/baton/v1/jobs.js";
import { ScheduleServiceService } from "../shared/gen/baton/v1/schedules.js";
import { QueueServiceService } from "../shared/gen/baton/v1/queues.js";
import { TemplateServiceService } from "../shared/gen/baton/v1/templates.js";
import { WorkerServiceService } from "../shared/gen/baton/v1/worker.js";
import { clusterService } from "./api/cluster-service.js";
import { configService } from "./api/config-service.js";
import { JobChanges } from "./api/job-changes.js";
import { jobService } from "./api/job-service.js";
import { prepareBatch } from "./api/prepare-batch.js";
import { scheduleService } from "./api/schedule-service.js";
import { queueService } from "./api/queue-service.js";
import { templateService } from "./api/template-service.js";
import { LiveConfig } from "./config/live-config.js";
import { defaultValues } from "./config/settings.js";
import { Listener } from "./db/listener.js";
import { migrate } from "./db/migrate.js";
import { createPool } from "./db/pool.js";
import { Dispatcher } from "./dispatch/worker-service.js";
import { startHttpServer } from "./http/http-server.js";
import { Elector } from "./leader/elector.js";
import { Leadership } from "./leader/leadership.js";
import { CoordinatorMetrics } from "./metrics/coordinator-metrics.js";
import type { CoordinatorOptions } from "./options.js";
import { CHANNELS, notify } from "./sql/notify.js";
import { FencedError } from "./sql/term.js";

const PROTO_DIR = fileURLToPath(new URL("../proto/", import.meta.url));
export const SERVICE_NAMES = ["baton.v1.JobService", "baton.v1.ConfigService", "baton.v1.WorkerService", "baton.v1.ClusterService", "baton.v1.QueueService", "baton.v1.TemplateService", "baton.v1.ScheduleService"];

export interface RunningCoordinator {
  id: string;
  grpcAddress: string;
  httpAddress: string;
  isLeader(): boolean;
  stop(): Promise<void>;
}

export async function startCoordinator(
  opts: CoordinatorOptions,
  log: (line: string) => void = (l) => console.log(l),
): Promise<RunningCoordinator> {
  const applied = await migrate(opts.databaseUrl);
  if (applied.length > 0) log(`applied migrations ${applied.join(", ")}`);
  const pool: pg.Pool = createPool(opts.databaseUrl, opts.poolSize);
  const metrics = new CoordinatorMetrics(pool, { isLeader: () => leadership.activeTerm !== undefined, streams: () => dispatcher.streams.size });
  let grpcAddress = opts.advertiseAddress;
  let httpAddress = "";
  // Cluster settings: flags/env are the defaults, cluster_config overrides them at run time.
  const live = new LiveConfig(pool, defaultValues(opts), log);
  await live.start();

  const changes = new JobChanges();
  // Same shape as state changes (comma-separated job ids), on its own channel: output was stored.
  const logsWritten = new JobChanges();
  const dispatcher = new Dispatcher(pool, {
    coordinatorId: opts.id,
    metrics,
    grpcAddress: () => grpcAddress,
    httpAddress: () => httpAddress,
    heartbeatIntervalMs: live.getter("heartbeat_interval_ms"),
    leaseMs: live.getter("lease_ms"),
    defaultTimeoutMs: live.getter("default_timeout_ms"),
    logMaxBytesPerJob: live.getter("log_max_bytes_per_job"),
    log,
  });

  const elector = new Elector(opts.databaseUrl, opts.id, opts.electionIntervalMs);
  const leadership: Leadership = new Leadership(pool, {
    strategy: live.getter("scheduling_strategy"),
    metrics,
    batchSize: opts.schedulerBatchSize,
    tickMs: opts.schedulerTickMs,
    reservation: opts.reservation,
    leaseMs: live.getter("lease_ms"),
    reaperIntervalMs: opts.reaperIntervalMs,
    defaultTimeoutMs: live.getter("default_timeout_ms"),
    timeoutGraceMs: opts.timeoutGraceMs,
    logRetentionMs: () => live.get("log_retention_hours") * 3_600_000,
    jobRetentionMs: () => opts.jobRetentionMs,
    prepareJobs: (db, specs) => prepareBatch(specs, { db, defaults: specDefaults() }),
    holdsStream: (w) => dispatcher.streams.has(w),
    deliver: (assigned) => dispatcher.deliver(assigned),
    failed: (err) => {
      if (err instanceof FencedError) {
        log(`stepping down: ${err.message}`);
        void leadership.revoke();
      } else {
        log(`leader pass failed, retrying on the next tick: ${err.message}`);
      }
    },
    log,
  });
  // "work": something may be placeable; "capacity": attempts ended (a pass is needed only if work
  // waits or some went back to the queue). Followers pass the same word to the leader.
  const wakeScheduler = (why: "work" | "capacity", requeued = false, ended: string[] = []) => {
    const kind = why === "capacity" && !requeued ? "capacity" : "work";
    if (leadership.activeTerm === undefined) void notify(pool, CHANNELS.wake, kind).catch(() => {});
    else if (kind === "capacity") leadership.capacityFreed(false, ended);
    else leadership.wake();
  };
  dispatcher.wakeScheduler = wakeScheduler;
  elector.on("elected", (term) => {
    log(`elected leader, term ${term}`);
    leadership.establish(term);
  });
  elector.on("deposed", (reason) => {
    log(`no longer leader: ${reason}`);
    void leadership.revoke();
  });

  const listener = new Listener(opts.databaseUrl, Object.values(CHANNELS), (channel, payload) => {
    switch (channel) {
      case CHANNELS.wake:
        if (payload === "capacity") leadership.capacityFreed(false);
        else leadership.wake();
        break;
      case CHANNELS.assign:
        dispatcher.assignmentsWritten(payload.split(","));
        break;
      case CHANNELS.cancel: {
        const c = JSON.parse(payload) as { workerId: string; jobId: string; attempt: number; reason?: string };
        dispatcher.cancel(c.workerId, { jobId: c.jobId, attempt: c.attempt }, c.reason ?? "cancelled");
        break;
      }
      case CHANNELS.jobChanged:
        changes.announce(payload);
        break;
      case CHANNELS.jobLogs:
        logsWritten.announce(payload);
        break;
      case CHANNELS.config:
        live.invalidate();
        break;
      case CHANNELS.schedules:
        leadership.schedulesChanged();
        break;
    }
  });
  live.onChange((key) => {
    if (key === "log_retention_hours") leadership.logRetentionChanged();
    if (key === "scheduling_strategy") leadership.wake();
  });
  listener.onReconnect = () => {
    live.invalidate();
    changes.announceAll();
    logsWritten.announceAll();
    dispatcher.assignmentsWritten([...dispatcher.streams.keys()]);
    leadership.wake();
  };
  await listener.start();

  const specDefaults = () => ({
    maxAttempts: live.get("default_max_attempts"),
    retry: live.get("default_retry"),
    idempotencyWindowS: live.get("idempotency_window_s"),
  });
  const server = new grpc.Server({
    "grpc.max_receive_message_length": 64 * 1024 * 1024,
    "grpc.max_send_message_length": 64 * 1024 * 1024,
    "grpc.keepalive_time_ms": 10_000,
    "grpc.keepalive_timeout_ms": 5_000,
    "grpc.keepalive_permit_without_calls": 1,
  });
  server.addService(
    JobServiceService,
    jobService({
      pool,
      metrics,
      changes,
      logsWritten,
      defaults: specDefaults,
      insertAtLocalLeader: (rows) => leadership.insertSubmitted(rows),
      submitToLocalLeader: (jobs) => leadership.submitted(jobs),
      cancelAttempt: async (workerId, jobId, attempt) => {
        if (dispatcher.streams.has(workerId)) dispatcher.cancel(workerId, { jobId, attempt }, "cancelled");
        else await notify(pool, CHANNELS.cancel, JSON.stringify({ workerId, jobId, attempt }));
      },
    }),
  );
  server.addService(WorkerServiceService, dispatcher.service);
  server.addService(QueueServiceService, queueService(pool));
  server.addService(TemplateServiceService, templateService(pool, specDefaults));
  server.addService(ScheduleServiceService, scheduleService({ pool, prepare: (db, specs) => prepareBatch(specs, { db, defaults: specDefaults() }) }));
  server.addService(ClusterServiceService, clusterService(pool, Math.max(5_000, opts.heartbeatIntervalMs * 5)));
  server.addService(ConfigServiceService, configService(pool, live, opts.id));
  const health = new HealthImplementation({ "": "SERVING", ...Object.fromEntries(SERVICE_NAMES.map((s) => [s, "SERVING"])) });
  health.addToServer(server);
  const packageDefinition = protoLoader.loadSync(
    ["baton/v1/jobs.proto", "baton/v1/config.proto", "baton/v1/worker.proto", "baton/v1/cluster.proto", "baton/v1/queues.proto", "baton/v1/templates.proto", "baton/v1/schedules.proto"],
    { includeDirs: [PROTO_DIR] },
  );
  new ReflectionService(packageDefinition).addToServer(server);

  const grpcPort = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${opts.host}:${opts.grpcPort}`, grpc.ServerCredentials.createInsecure(), (err, port) =>
      err ? reject(new Error(`cannot listen for gRPC on ${opts.host}:${opts.grpcPort}: ${err.message}`)) : resolve(port),
    ),
  );
  if (opts.grpcPort === 0) grpcAddress = grpcAddress.replace(/:0$/, `:${grpcPort}`);

  const httpServer: http.Server = await startHttpServer(opts.host, opts.httpPort, {
    metrics: () => metrics.exposition(),
    ready: async () => {
      await pool.query("SELECT 1");
      return true;
    },
  });
  const httpPort = (httpServer.address() as { port: number }).port;
  httpAddress = `${grpcAddress.split(":")[0]}:${httpPort}`;

  dispatcher.start();
  elector.start();
  log(`coordinator ${opts.id} gRPC ${opts.host}:${grpcPort} (advertised ${grpcAddress}) HTTP ${opts.host}:${httpPort}`);

  let stopping: Promise<void> | undefined;
  return {
    id: opts.id,
    grpcAddress,
    httpAddress,
    isLeader: () => leadership.activeTerm !== undefined,
    stop: () =>
      (stopping ??= (async () => {
        health.setStatus("", "NOT_SERVING");
        await elector.stop();
        await leadership.revoke();
        await dispatcher.stop();
        server.forceShutdown();
        await new Promise<void>((r) => httpServer.close(() => r()));
        httpServer.closeAllConnections();
        await listener.stop();
        live.stop();
        await pool.query("DELETE FROM coordinators WHERE id = $1", [opts.id]).catch(() => {});
        await pool.end();
      })()),
  };
}
