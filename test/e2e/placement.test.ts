// Real coordinator and worker processes: resource-aware placement end to end.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { submitRequest } from "../../client/compact-batch.js";
import { JobSpec, JobState } from "../../shared/gen/baton/v1/types.js";
import { findOvercommits } from "../support/capacity.js";
import { jobCounts, TestCluster, waitUntil, type CoordinatorProc, type WorkerProc } from "../support/cluster.js";
import { createTestDatabase, type TestDatabase } from "../support/db.js";

let db: TestDatabase;
let cluster: TestCluster;
let coord: CoordinatorProc;
let workers: WorkerProc[];

beforeAll(async () => {
  db = await createTestDatabase();
  cluster = new TestCluster(db.url);
  coord = await cluster.coordinator();
  const c = [coord.grpcAddress];
  workers = await Promise.all([
    cluster.worker({ name: "small", coordinators: c, cpu: 1000, memory: 512, slots: 2, tasks: true }),
    cluster.worker({ name: "medium", coordinators: c, cpu: 2000, memory: 1024, slots: 4, tasks: true }),
    cluster.worker({ name: "large", coordinators: c, cpu: 4000, memory: 4096, slots: 8, labels: "disk=ssd", tasks: true }),
  ]);
});

afterAll(async () => {
  await cluster?.stop();
  await db?.drop();
});

function exec(argv: string[], cpu: number, memory: number, extra: Partial<JobSpec> = {}): JobSpec {
  return JobSpec.fromPartial({
    name: "",
    queue: "",
    priority: 0,
    resources: { cpuMillis: cpu, memoryMb: memory, gpus: 0 },
    labels: {},
    executor: { $case: "exec", exec: { argv, env: {}, cwd: "" } },
    timeoutMs: 0,
    maxAttempts: 0,
    tenant: "",
    ...extra,
  });
}

