// A coordinator cut off from Postgres must let its workers go before the leader declares them lost:
// they reconnect to a coordinator that can record their heartbeats, and their jobs are not re-run.
import { afterAll, describe, expect, it } from "vitest";
import { JobSpec, JobState } from "../../shared/gen/baton/v1/types.js";
import { TestCluster } from "../support/cluster.js";
import { createTestDatabase, type TestDatabase } from "../support/db.js";
import { TcpProxy } from "../support/tcp-proxy.js";

let db: TestDatabase | undefined;
let cluster: TestCluster | undefined;
let proxy: TcpProxy | undefined;

afterAll(async () => {
  await cluster?.stop();
  await proxy?.stop();
  await db?.drop();
});

describe("a coordinator partitioned from Postgres", () => {
  it("closes its worker streams so the workers reconnect elsewhere; a running job is not re-run", async () => {
    db = await createTestDatabase();
    cluster = new TestCluster(db.url);
    const leader = await cluster.coordinator({ leaseMs: 4000, heartbeatIntervalMs: 200 });
    await leader.waitFor(/elected leader/);
    // The second coordinator reaches Postgres only through a proxy the test can cut.
    const url = new URL(db.url);
    proxy = new TcpProxy({ host: url.hostname, port: Number(url.port || 5432) });
    url.port = String(await proxy.start());
    const cut = await cluster.coordinator({ leaseMs: 4000, heartbeatIntervalMs: 200, extra: ["--database-url", url.toString()] });
    const w = await cluster.worker({ name: "p", coordinators: [cut.grpcAddress, leader.grpcAddress] });
    await w.waitFor(/registered with coordinator c2/);

    const client = cluster.client(leader.grpcAddress);
    const [id] = await client.submitJobs([
      JobSpec.fromPartial({ resources: { cpuMillis: 100, memoryMb: 32, gpus: 0 }, executor: { $case: "exec", exec: { argv: ["sleep", "5"], env: {}, cwd: "" } } }),
    ]);
    for await (const j of client.watchJob(id!)) if (j.state === JobState.JOB_STATE_RUNNING) break;

    const from = w.output.length;
    proxy.partition();
    await cut.waitFor(/closing 1 worker stream\(s\) so they reconnect elsewhere/, 20_000);
    await w.waitFor(/registered with coordinator c1/, 20_000, from);

    let last = await client.getJob(id!);
    for await (const j of client.watchJob(id!)) last = j;
    expect(last.state).toBe(JobState.JOB_STATE_SUCCEEDED);
    expect(last.attempt).toBe(1); // kept running through the partition, never re-queued
  });
});
