// The one table of live cluster settings: each key's type, how a value is checked, and its default
// (from the coordinator's compiled flags/env). To add a setting, add an entry to SETTINGS (and, if
// it constrains another one, a rule to CROSS_CHECKS); LiveConfig, ConfigService and `baton config`
// pick it up. Pure: no I/O.
import type { Strategy } from "../../shared/scheduling/types.js";
import type { CoordinatorOptions } from "../options.js";
import { BUILTIN_DEFAULT_RETRY, parseRetrySetting, retryProblem, type StoredRetry } from "../api/retry-policy.js";

export class InvalidSettingError extends Error {
  readonly code = "INVALID_ARGUMENT";
}

export interface SettingDefinition<T> {
  /** shown to users: "integer 1..100", "binpack|spread" */
  type: string;
  description: string;
  /** checks a JSON value (from SetConfig or a stored row); returns it typed or throws "must be …" */
  validate(value: unknown): T;
  /** this coordinator's default: its flag or BATON_* env, else the built-in default */
  fromOptions(opts: CoordinatorOptions): T;
  /** the built-in default, to tell "flag" from "default" */
  builtin: T;
}

function integer(
  min: number,
  max: number,
  builtin: number,
  description: string,
  fromOptions: (o: CoordinatorOptions) => number,
): SettingDefinition<number> {
  return {
    type: `integer ${min}..${max}`,
    description,
    builtin,
    fromOptions,
    validate(value) {
      if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
        throw new Error(`must be an integer from ${min} to ${max}, got ${JSON.stringify(value)}`);
      }
      return value;
    },
  };
}

function oneOf<T extends string>(
  values: readonly T[],
  builtin: T,
  description: string,
  fromOptions: (o: CoordinatorOptions) => T,
): SettingDefinition<T> {
  return {
    type: values.join("|"),
    description,
    builtin,
    fromOptions,
    validate(value) {
      if (typeof value !== "string" || !(values as readonly string[]).includes(value)) {
        throw new Error(`must be one of ${values.join(", ")}, got ${JSON.stringify(value)}`);
      }
      return value as T;
    },
  };
}

const HOUR_MS = 3_600_000;

/** The default retry policy: as `--default-retry` spells it (a string), or the stored object. */
const retryPolicy: SettingDefinition<StoredRetry> = {
  type: "retry policy",
  description: "retry policy of jobs that set none, e.g. \"exponential,initial=1s,max=5m,multiplier=2,jitter=0.2\", \"fixed,initial=500ms\" or \"none\"",
  builtin: BUILTIN_DEFAULT_RETRY,
  fromOptions: (o) => o.defaultRetry,
  validate(value) {
    if (typeof value === "string") {
      try {
        return parseRetrySetting(value);
      } catch (err) {
        throw new Error(`is not a retry policy: ${(err as Error).message.replace(/^--default-retry:? ?/, "")}`);
      }
    }
    const r = value as StoredRetry;
    if (!r || typeof r !== "object" || !["exponential", "fixed", "none"].includes(r.backoff)) {
      throw new Error(`must be a policy like "exponential,initial=1s,max=5m", got ${JSON.stringify(value)}`);
    }
    const problem = retryProblem({ ...BUILTIN_DEFAULT_RETRY, ...r });
    if (problem) throw new Error(`is not a retry policy: ${problem}`);
    return { ...BUILTIN_DEFAULT_RETRY, ...r };
  },
};

export const SETTINGS = {
  default_timeout_ms: integer(0, 7 * 24 * HOUR_MS, 0, "timeout of jobs that set none (0 = none)", (o) => o.defaultTimeoutMs),
  default_max_attempts: integer(1, 100, 1, "max_attempts of jobs submitted without one", (o) => o.defaultMaxAttempts),
  scheduling_strategy: oneOf<Strategy>(["binpack", "spread"], "binpack", "how the leader ranks workers that fit a job", (o) => o.strategy),
  heartbeat_interval_ms: integer(50, 60_000, 1000, "heartbeat interval told to workers that register from now on", (o) => o.heartbeatIntervalMs),
  lease_ms: integer(200, 600_000, 10_000, "a worker silent this long is lost (at least 2 × heartbeat_interval_ms)", (o) => o.leaseMs),
  log_retention_hours: integer(0, 24 * 3650, 168, "job output older than this is deleted (0 keeps it forever)", (o) => Math.round(o.logRetentionMs / HOUR_MS)),
  log_max_bytes_per_job: integer(0, 2 ** 40, 16 * 1024 * 1024, "output kept per job; past it the job is marked truncated", (o) => o.logMaxBytesPerJob),
  default_retry: retryPolicy,
  idempotency_window_s: integer(1, 365 * 24 * 3600, 86_400, "how long an idempotency key returns its job when the job sets no window", (o) => o.idempotencyWindowS),
} satisfies Record<string, SettingDefinition<unknown>>;

export type SettingKey = keyof typeof SETTINGS;
export type SettingValues = { [K in SettingKey]: ReturnType<(typeof SETTINGS)[K]["validate"]> };

export const SETTING_KEYS = Object.keys(SETTINGS) as SettingKey[];

/** Rules between settings, checked on every write against the values that would result. */
export const CROSS_CHECKS: ((v: SettingValues) => string | undefined)[] = [
  (v) =>
    v.lease_ms < 2 * v.heartbeat_interval_ms
      ? `lease_ms (${v.lease_ms}) must be at least twice heartbeat_interval_ms (${v.heartbeat_interval_ms}): set lease_ms first, or a smaller heartbeat_interval_ms`
      : undefined,
];

export function isSettingKey(key: string): key is SettingKey {
  return Object.hasOwn(SETTINGS, key);
}

/** The key, or INVALID_ARGUMENT naming the keys there are. */
export function settingKey(key: string): SettingKey {
  if (isSettingKey(key)) return key;
  throw new InvalidSettingError(`unknown setting ${JSON.stringify(key)}: known settings are ${SETTING_KEYS.join(", ")}`);
}

/** A value as typed by a user: JSON (3, "spread", {"a":1}), or a bare word taken as a string. */
export function parseSettingText(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text.trim();
  }
}

/** Checks one value for its key; the error names the key. */
export function validateSetting<K extends SettingKey>(key: K, value: unknown): SettingValues[K] {
  try {
    return SETTINGS[key].validate(value) as SettingValues[K];
  } catch (err) {
    throw new InvalidSettingError(`${key} ${(err as Error).message}`);
  }
}

export function defaultValues(opts: CoordinatorOptions): SettingValues {
  return Object.fromEntries(SETTING_KEYS.map((k) => [k, SETTINGS[k].fromOptions(opts)])) as SettingValues;
}

/** Defaults overridden by the stored values that are valid (the others are reported, not applied). */
export function effectiveValues(
  defaults: SettingValues,
  stored: ReadonlyMap<string, unknown>,
  invalid: (key: string, message: string) => void = () => {},
): SettingValues {
  const values: Record<string, unknown> = { ...defaults };
  for (const [key, value] of stored) {
    if (!isSettingKey(key)) continue; // a newer coordinator's setting: not ours to apply
    try {
      values[key] = validateSetting(key, value);
    } catch (err) {
      invalid(key, (err as Error).message);
    }
  }
  return values as SettingValues;
}

/** The cross-setting rules these values break (empty when all hold). */
export function crossCheck(values: SettingValues): string[] {
  return CROSS_CHECKS.map((c) => c(values)).filter((m): m is string => m !== undefined);
}
