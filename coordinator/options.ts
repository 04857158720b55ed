// Coordinator options are compiled once at the entry point: defaults and validation live here and
// nowhere else (flags win over BATON_* environment variables).
import { randomUUID } from "node:crypto";
import os from "node:os";
import type { Reservation, Strategy } from "../shared/scheduling/types.js";
import { BUILTIN_DEFAULT_RETRY, parseRetrySetting, type StoredRetry } from "./api/retry-policy.js";

export interface CoordinatorOptions {
  id: string;
  databaseUrl: string;
  host: string;
  grpcPort: number;
  httpPort: number;
  /** host:port that workers and other coordinators are told to use for this coordinator */
  advertiseAddress: string;
  heartbeatIntervalMs: number;
  leaseMs: number;
  electionIntervalMs: number;
  reaperIntervalMs: number;
  schedulerTickMs: number;
  schedulerBatchSize: number;
  strategy: Strategy;
  defaultTimeoutMs: number;
  defaultMaxAttempts: number;
  /** how long past its timeout a running attempt may go unreported before the leader ends it */
  timeoutGraceMs: number;
  poolSize: number;
  /** output kept per job; bytes past it are dropped and the job is marked truncated */
  logMaxBytesPerJob: number;
  /** job output older than this is deleted by the leader; 0 keeps it forever */
  logRetentionMs: number;
  /** a share of each worker kept for jobs at or above a priority; absent: none */
  reservation?: Reservation;
  /** how long an idempotency key holds for a job that sets no window */
  idempotencyWindowS: number;
  /** retry policy of jobs that set none */
  defaultRetry: StoredRetry;
  /** finished jobs older than this are deleted (with their history and output); 0 keeps them */
  jobRetentionMs: number;
}

export interface RawCoordinatorOptions {
  id?: string;
  databaseUrl?: string;
  host?: string;
  grpcPort?: string | number;
  httpPort?: string | number;
  advertiseAddress?: string;
  heartbeatIntervalMs?: string | number;
  leaseMs?: string | number;
  electionIntervalMs?: string | number;
  strategy?: string;
  defaultTimeoutMs?: string | number;
  defaultMaxAttempts?: string | number;
  poolSize?: string | number;
  logMaxBytesPerJob?: string | number;
  logRetentionHours?: string | number;
  reservedShare?: string | number;
  reservedPriority?: string | number;
  idempotencyWindowS?: string | number;
  defaultRetry?: string;
  jobRetentionHours?: string | number;
}

export class OptionError extends Error {
  readonly code = "INVALID_OPTION";
}

/** --reserved-share and --reserved-priority: both or neither; a share of 0 is none. */
function compileReservation(raw: RawCoordinatorOptions, env: NodeJS.ProcessEnv): Reservation | undefined {
  const shareText = raw.reservedShare ?? env.BATON_RESERVED_SHARE;
  const priorityText = raw.reservedPriority ?? env.BATON_RESERVED_PRIORITY;
  if ((shareText === undefined || shareText === "") && (priorityText === undefined || priorityText === "")) return undefined;
  const share = typeof shareText === "number" ? shareText : Number(shareText);
  if (shareText === undefined || shareText === "" || !Number.isFinite(share) || share < 0 || share >= 1) {
    throw new OptionError(
      `--reserved-share must be a fraction from 0 to below 1 (e.g. 0.2 keeps a fifth of each worker for urgent jobs), got ${JSON.stringify(shareText)}`,
    );
  }
  if (priorityText === undefined || priorityText === "") {
    throw new OptionError("--reserved-share needs --reserved-priority (BATON_RESERVED_PRIORITY): the lowest priority that may use the reserve");
  }
  const minPriority = int("--reserved-priority", priorityText, 0, -2_147_483_648, 2_147_483_647);
  return share > 0 ? { share, minPriority } : undefined;
}

