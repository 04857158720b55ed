// Priority ordering under contention: with one slot, queued higher-priority jobs all run before
// older lower-priority ones.
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { JobSpec, JobState } from "../../shared/gen/baton/v1/types.js";
import { jobCounts, TestCluster, waitUntil } from "../support/cluster.js";
import { createTestDatabase, type TestDatabase } from "../support/db.js";

let db: TestDatabase | undefined;
let cluster: TestCluster | undefined;

afterAll(async () => {
  await cluster?.stop();
  await db?.drop();
});

const job = (priority: number, argv: string[]) =>
  JobSpec.fromPartial({ priority, resources: { cpuMillis: 100, memoryMb: 16, gpus: 0 }, executor: { $case: "exec", exec: { argv, env: {}, cwd: "" } } });

describe("priorities", () => {
  it("runs every waiting higher-priority job before older lower-priority ones", async () => {
    db = await createTestDatabase();
    cluster = new TestCluster(db.url);
    const coord = await cluster.coordinator();
    await cluster.worker({ name: "one-slot", coordinators: [coord.grpcAddress], slots: 1 });
    const client = cluster.client(coord.grpcAddress);
    // The blocker holds the only slot until the test releases it through a FIFO.
    const fifo = `/tmp/baton-prio-${process.pid}-${Date.now()}`;
    const { execFileSync } = await import("node:child_process");
    execFileSync("mkfifo", [fifo]);
    const [blocker] = await client.submitJobs([job(0, ["sh", "-c", `read x < ${fifo}`])]);
    for await (const j of client.watchJob(blocker!)) if (j.state === JobState.JOB_STATE_RUNNING) break;

    const low = await client.submitJobs([job(0, ["true"]), job(1, ["true"]), job(2, ["true"])]);
    const high = await client.submitJobs([job(50, ["true"]), job(90, ["true"]), job(70, ["true"])]);
    execFileSync("sh", ["-c", `echo go > ${fifo}`]);
    await waitUntil(db.url, async (c) => (await jobCounts(c)).succeeded === 7, "all seven jobs to succeed");

    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    const { rows } = await c.query<{ id: string }>(
      "SELECT id FROM jobs WHERE id = ANY($1::bigint[]) ORDER BY assigned_at",
      [[...low, ...high]],
    );
    await c.end();
    execFileSync("rm", ["-f", fifo]);
    // Highest first (90, 70, 50), then the low ones by priority (2, 1, 0).
    expect(rows.map((r) => r.id)).toEqual([high[1], high[2], high[0], low[2], low[1], low[0]]);
  });
});
