// Job output, usage and leader timeouts against a real Postgres: the batched writes the event sink
// makes, the retention sweep, and the reaper ending attempts of silent workers.
import pg from "pg";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createPool } from "../../coordinator/db/pool.js";
import { LogRetention } from "../../coordinator/leader/log-retention.js";
import { Reaper } from "../../coordinator/leader/reaper.js";
import { insertJobs, type NewJob } from "../../coordinator/sql/insert-jobs.js";
import { readJobLogs } from "../../coordinator/sql/read-job-logs.js";
import { recordFinished, recordStarted } from "../../coordinator/sql/record-events.js";
import { recordLogChunks, type LogChunkEvent } from "../../coordinator/sql/record-logs.js";
import { recordUsage } from "../../coordinator/sql/record-usage.js";
import { bumpTerm } from "../../coordinator/sql/term.js";
import { touchLiveness, upsertWorker } from "../../coordinator/sql/workers.js";
import { createTestDatabase, type TestDatabase } from "../support/db.js";

let db: TestDatabase;
let pool: pg.Pool;

beforeEach(async () => {
  db = await createTestDatabase();
  pool = createPool(db.url, 4);
});

afterEach(async () => {
  await pool.end();
  await db.drop();
});

const job = (over: Partial<NewJob> = {}): NewJob => ({
  name: "", queue: "default", tenant: "", priority: 0, cpuMillis: 500, memoryMb: 100, gpus: 0, labels: {},
  executor: "exec", payload: { argv: ["true"] }, timeoutMs: 0, maxAttempts: 1, ...over,
});

/** A job running its `attempt` on w1 (earlier attempts in history), started `startedAgoMs` ago. */
async function runningJob(attempt = 1, over: Partial<NewJob> = {}, startedAgoMs = 0): Promise<string> {
  const [id] = await insertJobs(pool, [job(over)]);
  await pool.query(
    `UPDATE jobs SET state = 'running', attempt = $2, worker_id = 'w1', assigned_at = now(),
       started_at = now() - make_interval(secs => $3 / 1000.0) WHERE id = $1`,
    [id, attempt, startedAgoMs],
  );
  for (let a = 1; a < attempt; a++) {
    await pool.query(
      "INSERT INTO job_attempts (job_id, attempt, worker_id, finished_at, reason) VALUES ($1, $2, 'w0', now(), 'worker_lost')",
      [id, a],
    );
  }
  return id!;
}

const chunk = (jobId: string, attempt: number, seq: number, text: string, stream = 1, atMs = Date.now()): LogChunkEvent => ({
  jobId, attempt, seq, stream, atMs, data: Buffer.from(text),
});

async function stored(jobId: string): Promise<{ attempt: number; seq: string; stream: number; text: string }[]> {
  const rows = await readJobLogs(pool, jobId, { attempt: 0, after: { attempt: 0, seq: "0" }, limit: 1000 });
  return rows.map((r) => ({ attempt: r.attempt, seq: r.seq, stream: r.stream, text: r.data.toString() }));
}

async function logState(jobId: string) {
  const { rows } = await pool.query<{ log_bytes: string; log_truncated: boolean }>(
    "SELECT log_bytes, log_truncated FROM jobs WHERE id = $1",
    [jobId],
  );
  return { bytes: Number(rows[0]!.log_bytes), truncated: rows[0]!.log_truncated };
}

