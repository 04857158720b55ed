// Worker options are compiled once at the entry point: raw flags and environment in, validated
// settings with every default filled out. Nothing deeper in the worker re-reads flags or env.
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { detectCpuMillis, detectMemoryMb } from "./host-capacity.js";
import { LIMITS_MODES, type LimitsMode } from "./limits/limits.js";

/** Flags as commander hands them over: all strings, all optional. */
export interface RawWorkerOptions {
  coordinators?: string;
  cpu?: string;
  memory?: string;
  slots?: string;
  name?: string;
  labels?: string;
  httpPort?: string;
  host?: string;
  tasks?: string;
  killGraceMs?: string;
  shutdownGraceMs?: string;
  limits?: string;
  usageIntervalMs?: string;
  gpus?: string;
}

export interface CompiledWorkerOptions {
  /** Random per process: a restarted worker is a new worker. */
  workerId: string;
  name: string;
  /** host:port, tried in turn (round robin on every reconnect). */
  coordinators: string[];
  cpuMillis: number;
  memoryMb: number;
  slots: number;
  labels: Record<string, string>;
  httpHost: string;
  /** 0 = any free port. */
  httpPort: number;
  /** Absolute path of the ESM module of js task handlers, if any. */
  tasksModule: string | undefined;
  /** Time between SIGTERM and SIGKILL to a job's process group. */
  killGraceMs: number;
  /** On shutdown, how long running attempts may keep running before they are stopped. */
  shutdownGraceMs: number;
  /** How jobs are confined: a mechanism, or `auto` for the best this host has. */
  limits: LimitsMode;
  /** Between two usage samples of a running exec job; 0 = none while it runs (one at its end). */
  usageIntervalMs: number;
  /** GPUs offered; undefined = as many as nvidia-smi finds. */
  gpus: number | undefined;
  version: string;
}

/** A setting the user gave is wrong; the message names the flag or variable and the value. */
export class WorkerOptionError extends Error {
  override readonly name = "WorkerOptionError";
  constructor(
    readonly setting: string,
    message: string,
  ) {
    super(message);
  }
}

export function isWorkerOptionError(e: unknown): e is WorkerOptionError {
  return e instanceof WorkerOptionError;
}

interface Setting {
  flag: string;
  env: string;
}

const S = {
  coordinators: { flag: "--coordinators", env: "BATON_COORDINATORS" },
  cpu: { flag: "--cpu", env: "BATON_WORKER_CPU" },
  memory: { flag: "--memory", env: "BATON_WORKER_MEMORY" },
  slots: { flag: "--slots", env: "BATON_WORKER_SLOTS" },
  name: { flag: "--name", env: "BATON_WORKER_NAME" },
  labels: { flag: "--labels", env: "BATON_WORKER_LABELS" },
  httpPort: { flag: "--http-port", env: "BATON_WORKER_HTTP_PORT" },
  host: { flag: "--host", env: "BATON_HOST" },
  tasks: { flag: "--tasks", env: "BATON_WORKER_TASKS" },
  killGraceMs: { flag: "--kill-grace-ms", env: "BATON_WORKER_KILL_GRACE_MS" },
  shutdownGraceMs: { flag: "--shutdown-grace-ms", env: "BATON_WORKER_SHUTDOWN_GRACE_MS" },
  limits: { flag: "--limits", env: "BATON_WORKER_LIMITS" },
  usageIntervalMs: { flag: "--usage-interval-ms", env: "BATON_WORKER_USAGE_INTERVAL_MS" },
  gpus: { flag: "--gpus", env: "BATON_WORKER_GPUS" },
} as const satisfies Record<keyof RawWorkerOptions, Setting>;

/** The flag and env var of each setting, for the command's help text. */
export const WORKER_SETTINGS = S;

export const WORKER_DEFAULTS = {
  coordinators: "127.0.0.1:50051",
  slots: 64,
  httpPort: 9464,
  host: "127.0.0.1",
  killGraceMs: 5000,
  shutdownGraceMs: 15_000,
  limits: "auto",
  usageIntervalMs: 1000,
} as const;

const INT32_MAX = 2 ** 31 - 1;

