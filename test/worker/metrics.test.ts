// The worker's counters as Prometheus reads them: ends are tallied on the hot path and added up
// when the registry is read, once.
import { describe, expect, it } from "vitest";
import { WorkerMetrics } from "../../worker/metrics.js";
import { METRICS } from "../../shared/telemetry/metric-names.js";

const ended = (reason: string) => ({
  jobId: "1", attempt: 1, atMs: 0,
  kind: { $case: "finished" as const, finished: { exitCode: 0, reason, message: "", startedAtMs: 0, cpuSeconds: 0, peakMemoryBytes: 0 } },
});

async function finishedByReason(m: WorkerMetrics): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const line of (await m.registry.metrics()).split("\n")) {
    const match = line.match(new RegExp(`^${METRICS.workerAttemptsFinished}\\{reason="([^"]*)"\\} (\\S+)$`));
    if (match) out[match[1]!] = Number(match[2]);
  }
  return out;
}

describe("WorkerMetrics", () => {
  it("counts ended attempts by reason, each end once however often it is read", async () => {
    const m = new WorkerMetrics({ slots: 4, running: () => 0, registered: () => true, unackedBatches: () => 0 });
    for (const r of ["exited", "exited", "timed_out", ""]) m.event(ended(r) as never);
    m.event({ jobId: "2", attempt: 1, atMs: 0, kind: { $case: "rejected", rejected: { message: "full" } } } as never);
    expect(await finishedByReason(m)).toEqual({ exited: 3, timed_out: 1, rejected: 1 });
    expect(await finishedByReason(m)).toEqual({ exited: 3, timed_out: 1, rejected: 1 });
    m.event(ended("exited") as never);
    expect(await finishedByReason(m)).toEqual({ exited: 4, timed_out: 1, rejected: 1 });
  });
});