describe("log chunks", () => {
  it("stores a batch of many jobs in one statement, in order, with binary data intact", async () => {
    const a = await runningJob();
    const b = await runningJob();
    const binary = Buffer.from([0, 255, 10, 13, 0x80, 0x5c, 0x78]); // NUL, high bytes, "\x"
    const r = await recordLogChunks(pool, [
      chunk(a, 1, 2, "second\n", 2),
      chunk(a, 1, 1, "first\n"),
      { jobId: b, attempt: 1, seq: 1, stream: 1, atMs: Date.now(), data: binary },
    ], 1024);
    expect(r).toEqual({ stored: 3, bytes: 7 + 6 + binary.length, full: [] });
    expect(await stored(a)).toEqual([
      { attempt: 1, seq: "1", stream: 1, text: "first\n" },
      { attempt: 1, seq: "2", stream: 2, text: "second\n" },
    ]);
    const rows = await readJobLogs(pool, b, { attempt: 0, after: { attempt: 0, seq: "0" }, limit: 10 });
    expect(Buffer.compare(rows[0]!.data, binary)).toBe(0);
    expect(await logState(a)).toEqual({ bytes: 13, truncated: false });
  });

  it("keeps at most the per-job cap: the crossing chunk is cut, later ones dropped, the job marked truncated", async () => {
    const id = await runningJob();
    expect(await recordLogChunks(pool, [chunk(id, 1, 1, "0123456789"), chunk(id, 1, 2, "abcdefghij")], 15)).toEqual({
      stored: 2,
      bytes: 15,
      full: [id],
    });
    expect((await stored(id)).map((c) => c.text)).toEqual(["0123456789", "abcde"]);
    expect(await logState(id)).toEqual({ bytes: 15, truncated: true });
    // Later flushes store nothing more for this job.
    expect(await recordLogChunks(pool, [chunk(id, 1, 3, "more")], 15)).toEqual({ stored: 0, bytes: 0, full: [id] });
    expect(await logState(id)).toEqual({ bytes: 15, truncated: true });
    expect(await stored(id)).toHaveLength(2);
  });

  it("ignores chunks resent after a reconnect, within a batch and across batches, without counting them", async () => {
    const id = await runningJob();
    await recordLogChunks(pool, [chunk(id, 1, 1, "a"), chunk(id, 1, 2, "bb")], 100);
    const r = await recordLogChunks(pool, [chunk(id, 1, 2, "bb"), chunk(id, 1, 3, "ccc"), chunk(id, 1, 3, "ccc")], 100);
    expect(r).toMatchObject({ stored: 1, bytes: 3 });
    expect((await stored(id)).map((c) => c.text)).toEqual(["a", "bb", "ccc"]);
    expect(await logState(id)).toEqual({ bytes: 6, truncated: false });
    // A resend of chunks already stored does not eat into the cap either.
    expect(await recordLogChunks(pool, [chunk(id, 1, 1, "a"), chunk(id, 1, 2, "bb"), chunk(id, 1, 4, "dddd")], 10)).toMatchObject({
      stored: 1,
      bytes: 4,
    });
    expect(await logState(id)).toEqual({ bytes: 10, truncated: false });
  });

  it("stores a superseded attempt's late output, and drops output of attempts the job never had", async () => {
    const id = await runningJob(2); // attempt 1 is in history
    const r = await recordLogChunks(pool, [
      chunk(id, 1, 1, "late from attempt 1"),
      chunk(id, 2, 1, "current"),
      chunk(id, 3, 1, "from the future"),
      chunk("999999", 1, 1, "no such job"),
    ], 1024);
    expect(r.stored).toBe(2);
    expect((await stored(id)).map((c) => [c.attempt, c.text])).toEqual([[1, "late from attempt 1"], [2, "current"]]);
    // A pending job that never ran has no attempt 0 or 1 to write to.
    const [fresh] = await insertJobs(pool, [job()]);
    expect((await recordLogChunks(pool, [chunk(fresh!, 0, 1, "x"), chunk(fresh!, 1, 1, "y")], 1024)).stored).toBe(0);
  });

  it("announces the jobs whose output grew on baton_job_logs, in the statement that stores it", async () => {
    const id = await runningJob();
    const listener = new pg.Client({ connectionString: db.url });
    await listener.connect();
    try {
      await listener.query("LISTEN baton_job_logs");
      const heard = new Promise<string>((resolve) => listener.on("notification", (n) => resolve(n.payload ?? "")));
      await recordLogChunks(pool, [chunk(id, 1, 1, "x"), chunk(id, 1, 2, "y")], 1024);
      expect(await heard).toBe(id);
    } finally {
      await listener.end();
    }
  });
});

