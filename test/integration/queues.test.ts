// Queue caps and pauses where they are enforced for good: the leader's fenced placement statement
// (re-checked even when a stale plan asks for more), and the snapshot the scheduler plans from.
import pg from "pg";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createPool } from "../../coordinator/db/pool.js";
import { PlanApplier } from "../../coordinator/leader/plan-applier.js";
import { readClusterState } from "../../coordinator/metrics/read-cluster-state.js";
import { loadSnapshot } from "../../coordinator/sql/load-snapshot.js";
import { listJobs, type JobFilter } from "../../coordinator/sql/read-jobs.js";
import { deleteQueue, getQueue, listQueues, setQueue } from "../../coordinator/sql/queues.js";
import { bumpTerm } from "../../coordinator/sql/term.js";
import { upsertWorker } from "../../coordinator/sql/workers.js";
import { createTestDatabase, type TestDatabase } from "../support/db.js";

let db: TestDatabase;
let pool: pg.Pool;

beforeEach(async () => {
  db = await createTestDatabase();
  pool = createPool(db.url, 4);
  await upsertWorker(pool, { id: "w1", name: "w1", cpuMillis: 64000, memoryMb: 64000, gpus: 0, slots: 100, labels: {}, limitsMechanism: "none", coordinatorId: "c" });
  await upsertWorker(pool, { id: "w2", name: "w2", cpuMillis: 64000, memoryMb: 64000, gpus: 0, slots: 100, labels: {}, limitsMechanism: "none", coordinatorId: "c" });
});

afterEach(async () => {
  await pool.end();
  await db.drop();
});

/** n pending jobs of 100m / 10 MiB in `queue`, oldest first. */
async function jobs(queue: string, n: number, priority = 0): Promise<string[]> {
  const { rows } = await pool.query<{ id: string }>(
    `INSERT INTO jobs (queue, priority, cpu_millis, memory_mb, executor, payload)
     SELECT $1, $3, 100, 10, 'exec', '{"argv": ["true"]}' FROM generate_series(1, $2) RETURNING id::text`,
    [queue, n, priority],
  );
  for (const r of rows) queueOf.set(r.id, queue);
  return rows.map((r) => r.id);
}

/** The queue each job was made in: a placement names the queue the scheduler saw. */
const queueOf = new Map<string, string>();
const at = (jobId: string, workerId: string) => ({ jobId, workerId, cpuMillis: 100, memoryMb: 10, gpus: 0, queue: queueOf.get(jobId)! });

async function states(ids: string[]): Promise<string[]> {
  const { rows } = await pool.query<{ state: string }>("SELECT state FROM jobs WHERE id = ANY($1::bigint[]) ORDER BY id", [ids]);
  return rows.map((r) => r.state);
}

describe("the placement statement re-checks queue caps and pauses", () => {
  it("refuses placements past a queue's cap even when a stale plan asks for them, counting what runs", async () => {
    await setQueue(pool, "etl", { cap: 3 });
    const etl = await jobs("etl", 8);
    const other = await jobs("web", 4);
    const term = await bumpTerm(pool, "me");
    const applier = new PlanApplier(pool, () => true);

    // A plan that ignores the cap, spread over two workers, interleaved with another queue.
    const placements = [...etl.slice(0, 5).map((id, i) => at(id, i % 2 ? "w1" : "w2")), ...other.map((id) => at(id, "w1"))];
    const first = await applier.apply(term, { placements, unschedulable: [] });
    expect(first.assigned.filter((a) => a.queue === "etl").map((a) => a.id)).toEqual(etl.slice(0, 3));
    expect(first.assigned.filter((a) => a.queue === "web")).toHaveLength(4);

    // Full: nothing more of etl goes, whatever the plan says.
    const stale = await applier.apply(term, { placements: etl.slice(3).map((id) => at(id, "w1")), unschedulable: [] });
    expect(stale.assigned).toEqual([]);

    // One finishes: exactly one more may go.
    await pool.query("UPDATE jobs SET state = 'succeeded', finished_at = now() WHERE id = $1", [etl[0]]);
    const next = await applier.apply(term, { placements: etl.slice(3).map((id) => at(id, "w2")), unschedulable: [] });
    expect(next.assigned.map((a) => a.id)).toEqual([etl[3]]);

    // A cap lowered below what runs holds everything back; raising it lets the difference go.
    await setQueue(pool, "etl", { cap: 1 });
    expect((await applier.apply(term, { placements: etl.slice(4).map((id) => at(id, "w1")), unschedulable: [] })).assigned).toEqual([]);
    await setQueue(pool, "etl", { cap: 5 });
    const raised = await applier.apply(term, { placements: etl.slice(4).map((id) => at(id, "w1")), unschedulable: [] });
    expect(raised.assigned.map((a) => a.id)).toEqual(etl.slice(4, 6));
    expect(await states(etl)).toEqual(["succeeded", "assigned", "assigned", "assigned", "assigned", "assigned", "pending", "pending"]);
  });

  it("places nothing of a paused queue; resumed (or with its settings deleted) it places again", async () => {
    const ids = await jobs("batch", 3);
    await setQueue(pool, "batch", { paused: true });
    const term = await bumpTerm(pool, "me");
    const applier = new PlanApplier(pool, () => true);
    expect((await applier.apply(term, { placements: [at(ids[0]!, "w1")], unschedulable: [] })).assigned).toEqual([]);
    await setQueue(pool, "batch", { paused: false });
    expect((await applier.apply(term, { placements: [at(ids[0]!, "w1")], unschedulable: [] })).assigned).toHaveLength(1);
    await setQueue(pool, "batch", { paused: true });
    expect(await deleteQueue(pool, "batch")).toBe(true);
    expect((await applier.apply(term, { placements: ids.slice(1).map((id) => at(id, "w2")), unschedulable: [] })).assigned).toHaveLength(2);
  });
});

