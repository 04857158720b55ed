// The real `baton` CLI, run as a child process against a real gRPC server backed by a map.
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { freePort } from "../../coordinator/db/embedded-postgres.js";
import { BatonClient, BatonClientError } from "../../client/baton-client.js";
import { JobSpec, JobState } from "../../shared/gen/baton/v1/types.js";
import { makeJob, startFakeCoordinator, type FakeCoordinator } from "./fake-coordinator.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const BIN = fileURLToPath(new URL("../../bin/baton.mjs", import.meta.url));

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI without blocking this process's event loop, which serves the fake coordinator. */
function baton(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const { BATON_SERVER: _ignored, ...base } = process.env;
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: { ...base, ...env } });
    // Decoded at the end: a character may be split across two reads.
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on("data", (d: Buffer) => stdout.push(d));
    child.stderr.on("data", (d: Buffer) => stderr.push(d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout: Buffer.concat(stdout).toString(), stderr: Buffer.concat(stderr).toString() }));
  });
}

let fake: FakeCoordinator;
const server = () => ["--server", fake.address];

beforeAll(async () => {
  fake = await startFakeCoordinator();
});
afterAll(async () => {
  await fake.stop();
});
beforeEach(() => {
  fake.jobs.clear();
  fake.submitted.length = 0;
  fake.listRequests.length = 0;
  fake.logs.clear();
  fake.logRequests.length = 0;
});