describe("usage", () => {
  it("keeps the latest sample of the current attempt; a finish records CPU time and peak memory", async () => {
    const id = await runningJob(2, { maxAttempts: 3 });
    const s = (attempt: number, cpuMillis: number) => ({ jobId: id, attempt, cpuMillis, memoryBytes: 1000 * cpuMillis, cpuSeconds: cpuMillis / 100, peakMemoryBytes: 5e6 });
    expect(await recordUsage(pool, [s(2, 100), s(2, 300), s(1, 999)])).toBe(1);
    let { rows } = await pool.query("SELECT usage FROM jobs WHERE id = $1", [id]);
    expect(rows[0].usage).toEqual({ cpu_millis: 300, memory_bytes: 300_000, cpu_seconds: 3, peak_memory_bytes: 5e6 });

    // Attempt 2 fails and is retried: its usage goes to history; the job row waits for attempt 3.
    const now = Date.now();
    await recordFinished(pool, [{ jobId: id, attempt: 2, workerId: "w1", atMs: now, startedAtMs: now - 1000, exitCode: 1, reason: "exited", message: "", cpuSeconds: 1.5, peakMemoryBytes: 7_000_000 }]);
    ({ rows } = await pool.query("SELECT state, usage, cpu_seconds, peak_memory_bytes FROM jobs WHERE id = $1", [id]));
    expect(rows[0]).toEqual({ state: "pending", usage: null, cpu_seconds: null, peak_memory_bytes: null });
    ({ rows } = await pool.query("SELECT attempt, cpu_seconds, peak_memory_bytes FROM attempts WHERE job_id = $1 AND attempt = 2", [id]));
    expect(rows[0]).toEqual({ attempt: 2, cpu_seconds: 1.5, peak_memory_bytes: "7000000" });

    // Attempt 3 is placed; its start drops any sample left from before (e.g. of a lost worker's attempt).
    await pool.query(`UPDATE jobs SET state = 'assigned', attempt = 3, usage = '{"cpu_millis": 1}' WHERE id = $1`, [id]);
    await recordStarted(pool, [{ jobId: id, attempt: 3, atMs: now }]);
    ({ rows } = await pool.query("SELECT state, usage FROM jobs WHERE id = $1", [id]));
    expect(rows[0]).toEqual({ state: "running", usage: null });
    await recordFinished(pool, [{ jobId: id, attempt: 3, workerId: "w1", atMs: now, startedAtMs: now - 1000, exitCode: 0, reason: "exited", message: "", cpuSeconds: 0.25, peakMemoryBytes: 3_000_000 }]);
    ({ rows } = await pool.query("SELECT state, cpu_seconds, peak_memory_bytes FROM jobs WHERE id = $1", [id]));
    expect(rows[0]).toEqual({ state: "succeeded", cpu_seconds: 0.25, peak_memory_bytes: "3000000" });
  });

  it("stores heartbeat usage of all workers in the liveness write, and the GPUs a worker registers", async () => {
    const w = (id: string, gpuIds?: string[]) =>
      upsertWorker(pool, { id, name: id, cpuMillis: 4000, memoryMb: 8192, gpus: gpuIds?.length ?? 0, slots: 4, labels: {}, limitsMechanism: "none", coordinatorId: "c1", gpuIds });
    await w("w1", ["GPU-aaa", "GPU-bbb"]);
    await w("w2");
    await touchLiveness(pool, { id: "c1", grpcAddress: "h:1", httpAddress: "h:2" }, [
      { id: "w1", usedCpuMillis: 1234, usedMemoryMb: 567 },
      { id: "w2", usedCpuMillis: 10, usedMemoryMb: 20 },
    ]);
    const { rows } = await pool.query("SELECT id, used_cpu_millis, used_memory_mb, gpu_ids FROM workers ORDER BY id");
    expect(rows).toEqual([
      { id: "w1", used_cpu_millis: 1234, used_memory_mb: 567, gpu_ids: ["GPU-aaa", "GPU-bbb"] },
      { id: "w2", used_cpu_millis: 10, used_memory_mb: 20, gpu_ids: [] },
    ]);
  });
});

