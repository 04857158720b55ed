// The retry policy as stored: the cluster default setting, and how a submitted policy is resolved.
import { describe, expect, it } from "vitest";
import { BUILTIN_DEFAULT_RETRY, parseRetrySetting, resolveRetry, retryToWire } from "../../coordinator/api/retry-policy.js";
import { compileCoordinatorOptions, OptionError } from "../../coordinator/options.js";
import { Backoff } from "../../shared/gen/baton/v1/types.js";

const wire = (p: Partial<ReturnType<typeof retryToWire> & object>) => ({
  backoff: Backoff.BACKOFF_UNSPECIFIED, initialDelayMs: 0, maxDelayMs: 0, multiplier: 0, jitter: 0, finalExitCodes: [], ...p,
});

describe("--default-retry", () => {
  it("reads a backoff and settings, keeping the built-in ones not given", () => {
    expect(parseRetrySetting("exponential,initial=1s,max=5m,multiplier=2,jitter=0.2")).toEqual(BUILTIN_DEFAULT_RETRY);
    expect(parseRetrySetting("fixed,initial=500ms")).toEqual({ ...BUILTIN_DEFAULT_RETRY, backoff: "fixed", initial_ms: 500 });
    expect(parseRetrySetting("none").backoff).toBe("none");
  });

  it("names what is wrong", () => {
    expect(() => parseRetrySetting("linear")).toThrow(/must start with exponential, fixed or none/);
    expect(() => parseRetrySetting("fixed,initial=5")).toThrow(/initial=5 is not a duration/);
    expect(() => parseRetrySetting("exponential,jitter=2")).toThrow(/jitter must be from 0 to 1/);
    expect(() => parseRetrySetting("exponential,speed=2")).toThrow(/unknown setting "speed"/);
  });

  it("is a coordinator option with an env var, and the default is exponential 1 s, 5 min cap, x2, jitter 0.2", () => {
    const base = { databaseUrl: "postgres://x" };
    expect(compileCoordinatorOptions(base, {}).defaultRetry).toEqual(BUILTIN_DEFAULT_RETRY);
    expect(compileCoordinatorOptions(base, { BATON_DEFAULT_RETRY: "none" }).defaultRetry.backoff).toBe("none");
    expect(() => compileCoordinatorOptions({ ...base, defaultRetry: "often" }, {})).toThrow(OptionError);
    expect(compileCoordinatorOptions(base, {}).jobRetentionMs).toBe(720 * 3_600_000);
    expect(compileCoordinatorOptions({ ...base, jobRetentionHours: "0" }, {}).jobRetentionMs).toBe(0);
  });
});

describe("a submitted policy", () => {
  const dflt = BUILTIN_DEFAULT_RETRY;
  it("unset or unspecified is the cluster default (the spec's final exit codes still count)", () => {
    expect(resolveRetry(undefined, dflt)).toEqual(dflt);
    expect(resolveRetry(wire({ finalExitCodes: [2] }), dflt)).toEqual({ ...dflt, final_exit_codes: [2] });
  });

  it("takes its own backoff and fills unset delays from the default", () => {
    expect(resolveRetry(wire({ backoff: Backoff.BACKOFF_FIXED, initialDelayMs: 300 }), dflt)).toEqual({
      backoff: "fixed", initial_ms: 300, max_ms: dflt.max_ms, multiplier: dflt.multiplier, jitter: 0, final_exit_codes: [],
    });
    expect(retryToWire(resolveRetry(wire({ backoff: Backoff.BACKOFF_NONE }), dflt))!.backoff).toBe(Backoff.BACKOFF_NONE);
  });

  it("refuses what cannot be meant", () => {
    expect(() => resolveRetry(wire({ backoff: Backoff.BACKOFF_FIXED, jitter: 1.5 }), dflt)).toThrow(/retry.jitter/);
    expect(() => resolveRetry(wire({ backoff: Backoff.BACKOFF_EXPONENTIAL, multiplier: 0.5 }), dflt)).toThrow(/retry.multiplier/);
    expect(() => resolveRetry(wire({ backoff: Backoff.BACKOFF_FIXED, finalExitCodes: [300] }), dflt)).toThrow(/final exit code 300/);
    expect(() => resolveRetry(wire({ backoff: 9 as Backoff }), dflt)).toThrow(/retry.backoff/);
  });
});
