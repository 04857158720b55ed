import { describe, expect, it } from "vitest";
import { medianRun } from "../../bench/full-path.js";

const run = (scenario: string, jobs_per_sec: number, p50_ms: number) => ({ contender: "baton", scenario, jobs: 1, jobs_per_sec, p50_ms, p99_ms: 0 });

describe("bench medianRun", () => {
  it("picks the median run by jobs/s for throughput and by p50 for latency, whole runs not mixed fields", () => {
    expect(medianRun([run("throughput", 9000, 5), run("throughput", 7000, 1), run("throughput", 12000, 9)])).toEqual(run("throughput", 9000, 5));
    expect(medianRun([run("latency", 60, 4.4), run("latency", 70, 3.9), run("latency", 50, 5.1)])).toEqual(run("latency", 60, 4.4));
    expect(medianRun([run("latency", 60, 4.4), run("latency", 70, 3.9)])).toEqual(run("latency", 70, 3.9)); // even: the lower middle
  });
});
