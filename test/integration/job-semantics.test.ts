// The SQL of job semantics against a real Postgres: backoff in the reaper's paths, promotion of
// delayed jobs, the queue head with many delayed jobs, and retention of finished jobs.
import pg from "pg";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { BUILTIN_DEFAULT_RETRY, type StoredRetry } from "../../coordinator/api/retry-policy.js";
import { createPool } from "../../coordinator/db/pool.js";
import { JobRetention } from "../../coordinator/leader/job-retention.js";
import { deleteExpiredJobs } from "../../coordinator/sql/delete-expired-jobs.js";
import { insertJobs, type NewJob } from "../../coordinator/sql/insert-jobs.js";
import { loadSnapshot } from "../../coordinator/sql/load-snapshot.js";
import { writePlacements } from "../../coordinator/sql/apply-plan.js";
import { reapLostWorkers } from "../../coordinator/sql/reap-lost-workers.js";
import { reapTimedOut } from "../../coordinator/sql/reap-timed-out.js";
import { recordFinished, recordStarted } from "../../coordinator/sql/record-events.js";
import { recordUsage } from "../../coordinator/sql/record-usage.js";
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

const fixed = (ms: number): StoredRetry => ({ ...BUILTIN_DEFAULT_RETRY, backoff: "fixed", initial_ms: ms, jitter: 0 });

const job = (over: Partial<NewJob> = {}): NewJob => ({
  name: "", queue: "default", tenant: "", priority: 0, cpuMillis: 100, memoryMb: 64, gpus: 0, labels: {},
  executor: "exec", payload: { argv: ["true"] }, timeoutMs: 0, maxAttempts: 3, retry: fixed(5000), ...over,
});

/** Puts jobs on a worker as running, started `agoMs` before now. */
async function running(ids: string[], workerId: string, agoMs: number): Promise<void> {
  await pool.query(
    `INSERT INTO workers (id, name, cpu_millis, memory_mb, slots) VALUES ($1, $1, 4000, 4096, 16) ON CONFLICT DO NOTHING`,
    [workerId],
  );
  await pool.query(
    `UPDATE jobs SET state = 'running', worker_id = $2, attempt = attempt + 1,
            assigned_at = now() - make_interval(secs => $3 / 1000.0), started_at = now() - make_interval(secs => $3 / 1000.0)
     WHERE id = ANY($1::bigint[])`,
    [ids, workerId, agoMs],
  );
}

async function rowOf(id: string) {
  const { rows } = await pool.query<{ state: string; delayed: boolean; wait_ms: number; attempt: number }>(
    "SELECT state, delayed, (extract(epoch FROM run_at - now()) * 1000)::float8 AS wait_ms, attempt FROM jobs WHERE id = $1",
    [id],
  );
  return rows[0]!;
}