describe("the snapshot", () => {
  it("leaves out paused and full queues, and carries capped queues with what runs", async () => {
    await setQueue(pool, "full", { cap: 1 });
    await setQueue(pool, "open", { cap: 5 });
    await setQueue(pool, "held", { paused: true });
    const full = await jobs("full", 3, 10);
    const open = await jobs("open", 2, 10);
    await jobs("held", 2, 10);
    const plain = await jobs("default", 2);
    await pool.query("UPDATE jobs SET state = 'running', worker_id = 'w1', attempt = 1, assigned_at = now() WHERE id = ANY($1::bigint[])", [[full[0], open[0]]]);

    const snap = await loadSnapshot(pool, 1000);
    expect(snap.jobs.map((j) => j.id).sort()).toEqual([open[1]!, ...plain].sort());
    expect(snap.queues.sort((a, b) => a.name.localeCompare(b.name))).toEqual([
      { name: "full", cap: 1, running: 1, paused: false },
      { name: "held", cap: null, running: 0, paused: true },
      { name: "open", cap: 5, running: 1, paused: false },
    ]);
  });

  it("carries what jobs below the reserved priority hold on each worker", async () => {
    const low = await jobs("default", 2, 1);
    const high = await jobs("default", 1, 200);
    await pool.query("UPDATE jobs SET state = 'running', worker_id = 'w1', attempt = 1, assigned_at = now() WHERE id = ANY($1::bigint[])", [[...low, ...high]]);
    const snap = await loadSnapshot(pool, 1000, 100);
    const w1 = snap.workers.find((w) => w.id === "w1")!;
    expect(w1.allocated).toEqual({ cpuMillis: 300, memoryMb: 30, gpus: 0, slots: 3 });
    expect(w1.lowAllocated).toEqual({ cpuMillis: 200, memoryMb: 20, gpus: 0, slots: 2 });
  });
});