export function compileWorkerOptions(
  raw: RawWorkerOptions,
  env: NodeJS.ProcessEnv = process.env,
): CompiledWorkerOptions {
  // Flag wins over env var; the source is kept so that an error names what the user actually set.
  const pick = (key: keyof RawWorkerOptions): { value: string; source: string } | undefined => {
    const flag = raw[key];
    if (flag !== undefined) return { value: flag, source: S[key].flag };
    const fromEnv = env[S[key].env];
    if (fromEnv !== undefined && fromEnv !== "") return { value: fromEnv, source: S[key].env };
    return undefined;
  };

  const int = (key: keyof RawWorkerOptions, min: number, max: number, what: string, dflt: () => number) => {
    const got = pick(key);
    if (!got) return dflt();
    const s = got.value.trim();
    const n = /^\d+$/.test(s) ? Number(s) : NaN;
    if (!Number.isSafeInteger(n) || n < min || n > max) {
      throw new WorkerOptionError(
        got.source,
        `invalid ${got.source} ${JSON.stringify(got.value)}: expected ${what} (an integer from ${min} to ${max})`,
      );
    }
    return n;
  };

  const coordinators = parseCoordinators(pick("coordinators") ?? { value: WORKER_DEFAULTS.coordinators, source: S.coordinators.flag });
  const cpuMillis = int("cpu", 1, INT32_MAX, "millicores (1000 = one core)", detectCpuMillis);
  const memoryMb = int("memory", 1, INT32_MAX, "MiB", detectMemoryMb);
  const slots = int("slots", 1, 1_000_000, "the number of jobs that may run at once", () => WORKER_DEFAULTS.slots);
  const httpPort = int("httpPort", 0, 65535, "a TCP port, 0 for any free port", () => WORKER_DEFAULTS.httpPort);
  const killGraceMs = int("killGraceMs", 0, INT32_MAX, "milliseconds", () => WORKER_DEFAULTS.killGraceMs);
  const shutdownGraceMs = int("shutdownGraceMs", 0, INT32_MAX, "milliseconds", () => WORKER_DEFAULTS.shutdownGraceMs);
  const usageIntervalMs = int("usageIntervalMs", 0, INT32_MAX, "milliseconds, 0 for no samples while a job runs", () => WORKER_DEFAULTS.usageIntervalMs);
  const gpusGot = pick("gpus");
  const gpus = gpusGot ? int("gpus", 0, 1024, "the number of GPUs offered, 0 for none", () => 0) : undefined;

  const limitsGot = pick("limits");
  const limits = (limitsGot?.value.trim() ?? WORKER_DEFAULTS.limits) as LimitsMode;
  if (!LIMITS_MODES.includes(limits)) {
    throw new WorkerOptionError(
      limitsGot!.source,
      `invalid ${limitsGot!.source} ${JSON.stringify(limitsGot!.value)}: expected one of ${LIMITS_MODES.join(", ")}`,
    );
  }

  const nameGot = pick("name");
  const name = nameGot ? nameGot.value.trim() : os.hostname();
  if (nameGot && name === "") throw new WorkerOptionError(nameGot.source, `${nameGot.source} must not be empty`);

  const labelsGot = pick("labels");
  const labels = labelsGot ? parseLabels(labelsGot.value, labelsGot.source) : {};

  const hostGot = pick("host");
  const httpHost = hostGot ? hostGot.value.trim() : WORKER_DEFAULTS.host;
  if (hostGot && httpHost === "") throw new WorkerOptionError(hostGot.source, `${hostGot.source} must not be empty`);

  const tasksGot = pick("tasks");
  const tasksModule = tasksGot && tasksGot.value.trim() !== "" ? path.resolve(tasksGot.value.trim()) : undefined;

  return {
    workerId: randomUUID(),
    name,
    coordinators,
    cpuMillis,
    memoryMb,
    slots,
    labels,
    httpHost,
    httpPort,
    tasksModule,
    killGraceMs,
    shutdownGraceMs,
    limits,
    usageIntervalMs,
    gpus,
    version: packageVersion(),
  };
}

function parseCoordinators(got: { value: string; source: string }): string[] {
  const list = got.value
    .split(",")
    .map((s) => s.trim())
    .filter((s) => s !== "");
  if (list.length === 0) {
    throw new WorkerOptionError(got.source, `${got.source} is empty: give at least one coordinator as host:port`);
  }
  for (const address of list) {
    // host:port or [v6]:port
    const m = /^(\[[0-9a-fA-F:.]+\]|[^:\s\[\]]+):(\d+)$/.exec(address);
    const port = m ? Number(m[2]) : NaN;
    if (!m || port < 1 || port > 65535) {
      throw new WorkerOptionError(
        got.source,
        `invalid coordinator address ${JSON.stringify(address)} in ${got.source}: expected host:port, e.g. 127.0.0.1:50051`,
      );
    }
  }
  return list;
}

/** `k=v,k=v` → record; the key must be non-empty, the value may be. */
export function parseLabels(value: string, source: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const part of value.split(",")) {
    const item = part.trim();
    if (item === "") continue;
    const eq = item.indexOf("=");
    const key = eq < 0 ? "" : item.slice(0, eq).trim();
    if (eq < 0 || key === "") {
      throw new WorkerOptionError(source, `invalid label ${JSON.stringify(item)} in ${source}: expected key=value`);
    }
    if (key in labels) throw new WorkerOptionError(source, `label ${JSON.stringify(key)} is given twice in ${source}`);
    labels[key] = item.slice(eq + 1).trim();
  }
  return labels;
}

let cachedVersion: string | undefined;
function packageVersion(): string {
  if (cachedVersion === undefined) {
    try {
      const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as { version?: string };
      cachedVersion = pkg.version ?? "0.0.0";
    } catch {
      cachedVersion = "0.0.0";
    }
  }
  return cachedVersion;
}
