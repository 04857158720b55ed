// Killing processes on either side of the worker stream and the leader lock: nothing submitted is lost.
import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import { JobSpec } from "../../shared/gen/baton/v1/types.js";
import { JobState } from "../../shared/gen/baton/v1/types.js";
import { findOvercommits } from "../support/capacity.js";
import { jobCounts, TestCluster, waitUntil } from "../support/cluster.js";
import { createTestDatabase, type TestDatabase } from "../support/db.js";

let db: TestDatabase | undefined;
let cluster: TestCluster | undefined;

afterEach(async () => {
  await cluster?.stop();
  await db?.drop();
  cluster = undefined;
  db = undefined;
});

async function setup() {
  db = await createTestDatabase();
  cluster = new TestCluster(db.url);
  return { db, cluster };
}

function execSpec(argv: string[]): JobSpec {
  return JobSpec.fromPartial({
    name: "", queue: "", priority: 0, tenant: "", labels: {}, timeoutMs: 0, maxAttempts: 0,
    resources: { cpuMillis: 100, memoryMb: 64, gpus: 0 },
    executor: { $case: "exec", exec: { argv, env: {}, cwd: "" } },
  });
}

function jsSpec(task: string, payload: unknown): JobSpec {
  return JobSpec.fromPartial({
    name: "", queue: "", priority: 0, tenant: "", labels: {}, timeoutMs: 0, maxAttempts: 0,
    resources: { cpuMillis: 10, memoryMb: 8, gpus: 0 },
    executor: { $case: "js", js: { task, payloadJson: JSON.stringify(payload) } },
  });
}

async function query<T extends pg.QueryResultRow>(url: string, sql: string, params: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<T>(sql, params)).rows;
  } finally {
    await c.end();
  }
}

