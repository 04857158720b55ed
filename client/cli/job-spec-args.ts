// Turns `baton submit` flags into a JobSpec. Pure: no I/O, the environment is passed in, so every
// accepted form and every error message is unit-tested.
import { Backoff, JobSpec, type RetryPolicy } from "../../shared/gen/baton/v1/types.js";
import { isJobStateName, JOB_STATE_NAMES, type JobStateName } from "../../shared/domain.js";
import { parseTemplateRef } from "./template-args.js";
import { UsageError } from "./usage-error.js";

const INT32_MAX = 2_147_483_647;

/** The flags of `baton submit` as commander hands them over (strings, repeatable ones as lists). */
export interface SubmitArgs {
  /** submit from this template (flags given override its fields) */
  template?: string;
  templateVersion?: string;
  /** `k=v` template parameters */
  param?: string[];
  idempotencyKey?: string;
  /** how long the key holds: a duration (24h); default: the cluster's */
  idempotencyWindow?: string;
  name?: string;
  cpu?: string;
  memory?: string;
  gpus?: string;
  priority?: string;
  queue?: string;
  label?: string[];
  env?: string[];
  cwd?: string;
  timeout?: string;
  maxAttempts?: string;
  tenant?: string;
  task?: string;
  payload?: string;
  /** not before: an ISO time (2026-01-02T03:04:05Z) or +DURATION from now */
  runAt?: string;
  /** not before now + this duration */
  delay?: string;
  retry?: string;
  retryInitial?: string;
  retryMax?: string;
  retryMultiplier?: string;
  retryJitter?: string;
  finalExitCodes?: string;
}

export const DEFAULT_CPU_MILLIS = 100;
export const DEFAULT_MEMORY_MB = 64;

const DURATION_UNITS_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `1500ms`, `30s`, `5m`, `1h30m`, `2d`, or `0`. A bare number is refused: its unit is a guess. */
export function parseDuration(text: string, flag = "--timeout"): number {
  const s = text.trim();
  if (s === "0") return 0;
  const part = /(\d+(?:\.\d+)?)(ms|s|m|h|d)/gy;
  let total = 0;
  let end = 0;
  for (let m = part.exec(s); m; m = part.exec(s)) {
    total += Number(m[1]) * DURATION_UNITS_MS[m[2]!]!;
    end = part.lastIndex;
  }
  if (s.length === 0 || end !== s.length) {
    const hint = /^\d+(\.\d+)?$/.test(s) ? ` (add a unit: ${s}s, ${s}m or ${s}ms)` : "";
    throw new UsageError(`${flag} '${text}' is not a duration${hint}; use forms like 1500ms, 30s, 5m, 1h30m`);
  }
  const ms = Math.round(total);
  if (ms > INT32_MAX) throw new UsageError(`${flag} '${text}' is too long (at most about 24 days)`);
  return ms;
}

/** CPU as millicores: `250` and `250m` are millicores, `0.5` and `2.0` (with a decimal point) are cores. */
export function parseCpu(text: string): number {
  const s = text.trim();
  let millis: number;
  if (/^\d+m$/.test(s)) millis = Number(s.slice(0, -1));
  else if (/^\d+$/.test(s)) millis = Number(s);
  else if (/^\d*\.\d+$|^\d+\.$/.test(s)) millis = Math.round(Number(s) * 1000);
  else {
    throw new UsageError(
      `--cpu '${text}' is not a CPU amount; use millicores (250 or 250m) or cores with a decimal point (0.5, 2.0)`,
    );
  }
  if (millis <= 0) throw new UsageError(`--cpu '${text}' must be more than zero`);
  if (millis > INT32_MAX) throw new UsageError(`--cpu '${text}' is too large`);
  return millis;
}

const MEMORY_UNITS_MB: Record<string, number> = { "": 1, m: 1, mi: 1, mib: 1, mb: 1, g: 1024, gi: 1024, gib: 1024, gb: 1024 };

/** Memory in MiB: `512`, `512Mi`, `2Gi` (also `M`/`G`, read as binary units). */
export function parseMemory(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([a-zA-Z]*)$/.exec(text.trim());
  const unit = m ? MEMORY_UNITS_MB[m[2]!.toLowerCase()] : undefined;
  if (!m || unit === undefined) {
    throw new UsageError(`--memory '${text}' is not a memory amount; use MiB (512) or a unit (512Mi, 2Gi)`);
  }
  const mb = Math.round(Number(m[1]) * unit);
  if (mb <= 0) throw new UsageError(`--memory '${text}' must be at least 1 MiB`);
  if (mb > INT32_MAX) throw new UsageError(`--memory '${text}' is too large`);
  return mb;
}