describe("log retention", () => {
  it("deletes chunks older than the retention in bounded batches, keeps newer ones, and takes their bytes off", async () => {
    const id = await runningJob();
    const dayAgo = Date.now() - 24 * 3_600_000;
    const old = Array.from({ length: 25 }, (_, i) => chunk(id, 1, i + 1, "old!", 1, dayAgo));
    await recordLogChunks(pool, [...old, chunk(id, 1, 26, "new", 1)], 1 << 20);
    const lines: string[] = [];
    const retention = new LogRetention(pool, { retentionMs: () => 3_600_000, intervalMs: () => 60_000, batchSize: 10, log: (l) => lines.push(l) });
    expect(await retention.sweep()).toBe(25);
    expect((await stored(id)).map((c) => c.text)).toEqual(["new"]);
    expect(await logState(id)).toEqual({ bytes: 3, truncated: false });
    expect(lines).toEqual(["deleted 25 log chunk(s) older than 1 h"]);
    expect(await retention.sweep()).toBe(0);
  });
});

describe("leader timeouts", () => {
  it("ends attempts running past timeout + grace on a silent worker: retried or failed, history written, worker told", async () => {
    const retried = await runningJob(1, { timeoutMs: 1000, maxAttempts: 2 }, 60_000);
    const failed = await runningJob(1, { timeoutMs: 1000, maxAttempts: 1 }, 60_000);
    const byDefault = await runningJob(1, { timeoutMs: 0 }, 60 * 60_000); // the cluster default (30 min) applies
    const withinGrace = await runningJob(1, { timeoutMs: 1000 }, 10_000);
    const noTimeout = await runningJob(1, { timeoutMs: 0 }, 10_000);
    const term = await bumpTerm(pool, "me");

    const listener = new pg.Client({ connectionString: db.url });
    await listener.connect();
    const cancels: { workerId: string; jobId: string; attempt: number; reason: string }[] = [];
    let requeued!: () => void;
    const requeuedOnce = new Promise<void>((r) => (requeued = r));
    const reaper = new Reaper(pool, {
      term,
      leaseMs: () => 60_000,
      intervalMs: 20,
      defaultTimeoutMs: () => 30 * 60_000,
      timeoutGraceMs: 30_000,
      requeued: () => requeued(),
      onError: (err) => {
        throw err;
      },
      log: () => {},
    });
    try {
      await listener.query("LISTEN baton_cancel");
      const allCancels = new Promise<void>((resolve) =>
        listener.on("notification", (n) => {
          cancels.push(JSON.parse(n.payload!));
          if (cancels.length === 3) resolve();
        }),
      );
      reaper.start();
      await requeuedOnce;
      await allCancels;
    } finally {
      await reaper.stop();
      await listener.end();
    }

    const { rows } = await pool.query<{ id: string; state: string; reason: string; finished: boolean }>(
      "SELECT id, state, reason, finished_at IS NOT NULL AS finished FROM jobs ORDER BY id",
    );
    expect(rows).toEqual([
      { id: retried, state: "pending", reason: "timed_out", finished: false },
      { id: failed, state: "failed", reason: "timed_out", finished: true },
      { id: byDefault, state: "failed", reason: "timed_out", finished: true },
      { id: withinGrace, state: "running", reason: "", finished: false },
      { id: noTimeout, state: "running", reason: "", finished: false },
    ]);
    const hist = await pool.query("SELECT job_id, attempt, worker_id, reason, message FROM attempts WHERE reason = 'timed_out' ORDER BY job_id");
    expect(hist.rows.map((r) => [r.job_id, r.attempt, r.worker_id])).toEqual([[retried, 1, "w1"], [failed, 1, "w1"], [byDefault, 1, "w1"]]);
    expect(hist.rows[0].message).toBe("ran past its timeout of 1 s and worker w1 did not report its end within 30 s more");
    expect(cancels.map((c) => c.jobId).sort()).toEqual([retried, failed, byDefault].sort());
    expect(cancels[0]).toMatchObject({ workerId: "w1", attempt: 1, reason: expect.stringMatching(/timed out/) });
  });
});
