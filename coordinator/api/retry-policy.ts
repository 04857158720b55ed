// A job's retry policy as stored on its row (jobs.retry, read by baton_retry_delay_ms in SQL): the
// wire RetryPolicy with the cluster default filled in at submit, and the `--default-retry` setting.
import { Backoff, type RetryPolicy } from "../../shared/gen/baton/v1/types.js";

export type BackoffName = "exponential" | "fixed" | "none";

export interface StoredRetry {
  backoff: BackoffName;
  initial_ms: number;
  /** cap of an exponential delay; 0: none */
  max_ms: number;
  multiplier: number;
  /** 0..1: each delay is scaled by a random factor in [1 - jitter, 1] */
  jitter: number;
  final_exit_codes: number[];
}

export const BUILTIN_DEFAULT_RETRY: StoredRetry = {
  backoff: "exponential",
  initial_ms: 1000,
  max_ms: 300_000,
  multiplier: 2,
  jitter: 0.2,
  final_exit_codes: [],
};

const MAX_DELAY_MS = 7 * 24 * 3600_000;

const BACKOFF_OF: Record<number, BackoffName | undefined> = {
  [Backoff.BACKOFF_EXPONENTIAL]: "exponential",
  [Backoff.BACKOFF_FIXED]: "fixed",
  [Backoff.BACKOFF_NONE]: "none",
};

const WIRE_OF: Record<BackoffName, Backoff> = {
  exponential: Backoff.BACKOFF_EXPONENTIAL,
  fixed: Backoff.BACKOFF_FIXED,
  none: Backoff.BACKOFF_NONE,
};

/** Checks a policy's numbers; returns what is wrong, or undefined. */
export function retryProblem(r: StoredRetry): string | undefined {
  if (!Number.isInteger(r.initial_ms) || r.initial_ms < 0 || r.initial_ms > MAX_DELAY_MS) return `initial_delay_ms must be from 0 to ${MAX_DELAY_MS}`;
  if (!Number.isInteger(r.max_ms) || r.max_ms < 0 || r.max_ms > MAX_DELAY_MS) return `max_delay_ms must be from 0 (no cap) to ${MAX_DELAY_MS}`;
  if (!(r.multiplier >= 1 && r.multiplier <= 100)) return `multiplier must be from 1 to 100, got ${r.multiplier}`;
  if (!(r.jitter >= 0 && r.jitter <= 1)) return `jitter must be from 0 to 1, got ${r.jitter}`;
  if (r.final_exit_codes.length > 256) return "final_exit_codes holds at most 256 codes";
  for (const c of r.final_exit_codes) if (!Number.isInteger(c) || c < 0 || c > 255) return `final exit code ${c} is not an exit code (0-255)`;
  return undefined;
}

/**
 * The stored policy of a submitted spec: unset, or backoff UNSPECIFIED, is the cluster default (the
 * spec's final exit codes still apply); otherwise the spec's, with unset delays and multiplier taken
 * from the default. Throws a message naming the field when it is invalid.
 */
export function resolveRetry(spec: RetryPolicy | undefined, dflt: StoredRetry): StoredRetry {
  if (!spec) return dflt;
  let r: StoredRetry;
  if (spec.backoff === Backoff.BACKOFF_UNSPECIFIED) {
    r = { ...dflt, final_exit_codes: spec.finalExitCodes.length > 0 ? [...spec.finalExitCodes] : dflt.final_exit_codes };
  } else {
    const backoff = BACKOFF_OF[spec.backoff];
    if (!backoff) throw new Error(`retry.backoff ${spec.backoff} is not one of EXPONENTIAL, FIXED, NONE`);
    r = {
      backoff,
      initial_ms: spec.initialDelayMs || dflt.initial_ms,
      max_ms: spec.maxDelayMs || dflt.max_ms,
      multiplier: spec.multiplier || dflt.multiplier,
      jitter: spec.jitter,
      final_exit_codes: [...spec.finalExitCodes],
    };
  }
  const problem = retryProblem(r);
  if (problem) throw new Error(`retry.${problem}`);
  return r;
}

export function retryToWire(r: StoredRetry | null | undefined): RetryPolicy | undefined {
  if (!r) return undefined;
  return {
    backoff: WIRE_OF[r.backoff] ?? Backoff.BACKOFF_UNSPECIFIED,
    initialDelayMs: r.initial_ms ?? 0,
    maxDelayMs: r.max_ms ?? 0,
    multiplier: r.multiplier ?? 0,
    jitter: r.jitter ?? 0,
    finalExitCodes: r.final_exit_codes ?? [],
  };
}

const DURATION_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/**
 * `--default-retry`: a backoff then comma-separated settings, e.g.
 * `exponential,initial=1s,max=5m,multiplier=2,jitter=0.2` or `fixed,initial=500ms` or `none`.
 * Settings not given keep the built-in default's.
 */
export function parseRetrySetting(text: string): StoredRetry {
  const [head, ...rest] = text.split(",").map((p) => p.trim());
  if (head !== "exponential" && head !== "fixed" && head !== "none") {
    throw new Error(`--default-retry must start with exponential, fixed or none (e.g. exponential,initial=1s,max=5m), got ${JSON.stringify(text)}`);
  }
  const r: StoredRetry = { ...BUILTIN_DEFAULT_RETRY, backoff: head };
  const duration = (key: string, v: string) => {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(v);
    if (!m) throw new Error(`--default-retry ${key}=${v} is not a duration (use 500ms, 1s, 5m)`);
    return Math.round(Number(m[1]) * DURATION_MS[m[2]!]!);
  };
  for (const part of rest) {
    const [key, v = ""] = part.split("=", 2).map((x) => x.trim()) as [string, string?];
    switch (key) {
      case "initial": r.initial_ms = duration(key, v); break;
      case "max": r.max_ms = v === "0" ? 0 : duration(key, v); break;
      case "multiplier": r.multiplier = Number(v); break;
      case "jitter": r.jitter = Number(v); break;
      default: throw new Error(`--default-retry: unknown setting ${JSON.stringify(key)} (use initial, max, multiplier, jitter)`);
    }
  }
  const problem = retryProblem(r);
  if (problem) throw new Error(`--default-retry: ${problem}`);
  return r;
}