describe("placement across workers of different sizes", () => {
  it("runs 200 mixed jobs to completion without ever over-committing a worker", async () => {
    const client = cluster.client(coord.grpcAddress);
    const specs: JobSpec[] = [];
    for (let i = 0; i < 200; i++) {
      const cpu = [100, 250, 500, 1000][i % 4]!;
      const mem = [64, 128, 256, 512][(i * 7) % 4]!;
      if (i % 3 === 0) {
        specs.push({ ...exec([], cpu, mem), executor: { $case: "js", js: { task: "sleep", payloadJson: JSON.stringify({ ms: 5 + (i % 20) }) } } });
      } else if (i % 10 === 1) {
        specs.push(exec(["sh", "-c", "exit 0"], cpu, mem, { labels: { disk: "ssd" } }));
      } else {
        specs.push(exec(["sh", "-c", `sleep 0.0${i % 5}`], cpu, mem, { priority: i % 5 }));
      }
    }
    const ids = await client.submitJobs(specs);
    expect(ids).toHaveLength(200);
    expect(new Set(ids).size).toBe(200);

    await waitUntil(db.url, async (c) => (await jobCounts(c)).succeeded === 200, "200 jobs to succeed", 90_000);

    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    try {
      expect(await findOvercommits(c)).toEqual([]);
      const { rows } = await c.query<{ name: string; n: number }>(
        `SELECT w.name, count(*)::int AS n FROM attempts a JOIN workers w ON w.id = a.worker_id GROUP BY w.name`,
      );
      const perWorker = Object.fromEntries(rows.map((r) => [r.name, r.n]));
      // Every worker took part, and label-bound jobs ran only where the label is.
      expect(Object.keys(perWorker).sort()).toEqual(["large", "medium", "small"]);
      const { rows: ssd } = await c.query<{ name: string }>(
        `SELECT DISTINCT w.name FROM jobs j JOIN workers w ON w.id = j.worker_id WHERE j.labels ? 'disk'`,
      );
      expect(ssd.map((r) => r.name)).toEqual(["large"]);
      const { rows: attempts } = await c.query<{ n: number }>("SELECT count(*)::int AS n FROM attempts");
      expect(attempts[0]!.n).toBe(200);
    } finally {
      await c.end();
    }
  });

  it("runs a large batch of like js jobs, sent compactly, each with its own name and payload, in order", async () => {
    const client = cluster.client(coord.grpcAddress);
    const specs: JobSpec[] = Array.from({ length: 150 }, (_, i) => ({
      ...exec([], 100, 64),
      name: `like-${i}`,
      executor: { $case: "js", js: { task: "sleep", payloadJson: JSON.stringify({ ms: i % 3 }) } },
    }));
    expect(submitRequest(specs).items).toHaveLength(150); // what the client sends: one spec and 150 items
    const ids = await client.submitJobs(specs);
    await waitUntil(db.url, async (c) => {
      const { rows } = await c.query<{ n: number }>("SELECT count(*)::int AS n FROM jobs WHERE id = ANY($1::bigint[]) AND state = 'succeeded'", [ids]);
      return rows[0]!.n === 150;
    }, "150 like jobs to succeed", 60_000);
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    try {
      const { rows } = await c.query<{ id: string; name: string; payload: unknown; cpu_millis: number }>(
        "SELECT id::text, name, payload, cpu_millis FROM jobs WHERE id = ANY($1::bigint[]) ORDER BY id",
        [ids],
      );
      expect(rows.map((r) => r.id)).toEqual(ids);
      expect(rows.map((r) => [r.name, r.payload, r.cpu_millis])).toEqual(
        specs.map((_, i) => [`like-${i}`, { task: "sleep", payload: JSON.stringify({ ms: i % 3 }) }, 100]),
      );
    } finally {
      await c.end();
    }
  });

  it("reports a job that no worker could ever fit as unschedulable, and places it once one can", async () => {
    const client = cluster.client(coord.grpcAddress);
    const [id] = await client.submitJobs([exec(["true"], 100, 64_000)]);
    let job = await client.getJob(id!);
    for await (const j of client.watchJob(id!)) {
      if (j.unschedulableReason) {
        job = j;
        break;
      }
    }
    expect(job.unschedulableReason).toMatch(/64000 MiB/);
    expect(job.unschedulableReason).toMatch(/4096 MiB/);
    const status = await client.getCluster();
    expect(status.unschedulable).toBe(1);

    // A big enough worker joins: the job is placed there and the reason is cleared.
    const big = await cluster.worker({ name: "huge", coordinators: [coord.grpcAddress], cpu: 1000, memory: 65_536, slots: 1 });
    await waitUntil(db.url, async (c) => {
      const { rows } = await c.query("SELECT state, worker_id, unschedulable_reason FROM jobs WHERE id = $1", [id]);
      return rows[0].state === "succeeded";
    }, "the big job to run on the new worker");
    job = await client.getJob(id!);
    expect(job.workerId).toBe(big.workerId);
    expect(job.unschedulableReason).toBe("");
  });

  it("rejects an invalid batch whole, naming the bad spec", async () => {
    const client = cluster.client(coord.grpcAddress);
    const before = await client.listJobs({ pageSize: 1000 });
    await expect(client.submitJobs([exec(["true"], 100, 64), exec([], 100, 64)])).rejects.toThrow(/jobs\[1\].*argv/);
    const after = await client.listJobs({ pageSize: 1000 });
    expect(after.jobs.length).toBe(before.jobs.length);
  });

  it("serves gRPC health checking", async () => {
    const grpc = await import("@grpc/grpc-js");
    const { loadSync } = await import("@grpc/proto-loader");
    const { protoPath } = await import("grpc-health-check");
    const def = grpc.loadPackageDefinition(loadSync(protoPath, { enums: String })) as any;
    const health = new def.grpc.health.v1.Health(coord.grpcAddress, grpc.credentials.createInsecure());
    const res = await new Promise<any>((resolve, reject) =>
      health.check({ service: "baton.v1.JobService" }, (err: Error | null, r: unknown) => (err ? reject(err) : resolve(r))),
    );
    health.close();
    expect(res.status).toBe("SERVING");
  });

  it("serves server reflection listing Baton's services", async () => {
    const grpc = await import("@grpc/grpc-js");
    const { loadSync } = await import("@grpc/proto-loader");
    const { createRequire } = await import("node:module");
    const require = createRequire(import.meta.url);
    const proto = require.resolve("@grpc/reflection/build/proto/grpc/reflection/v1/reflection.proto");
    const def = grpc.loadPackageDefinition(loadSync(proto)) as any;
    const refl = new def.grpc.reflection.v1.ServerReflection(coord.grpcAddress, grpc.credentials.createInsecure());
    const call = refl.ServerReflectionInfo();
    const reply = new Promise<any>((resolve, reject) => {
      call.on("data", resolve);
      call.on("error", reject);
    });
    call.write({ listServices: "" });
    const res = await reply;
    call.end();
    refl.close();
    const names = res.listServicesResponse.service.map((s: { name: string }) => s.name);
    expect(names).toEqual(expect.arrayContaining(["baton.v1.JobService", "baton.v1.WorkerService", "baton.v1.ClusterService"]));
  });

  it("lists jobs newest first, filtered by state and queue, page by page", async () => {
    const client = cluster.client(coord.grpcAddress);
    const ids = await client.submitJobs(Array.from({ length: 7 }, () => exec(["true"], 100, 64, { queue: "listing", labels: { zone: "nowhere" } })));
    const seen: string[] = [];
    let pageToken = "";
    let pages = 0;
    do {
      const page = await client.listJobs({ queue: "listing", states: [JobState.JOB_STATE_PENDING], pageSize: 3, pageToken });
      seen.push(...page.jobs.map((j) => j.id));
      pageToken = page.nextPageToken;
      pages++;
    } while (pageToken);
    expect(pages).toBe(3);
    expect(seen).toEqual([...ids].reverse());
    const none = await client.listJobs({ queue: "listing", states: [JobState.JOB_STATE_SUCCEEDED] });
    expect(none.jobs).toEqual([]);
    await expect(client.listJobs({ pageToken: "bogus" })).rejects.toThrow(/page_token/);
    for (const id of ids) await client.cancelJob(id);
  });

  it("cancels a pending job at once and a running one through its worker", async () => {
    const client = cluster.client(coord.grpcAddress);
    const [pending] = await client.submitJobs([exec(["true"], 100, 64, { labels: { zone: "nowhere" } })]);
    const cancelledPending = await client.cancelJob(pending!);
    expect(cancelledPending.state).toBe(JobState.JOB_STATE_CANCELLED);

    const [running] = await client.submitJobs([exec(["sleep", "30"], 100, 64)]);
    for await (const j of client.watchJob(running!)) if (j.state === JobState.JOB_STATE_RUNNING) break;
    const requested = await client.cancelJob(running!);
    expect(requested.cancelRequested).toBe(true);
    let last = requested;
    for await (const j of client.watchJob(running!)) last = j;
    expect(last.state).toBe(JobState.JOB_STATE_CANCELLED);
    expect(last.reason).toBe("cancelled");
    expect(last.finishedAtMs - last.startedAtMs).toBeLessThan(30_000);
    await expect(client.cancelJob("999999")).rejects.toThrow(/not found/);
  });
});