describe("baton CLI", () => {
  it("--help lists the commands", async () => {
    const r = await baton(["--help"]);
    expect(r.code).toBe(0);
    for (const c of ["submit", "get", "ls", "logs", "cancel", "workers", "status", "dev", "coordinator", "migrate", "worker"]) {
      expect(r.stdout).toMatch(new RegExp(`^  ${c}\\b`, "m"));
    }
  });

  it("submit prints the id and sends the spec", async () => {
    const r = await baton([
      ...server(),
      "submit", "--name", "hi", "--cpu", "0.5", "--memory", "128", "--label", "zone=a", "--env", "X=1",
      "--timeout", "30s", "--priority", "7", "--queue", "q1", "--", "sh", "-c", "echo $X",
    ]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const id = r.stdout.trim();
    expect(fake.jobs.has(id)).toBe(true);
    expect(fake.submitted).toHaveLength(1);
    expect(fake.submitted[0]![0]).toMatchObject({
      name: "hi",
      queue: "q1",
      priority: 7,
      resources: { cpuMillis: 500, memoryMb: 128, gpus: 0 },
      labels: { zone: "a" },
      executor: { $case: "exec", exec: { argv: ["sh", "-c", "echo $X"], env: { X: "1" }, cwd: "" } },
      timeoutMs: 30_000,
    });
  });

  it("submit takes --server after the command name and BATON_SERVER from the environment", async () => {
    const a = await baton(["submit", "--server", fake.address, "--task", "resize", "--payload", '{"w":1}']);
    expect(a.code).toBe(0);
    const b = await baton(["submit", "--", "true"], { BATON_SERVER: fake.address });
    expect(b.code).toBe(0);
    expect(fake.submitted.map((s) => s[0]!.executor?.$case)).toEqual(["js", "exec"]);
  });

  it("submit --wait exits with the job's exit code", async () => {
    fake.watchScript = () => [
      { state: JobState.JOB_STATE_RUNNING, workerId: "w1", attempt: 1 },
      { state: JobState.JOB_STATE_FAILED, exitCode: 7, reason: "exited" },
    ];
    const r = await baton([...server(), "submit", "--wait", "--", "sh", "-c", "exit 7"]);
    expect(r.code).toBe(7);
    expect(r.stdout.trim()).toMatch(/^[0-9a-f-]{36}$/);
    expect(r.stderr).toMatch(/running on worker w1 \(attempt 1\)/);
    expect(r.stderr).toMatch(/failed \(exit 7\)/);
  });

  it("submit --wait exits 1 with the reason when the job ended without an exit code", async () => {
    fake.watchScript = () => [
      { state: JobState.JOB_STATE_PENDING, unschedulableReason: "needs 64000m CPU; the largest worker has 4000m" },
      { state: JobState.JOB_STATE_RUNNING, workerId: "w1", attempt: 1 },
      { state: JobState.JOB_STATE_FAILED, reason: "timed_out", message: "ran past 30s" },
    ];
    const r = await baton([...server(), "submit", "--wait", "--", "sleep", "100"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/unschedulable: needs 64000m CPU/);
    expect(r.stderr).toMatch(/failed without an exit code: timed_out: ran past 30s/);
  });

  it("submit --wait exits 0 on success", async () => {
    fake.watchScript = () => [{ state: JobState.JOB_STATE_SUCCEEDED, exitCode: 0, reason: "exited" }];
    const r = await baton([...server(), "submit", "--wait", "--", "true"]);
    expect(r.code).toBe(0);
  });

  it("ls renders a table and JSON, with state filters and pagination", async () => {
    for (let i = 0; i < 5; i++) {
      const job = makeJob({ ...baseSpec(), name: `job-${i}` }, i % 2 ? { state: JobState.JOB_STATE_RUNNING, workerId: "0f4c2a9e-aaaa" } : {});
      fake.jobs.set(job.id, job);
    }
    const table = await baton([...server(), "ls"]);
    expect(table.code).toBe(0);
    expect(table.stdout.split("\n")[0]).toMatch(/^ID\s+NAME\/COMMAND\s+STATE\s+QUEUE\s+PRI\s+WORKER\s+EXIT\/REASON\s+AGE$/);
    expect(table.stdout).toMatch(/job-1\s+running\s+default\s+0\s+0f4c2a9e/);

    const json = await baton([...server(), "ls", "--state", "running", "-o", "json"]);
    expect(json.code).toBe(0);
    const parsed = JSON.parse(json.stdout) as { jobs: { name?: string; state: string; spec: { name: string } }[] };
    expect(parsed.jobs.map((j) => j.spec.name).sort()).toEqual(["job-1", "job-3"]);
    expect(parsed.jobs[0]!.state).toBe("JOB_STATE_RUNNING");

    fake.listRequests.length = 0;
    const paged = await baton([...server(), "ls", "--limit", "2", "-o", "json"]);
    expect((JSON.parse(paged.stdout) as { jobs: unknown[] }).jobs).toHaveLength(2);
    expect(fake.listRequests[0]!.pageSize).toBe(2);

    fake.listRequests.length = 0;
    const all = await baton([...server(), "ls", "--all", "-o", "json"]);
    expect((JSON.parse(all.stdout) as { jobs: unknown[] }).jobs).toHaveLength(5);
  });

  it("ls names a bad state and lists the valid ones", async () => {
    const r = await baton([...server(), "ls", "--state", "done"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("--state 'done' is not a job state; use one or more of pending, assigned, running");
  });

  it("get shows a job for a person and as JSON; an unknown id is the server's message", async () => {
    const job = makeJob(baseSpec(), {
      state: JobState.JOB_STATE_FAILED,
      attempt: 2,
      workerId: "w-gpu-1",
      exitCode: 3,
      reason: "exited",
      startedAtMs: Date.now() - 5000,
      finishedAtMs: Date.now(),
      attempts: [
        { attempt: 1, workerId: "w-2", assignedAtMs: 1, startedAtMs: 2, finishedAtMs: 3, reason: "worker_lost", message: "", exitCode: undefined, cpuSeconds: 0, peakMemoryBytes: 0 },
        { attempt: 2, workerId: "w-gpu-1", assignedAtMs: 4, startedAtMs: 5, finishedAtMs: 1005, reason: "exited", message: "", exitCode: 3, cpuSeconds: 0.5, peakMemoryBytes: 1048576 },
      ],
    });
    fake.jobs.set(job.id, job);
    const human = await baton([...server(), "get", job.id]);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/State:\s+failed/);
    expect(human.stdout).toMatch(/Outcome:\s+exit 3/);
    expect(human.stdout).toMatch(/Resources:\s+cpu 100m, memory 64Mi/);
    expect(human.stdout).toMatch(/Attempts:\n\s+#\s+WORKER/);
    expect(human.stdout).toMatch(/1\s+w-2\s+.*worker_lost/);

    const json = await baton([...server(), "get", job.id, "-o", "json"]);
    expect(JSON.parse(json.stdout)).toMatchObject({ id: job.id, state: "JOB_STATE_FAILED", exitCode: 3, attempt: 2 });

    // Usage while running, CPU time and peak memory once ended, and the size of the output.
    const running = makeJob(baseSpec(), {
      state: JobState.JOB_STATE_RUNNING,
      attempt: 1,
      workerId: "w-gpu-1",
      usage: { cpuMillis: 1500, memoryBytes: 300 * 1024 * 1024, cpuSeconds: 12.5, peakMemoryBytes: 512 * 1024 * 1024 },
      logBytes: 2048,
    });
    fake.jobs.set(running.id, running);
    const live = await baton([...server(), "get", running.id]);
    expect(live.stdout).toMatch(/Usage now:\s+cpu 1.5 cores, memory 300 MiB \(CPU time 12.5s, peak memory 512 MiB\)/);
    expect(live.stdout).toMatch(new RegExp(`Output:\\s+2.0 KiB; \`baton logs ${running.id}\``));
    fake.jobs.set(job.id, { ...job, cpuSeconds: 0.5, peakMemoryBytes: 1048576, logBytes: 16 * 1024 * 1024, logTruncated: true });
    const ended = await baton([...server(), "get", job.id]);
    expect(ended.stdout).toMatch(/CPU time:\s+0.50s/);
    expect(ended.stdout).toMatch(/Peak memory:\s+1.0 MiB/);
    expect(ended.stdout).toMatch(/Output:\s+16 MiB \(truncated: the rest went past the per-job cap\)/);
    expect(ended.stdout).not.toMatch(/Usage now/);
    expect(ended.stdout).toMatch(/2\s+w-gpu-1\s+.*exit 3\s+0.50s\s+1.0 MiB/);

    const missing = await baton([...server(), "get", "nope"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toBe("error: job nope not found\n");
  });

  it("logs writes stdout chunks to stdout and stderr chunks to stderr, byte for byte", async () => {
    const job = makeJob(baseSpec(), { state: JobState.JOB_STATE_SUCCEEDED, attempt: 2 });
    fake.jobs.set(job.id, job);
    const e = Buffer.from("é\n"); // a character split across two chunks arrives whole
    const chunk = (attempt: number, seq: number, stream: number, data: Buffer | string) => ({
      attempt, seq, stream, data: Buffer.from(data), atMs: Date.now(),
    });
    fake.logs.set(job.id, [
      chunk(1, 1, 1, "try 1\n"),
      chunk(2, 1, 1, "out "),
      chunk(2, 2, 2, "err 1\n"),
      chunk(2, 3, 1, e.subarray(0, 1)),
      chunk(2, 4, 1, e.subarray(1)),
      chunk(2, 5, 2, "err 2\n"),
    ]);
    const all = await baton([...server(), "logs", job.id]);
    expect(all.code).toBe(0);
    expect(all.stdout).toBe("try 1\nout é\n");
    expect(all.stderr).toBe("err 1\nerr 2\n");
    expect(fake.logRequests.at(-1)).toEqual({ id: job.id, follow: false, attempt: 0 });

    const one = await baton([...server(), "logs", "-f", "--attempt", "2", "--stream", "stderr", job.id]);
    expect(one).toMatchObject({ code: 0, stdout: "", stderr: "err 1\nerr 2\n" });
    expect(fake.logRequests.at(-1)).toEqual({ id: job.id, follow: true, attempt: 2 });

    const bad = await baton([...server(), "logs", "--attempt", "0", job.id]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--attempt '0' must be an attempt number/);
    const badStream = await baton([...server(), "logs", "--stream", "both", job.id]);
    expect(badStream.code).toBe(2);
    const missing = await baton([...server(), "logs", "12345"]);
    expect(missing).toMatchObject({ code: 1, stderr: "error: job 12345 not found\n" });
  });

  it("cancel prints the resulting state", async () => {
    const pending = makeJob(baseSpec());
    const running = makeJob(baseSpec(), { state: JobState.JOB_STATE_RUNNING, workerId: "w1" });
    fake.jobs.set(pending.id, pending);
    fake.jobs.set(running.id, running);
    const a = await baton([...server(), "cancel", pending.id]);
    expect(a.code).toBe(0);
    expect(a.stdout).toBe(`${pending.id}: cancelled\n`);
    const b = await baton([...server(), "cancel", running.id]);
    expect(b.stdout).toMatch(/running \(cancel requested/);
    const c = await baton([...server(), "cancel", pending.id]);
    expect(c.code).toBe(1);
    expect(c.stderr).toBe(`error: job ${pending.id} already finished\n`);
  });

  it("workers renders the table", async () => {
    const r = await baton([...server(), "workers"]);
    expect(r.code).toBe(0);
    const [header, first, second] = r.stdout.split("\n");
    expect(header).toMatch(
      /^NAME\s+ID\s+STATE\s+CPU USED\/ALLOC\/TOTAL\s+MEM USED\/ALLOC\/TOTAL\s+SLOTS\s+GPUS\s+LABELS\s+LIMITS\s+COORDINATOR$/,
    );
    expect(first).toMatch(/^w-gpu-1\s+0f4c2a9e\s+alive\s+1500m\/1500m\/4\s+2Gi\/512Mi\/8Gi\s+2\/8\s+0\/1\s+gpu=yes,zone=a\s+cgroup-v2\s+coord-a$/);
    expect(second).toMatch(/^w-2\s+9a8b7c6d\s+lost\s+-\/0\/2\s+-\/0Mi\/4Gi\s+0\/4\s+-\s+-\s+rlimit\s+coord-b$/);
    const json = await baton([...server(), "workers", "-o", "json"]);
    expect((JSON.parse(json.stdout) as { workers: { name: string }[] }).workers.map((w) => w.name)).toEqual(["w-gpu-1", "w-2"]);
  });

  it("status renders the cluster", async () => {
    const r = await baton([...server(), "status"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Leader:\s+coord-a \(term 3\)/);
    expect(r.stdout).toMatch(/Workers:\s+1 alive, 1 lost/);
    expect(r.stdout).toMatch(/Jobs:\s+pending 4, assigned 0, running 2, succeeded 10, failed 1, cancelled 0/);
    expect(r.stdout).toMatch(/Unschedulable: 1/);
    expect(r.stdout).toMatch(/\*\s+coord-a\s+10\.0\.0\.1:50051/);
    const json = await baton([...server(), "status", "-o", "json"]);
    expect(JSON.parse(json.stdout)).toMatchObject({ leaderId: "coord-a", term: 3, unschedulable: 1 });
  });

  it("a server error shows the server's own text", async () => {
    const r = await baton([...server(), "submit", "--queue", "forbidden", "--", "true"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("error: jobs[0].queue: queue 'forbidden' does not exist\n");
  });

  it("no server on the port gives the friendly message and exit 1", async () => {
    const port = await freePort();
    const r = await baton(["--server", `127.0.0.1:${port}`, "ls"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(
      `error: cannot reach a Baton coordinator at 127.0.0.1:${port}: is it running? (set --server or BATON_SERVER)\n`,
    );
  });

  it("a bad flag exits 2 and names it; so does a bad value", async () => {
    const a = await baton([...server(), "ls", "--bogus"]);
    expect(a.code).toBe(2);
    expect(a.stderr).toContain("unknown option '--bogus'");
    const b = await baton([...server(), "submit", "--timeout", "soon", "--", "true"]);
    expect(b.code).toBe(2);
    expect(b.stderr).toContain("--timeout 'soon' is not a duration");
    expect(b.stderr).not.toMatch(/\n\s+at /);
    const c = await baton([...server(), "submit"]);
    expect(c.code).toBe(2);
    expect(c.stderr).toContain("nothing to run");
  });
});

describe("BatonClient", () => {
  it("streams a job until it is terminal", async () => {
    fake.watchScript = () => [
      { state: JobState.JOB_STATE_RUNNING, workerId: "w1", attempt: 1 },
      { state: JobState.JOB_STATE_SUCCEEDED, exitCode: 0 },
    ];
    const client = new BatonClient(fake.address);
    try {
      const [id] = await client.submitJobs([baseSpec()]);
      const states: JobState[] = [];
      for await (const job of client.watchJob(id!)) states.push(job.state);
      expect(states).toEqual([JobState.JOB_STATE_PENDING, JobState.JOB_STATE_RUNNING, JobState.JOB_STATE_SUCCEEDED]);
    } finally {
      client.close();
    }
  });

  it("turns gRPC failures into BatonClientError", async () => {
    const client = new BatonClient(fake.address);
    const err = await client.getJob("missing").catch((e: unknown) => e);
    client.close();
    expect(err).toBeInstanceOf(BatonClientError);
    expect((err as BatonClientError).codeName).toBe("NOT_FOUND");
    expect((err as BatonClientError).message).toBe("job missing not found");

    const watchClient = new BatonClient(fake.address);
    const watchErr = await (async () => {
      for await (const _ of watchClient.watchJob("missing")) void _;
    })().catch((e: unknown) => e);
    watchClient.close();
    expect(watchErr).toBeInstanceOf(BatonClientError);
    expect((watchErr as BatonClientError).message).toBe("job missing not found");
  });
});

function baseSpec(): JobSpec {
  return JobSpec.fromPartial({
    name: "",
    queue: "",
    priority: 0,
    resources: { cpuMillis: 100, memoryMb: 64, gpus: 0 },
    labels: {},
    executor: { $case: "exec" as const, exec: { argv: ["true"], env: {}, cwd: "" } },
    timeoutMs: 0,
    maxAttempts: 0,
    tenant: "",
  }) as JobSpec;
}