describe("backoff in the reaper's paths", () => {
  it("a timed-out attempt the worker never reported is retried after the job's backoff, and kept in history", async () => {
    const [id] = await insertJobs(pool, [job({ timeoutMs: 1000 })]);
    await running([id!], "w1", 10_000);
    const tx = await pool.connect();
    try {
      await reapTimedOut(tx, 0, 100);
    } finally {
      tx.release();
    }
    const r = await rowOf(id!);
    expect(r.state).toBe("pending");
    expect(r.delayed).toBe(true);
    expect(r.wait_ms).toBeGreaterThan(4000);
    expect(r.wait_ms).toBeLessThanOrEqual(5000);
    const { rows } = await pool.query("SELECT attempt, reason, worker_id FROM job_attempts WHERE job_id = $1", [id]);
    expect(rows).toEqual([{ attempt: 1, reason: "timed_out", worker_id: "w1" }]);
  });

  it("a lost worker's attempts go back at once (no backoff)", async () => {
    const [id] = await insertJobs(pool, [job()]);
    await running([id!], "w2", 1000);
    await pool.query("UPDATE workers SET last_heartbeat = now() - interval '1 hour' WHERE id = 'w2'");
    const tx = await pool.connect();
    try {
      await reapLostWorkers(tx, 1000);
    } finally {
      tx.release();
    }
    const r = await rowOf(id!);
    expect(r.state).toBe("pending");
    expect(r.delayed).toBe(false);
  });

  it("computes exponential delays with a cap, and jitter within [1 - jitter, 1]", async () => {
    const policy = { backoff: "exponential", initial_ms: 100, max_ms: 1000, multiplier: 3, jitter: 0 };
    const { rows } = await pool.query<{ d: number[] }>(
      "SELECT array_agg(baton_retry_delay_ms($1::jsonb, n) ORDER BY n) AS d FROM generate_series(1, 5) n",
      [JSON.stringify(policy)],
    );
    expect(rows[0]!.d).toEqual([100, 300, 900, 1000, 1000]);
    const jittered = await pool.query<{ lo: number; hi: number }>(
      "SELECT min(d) AS lo, max(d) AS hi FROM (SELECT baton_retry_delay_ms($1::jsonb, 1) AS d FROM generate_series(1, 500)) x",
      [JSON.stringify({ backoff: "fixed", initial_ms: 1000, jitter: 0.5 })],
    );
    expect(jittered.rows[0]!.lo).toBeGreaterThanOrEqual(500);
    expect(jittered.rows[0]!.hi).toBeLessThanOrEqual(1000);
    expect(jittered.rows[0]!.hi - jittered.rows[0]!.lo).toBeGreaterThan(100);
  });
});