function int(name: string, value: string | number | undefined, fallback: number, min: number, max: number): number {
  if (value === undefined || value === "") return fallback;
  const n = typeof value === "number" ? value : Number(value);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new OptionError(`${name} must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
  }
  return n;
}

export function compileCoordinatorOptions(
  raw: RawCoordinatorOptions,
  env: NodeJS.ProcessEnv = process.env,
): CoordinatorOptions {
  const databaseUrl = raw.databaseUrl ?? env.BATON_DATABASE_URL;
  if (!databaseUrl) {
    throw new OptionError("no database: pass --database-url or set BATON_DATABASE_URL (or use `baton dev`)");
  }
  const host = raw.host ?? env.BATON_HOST ?? "0.0.0.0";
  const grpcPort = int("--grpc-port", raw.grpcPort ?? env.BATON_GRPC_PORT, 50051, 0, 65535);
  const httpPort = int("--http-port", raw.httpPort ?? env.BATON_HTTP_PORT, 8080, 0, 65535);
  const heartbeatIntervalMs = int("--heartbeat-interval-ms", raw.heartbeatIntervalMs ?? env.BATON_HEARTBEAT_INTERVAL_MS, 1000, 50, 60_000);
  const leaseMs = int("--lease-ms", raw.leaseMs ?? env.BATON_LEASE_MS, 10_000, 200, 600_000);
  if (leaseMs < 2 * heartbeatIntervalMs) {
    throw new OptionError(`--lease-ms (${leaseMs}) must be at least twice --heartbeat-interval-ms (${heartbeatIntervalMs})`);
  }
  const strategy = raw.strategy ?? env.BATON_SCHEDULING_STRATEGY ?? "binpack";
  if (strategy !== "binpack" && strategy !== "spread") {
    throw new OptionError(`--strategy must be binpack or spread, got ${JSON.stringify(strategy)}`);
  }
  let defaultRetry = BUILTIN_DEFAULT_RETRY;
  const retrySetting = raw.defaultRetry ?? env.BATON_DEFAULT_RETRY;
  if (retrySetting) {
    try {
      defaultRetry = parseRetrySetting(retrySetting);
    } catch (err) {
      throw new OptionError((err as Error).message);
    }
  }
  const advertiseHost = host === "0.0.0.0" || host === "::" ? os.hostname() : host;
  return {
    id: raw.id ?? env.BATON_COORDINATOR_ID ?? `coord-${randomUUID().slice(0, 8)}`,
    databaseUrl,
    host,
    grpcPort,
    httpPort,
    advertiseAddress: raw.advertiseAddress ?? env.BATON_ADVERTISE_ADDRESS ?? `${advertiseHost}:${grpcPort}`,
    heartbeatIntervalMs,
    leaseMs,
    electionIntervalMs: int("--election-interval-ms", raw.electionIntervalMs ?? env.BATON_ELECTION_INTERVAL_MS, 500, 50, 60_000),
    reaperIntervalMs: Math.max(100, Math.min(1000, Math.floor(leaseMs / 4))),
    schedulerTickMs: 1000,
    schedulerBatchSize: 5000,
    strategy,
    defaultTimeoutMs: int("--default-timeout-ms", raw.defaultTimeoutMs ?? env.BATON_DEFAULT_TIMEOUT_MS, 0, 0, 7 * 24 * 3600_000),
    defaultMaxAttempts: int("--default-max-attempts", raw.defaultMaxAttempts ?? env.BATON_DEFAULT_MAX_ATTEMPTS, 1, 1, 100),
    timeoutGraceMs: 30_000,
    poolSize: int("--pool-size", raw.poolSize ?? env.BATON_DB_POOL_SIZE, 10, 2, 200),
    logMaxBytesPerJob: int("--log-max-bytes-per-job", raw.logMaxBytesPerJob ?? env.BATON_LOG_MAX_BYTES_PER_JOB, 16 * 1024 * 1024, 0, 2 ** 40),
    logRetentionMs: int("--log-retention-hours", raw.logRetentionHours ?? env.BATON_LOG_RETENTION_HOURS, 168, 0, 24 * 3650) * 3_600_000,
    reservation: compileReservation(raw, env),
    idempotencyWindowS: int("--idempotency-window-s", raw.idempotencyWindowS ?? env.BATON_IDEMPOTENCY_WINDOW_S, 86_400, 1, 365 * 86_400),
    defaultRetry,
    jobRetentionMs: int("--job-retention-hours", raw.jobRetentionHours ?? env.BATON_JOB_RETENTION_HOURS, 720, 0, 24 * 3650) * 3_600_000,
  };
}
