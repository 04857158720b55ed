// Turns a submitted JobSpec into a row to insert, or says exactly what is wrong with it.
import type { JobSpec } from "../../shared/gen/baton/v1/types.js";
import type { NewJob } from "../sql/insert-jobs.js";
import { resolveRetry, type StoredRetry } from "./retry-policy.js";

export class InvalidJobSpecError extends Error {
  readonly code = "INVALID_JOB_SPEC";
}

export const MAX_BATCH = 50_000;
const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/;
const LABEL_KEY_RE = /^[A-Za-z0-9]([A-Za-z0-9_./-]{0,61}[A-Za-z0-9])?$/;
const LIMITS = { cpuMillis: 1_000_000, memoryMb: 16_777_216, gpus: 1024, timeoutMs: 7 * 24 * 3600_000, maxAttempts: 100 };

export interface SpecDefaults {
  maxAttempts: number;
  /** the policy of jobs that set none (`--default-retry`) */
  retry: StoredRetry;
  /** how long an idempotency key holds when the spec gives no window (`--idempotency-window-s`) */
  idempotencyWindowS: number;
}

export const MAX_IDEMPOTENCY_KEY = 256;
export const MAX_IDEMPOTENCY_WINDOW_S = 365 * 24 * 3600;

/**
 * Where a spec is, for messages: a description, or the index of a spec in the submitted batch
 * (`jobs[i]`, spelled only when something is wrong).
 */
type SpecPlace = string | number;

/** Throws INVALID_ARGUMENT naming where the spec is. */
function failAt(where: SpecPlace, what: string): never {
  throw new InvalidJobSpecError(`${typeof where === "number" ? `jobs[${where}]` : where}: ${what}`);
}

function checkResource(where: SpecPlace, name: string, v: number, max: number): void {
  if (!Number.isInteger(v) || v < 0 || v > max) failAt(where, `resources.${name} must be an integer from 0 to ${max}, got ${v}`);
}

const NO_RESOURCES = { cpuMillis: 0, memoryMb: 0, gpus: 0 };

/**
 * A spec → the row to insert, or INVALID_ARGUMENT saying exactly what is wrong. On the submit hot
 * path (a batch can be 50,000 specs): no allocation beyond the row itself when the spec is valid.
 */
export function validateJobSpec(spec: JobSpec, where: SpecPlace, defaults: SpecDefaults): NewJob {
  // (no closure per spec: under tsx every named arrow function costs a defineProperty call)
  const queue = spec.queue || "default";
  if (!NAME_RE.test(queue)) failAt(where, `queue ${JSON.stringify(queue)} must be 1-64 letters, digits, '_', '.', ':' or '-'`);
  if (spec.tenant && !NAME_RE.test(spec.tenant)) failAt(where, `tenant ${JSON.stringify(spec.tenant)} must be 1-64 letters, digits, '_', '.', ':' or '-'`);
  if (spec.name.length > 200) failAt(where, "name is longer than 200 characters");
  if (!Number.isInteger(spec.priority) || Math.abs(spec.priority) > 1_000_000) failAt(where, "priority must be an integer from -1000000 to 1000000");
  const r = spec.resources ?? NO_RESOURCES;
  checkResource(where, "cpu_millis", r.cpuMillis, LIMITS.cpuMillis);
  checkResource(where, "memory_mb", r.memoryMb, LIMITS.memoryMb);
  checkResource(where, "gpus", r.gpus, LIMITS.gpus);
  if (spec.timeoutMs < 0 || spec.timeoutMs > LIMITS.timeoutMs) failAt(where, `timeout_ms must be from 0 to ${LIMITS.timeoutMs}`);
  if (spec.maxAttempts < 0 || spec.maxAttempts > LIMITS.maxAttempts) failAt(where, `max_attempts must be from 0 (the cluster default) to ${LIMITS.maxAttempts}`);
  for (const k in spec.labels) {
    if (!LABEL_KEY_RE.test(k)) failAt(where, `label key ${JSON.stringify(k)} is not a valid label name`);
    if (spec.labels[k]!.length > 63) failAt(where, `label ${k} has a value longer than 63 characters`);
  }
  if (spec.idempotencyKey.length > MAX_IDEMPOTENCY_KEY) failAt(where, `idempotency_key is longer than ${MAX_IDEMPOTENCY_KEY} characters`);
  if (!Number.isInteger(spec.idempotencyWindowS) || spec.idempotencyWindowS < 0 || spec.idempotencyWindowS > MAX_IDEMPOTENCY_WINDOW_S) {
    failAt(where, `idempotency_window_s must be from 0 (the cluster default) to ${MAX_IDEMPOTENCY_WINDOW_S}`);
  }
  if (spec.idempotencyWindowS > 0 && !spec.idempotencyKey) failAt(where, "idempotency_window_s is set without an idempotency_key: give the key too");
  // run_at: epoch ms; anything before 2001 or past 10 years ahead is a unit mistake, not a plan
  if (spec.runAtMs !== 0 && (spec.runAtMs < 1e12 || spec.runAtMs > Date.now() + 10 * 365 * 86_400_000)) {
    failAt(where, `run_at_ms ${spec.runAtMs} is not a time in epoch milliseconds (0 for now, at most 10 years ahead)`);
  }
  let retry: StoredRetry;
  try {
    retry = resolveRetry(spec.retry, defaults.retry);
  } catch (err) {
    return failAt(where, (err as Error).message);
  }
  const row: NewJob = {
    name: spec.name,
    queue,
    tenant: spec.tenant,
    priority: spec.priority,
    cpuMillis: r.cpuMillis,
    memoryMb: r.memoryMb,
    gpus: r.gpus,
    labels: spec.labels,
    executor: "exec",
    payload: {},
    timeoutMs: spec.timeoutMs,
    maxAttempts: spec.maxAttempts || defaults.maxAttempts,
    retry,
    runAtMs: spec.runAtMs,
  };
  if (spec.idempotencyKey) {
    row.idempotencyKey = spec.idempotencyKey;
    row.idempotencyWindowS = spec.idempotencyWindowS || defaults.idempotencyWindowS;
  }
  const ex = spec.executor;
  switch (ex?.$case) {
    case "exec": {
      const { argv, env, cwd } = ex.exec;
      if (argv.length === 0 || !argv[0]) failAt(where, "exec.argv is empty: give the command to run");
      for (const k of Object.keys(env)) if (!k || k.includes("=")) failAt(where, `exec.env has an invalid variable name ${JSON.stringify(k)}`);
      const payload: { argv: string[]; env?: Record<string, string>; cwd?: string } = { argv };
      if (Object.keys(env).length > 0) payload.env = env;
      if (cwd) payload.cwd = cwd;
      row.payload = payload;
      return row;
    }
    case "js": {
      const { task, payloadJson } = ex.js;
      if (!task) failAt(where, "js.task is empty: name the task handler to run");
      if (payloadJson) {
        try {
          JSON.parse(payloadJson);
        } catch (err) {
          failAt(where, `js.payload_json is not valid JSON: ${(err as Error).message}`);
        }
      }
      row.executor = "js";
      row.payload = payloadJson ? { task, payload: payloadJson } : { task };
      return row;
    }
    case undefined:
      return failAt(where, "no executor: set exec (a command) or js (a task name)");
  }
}