export function parseInteger(text: string, flag: string, opts: { min?: number } = {}): number {
  const s = text.trim();
  if (!/^[-+]?\d+$/.test(s)) throw new UsageError(`${flag} '${text}' is not a whole number`);
  const n = Number(s);
  const min = opts.min ?? -INT32_MAX - 1;
  if (n < min) throw new UsageError(`${flag} '${text}' must be at least ${min}`);
  if (n > INT32_MAX) throw new UsageError(`${flag} '${text}' is too large`);
  return n;
}

/** `k=v` pairs; `--label` also takes comma lists (`a=1,b=2`), like the workers' BATON_WORKER_LABELS. */
export function parseLabels(items: readonly string[]): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const item of items) {
    for (const pair of item.split(",")) {
      if (pair.trim() === "") continue;
      const eq = pair.indexOf("=");
      const key = eq < 0 ? "" : pair.slice(0, eq).trim();
      if (eq < 0 || key === "") throw new UsageError(`--label '${pair}' must look like key=value`);
      labels[key] = pair.slice(eq + 1).trim();
    }
  }
  return labels;
}

/** `K=V` (the value may hold `=` and commas), or a bare `K` to pass on this shell's value of K. */
export function parseEnv(items: readonly string[], localEnv: Readonly<Record<string, string | undefined>>): Record<string, string> {
  const env: Record<string, string> = {};
  for (const item of items) {
    const eq = item.indexOf("=");
    const key = eq < 0 ? item : item.slice(0, eq);
    if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) {
      throw new UsageError(`--env '${item}' must look like NAME=value (NAME: letters, digits, _)`);
    }
    if (eq >= 0) env[key] = item.slice(eq + 1);
    else {
      const value = localEnv[key];
      if (value === undefined) throw new UsageError(`--env ${key}: ${key} is not set here; pass ${key}=value`);
      env[key] = value;
    }
  }
  return env;
}

/** `--run-at`: an ISO 8601 time, or `+DURATION` from `nowMs`; epoch ms. */
export function parseRunAt(text: string, nowMs: number, flag = "--run-at"): number {
  const s = text.trim();
  if (s.startsWith("+")) return nowMs + parseDuration(s.slice(1), flag);
  const ms = /^\d{4}-\d{2}-\d{2}/.test(s) ? Date.parse(s) : NaN;
  if (Number.isNaN(ms)) {
    throw new UsageError(`${flag} '${text}' is not a time; use an ISO time (2026-01-02T15:04:05Z) or +DURATION (+30s, +2h)`);
  }
  return ms;
}

const BACKOFFS: Record<string, Backoff> = {
  exponential: Backoff.BACKOFF_EXPONENTIAL,
  fixed: Backoff.BACKOFF_FIXED,
  none: Backoff.BACKOFF_NONE,
};

/** The --retry* flags as a RetryPolicy; undefined when none is given (the cluster default). */
export function parseRetryArgs(args: SubmitArgs): RetryPolicy | undefined {
  const given = [args.retry, args.retryInitial, args.retryMax, args.retryMultiplier, args.retryJitter, args.finalExitCodes];
  if (given.every((v) => v === undefined)) return undefined;
  let backoff = Backoff.BACKOFF_UNSPECIFIED;
  if (args.retry !== undefined) {
    const b = BACKOFFS[args.retry.trim().toLowerCase()];
    if (b === undefined) throw new UsageError(`--retry '${args.retry}' must be exponential, fixed or none`);
    backoff = b;
  } else if (args.retryInitial !== undefined || args.retryMax !== undefined || args.retryMultiplier !== undefined || args.retryJitter !== undefined) {
    throw new UsageError("--retry-initial, --retry-max, --retry-multiplier and --retry-jitter go with --retry exponential|fixed");
  }
  const num = (text: string | undefined, flag: string, min: number, max: number): number => {
    if (text === undefined) return 0;
    const n = Number(text.trim());
    if (text.trim() === "" || !Number.isFinite(n) || n < min || n > max) throw new UsageError(`${flag} '${text}' must be a number from ${min} to ${max}`);
    return n;
  };
  const finalExitCodes = (args.finalExitCodes ?? "")
    .split(",")
    .filter((c) => c.trim() !== "")
    .map((c) => parseInteger(c, "--final-exit-codes", { min: 0 }));
  return {
    backoff,
    initialDelayMs: args.retryInitial === undefined ? 0 : parseDuration(args.retryInitial, "--retry-initial"),
    maxDelayMs: args.retryMax === undefined ? 0 : parseDuration(args.retryMax, "--retry-max"),
    multiplier: num(args.retryMultiplier, "--retry-multiplier", 1, 100),
    jitter: num(args.retryJitter, "--retry-jitter", 0, 1),
    finalExitCodes,
  };
}

