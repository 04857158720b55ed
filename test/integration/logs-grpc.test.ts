// GetJobLogs, usage and worker telemetry through a real coordinator (in process, real gRPC, real
// Postgres), fed by a scripted worker on a real WorkerService stream.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BatonClient, BatonClientError } from "../../client/baton-client.js";
import { startCoordinator, type RunningCoordinator } from "../../coordinator/main.js";
import { compileCoordinatorOptions } from "../../coordinator/options.js";
import type { JobLogChunk } from "../../shared/gen/baton/v1/jobs.js";
import { JobSpec, JobState, LogStream } from "../../shared/gen/baton/v1/types.js";
import type { JobEvent } from "../../shared/gen/baton/v1/worker.js";
import { waitUntil } from "../support/cluster.js";
import { createTestDatabase, type TestDatabase } from "../support/db.js";
import { ScriptedWorker } from "../support/scripted-worker.js";

const log = (jobId: string, attempt: number, seq: number, stream: LogStream, text: string): JobEvent => ({
  jobId,
  attempt,
  atMs: Date.now(),
  kind: { $case: "log", log: { stream, data: Buffer.from(text), seq } },
});

const CAP = 1024 * 1024;

let db: TestDatabase;
let coordinator: RunningCoordinator;
let client: BatonClient;
let worker: ScriptedWorker;

beforeAll(async () => {
  db = await createTestDatabase();
  const opts = compileCoordinatorOptions(
    { databaseUrl: db.url, host: "127.0.0.1", grpcPort: 0, httpPort: 0, heartbeatIntervalMs: 100, leaseMs: 5000, electionIntervalMs: 50, id: "c-logs", logMaxBytesPerJob: CAP },
    {},
  );
  coordinator = await startCoordinator(opts, () => {});
  client = new BatonClient(coordinator.grpcAddress);
  worker = new ScriptedWorker(coordinator.grpcAddress, "w-scripted");
  await worker.register({
    name: "scripted",
    capacity: { cpuMillis: 4000, memoryMb: 4096, gpus: 1 },
    slots: 4,
    gpuIds: ["GPU-1234"],
  });
});

afterAll(async () => {
  worker?.close();
  client?.close();
  await coordinator?.stop();
  await db?.drop();
});

/** Submits a job and waits for its assignment on the scripted worker; returns its id and attempt. */
async function placedJob(): Promise<{ id: string; attempt: number }> {
  const [id] = await client.submitJobs([JobSpec.fromPartial({ name: "talker", queue: "", priority: 0, resources: { cpuMillis: 100, memoryMb: 10, gpus: 0 }, labels: {}, executor: { $case: "exec", exec: { argv: ["true"], env: {}, cwd: "" } }, timeoutMs: 0, maxAttempts: 1, tenant: "" })]);
  const a = await worker.next((m) =>
    m.msg?.$case === "assignments" ? m.msg.assignments.assignments.find((x) => x.jobId === id) : undefined,
  );
  return { id: id!, attempt: a.attempt };
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const c of it) out.push(c);
  return out;
}

const text = (chunks: JobLogChunk[]) => chunks.map((c) => `${c.stream === LogStream.LOG_STREAM_STDERR ? "E" : "O"}:${c.data.toString()}`);

