// GPU-aware placement end to end, with a stand-in nvidia-smi (this machine has no GPU).
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, describe, expect, it } from "vitest";
import { JobSpec, JobState } from "../../shared/gen/baton/v1/types.js";
import { findOvercommits } from "../support/capacity.js";
import { jobCounts, TestCluster, waitUntil } from "../support/cluster.js";
import { createTestDatabase, type TestDatabase } from "../support/db.js";

let db: TestDatabase | undefined;
let cluster: TestCluster | undefined;
let dir: string | undefined;

afterAll(async () => {
  await cluster?.stop();
  await db?.drop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("GPUs", () => {
  it("places GPU jobs only on a worker with free GPUs, each with its own CUDA_VISIBLE_DEVICES", async () => {
    db = await createTestDatabase();
    cluster = new TestCluster(db.url);
    dir = await mkdtemp(path.join(os.tmpdir(), "baton-gpu-"));
    const smi = path.join(dir, "nvidia-smi");
    await writeFile(smi, "#!/bin/sh\necho '0, GPU-aaaa'\necho '1, GPU-bbbb'\n");
    await chmod(smi, 0o755);

    const coord = await cluster.coordinator();
    const c = [coord.grpcAddress];
    await cluster.worker({ name: "cpu-only", coordinators: c, slots: 8 });
    const gpu = await cluster.worker({ name: "gpu", coordinators: c, slots: 8, env: { PATH: `${dir}:${process.env.PATH}` } });
    const client = cluster.client(coord.grpcAddress);
    const status = await client.getCluster();
    const gpuWorker = status.workers.find((w) => w.id === gpu.workerId)!;
    expect(gpuWorker.capacity?.gpus).toBe(2);
    expect(gpuWorker.gpuIds).toEqual(["GPU-aaaa", "GPU-bbbb"]);

    const out = (i: number) => path.join(dir!, `cuda-${i}`);
    const specs = Array.from({ length: 4 }, (_, i) =>
      JobSpec.fromPartial({
        resources: { cpuMillis: 100, memoryMb: 32, gpus: 1 },
        executor: { $case: "exec", exec: { argv: ["sh", "-c", `printf %s "$CUDA_VISIBLE_DEVICES" > ${out(i)}; sleep 0.3`], env: {}, cwd: "" } },
      }),
    );
    const ids = await client.submitJobs(specs);
    const [tooMany] = await client.submitJobs([
      JobSpec.fromPartial({ resources: { cpuMillis: 100, memoryMb: 32, gpus: 3 }, executor: { $case: "exec", exec: { argv: ["true"], env: {}, cwd: "" } } }),
    ]);
    await waitUntil(db.url, async (c) => (await jobCounts(c)).succeeded === 4, "the four GPU jobs to succeed");

    const conn = new pg.Client({ connectionString: db.url });
    await conn.connect();
    try {
      const { rows } = await conn.query("SELECT DISTINCT worker_id FROM jobs WHERE id = ANY($1::bigint[])", [ids]);
      expect(rows).toEqual([{ worker_id: gpu.workerId }]);
      // Never more than 2 GPUs' worth of jobs at once on the GPU worker.
      const { rows: spans } = await conn.query<{ a: Date; f: Date }>(
        "SELECT assigned_at AS a, finished_at AS f FROM attempts WHERE job_id = ANY($1::bigint[])",
        [ids],
      );
      // (the most spans open at one instant: an interval may overlap one that ended before the
      // next began, which is fine)
      expect(mostAtOnce(spans)).toBeLessThanOrEqual(2);
      expect(await findOvercommits(conn)).toEqual([]);
    } finally {
      await conn.end();
    }
    const { readFile } = await import("node:fs/promises");
    const devices = await Promise.all(ids.map((_, i) => readFile(out(i), "utf8")));
    expect(devices.every((d) => d === "0" || d === "1")).toBe(true);

    const job = await client.getJob(tooMany!);
    expect(job.state).toBe(JobState.JOB_STATE_PENDING);
    for await (const j of client.watchJob(tooMany!)) if (j.unschedulableReason) break;
    expect((await client.getJob(tooMany!)).unschedulableReason).toMatch(/3 GPUs/);
  });
});

/** The most of these spans open at one instant (an end at the instant a start happens closes first). */
function mostAtOnce(spans: { a: Date; f: Date }[]): number {
  const edges = spans.flatMap((s) => [{ t: s.a.getTime(), d: 1 }, { t: s.f.getTime(), d: -1 }]);
  edges.sort((x, y) => x.t - y.t || x.d - y.d);
  let open = 0;
  let most = 0;
  for (const e of edges) most = Math.max(most, (open += e.d));
  return most;
}