describe("queue settings", () => {
  it("set changes only what it is given; get and list show counts; a queue without settings is unlimited", async () => {
    await jobs("etl", 2);
    const created = await setQueue(pool, "etl", { cap: 4 });
    expect(created).toMatchObject({ name: "etl", concurrency_cap: 4, paused: false, configured: true, pending: 2, running: 0 });
    expect(await setQueue(pool, "etl", { paused: true })).toMatchObject({ concurrency_cap: 4, paused: true });
    expect(await setQueue(pool, "etl", { cap: null })).toMatchObject({ concurrency_cap: null, paused: true });
    expect(await getQueue(pool, "nothing")).toMatchObject({ name: "nothing", concurrency_cap: null, paused: false, configured: false, pending: 0 });
    await jobs("web", 1);
    const list = await listQueues(pool);
    expect(list.map((q) => [q.name, q.configured, q.pending])).toEqual([["etl", true, 2], ["web", false, 1]]);
    expect(await deleteQueue(pool, "etl")).toBe(true);
    expect(await deleteQueue(pool, "etl")).toBe(false);
  });

  it("counts pending jobs, delayed or not, through the pending indexes, never by reading the whole table", async () => {
    // a history of finished jobs the counts must not read
    await pool.query(
      `INSERT INTO jobs (queue, state, executor, payload, finished_at)
       SELECT 'etl', 'succeeded', 'exec', '{"argv": ["true"]}', now() FROM generate_series(1, 5000)`,
    );
    const [, , unplaceable] = await jobs("etl", 3);
    await pool.query("UPDATE jobs SET unschedulable_reason = 'too big' WHERE id = $1", [unplaceable]);
    await pool.query(
      `INSERT INTO jobs (queue, executor, payload, run_at, delayed) VALUES ('etl', 'exec', '{"argv": ["true"]}', now() + interval '1 hour', true)`,
    );
    const [running] = await jobs("web", 2);
    await pool.query("UPDATE jobs SET state = 'running', worker_id = 'w1', attempt = 1 WHERE id = $1", [running]);
    await pool.query("ANALYZE jobs");
    const seqScans = async () => {
      await pool.query("SELECT pg_stat_force_next_flush()");
      const { rows } = await pool.query<{ n: string }>("SELECT seq_scan AS n FROM pg_stat_user_tables WHERE relname = 'jobs'");
      return Number(rows[0]!.n);
    };
    const client = await pool.connect();
    try {
      await client.query("SELECT pg_stat_force_next_flush()");
      const before = await seqScans();
      expect(await getQueue(client, "etl")).toMatchObject({ pending: 4, running: 0 });
      expect(await setQueue(client, "web", { cap: 3 })).toMatchObject({ pending: 1, running: 1 });
      expect((await listQueues(client)).map((q) => [q.name, q.pending, q.running])).toEqual([["etl", 4, 0], ["web", 1, 1]]);
      const state = await readClusterState(client);
      expect(state.depth).toEqual({ pending: 5, running: 1 });
      expect(state.unschedulable).toBe(1);
      await client.query("SELECT pg_stat_force_next_flush()");
      expect(await seqScans()).toBe(before);
    } finally {
      client.release();
    }
  });

  it("lists pending jobs, delayed or not, through the pending indexes, not through the newer history", async () => {
    const pending = await jobs("etl", 3);
    await pool.query("UPDATE jobs SET delayed = true, run_at = now() + interval '1 hour' WHERE id = $1", [pending[1]]);
    // 5,000 finished jobs newer than every pending one: walking ids from the newest would read them all
    await pool.query(
      `INSERT INTO jobs (queue, state, executor, payload, finished_at)
       SELECT 'etl', 'succeeded', 'exec', '{"argv": ["true"]}', now() FROM generate_series(1, 5000)`,
    );
    const [newest] = await jobs("web", 1);
    await pool.query("ANALYZE jobs");
    const reads = async () => {
      await pool.query("SELECT pg_stat_force_next_flush()");
      const { rows } = await pool.query<{ seq: string; pkey: string }>(
        `SELECT (SELECT seq_scan FROM pg_stat_user_tables WHERE relname = 'jobs') AS seq,
                (SELECT idx_tup_read FROM pg_stat_user_indexes WHERE indexrelname = 'jobs_pkey') AS pkey`,
      );
      return rows[0]!;
    };
    const client = await pool.connect();
    try {
      await client.query("SELECT pg_stat_force_next_flush()");
      const before = await reads();
      const list = (f: Partial<JobFilter>) => listJobs(client, { states: ["pending"], queue: "", workerId: "", beforeId: undefined, limit: 100, ...f });
      expect((await list({})).map((j) => j.id)).toEqual([newest, ...[...pending].reverse()]);
      expect((await list({ queue: "etl", limit: 2 })).map((j) => j.id)).toEqual([pending[2], pending[1]]);
      expect((await list({ queue: "etl", beforeId: pending[1] })).map((j) => j.id)).toEqual([pending[0]]);
      await client.query("SELECT pg_stat_force_next_flush()");
      const after = await reads();
      expect(after.seq).toBe(before.seq);
      expect(Number(after.pkey) - Number(before.pkey)).toBeLessThan(50); // not the 5,000 newer ones
      // with other states asked for too, both kinds come back
      expect((await list({ states: ["pending", "succeeded"], limit: 2 })).map((j) => j.state)).toEqual(["pending", "succeeded"]);
    } finally {
      client.release();
    }
  });

  it("a change wakes the leader (NOTIFY baton_wake)", async () => {
    const listener = new pg.Client({ connectionString: db.url });
    await listener.connect();
    try {
      await listener.query("LISTEN baton_wake");
      const woken = new Promise<string>((resolve) => listener.on("notification", (n) => resolve(n.channel)));
      await setQueue(pool, "etl", { paused: false });
      expect(await woken).toBe("baton_wake");
    } finally {
      await listener.end();
    }
  });
});