describe("failures", () => {
  it("re-queues the attempts of a SIGKILLed worker after its lease and completes them elsewhere", async () => {
    const { db, cluster } = await setup();
    const coord = await cluster.coordinator({ leaseMs: 1500, heartbeatIntervalMs: 200 });
    const a = await cluster.worker({ name: "a", coordinators: [coord.grpcAddress] });
    const client = cluster.client(coord.grpcAddress);
    const [id] = await client.submitJobs([execSpec(["sh", "-c", "sleep 2"])]);
    for await (const j of client.watchJob(id!)) if (j.state === JobState.JOB_STATE_RUNNING) break;
    await a.kill("SIGKILL");
    const b = await cluster.worker({ name: "b", coordinators: [coord.grpcAddress] });

    await waitUntil(db.url, async (c) => (await jobCounts(c)).succeeded === 1, "the job to succeed on b", 60_000);
    const attempts = await query<{ attempt: number; worker_id: string; reason: string; exit_code: number | null }>(
      db.url, "SELECT attempt, worker_id, reason, exit_code FROM attempts WHERE job_id = $1 ORDER BY attempt", [id],
    );
    expect(attempts).toEqual([
      { attempt: 1, worker_id: a.workerId, reason: "worker_lost", exit_code: null },
      { attempt: 2, worker_id: b.workerId, reason: "exited", exit_code: 0 },
    ]);
    const workers = await query<{ id: string; state: string }>(db.url, "SELECT id, state FROM workers ORDER BY name");
    expect(workers).toEqual([{ id: a.workerId, state: "lost" }, { id: b.workerId, state: "alive" }]);
  });

  it("delivers work to a worker connected only to a follower coordinator", async () => {
    const { db, cluster } = await setup();
    const leader = await cluster.coordinator();
    await leader.waitFor(/elected leader/);
    const follower = await cluster.coordinator();
    const w = await cluster.worker({ name: "f", coordinators: [follower.grpcAddress], tasks: true });
    const client = cluster.client(leader.grpcAddress);
    const ids = await client.submitJobs(Array.from({ length: 20 }, () => jsSpec("noop", {})));
    await waitUntil(db.url, async (c) => (await jobCounts(c)).succeeded === 20, "20 jobs to succeed via the follower");
    const rows = await query<{ worker_id: string }>(db.url, "SELECT DISTINCT worker_id FROM jobs WHERE id = ANY($1::bigint[])", [ids]);
    expect(rows).toEqual([{ worker_id: w.workerId }]);
    expect(follower.output).not.toMatch(/elected leader/);
  });

  it("keeps running jobs when their coordinator dies: the worker reconnects elsewhere and reconciles", async () => {
    const { db, cluster } = await setup();
    const leader = await cluster.coordinator({ leaseMs: 5000 });
    await leader.waitFor(/elected leader/);
    const follower = await cluster.coordinator({ leaseMs: 5000 });
    const w = await cluster.worker({ name: "r", coordinators: [follower.grpcAddress, leader.grpcAddress] });
    const client = cluster.client(leader.grpcAddress);
    const [id] = await client.submitJobs([execSpec(["sh", "-c", "sleep 1.5"])]);
    for await (const j of client.watchJob(id!)) if (j.state === JobState.JOB_STATE_RUNNING) break;
    const from = w.output.length;
    await follower.kill("SIGKILL");
    await w.waitFor(/registered with coordinator c1/, 30_000, from);
    const done = await client.getJob(id!).then(async (j) => {
      for await (const x of client.watchJob(j.id)) if (x.state === JobState.JOB_STATE_SUCCEEDED) return x;
      return client.getJob(j.id);
    });
    expect(done.state).toBe(JobState.JOB_STATE_SUCCEEDED);
    expect(done.attempt).toBe(1); // not re-run: the reconnect came before the lease ran out
    const rows = await query<{ coordinator_id: string }>(db.url, "SELECT coordinator_id FROM workers WHERE id = $1", [w.workerId]);
    expect(rows[0]!.coordinator_id).toBe(leader.id);
  });

  it("survives SIGKILL of the leader mid-load: a follower takes over and no job is lost", async () => {
    const { db, cluster } = await setup();
    const c1 = await cluster.coordinator({ leaseMs: 3000 });
    await c1.waitFor(/elected leader, term 1/);
    const c2 = await cluster.coordinator({ leaseMs: 3000 });
    const c3 = await cluster.coordinator({ leaseMs: 3000 });
    const all = [c1.grpcAddress, c2.grpcAddress, c3.grpcAddress];
    await Promise.all([
      cluster.worker({ name: "w1", coordinators: all, slots: 16, tasks: true }),
      cluster.worker({ name: "w2", coordinators: [c2.grpcAddress, c1.grpcAddress], slots: 16, tasks: true }),
      cluster.worker({ name: "w3", coordinators: [c3.grpcAddress, c2.grpcAddress], slots: 16, tasks: true }),
    ]);
    const client = cluster.client(c2.grpcAddress);
    const ids: string[] = [];
    for (let batch = 0; batch < 3; batch++) {
      ids.push(...(await client.submitJobs(Array.from({ length: 100 }, (_, i) => jsSpec("sleep", { ms: 5 + (i % 10) })))));
    }
    // Kill the leader while the first jobs are running and most are still queued.
    await waitUntil(db.url, async (c) => ((await jobCounts(c)).succeeded ?? 0) >= 20, "some jobs to finish");
    const killedAt = Date.now();
    await c1.kill("SIGKILL");
    const [newLeader] = await Promise.race([
      c2.waitFor(/elected leader, term 2/).then(() => [c2]),
      c3.waitFor(/elected leader, term 2/).then(() => [c3]),
    ]);
    console.log(`new leader ${newLeader!.id} elected ${Date.now() - killedAt} ms after SIGKILL of the old one`);
    ids.push(...(await cluster.client(newLeader!.grpcAddress).submitJobs(Array.from({ length: 50 }, () => jsSpec("noop", {})))));

    await waitUntil(db.url, async (c) => (await jobCounts(c)).succeeded === 350, "all 350 jobs to succeed", 60_000);
    const term = await query<{ term: string; leader_id: string }>(db.url, "SELECT term, leader_id FROM baton_term");
    expect(term[0]).toEqual({ term: "2", leader_id: newLeader!.id });
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    expect(await findOvercommits(c)).toEqual([]);
    await c.end();
  });
});
