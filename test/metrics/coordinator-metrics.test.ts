// The coordinator's in-memory accounting: what one event-sink write and one applied plan add up to.
import type pg from "pg";
import { describe, expect, it } from "vitest";
import { AttemptQueues } from "../../coordinator/metrics/attempt-queues.js";
import { CoordinatorMetrics } from "../../coordinator/metrics/coordinator-metrics.js";
import { METRICS } from "../../shared/telemetry/metric-names.js";

const pool = { totalCount: 2, idleCount: 1, waitingCount: 0 } as unknown as pg.Pool;

function metrics(): CoordinatorMetrics {
  return new CoordinatorMetrics(pool, { isLeader: () => false, streams: () => 3 });
}

/** The series of one metric in the text exposition: label values joined by "/" → value. */
async function values(m: CoordinatorMetrics, name: string): Promise<Record<string, number>> {
  const text = await m.registry.metrics();
  const out: Record<string, number> = {};
  for (const line of text.split("\n")) {
    const match = line.match(/^(\w+)(?:\{(.*)\})? (\S+)$/);
    if (!match || match[1] !== name) continue;
    const labels = [...(match[2] ?? "").matchAll(/\w+="([^"]*)"/g)].map((l) => l[1]).filter((v) => v !== undefined);
    out[labels.join("/")] = Number(match[3]);
  }
  return out;
}

function end(jobId: string, attempt: number, reason = "exited", startedAtMs = 1000, atMs = 3000) {
  return { jobId, attempt, atMs, startedAtMs, reason };
}

describe("CoordinatorMetrics", () => {
  it("counts starts and ends of one write by queue, outcome and reason, and times the runs", async () => {
    const m = metrics();
    m.assigned([
      { id: "1", attempt: 1, queue: "alpha" },
      { id: "2", attempt: 1, queue: "alpha" },
      { id: "3", attempt: 2, queue: "beta" },
      { id: "4", attempt: 1, queue: "beta" },
    ]);
    m.eventsRecorded(
      [
        { jobId: "1", attempt: 1 }, // started earlier in this write's batch, still running
        { jobId: "2", attempt: 1 }, // started and ended in the same write: carried by the end
      ],
      [end("2", 1), end("3", 2, "worker_lost"), end("4", 1, "exited", 0), end("5", 1, "bogus"), end("9", 1)],
      {
        started: { changed: ["1"] },
        finished: [
          { id: "2", state: "succeeded" },
          { id: "3", state: "pending" },
          { id: "4", state: "failed" },
          { id: "5", state: "cancelled" },
          // job 9's report was for an attempt no longer current: no row, not counted
        ],
      },
    );
    expect(await values(m, METRICS.jobsStarted)).toEqual({ alpha: 2 });
    expect(await values(m, METRICS.jobsFinished)).toEqual({
      "alpha/succeeded/exited": 1,
      "beta/requeued/worker_lost": 1,
      "beta/failed/exited": 1,
      "unknown/cancelled/other": 1, // sent by another coordinator; a reason outside the known list
    });
    // job 4 never started (started_at 0): no run time
    expect(await values(m, `${METRICS.jobDuration}_count`)).toEqual({ "alpha/succeeded": 1, "beta/requeued": 1, "unknown/cancelled": 1 });
    expect(await values(m, `${METRICS.jobDuration}_sum`)).toEqual({ "alpha/succeeded": 2, "beta/requeued": 2, "unknown/cancelled": 2 });
  });

  it("observes submit → placed latency for first attempts only, and plan sizes with dropped placements", async () => {
    const m = metrics();
    const now = Date.now();
    m.planApplied(
      3,
      [
        { id: "1", attempt: 1, queue: "q" },
        { id: "2", attempt: 2, queue: "q" }, // a retry: not a submit → placed
      ],
      (id) => (id === "1" ? now - 500 : now - 60_000),
    );
    expect(await values(m, `${METRICS.schedulingLatency}_count`)).toEqual({ q: 1 });
    const sum = (await values(m, `${METRICS.schedulingLatency}_sum`)).q!;
    expect(sum).toBeGreaterThanOrEqual(0.5);
    expect(sum).toBeLessThan(5);
    expect(await values(m, METRICS.placementsDropped)).toEqual({ "": 1 });
    expect(await values(m, `${METRICS.planPlacements}_sum`)).toEqual({ "": 3 });
  });

  it("reports leadership, streams and the pool; a follower exports no cluster-wide gauges", async () => {
    const m = metrics();
    m.leadership(7);
    m.leadership(undefined);
    const { body } = await m.exposition();
    expect(body).toMatch(/^baton_leader 0$/m);
    expect(body).toMatch(/^baton_leader_term 7$/m);
    expect(body).toMatch(/^baton_worker_streams 3$/m);
    expect(body).toMatch(/^baton_pg_pool_clients 2$/m);
    expect(body).toMatch(/^baton_pg_pool_idle_clients 1$/m);
    expect(body).toMatch(/^process_cpu_seconds_total /m);
    expect(body).not.toMatch(/^baton_jobs_queue_depth\{/m);
    expect(body).not.toMatch(/^baton_worker_resource_capacity\{/m);
  });
});

describe("AttemptQueues", () => {
  it("forgets the oldest attempts past its bound, and ended ones at once", () => {
    const q = new AttemptQueues(2);
    q.remember("1", 1, "a");
    q.remember("2", 1, "b");
    q.remember("3", 1, "c");
    expect(q.size).toBe(2);
    expect(q.queueOf("1", 1)).toBe("unknown");
    expect(q.queueOf("2", 1)).toBe("b");
    expect(q.queueOf("2", 2)).toBe("unknown");
    q.forget("2", 1);
    expect(q.queueOf("2", 1)).toBe("unknown");
    expect(q.size).toBe(1);
  });
});