describe("delayed jobs", () => {
  it("are promoted when due, and the next due time is reported", async () => {
    const now = Date.now();
    const [due, later] = await insertJobs(pool, [job({ runAtMs: now + 300 }), job({ runAtMs: now + 60_000 })]);
    const [ready] = await insertJobs(pool, [job()]);
    // The snapshot promotes what is due and reports the next due time in the same statement.
    const first = await loadSnapshot(pool, 100);
    expect(first.jobs.map((j) => j.id)).toEqual([ready]);
    expect(first.promoted).toBe(0);
    expect(first.nextDueMs).toBeGreaterThanOrEqual(now + 299);
    expect(first.nextDueMs).toBeLessThanOrEqual(now + 301);
    await pool.query("UPDATE jobs SET run_at = now() - interval '1 ms' WHERE id = $1", [due]); // as if 300 ms passed
    const second = await loadSnapshot(pool, 100);
    expect(second.promoted).toBe(1);
    expect(Math.round(second.nextDueMs!)).toBeGreaterThanOrEqual(now + 59_999);
    const third = await loadSnapshot(pool, 100); // promoted jobs join the next snapshot
    expect(third.jobs.map((j) => j.id).sort()).toEqual([due, ready].sort());
    expect((await rowOf(later!)).delayed).toBe(true);
  });

  it("are not placed by a plan made before their run_at moved (the applier re-checks)", async () => {
    const [id] = await insertJobs(pool, [job({ runAtMs: Date.now() + 60_000 })]);
    await pool.query(`INSERT INTO workers (id, name, cpu_millis, memory_mb, slots) VALUES ('w3', 'w3', 4000, 4096, 16)`);
    const at = { jobId: id!, workerId: "w3", cpuMillis: 100, memoryMb: 64, gpus: 0, queue: "default" };
    expect((await writePlacements(pool, 0, [at], [])).assigned).toEqual([]);
    await pool.query("UPDATE jobs SET delayed = false WHERE id = $1", [id]);
    expect((await writePlacements(pool, 0, [at], [])).assigned.map((a) => a.id)).toEqual([id]);
  });

  it("keep the queue head an index scan with 20k of them ahead in priority", async () => {
    const far = Date.now() + 3_600_000;
    await insertJobs(pool, Array.from({ length: 20_000 }, () => job({ priority: 10, runAtMs: far })));
    const ready = await insertJobs(pool, Array.from({ length: 50 }, () => job({ priority: 0 })));
    await pool.query("ANALYZE jobs");
    const { rows } = await pool.query<{ "QUERY PLAN": string }>(
      `EXPLAIN SELECT id FROM jobs WHERE state = 'pending' AND NOT delayed ORDER BY priority DESC, id LIMIT 100`,
    );
    const plan = rows.map((r) => r["QUERY PLAN"]).join("\n");
    expect(plan).toMatch(/Index (Only )?Scan using jobs_pending_idx/);
    const snap = await loadSnapshot(pool, 100);
    expect(snap.jobs.map((j) => j.id).sort()).toEqual([...ready].sort());
  });

  it("make a snapshot head of the queue's top (priority, then age), each job with its size, labels, queue, tenant and reason", async () => {
    expect((await loadSnapshot(pool, 100)).jobs).toEqual([]);
    const [low, high, odd] = await insertJobs(pool, [
      job({ priority: 1, cpuMillis: 250, memoryMb: 32, gpus: 1, labels: { zone: "a" }, queue: "q1", tenant: "t1" }),
      job({ priority: 9 }),
      job({ priority: 1, labels: { "k,\"{}": "v, \"ü\" {x}" }, queue: "q,\"2", tenant: "{t}" }),
    ]);
    await pool.query("UPDATE jobs SET unschedulable_reason = 'no worker has 9 GPUs, \"quoted\"' WHERE id = $1", [odd]);
    const { rows } = await pool.query<{ id: string; ms: number }>("SELECT id::text, (extract(epoch FROM created_at) * 1000)::float8 AS ms FROM jobs");
    const created = new Map(rows.map((r) => [r.id, r.ms]));
    // The scheduler orders the head itself: only which jobs are in it, and each job's fields, matter.
    const byId = new Map((await loadSnapshot(pool, 100)).jobs.map((j) => [j.id, j]));
    expect([...byId.keys()].sort()).toEqual([high, low, odd].sort());
    expect(byId.get(low!)).toEqual({
      id: low, priority: 1, createdAtMs: created.get(low!), cpuMillis: 250, memoryMb: 32, gpus: 1, labels: { zone: "a" },
      queue: "q1", tenant: "t1", unschedulableReason: "",
    });
    expect(byId.get(odd!)).toMatchObject({ labels: { "k,\"{}": "v, \"ü\" {x}" }, queue: "q,\"2", tenant: "{t}", unschedulableReason: 'no worker has 9 GPUs, "quoted"' });
    expect(byId.get(high!)).toMatchObject({ priority: 9, labels: {}, queue: "default" });
    // A head of two: the higher priority, then the older of the two others.
    expect((await loadSnapshot(pool, 2)).jobs.map((j) => j.id).sort()).toEqual([high, low].sort());
  });

  it("are placed by primary key, not by a pending index, when the statistics were taken with an empty queue", async () => {
    // An idle cluster gets vacuumed with nothing pending, then a burst arrives: the planner
    // believes the pending indexes (which hold `id` too) empty and would read one end to end per
    // placed job. Each such read is an index scan, counted in pg_stat_user_indexes.
    await pool.query(`INSERT INTO workers (id, name, cpu_millis, memory_mb, slots) VALUES ('w9', 'w9', 64000, 65536, 64)`);
    const done = await insertJobs(pool, Array.from({ length: 3000 }, () => job()));
    await pool.query("UPDATE jobs SET state = 'succeeded', finished_at = now() WHERE id = ANY($1::bigint[])", [done]);
    await pool.query("VACUUM ANALYZE jobs");
    const ids = await insertJobs(pool, Array.from({ length: 3000 }, () => job()));
    const pendingIndexScans = async () => {
      const { rows } = await pool.query<{ n: string }>(
        "SELECT sum(idx_scan) AS n FROM pg_stat_user_indexes WHERE indexrelname = 'jobs_pending_idx'",
      );
      return Number(rows[0]!.n);
    };
    const client = await pool.connect();
    try {
      await client.query("SELECT pg_stat_force_next_flush()"); // what came before is counted now
      const before = await pendingIndexScans();
      const placements = ids.slice(0, 40).map((id) => ({ jobId: id, workerId: "w9", cpuMillis: 100, memoryMb: 64, gpus: 0, queue: "default" }));
      const written = await writePlacements(client, 0, placements, []);
      expect(written.assigned).toHaveLength(40);
      await client.query("SELECT pg_stat_force_next_flush()"); // this backend's counts are flushed before it answers
      expect(await pendingIndexScans()).toBe(before);
    } finally {
      client.release();
    }
  });
});