describe("GetJobLogs over gRPC", () => {
  it("returns what is stored, in order; follow gets what is stored later and ends when the job finishes", async () => {
    const { id, attempt } = await placedJob();
    const started = Date.now();
    await worker.events([
      { jobId: id, attempt, atMs: started, kind: { $case: "started", started: { pid: 42 } } },
      log(id, attempt, 1, LogStream.LOG_STREAM_STDOUT, "hello\n"),
      log(id, attempt, 2, LogStream.LOG_STREAM_STDERR, "warning\n"),
      { jobId: id, attempt, atMs: Date.now(), kind: { $case: "usage", usage: { cpuMillis: 750, memoryBytes: 3_000_000, cpuSeconds: 0.5, peakMemoryBytes: 4_000_000 } } },
    ]);

    const now = await collect(client.getJobLogs(id));
    expect(text(now)).toEqual(["O:hello\n", "E:warning\n"]);
    expect(now.map((c) => [c.attempt, c.seq])).toEqual([[attempt, 1], [attempt, 2]]);
    expect(now[0]!.atMs).toBeGreaterThan(started - 1000);

    const running = await client.getJob(id);
    expect(running.state).toBe(JobState.JOB_STATE_RUNNING);
    expect(running.usage).toEqual({ cpuMillis: 750, memoryBytes: 3_000_000, cpuSeconds: 0.5, peakMemoryBytes: 4_000_000 });
    expect(running.logBytes).toBe(14);

    // Follow: the stored chunks, then each new one as it is stored, then the end with the job.
    const followed: JobLogChunk[] = [];
    let sawStored!: () => void;
    const storedSeen = new Promise<void>((r) => (sawStored = r));
    let sawLater!: () => void;
    const laterSeen = new Promise<void>((r) => (sawLater = r));
    const following = (async () => {
      for await (const c of client.getJobLogs(id, { follow: true })) {
        followed.push(c);
        if (followed.length === 2) sawStored();
        if (followed.length === 3) sawLater();
      }
    })();
    await storedSeen;
    await worker.events([log(id, attempt, 3, LogStream.LOG_STREAM_STDOUT, "later\n")]);
    await laterSeen;
    // A resent batch (as after a reconnect) stores nothing twice.
    await worker.events([log(id, attempt, 3, LogStream.LOG_STREAM_STDOUT, "later\n")]);
    await worker.events([
      log(id, attempt, 4, LogStream.LOG_STREAM_STDOUT, "last words\n"),
      {
        jobId: id,
        attempt,
        atMs: Date.now(),
        kind: { $case: "finished", finished: { exitCode: 0, reason: "exited", message: "", startedAtMs: started, cpuSeconds: 1.25, peakMemoryBytes: 5_000_000 } },
      },
    ]);
    await following;
    expect(text(followed)).toEqual(["O:hello\n", "E:warning\n", "O:later\n", "O:last words\n"]);

    const done = await client.getJob(id);
    expect(done).toMatchObject({ state: JobState.JOB_STATE_SUCCEEDED, cpuSeconds: 1.25, peakMemoryBytes: 5_000_000, logBytes: 31, logTruncated: false });
    expect(done.usage).toBeUndefined();
    expect(done.attempts[0]).toMatchObject({ cpuSeconds: 1.25, peakMemoryBytes: 5_000_000 });
    // Following a finished job returns what is stored and ends.
    expect(text(await collect(client.getJobLogs(id, { follow: true })))).toHaveLength(4);
    expect(await collect(client.getJobLogs(id, { attempt: attempt + 1 }))).toEqual([]);
  });

  it("answers NOT_FOUND for an unknown job and INVALID_ARGUMENT for a bad id or attempt", async () => {
    const err = async (it: AsyncIterable<unknown>) => collect(it).then(() => undefined, (e: BatonClientError) => e);
    expect(await err(client.getJobLogs("123456789"))).toMatchObject({ codeName: "NOT_FOUND", message: "job 123456789 not found" });
    expect(await err(client.getJobLogs("abc", { follow: true }))).toMatchObject({ codeName: "INVALID_ARGUMENT" });
    const { id } = await placedJob();
    expect(await err(client.getJobLogs(id, { attempt: -1 }))).toMatchObject({ codeName: "INVALID_ARGUMENT" });
    // WatchJob's errors end the call too (a destroyed server stream would never send its status).
    expect(await err(client.watchJob("123456789"))).toMatchObject({ codeName: "NOT_FOUND" });
  });

  it("takes megabytes of output in one batch, keeps the cap, marks the job truncated, and still acks", async () => {
    const { id, attempt } = await placedJob();
    const piece = Buffer.alloc(64 * 1024, "x");
    const events: JobEvent[] = [{ jobId: id, attempt, atMs: Date.now(), kind: { $case: "started", started: { pid: 1 } } }];
    for (let seq = 1; seq <= 100; seq++) {
      events.push({ jobId: id, attempt, atMs: Date.now(), kind: { $case: "log", log: { stream: LogStream.LOG_STREAM_STDOUT, data: piece, seq } } });
    }
    await worker.events(events); // 6.4 MiB
    await worker.events(events.slice(1).map((e, i) => ({ ...e, kind: { $case: "log", log: { stream: LogStream.LOG_STREAM_STDOUT, data: piece, seq: 101 + i } } })));
    const job = await client.getJob(id);
    expect(job).toMatchObject({ logBytes: CAP, logTruncated: true });
    const chunks = await collect(client.getJobLogs(id));
    expect(chunks.reduce((n, c) => n + c.data.length, 0)).toBe(CAP);
    expect(chunks.map((c) => c.seq)).toEqual(Array.from({ length: CAP / piece.length }, (_, i) => i + 1));
  });

  it("stores the real usage of heartbeats and the GPUs of the registration; baton status shows them", async () => {
    worker.send({ $case: "heartbeat", heartbeat: { running: 1, used: { cpuMillis: 1500, memoryMb: 300, gpus: 0 } } });
    await waitUntil(db.url, async (c) => {
      const { rows } = await c.query("SELECT used_cpu_millis FROM workers WHERE id = $1", [worker.id]);
      return rows[0]?.used_cpu_millis === 1500;
    }, "the heartbeat's usage to be stored");
    const cluster = await client.getCluster();
    expect(cluster.workers.find((w) => w.id === worker.id)).toMatchObject({
      used: { cpuMillis: 1500, memoryMb: 300 },
      gpuIds: ["GPU-1234"],
    });
  });
});
