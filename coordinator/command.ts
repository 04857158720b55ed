// `baton coordinator` and `baton migrate`.
import { Command } from "commander";
import { migrate } from "./db/migrate.js";
import { compileCoordinatorOptions, type RawCoordinatorOptions } from "./options.js";

export function coordinatorCommand(): Command {
  return new Command("coordinator")
    .description("run a coordinator: API, worker streams, and the leader's scheduler when elected")
    .option("--database-url <url>", "Postgres connection string (BATON_DATABASE_URL)")
    .option("--host <addr>", "listen address (BATON_HOST, default 0.0.0.0)")
    .option("--grpc-port <port>", "gRPC port (BATON_GRPC_PORT, default 50051)")
    .option("--http-port <port>", "HTTP port for health, REST and metrics (BATON_HTTP_PORT, default 8080)")
    .option("--advertise-address <host:port>", "address workers and peers use for this coordinator (BATON_ADVERTISE_ADDRESS)")
    .option("--id <id>", "coordinator id (BATON_COORDINATOR_ID, default random)")
    .option("--heartbeat-interval-ms <ms>", "worker heartbeat interval (BATON_HEARTBEAT_INTERVAL_MS, default 1000)")
    .option("--lease-ms <ms>", "a worker silent this long is lost (BATON_LEASE_MS, default 10000)")
    .option("--election-interval-ms <ms>", "how often a follower tries the leader lock (default 500)")
    .option("--strategy <name>", "binpack or spread (BATON_SCHEDULING_STRATEGY, default binpack)")
    .option("--default-timeout-ms <ms>", "timeout for jobs that set none, 0 = none (BATON_DEFAULT_TIMEOUT_MS)")
    .option("--default-max-attempts <n>", "attempts for jobs that set none (BATON_DEFAULT_MAX_ATTEMPTS, default 1)")
    .option("--pool-size <n>", "Postgres pool size (BATON_DB_POOL_SIZE, default 10)")
    .option("--log-max-bytes-per-job <bytes>", "job output kept per job, the rest dropped (BATON_LOG_MAX_BYTES_PER_JOB, default 16777216)")
    .option("--log-retention-hours <h>", "delete job output older than this, 0 = never (BATON_LOG_RETENTION_HOURS, default 168)")
    .option("--default-retry <policy>", "retry policy of jobs that set none, e.g. exponential,initial=1s,max=5m,multiplier=2,jitter=0.2 or fixed,initial=500ms or none (BATON_DEFAULT_RETRY; that exponential one by default)")
    .option("--job-retention-hours <h>", "delete finished jobs (with history and output) older than this, 0 = never (BATON_JOB_RETENTION_HOURS, default 720)")
    .option("--reserved-share <fraction>", "share of each worker's cpu, memory and slots kept for jobs at or above --reserved-priority, e.g. 0.2 (BATON_RESERVED_SHARE, default none)")
    .option("--reserved-priority <n>", "lowest priority that may use the reserved share (BATON_RESERVED_PRIORITY)")
    .option("--idempotency-window-s <s>", "how long a job's idempotency key returns that job when the job sets no window (BATON_IDEMPOTENCY_WINDOW_S, default 86400)")
    .action(async (raw: RawCoordinatorOptions) => {
      const opts = compileCoordinatorOptions(raw);
      // OpenTelemetry first: meters and tracers made later bind to its providers.
      const { startTelemetry } = await import("../shared/tracing/sdk.js");
      const telemetry = startTelemetry("baton-coordinator");
      if (telemetry.enabled) console.log("OpenTelemetry: exporting traces and metrics (OTEL_* settings)");
      const { startCoordinator } = await import("./main.js");
      const coordinator = await startCoordinator(opts);
      let signals = 0;
      const shutdown = (signal: string) => {
        if (++signals > 1) process.exit(1);
        console.log(`coordinator ${coordinator.id}: ${signal}, stopping`);
        coordinator
          .stop()
          .then(() => telemetry.shutdown())
          .then(
            () => process.exit(0),
            () => process.exit(1),
          );
      };
      process.on("SIGTERM", () => shutdown("SIGTERM"));
      process.on("SIGINT", () => shutdown("SIGINT"));
    });
}

export function migrateCommand(): Command {
  return new Command("migrate")
    .description("apply the database migrations this Baton knows (refuses a newer schema)")
    .option("--database-url <url>", "Postgres connection string (BATON_DATABASE_URL)")
    .action(async (raw: { databaseUrl?: string }) => {
      const url = raw.databaseUrl ?? process.env.BATON_DATABASE_URL;
      if (!url) throw new Error("no database: pass --database-url or set BATON_DATABASE_URL");
      const applied = await migrate(url);
      console.log(applied.length ? `applied migrations ${applied.join(", ")}` : "database schema is up to date");
    });
}