describe("reports of a burst", () => {
  it("read each job by primary key when the statistics were taken with no job active", async () => {
    // An idle cluster vacuumed, then a burst: the planner believes no job is active. Reading the
    // "one" active job first and the whole batch of reports for each one it finds is quadratic;
    // it shows as a scan of the active index or a sequential scan of jobs.
    const done = await insertJobs(pool, Array.from({ length: 3000 }, () => job()));
    await pool.query("UPDATE jobs SET state = 'succeeded', finished_at = now() WHERE id = ANY($1::bigint[])", [done]);
    await pool.query("VACUUM ANALYZE jobs");
    const ids = await insertJobs(pool, Array.from({ length: 300 }, () => job()));
    await pool.query("UPDATE jobs SET state = 'assigned', worker_id = 'w9', attempt = 1, assigned_at = now() WHERE id = ANY($1::bigint[])", [ids]);
    const scans = async () => {
      const { rows } = await pool.query<{ idx: string; seq: string }>(
        `SELECT (SELECT idx_scan FROM pg_stat_user_indexes WHERE indexrelname = 'jobs_active_worker_idx') AS idx,
                (SELECT seq_scan FROM pg_stat_user_tables WHERE relname = 'jobs') AS seq`,
      );
      return rows[0];
    };
    const client = await pool.connect(); // a fresh connection: its first executions are custom plans
    try {
      await client.query("SELECT pg_stat_force_next_flush()");
      const before = await scans();
      const now = Date.now();
      const starts = await recordStarted(client, ids.slice(0, 100).map((id) => ({ jobId: id, attempt: 1, atMs: now })));
      expect(starts.changed).toHaveLength(100);
      const sampled = await recordUsage(client, ids.slice(0, 150).map((id) => ({ jobId: id, attempt: 1, cpuMillis: 5, memoryBytes: 1, cpuSeconds: 0.1, peakMemoryBytes: 2 })));
      expect(sampled).toBe(150);
      const ended = await recordFinished(client, ids.map((id) => ({ jobId: id, attempt: 1, workerId: "w9", atMs: now, startedAtMs: now, exitCode: 0, reason: "exited", message: "" })));
      expect(ended).toHaveLength(300);
      await client.query("SELECT pg_stat_force_next_flush()");
      expect(await scans()).toEqual(before);
    } finally {
      client.release();
    }
  });
});

