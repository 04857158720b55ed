// The reserved share end to end: a coordinator started with --reserved-share 0.5 --reserved-priority
// 100 lets a flood of low-priority jobs use half of a worker, and urgent jobs run at once beside it.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { JobSpec } from "../../shared/gen/baton/v1/types.js";
import { TestCluster, waitUntil, type CoordinatorProc } from "../support/cluster.js";
import { createTestDatabase, type TestDatabase } from "../support/db.js";

let db: TestDatabase;
let cluster: TestCluster;
let coord: CoordinatorProc;

beforeAll(async () => {
  db = await createTestDatabase();
  cluster = new TestCluster(db.url);
  coord = await cluster.coordinator({ extra: ["--reserved-share", "0.5", "--reserved-priority", "100"] });
  await cluster.worker({ name: "a", coordinators: [coord.grpcAddress], slots: 4 });
});

afterAll(async () => {
  await cluster?.stop();
  await db?.drop();
});

function job(priority: number, seconds: string): JobSpec {
  return JobSpec.fromPartial({
    name: "", queue: "", priority, tenant: "", labels: {}, timeoutMs: 0, maxAttempts: 1,
    resources: { cpuMillis: 100, memoryMb: 64, gpus: 0 },
    executor: { $case: "exec", exec: { argv: ["sh", "-c", `sleep ${seconds}`], env: {}, cwd: "" } },
  });
}

async function maxOverlap(c: pg.Client, where: string): Promise<number> {
  const { rows } = await c.query<{ assigned_at: Date; finished_at: Date | null }>(
    `SELECT a.assigned_at, a.finished_at FROM attempts a JOIN jobs j ON j.id = a.job_id WHERE ${where}`,
  );
  const evs = rows.flatMap((r) => [{ t: r.assigned_at.getTime(), d: 1 }, { t: r.finished_at?.getTime() ?? Infinity, d: -1 }]);
  evs.sort((a, b) => a.t - b.t || a.d - b.d);
  let held = 0;
  let most = 0;
  for (const e of evs) most = Math.max(most, (held += e.d));
  return most;
}

describe("reserved capacity", () => {
  it("low-priority work uses at most half the slots; urgent work runs beside it at once", async () => {
    const client = cluster.client(coord.grpcAddress);
    await client.submitJobs(Array.from({ length: 8 }, () => job(0, "0.5")));
    await waitUntil(db.url, async (c) => (await c.query("SELECT 1 FROM jobs WHERE priority = 0 AND state = 'running'")).rowCount === 2, "2 low-priority jobs to run");
    const urgent = await client.submitJobs([job(100, "0"), job(150, "0")]);
    await waitUntil(db.url, async (c) => (await c.query("SELECT 1 FROM jobs WHERE id = ANY($1::bigint[]) AND state = 'succeeded'", [urgent])).rowCount === 2, "the urgent jobs to succeed");
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    try {
      const { rows } = await c.query<{ n: number }>("SELECT count(*)::int AS n FROM jobs WHERE priority = 0 AND state = 'pending'");
      expect(rows[0]!.n).toBeGreaterThan(0); // the flood was still waiting: urgent work did not queue behind it
      await waitUntil(db.url, async (d) => (await d.query("SELECT 1 FROM jobs WHERE state = 'succeeded'")).rowCount === 10, "all 10 jobs to succeed");
      expect(await maxOverlap(c, "j.priority < 100")).toBe(2);
    } finally {
      await c.end();
    }
  });
});