/** A comma list of state names, e.g. `pending,running`. */
export function parseStates(text: string): JobStateName[] {
  const states: JobStateName[] = [];
  for (const raw of text.split(",")) {
    const s = raw.trim().toLowerCase();
    if (s === "") continue;
    if (!isJobStateName(s)) {
      throw new UsageError(`--state '${raw.trim()}' is not a job state; use one or more of ${JOB_STATE_NAMES.join(", ")}`);
    }
    if (!states.includes(s)) states.push(s);
  }
  return states;
}

/** Builds the spec of one job from the flags and the command words after them. */
export function buildJobSpec(
  args: SubmitArgs,
  command: readonly string[],
  localEnv: Readonly<Record<string, string | undefined>> = {},
  nowMs: number = Date.now(),
): JobSpec {
  if (args.runAt !== undefined && args.delay !== undefined) throw new UsageError("give --run-at or --delay, not both");
  const runAtMs =
    args.runAt !== undefined ? parseRunAt(args.runAt, nowMs) : args.delay !== undefined ? nowMs + parseDuration(args.delay, "--delay") : 0;
  const hasCommand = command.length > 0;
  const hasTask = args.task !== undefined;
  const template = parseTemplateRef(args);
  if (hasCommand && hasTask) {
    throw new UsageError(`give either a command (after --) or --task, not both (got --task ${args.task} and '${command.join(" ")}')`);
  }
  if (!hasCommand && !hasTask && !template) {
    throw new UsageError("nothing to run: give a command after -- (baton submit -- echo hello), --task NAME or --template NAME");
  }
  if (template && !hasCommand && !hasTask && ((args.env?.length ?? 0) > 0 || args.cwd !== undefined || args.payload !== undefined)) {
    throw new UsageError("--env, --cwd and --payload go with a command or --task; without one the template's is used as it is");
  }
  if (hasTask && args.task!.trim() === "") throw new UsageError("--task needs a task name");
  if (!hasTask && args.payload !== undefined) throw new UsageError("--payload goes with --task; a command takes arguments instead");
  if (hasTask && (args.env?.length ?? 0) > 0) throw new UsageError("--env applies to commands, not to --task jobs");
  if (hasTask && args.cwd !== undefined) throw new UsageError("--cwd applies to commands, not to --task jobs");

  let executor: JobSpec["executor"];
  if (hasTask) {
    const payloadJson = args.payload ?? "";
    if (payloadJson !== "") {
      try {
        JSON.parse(payloadJson);
      } catch (e) {
        throw new UsageError(`--payload is not valid JSON: ${(e as Error).message}`);
      }
    }
    executor = { $case: "js", js: { task: args.task!.trim(), payloadJson } };
  } else if (hasCommand) {
    if (command[0]!.trim() === "") throw new UsageError("the command to run is empty");
    executor = {
      $case: "exec",
      exec: { argv: [...command], env: parseEnv(args.env ?? [], localEnv), cwd: args.cwd ?? "" },
    };
  }

  return JobSpec.fromPartial({
    name: args.name ?? "",
    queue: args.queue ?? "",
    priority: args.priority === undefined ? 0 : parseInteger(args.priority, "--priority"),
    resources: {
      // from a template, what is not given is the template's (0 = not set)
      cpuMillis: args.cpu === undefined ? (template ? 0 : DEFAULT_CPU_MILLIS) : parseCpu(args.cpu),
      memoryMb: args.memory === undefined ? (template ? 0 : DEFAULT_MEMORY_MB) : parseMemory(args.memory),
      gpus: args.gpus === undefined ? 0 : parseInteger(args.gpus, "--gpus", { min: 0 }),
    },
    labels: parseLabels(args.label ?? []),
    executor,
    timeoutMs: args.timeout === undefined ? 0 : parseDuration(args.timeout),
    maxAttempts: args.maxAttempts === undefined ? 0 : parseInteger(args.maxAttempts, "--max-attempts", { min: 1 }),
    tenant: args.tenant ?? "",
    runAtMs,
    retry: parseRetryArgs(args),
    template,
    idempotencyKey: args.idempotencyKey ?? "",
    idempotencyWindowS: parseIdempotencyWindow(args),
  });
}

/** `--idempotency-window` as whole seconds (rounded up); 0: the cluster default. */
export function parseIdempotencyWindow(args: SubmitArgs): number {
  if (args.idempotencyWindow === undefined) return 0;
  if (args.idempotencyKey === undefined) throw new UsageError("--idempotency-window goes with --idempotency-key");
  const ms = parseDuration(args.idempotencyWindow, "--idempotency-window");
  if (ms <= 0) throw new UsageError(`--idempotency-window '${args.idempotencyWindow}' must be more than zero`);
  return Math.ceil(ms / 1000);
}