describe("retention of finished jobs", () => {
  it("deletes only finished jobs older than the retention, with their history and output, in batches", async () => {
    const ids = await insertJobs(pool, Array.from({ length: 7 }, () => job()));
    const [oldOk, oldFailed, oldCancelled, newOk, oldPending, oldRunning, oldOk2] = ids as [string, string, string, string, string, string, string];
    // created 101 days ago, in id order (ids are drawn as jobs are created)
    await pool.query("UPDATE jobs SET created_at = now() - interval '101 days' + id * interval '1 second' WHERE id = ANY($1::bigint[])", [ids]);
    const finish = (id: string, state: string, ago: string) =>
      pool.query(`UPDATE jobs SET state = $2, finished_at = now() - $3::interval, attempt = 1, worker_id = 'w' WHERE id = $1`, [id, state, ago]);
    await finish(oldOk, "succeeded", "40 days");
    await finish(oldFailed, "failed", "31 days");
    await finish(oldCancelled, "cancelled", "100 days");
    await finish(oldOk2, "succeeded", "35 days");
    await finish(newOk, "succeeded", "1 day"); // created long ago, finished yesterday: kept
    await pool.query("UPDATE jobs SET state = 'running', attempt = 1, worker_id = 'w' WHERE id = $1", [oldRunning]);
    await pool.query(
      `INSERT INTO job_attempts (job_id, attempt, worker_id, finished_at, reason) VALUES ($1, 0, 'w', now() - interval '41 days', 'exited')`,
      [oldOk],
    );
    await pool.query(`INSERT INTO job_logs (job_id, attempt, seq, stream, at, data) VALUES ($1, 1, 1, 1, now(), 'x')`, [oldOk]);

    const logs: string[] = [];
    const retention = new JobRetention(pool, { retentionMs: () => 30 * 24 * 3_600_000, intervalMs: () => 60_000, batchSize: 2, log: (l) => logs.push(l) });
    expect(await retention.sweep()).toBe(4); // batches of 2: three statements
    expect(logs).toEqual(["deleted 4 finished job(s) older than 720 h"]);
    const { rows } = await pool.query<{ id: string }>("SELECT id::text FROM jobs ORDER BY id");
    expect(rows.map((r) => r.id)).toEqual([newOk, oldPending, oldRunning]);
    expect((await pool.query("SELECT 1 FROM job_attempts WHERE job_id = $1", [oldOk])).rowCount).toBe(0);
    expect((await pool.query("SELECT 1 FROM job_logs WHERE job_id = $1", [oldOk])).rowCount).toBe(0);
    expect(await deleteExpiredJobs(pool, 30 * 24 * 3_600_000, 100)).toBe(0);

    const keepAll = new JobRetention(pool, { retentionMs: () => 0, intervalMs: () => 60_000, batchSize: 2, log: () => {} });
    await pool.query("UPDATE jobs SET finished_at = now() - interval '10 years' WHERE id = $1", [newOk]);
    expect(await keepAll.sweep()).toBe(0);
  });

  it("reads no further than the jobs created before the cutoff, however many came after", { timeout: 30_000 }, async () => {
    // Old finished jobs at the low ids, then a recent history far larger: the sweep finds the old
    // ones and reads no further along the primary key than the last job created before the cutoff
    // (expired jobs are found by walking ids: no index of finish times).
    const old = await insertJobs(pool, Array.from({ length: 30 }, () => job()));
    const recent = await insertJobs(pool, Array.from({ length: 20_000 }, () => job()));
    // One connection for everything below, so that its statistics are all flushed at the marks.
    const client = await pool.connect();
    try {
      await client.query("UPDATE jobs SET created_at = now() - interval '60 days' + id * interval '1 second' WHERE id = ANY($1::bigint[])", [old]);
      await client.query(
        "UPDATE jobs SET state = 'succeeded', attempt = 1, worker_id = 'w', finished_at = created_at + interval '1 minute' WHERE id = ANY($1::bigint[])",
        [[...old, ...recent]],
      );
      // one old job still running, and one that finished only yesterday: both kept
      await client.query("UPDATE jobs SET state = 'running', finished_at = NULL WHERE id = $1", [old[10]]);
      await client.query("UPDATE jobs SET finished_at = now() - interval '1 day' WHERE id = $1", [old[20]]);
      await client.query("ANALYZE jobs"); // a table of this size, as the planner would know it
      await client.query("SELECT pg_stat_force_next_flush()");
      const read = async () =>
        (await client.query<{ n: string }>(
          "SELECT i.idx_tup_read + t.seq_tup_read AS n FROM pg_stat_user_indexes i JOIN pg_stat_user_tables t USING (relid) WHERE i.indexrelname = 'jobs_pkey'",
        )).rows.map((r) => Number(r.n))[0]!;
      const before = await read();
      expect(await deleteExpiredJobs(client, 30 * 24 * 3_600_000, 1000)).toBe(28);
      await client.query("SELECT pg_stat_force_next_flush()");
      // Rows read by index or table scan: the old jobs' entries walked (each with the entries of
      // the versions the updates above left), the deleted found again by id and the bisection's
      // probes (one entry each, about fifteen): about a hundred. Reading the recent history, by
      // either, would be 20,000 more.
      expect((await read()) - before).toBeLessThan(1000);
    } finally {
      client.release();
    }
    const { rows } = await pool.query<{ id: string }>("SELECT id::text FROM jobs WHERE id = ANY($1::bigint[]) ORDER BY id", [old]);
    expect(rows.map((r) => r.id)).toEqual([old[10], old[20]]);
    expect(await deleteExpiredJobs(pool, 30 * 24 * 3_600_000, 1000)).toBe(0);
  });
});
