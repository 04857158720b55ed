// `baton submit --run-at/--delay/--retry*` flags as a JobSpec.
import { describe, expect, it } from "vitest";
import { buildJobSpec, parseRetryArgs, parseRunAt } from "../../client/cli/job-spec-args.js";
import { Backoff } from "../../shared/gen/baton/v1/types.js";

const NOW = Date.parse("2026-05-01T12:00:00Z");

describe("--run-at and --delay", () => {
  it("take an ISO time or +DURATION", () => {
    expect(parseRunAt("2026-05-01T12:30:00Z", NOW)).toBe(NOW + 30 * 60_000);
    expect(parseRunAt("+90s", NOW)).toBe(NOW + 90_000);
    expect(() => parseRunAt("tomorrow", NOW)).toThrow(/--run-at 'tomorrow' is not a time/);
    expect(buildJobSpec({ delay: "5m" }, ["true"], {}, NOW).runAtMs).toBe(NOW + 300_000);
    expect(buildJobSpec({}, ["true"], {}, NOW).runAtMs).toBe(0);
    expect(() => buildJobSpec({ delay: "5m", runAt: "+1s" }, ["true"], {}, NOW)).toThrow(/--run-at or --delay, not both/);
  });
});

describe("--retry flags", () => {
  it("build a policy, or leave the cluster default", () => {
    expect(parseRetryArgs({})).toBeUndefined();
    expect(parseRetryArgs({ retry: "exponential", retryInitial: "1s", retryMax: "5m", retryJitter: "0.2", retryMultiplier: "3" })).toEqual({
      backoff: Backoff.BACKOFF_EXPONENTIAL, initialDelayMs: 1000, maxDelayMs: 300_000, multiplier: 3, jitter: 0.2, finalExitCodes: [],
    });
    expect(parseRetryArgs({ finalExitCodes: "2,3" })).toEqual({
      backoff: Backoff.BACKOFF_UNSPECIFIED, initialDelayMs: 0, maxDelayMs: 0, multiplier: 0, jitter: 0, finalExitCodes: [2, 3],
    });
    expect(buildJobSpec({ retry: "none" }, ["true"]).retry?.backoff).toBe(Backoff.BACKOFF_NONE);
  });

  it("say what is wrong", () => {
    expect(() => parseRetryArgs({ retry: "linear" })).toThrow(/--retry 'linear' must be exponential, fixed or none/);
    expect(() => parseRetryArgs({ retryInitial: "1s" })).toThrow(/go with --retry/);
    expect(() => parseRetryArgs({ retry: "fixed", retryJitter: "2" })).toThrow(/--retry-jitter '2' must be a number from 0 to 1/);
    expect(() => parseRetryArgs({ finalExitCodes: "a" })).toThrow(/--final-exit-codes 'a' is not a whole number/);
  });
});

describe("baton get", () => {
  it("shows the retry policy and, while a pending job waits, when it may run", async () => {
    const { describeJob, describeRetry } = await import("../../client/cli/commands/get.js");
    const { Job, JobState } = await import("../../shared/gen/baton/v1/types.js");
    expect(describeRetry({ backoff: Backoff.BACKOFF_EXPONENTIAL, initialDelayMs: 1000, maxDelayMs: 300_000, multiplier: 2, jitter: 0.2, finalExitCodes: [2, 3] }))
      .toBe("exponential from 1.0s, x2 up to 5m00s, jitter 0.2; never after exit 2, 3");
    expect(describeRetry({ backoff: Backoff.BACKOFF_FIXED, initialDelayMs: 300, maxDelayMs: 0, multiplier: 0, jitter: 0, finalExitCodes: [] })).toBe("every 300ms");
    const job = Job.fromPartial({
      id: "7",
      state: JobState.JOB_STATE_PENDING,
      runAtMs: NOW + 90_000,
      spec: { retry: { backoff: Backoff.BACKOFF_NONE, finalExitCodes: [] }, executor: { $case: "exec", exec: { argv: ["true"], env: {}, cwd: "" } } },
    });
    const text = describeJob(job, NOW);
    expect(text).toMatch(/^Retry: +at once$/m);
    expect(text).toMatch(/^Not before: +2026-05-01T12:01:30.000Z \(in 1m30s\)$/m);
  });
});
