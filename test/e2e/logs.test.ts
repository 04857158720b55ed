// `baton logs` of real jobs on a real coordinator and worker: exactly what the job printed, each
// stream to its own side; with -f, output as it comes until the job ends.
import { spawn } from "node:child_process";
import { mkdtemp, open, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { JobSpec, JobState } from "../../shared/gen/baton/v1/types.js";
import { Proc, TestCluster, waitUntil } from "../support/cluster.js";
import { createTestDatabase, type TestDatabase } from "../support/db.js";

const BIN = fileURLToPath(new URL("../../bin/baton.mjs", import.meta.url));

let db: TestDatabase | undefined;
let cluster: TestCluster | undefined;
let dir: string | undefined;

afterEach(async () => {
  await cluster?.stop();
  await db?.drop();
  if (dir) await rm(dir, { recursive: true, force: true });
  cluster = undefined;
  db = undefined;
  dir = undefined;
});

function execSpec(argv: string[]): JobSpec {
  return JobSpec.fromPartial({
    name: "", queue: "", priority: 0, tenant: "", labels: {}, timeoutMs: 0, maxAttempts: 0,
    resources: { cpuMillis: 100, memoryMb: 64, gpus: 0 },
    executor: { $case: "exec", exec: { argv, env: {}, cwd: "" } },
  });
}

/** The real CLI as a child; stdout and stderr kept as bytes. */
function baton(args: string[]): { proc: Proc; done: Promise<{ code: number | null; stdout: Buffer; stderr: Buffer }> } {
  const child = spawn(process.execPath, [BIN, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on("data", (d: Buffer) => out.push(d));
  child.stderr.on("data", (d: Buffer) => err.push(d));
  const proc = new Proc("baton-logs", child);
  const done = proc.exited.then((code) => ({ code, stdout: Buffer.concat(out), stderr: Buffer.concat(err) }));
  return { proc, done };
}

async function start() {
  db = await createTestDatabase();
  cluster = new TestCluster(db.url);
  const coord = await cluster.coordinator();
  await cluster.worker({ name: "w", coordinators: [coord.grpcAddress] });
  return { coord, client: cluster.client(coord.grpcAddress) };
}

describe("baton logs", () => {
  it("prints exactly what a finished job wrote: stdout to stdout, stderr to stderr", async () => {
    const { coord, client } = await start();
    // Many lines, interleaved streams, a last line without a newline, and bytes that are not UTF-8.
    const script = [
      "i=1; while [ $i -le 300 ]; do echo \"line $i of stdout\"; echo \"line $i of stderr\" >&2; i=$((i+1)); done",
      "printf '\\377\\000binary\\n'",
      "printf 'no newline at the end'",
    ].join("; ");
    const [id] = await client.submitJobs([execSpec(["sh", "-c", script])]);
    let last = JobState.JOB_STATE_UNSPECIFIED;
    for await (const j of client.watchJob(id!)) last = j.state;
    expect(last).toBe(JobState.JOB_STATE_SUCCEEDED);

    let expectOut = "";
    let expectErr = "";
    for (let i = 1; i <= 300; i++) {
      expectOut += `line ${i} of stdout\n`;
      expectErr += `line ${i} of stderr\n`;
    }
    const stdout = Buffer.concat([Buffer.from(expectOut), Buffer.from([0xff, 0x00]), Buffer.from("binary\nno newline at the end")]);

    const r = await baton(["--server", coord.grpcAddress, "logs", id!]).done;
    expect(r.code).toBe(0);
    expect(r.stdout.equals(stdout)).toBe(true);
    expect(r.stderr.toString()).toBe(expectErr);

    const onlyErr = await baton(["--server", coord.grpcAddress, "logs", "--stream", "stderr", id!]).done;
    expect(onlyErr.stdout.length).toBe(0);
    expect(onlyErr.stderr.toString()).toBe(expectErr);

    const job = await client.getJob(id!);
    expect(job.logBytes).toBe(stdout.length + expectErr.length);
    expect(job.logTruncated).toBe(false);
  });

  it("-f prints output as the job writes it and ends when the job ends", async () => {
    const { coord, client } = await start();
    dir = await mkdtemp(path.join(os.tmpdir(), "baton-logs-"));
    const fifo = path.join(dir, "go");
    // The job prints, then waits on a FIFO that the test opens once `baton logs -f` has shown the
    // first line: the rest can only be printed after the follower is attached. (`timeout`: a job
    // left behind by a failed test must not wait forever.)
    const [id] = await client.submitJobs([
      execSpec(["sh", "-c", `mkfifo ${fifo} && echo started && timeout 30 cat ${fifo} && echo 'done' >&2`]),
    ]);
    const follow = baton(["--server", coord.grpcAddress, "logs", "-f", id!]);
    await follow.proc.waitFor(/started\n/);
    const w = await open(fifo, "w");
    await w.write("from the test\n");
    await w.close();
    const r = await follow.done;
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toBe("started\nfrom the test\n");
    expect(r.stderr.toString()).toBe("done\n");
  });

  it("baton get shows usage while a job runs, then its CPU time and peak memory; baton workers shows real usage", async () => {
    const { coord, client } = await start();
    dir = await mkdtemp(path.join(os.tmpdir(), "baton-logs-"));
    const stop = path.join(dir, "stop");
    const [id] = await client.submitJobs([execSpec(["timeout", "60", "sh", "-c", `while [ ! -e ${stop} ]; do :; done`])]);
    // Samples carry no notification (one a second per job would flood watchers): re-checked on
    // the helper's slow tick.
    await waitUntil(db!.url, async (c) => {
      const { rows } = await c.query("SELECT (usage->>'cpu_seconds')::float8 AS cpu FROM jobs WHERE id = $1", [id]);
      return rows[0]?.cpu > 0;
    }, "a usage sample of the running job");
    const live = await baton(["--server", coord.grpcAddress, "get", id!]).done;
    expect(live.stdout.toString()).toMatch(/Usage now:\s+cpu \S+, memory [\d.]+ [KMG]?i?B \(CPU time/);
    await waitUntil(db!.url, async (c) => {
      const { rows } = await c.query("SELECT used_cpu_millis FROM workers");
      return rows[0]?.used_cpu_millis > 0;
    }, "a heartbeat with the worker's real usage");
    const workers = await baton(["--server", coord.grpcAddress, "workers"]).done;
    expect(workers.stdout.toString().split("\n")[1]).toMatch(/^w\s+\S+\s+alive\s+[1-9]\d*m?\/100m\/2\s+\S+\/64Mi\/2Gi\s/);

    await writeFile(stop, "");
    let last = JobState.JOB_STATE_UNSPECIFIED;
    for await (const j of client.watchJob(id!)) last = j.state;
    expect(last).toBe(JobState.JOB_STATE_SUCCEEDED);
    const job = await client.getJob(id!);
    expect(job.cpuSeconds).toBeGreaterThan(0);
    expect(job.peakMemoryBytes).toBeGreaterThan(0);
    const ended = (await baton(["--server", coord.grpcAddress, "get", id!]).done).stdout.toString();
    expect(ended).toMatch(/CPU time:\s+\d/);
    expect(ended).toMatch(/Peak memory:\s+[\d.]+ [KMG]i?B/);
    expect(ended).not.toMatch(/Usage now/);
  });
});
