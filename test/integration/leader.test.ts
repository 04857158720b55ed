// Election, fencing and the plan applier against a real Postgres.
import { once } from "node:events";
import pg from "pg";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createPool } from "../../coordinator/db/pool.js";
import { Elector, LEADER_LOCK_KEY } from "../../coordinator/leader/elector.js";
import { PlanApplier } from "../../coordinator/leader/plan-applier.js";
import { loadAssignedJobs } from "../../coordinator/sql/apply-plan.js";
import { contentOf, insertJobs, type NewJob } from "../../coordinator/sql/insert-jobs.js";
import { recordFinished, recordStarted } from "../../coordinator/sql/record-events.js";
import { bumpTerm, FencedError } from "../../coordinator/sql/term.js";
import { upsertWorker } from "../../coordinator/sql/workers.js";
import { createTestDatabase, type TestDatabase } from "../support/db.js";

let db: TestDatabase;
let pool: pg.Pool;
const electors: Elector[] = [];

beforeEach(async () => {
  db = await createTestDatabase();
  pool = createPool(db.url, 4);
});

afterEach(async () => {
  await Promise.all(electors.splice(0).map((e) => e.stop()));
  await pool.end();
  await db.drop();
});

const job = (over: Partial<NewJob> = {}): NewJob => ({
  name: "", queue: "default", tenant: "", priority: 0, cpuMillis: 500, memoryMb: 100, gpus: 0, labels: {},
  executor: "exec", payload: { argv: ["true"] }, timeoutMs: 0, maxAttempts: 1, ...over,
});

/** A placement of a job of the default size (500m, 100 MiB). */
const at = (jobId: string, workerId: string) => ({ jobId, workerId, cpuMillis: 500, memoryMb: 100, gpus: 0, queue: "default" });

async function worker(id: string, slots: number, cpuMillis = 1000) {
  await upsertWorker(pool, { id, name: id, cpuMillis, memoryMb: 1000, gpus: 0, slots, labels: {}, limitsMechanism: "none", coordinatorId: "c" });
}

describe("leader election", () => {
  it("elects exactly one leader; when its connection dies a leader is elected again with a higher term", async () => {
    const a = new Elector(db.url, "a", 50);
    const b = new Elector(db.url, "b", 50);
    electors.push(a, b);
    const first = Promise.race([once(a, "elected").then(([t]) => ({ e: a, t })), once(b, "elected").then(([t]) => ({ e: b, t }))]);
    a.start();
    b.start();
    const { e: leader, t } = await first;
    expect(t).toBe(1);
    const other = leader === a ? b : a;
    expect(leader.isLeader).toBe(true);
    expect(other.isLeader).toBe(false);

    // Kill the leader's session from the server side: the lock is released with it.
    const { rows } = await pool.query<{ pid: number }>(
      "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objid = $1::bigint % 4294967296 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
      [LEADER_LOCK_KEY],
    );
    expect(rows).toHaveLength(1);
    const deposed = once(leader, "deposed");
    // Usually the other one wins; the deposed one may win too, on a new session, if it reconnects
    // first (a loaded machine): either way exactly one leader, under the next term.
    const next = Promise.race([once(a, "elected").then(([t]) => ({ e: a, t })), once(b, "elected").then(([t]) => ({ e: b, t }))]);
    await pool.query("SELECT pg_terminate_backend($1)", [rows[0]!.pid]);
    await deposed;
    const { e: now, t: term } = await next;
    expect(term).toBe(2);
    expect([a, b].filter((e) => e.isLeader)).toEqual([now]);
    const { rows: t2 } = await pool.query("SELECT term, leader_id FROM baton_term");
    expect(t2[0]).toEqual({ term: "2", leader_id: now === a ? "a" : "b" });
  });
});

describe("fencing", () => {
  it("rejects a deposed leader's placement and leaves the job pending", async () => {
    await worker("w1", 4);
    const [id] = await insertJobs(pool, [job()]);
    const oldTerm = await bumpTerm(pool, "old");
    await bumpTerm(pool, "new"); // another coordinator won meanwhile
    const applier = new PlanApplier(pool, () => true);
    await expect(applier.apply(oldTerm, { placements: [at(id!, "w1")], unschedulable: [] })).rejects.toBeInstanceOf(FencedError);
    const { rows } = await pool.query("SELECT state, attempt, worker_id FROM jobs WHERE id = $1", [id]);
    expect(rows[0]).toEqual({ state: "pending", attempt: 0, worker_id: null });
    const { rows: hist } = await pool.query("SELECT count(*)::int AS n FROM attempts");
    expect(hist[0].n).toBe(0);
  });

  it("a leader's term bump waits for an in-flight fenced transaction, which then commits under the old term", async () => {
    await worker("w1", 4);
    const [id] = await insertJobs(pool, [job()]);
    const term = await bumpTerm(pool, "old");
    const tx = await pool.connect();
    await tx.query("BEGIN");
    await tx.query("SELECT term FROM baton_term WHERE id = 1 FOR SHARE");
    let bumped = false;
    const bump = bumpTerm(pool, "new").then((t) => ((bumped = true), t));
    // The bump is seen blocked on the term row's lock (a state, not an event: polled).
    for (;;) {
      const { rows } = await pool.query(
        "SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE 'UPDATE baton_term%'",
      );
      if (rows[0].n === 1) break;
      await new Promise((r) => setTimeout(r, 10));
    }
    expect(bumped).toBe(false);
    await tx.query("COMMIT");
    tx.release();
    expect(await bump).toBe(term + 1);
    expect(id).toBeDefined();
  });
});

describe("plan applier", () => {
  it("never over-commits a worker even when handed a plan built on a stale snapshot", async () => {
    await worker("w1", 2, 1000);
    const ids = await insertJobs(pool, [job(), job(), job()]);
    const term = await bumpTerm(pool, "me");
    const applier = new PlanApplier(pool, () => true);
    const placements = ids.map((jobId) => at(jobId, "w1"));
    const result = await applier.apply(term, { placements, unschedulable: [] });
    expect(result.assigned.map((a) => a.id)).toEqual(ids.slice(0, 2)); // 2 × 500m fill 1000m
    expect(result.dropped).toBe(1);
    const again = await applier.apply(term, { placements: [at(ids[2]!, "w1")], unschedulable: [] });
    expect(again.assigned).toEqual([]);
    const { rows } = await pool.query("SELECT id, state, attempt FROM jobs ORDER BY id");
    expect(rows.map((r) => [r.state, r.attempt])).toEqual([["assigned", 1], ["assigned", 1], ["pending", 0]]);
  });

  it("writes a plan that fits as a whole; when one worker's share does not fit, still every placement that does, on each worker", async () => {
    await worker("w1", 8, 1000); // room for 2 × 500m
    await worker("w2", 8, 2000); // room for 4
    const term = await bumpTerm(pool, "me");
    const applier = new PlanApplier(pool, () => true);
    const fits = await insertJobs(pool, [job(), job(), job()]);
    const whole = await applier.apply(term, { placements: [at(fits[0]!, "w1"), at(fits[1]!, "w2"), at(fits[2]!, "w1")], unschedulable: [] });
    expect(whole.assigned.map((a) => [a.id, a.worker_id])).toEqual([[fits[0], "w1"], [fits[1], "w2"], [fits[2], "w1"]]);

    // w1 is full now and w2 has room for 3: w1's placements are refused, every one of w2's but
    // the last (its 4th) is written, in plan order
    const more = await insertJobs(pool, [job(), job(), job(), job(), job()]);
    const plan = [at(more[0]!, "w2"), at(more[1]!, "w1"), at(more[2]!, "w2"), at(more[3]!, "w2"), at(more[4]!, "w2")];
    const partial = await applier.apply(term, { placements: plan, unschedulable: [] });
    expect(partial.assigned.map((a) => [a.id, a.worker_id])).toEqual([[more[0], "w2"], [more[2], "w2"], [more[3], "w2"]]);
    expect(partial.dropped).toBe(2);
    const { rows } = await pool.query("SELECT worker_id, sum(cpu_millis)::int AS cpu FROM jobs WHERE state = 'assigned' GROUP BY worker_id ORDER BY worker_id");
    expect(rows).toEqual([{ worker_id: "w1", cpu: 1000 }, { worker_id: "w2", cpu: 2000 }]);
  });

  it("refuses a placement planned for a size the job no longer has", async () => {
    await worker("w1", 4, 1000);
    const [id] = await insertJobs(pool, [job({ cpuMillis: 900 })]);
    const term = await bumpTerm(pool, "me");
    const applier = new PlanApplier(pool, () => true);
    const stale = await applier.apply(term, { placements: [at(id!, "w1")], unschedulable: [] }); // planned as 500m
    expect(stale.assigned).toEqual([]);
    const right = await applier.apply(term, { placements: [{ ...at(id!, "w1"), cpuMillis: 900 }], unschedulable: [] });
    expect(right.assigned.map((a) => a.id)).toEqual([id]);
  });

  it("does not place a job twice when two plans name it", async () => {
    await worker("w1", 4, 4000);
    await worker("w2", 4, 4000);
    const [id] = await insertJobs(pool, [job()]);
    const term = await bumpTerm(pool, "me");
    const applier = new PlanApplier(pool, () => true);
    const [a, b] = await Promise.all([
      applier.apply(term, { placements: [at(id!, "w1")], unschedulable: [] }),
      applier.apply(term, { placements: [at(id!, "w2")], unschedulable: [] }),
    ]);
    expect(a.assigned.length + b.assigned.length).toBe(1);
    const { rows } = await pool.query("SELECT attempt, worker_id FROM jobs WHERE id = $1", [id]);
    expect(rows[0].attempt).toBe(1);
    expect([a.assigned[0]?.worker_id, b.assigned[0]?.worker_id]).toContain(rows[0].worker_id);
  });
});

describe("a leader's submit: inserted and placed in one statement", () => {
  it("places what fits (re-checked like any plan), inserts the rest pending, and returns ids in batch order", async () => {
    await worker("w1", 8, 1000);
    await pool.query("INSERT INTO jobs (cpu_millis, executor, payload, state, worker_id, attempt) VALUES (500, 'exec', '{}', 'running', 'w1', 1)");
    const term = await bumpTerm(pool, "me");
    const applier = new PlanApplier(pool, () => true);
    const batch = [job({ name: "a" }), job({ name: "b", payload: { argv: ["echo", "b"] } }), job({ name: "c" })];
    // a stale view: all three planned on w1, which has room for one (500m of 1000m is running)
    const result = await applier.insertPlaced(term, batch, [0, 1, 2].map((ord) => ({ ord, workerId: "w1" })));
    expect(result.termHeld).toBe(true);
    expect(result.assigned.map((a) => [a.name, a.attempt, a.worker_id, a.payload])).toEqual([["a", 1, "w1", { argv: ["true"] }]]);
    const { rows } = await pool.query("SELECT id::text, name, state, attempt, worker_id FROM jobs WHERE name <> '' ORDER BY id");
    expect(rows.map((r) => r.id)).toEqual(result.inserted.map((r) => r.id));
    expect(rows.map((r) => [r.name, r.state, r.attempt, r.worker_id])).toEqual([
      ["a", "assigned", 1, "w1"],
      ["b", "pending", 0, null],
      ["c", "pending", 0, null],
    ]);
    expect(result.assigned[0]!.id).toBe(rows[0].id);
  });

  it("maps each placement back to its own job when placed and pending jobs interleave in the batch", async () => {
    await worker("w1", 8, 1000);
    await worker("w2", 8, 500);
    const term = await bumpTerm(pool, "me");
    const applier = new PlanApplier(pool, () => true);
    const batch = ["a", "b", "c", "d", "e", "f"].map((name) => job({ name, payload: { argv: ["echo", name] } }));
    // b and d fit on w1, e on w2; f would be w2's second (500m of 500m taken by e): not written
    const before = Date.now();
    const result = await applier.insertPlaced(term, batch, [
      { ord: 1, workerId: "w1" }, { ord: 3, workerId: "w1" }, { ord: 4, workerId: "w2" }, { ord: 5, workerId: "w2" },
    ]);
    const { rows } = await pool.query("SELECT id::text, name, state, worker_id FROM jobs ORDER BY id");
    expect(result.inserted.map((r) => r.id)).toEqual(rows.map((r) => r.id));
    expect(rows.map((r) => [r.name, r.state, r.worker_id])).toEqual([
      ["a", "pending", null], ["b", "assigned", "w1"], ["c", "pending", null],
      ["d", "assigned", "w1"], ["e", "assigned", "w2"], ["f", "pending", null],
    ]);
    const byName = new Map(rows.map((r) => [r.name, r.id]));
    expect(result.assigned.map((a) => [a.id, a.name, a.worker_id, a.payload])).toEqual([
      [byName.get("b"), "b", "w1", { argv: ["echo", "b"] }],
      [byName.get("d"), "d", "w1", { argv: ["echo", "d"] }],
      [byName.get("e"), "e", "w2", { argv: ["echo", "e"] }],
    ]);
    expect(result.placedRows).toEqual([1, 3, 4]);
    for (const a of result.assigned) {
      expect(a.created_ms).toBeGreaterThanOrEqual(before - 1000);
      expect(a.assigned_ms!).toBeGreaterThanOrEqual(a.created_ms);
    }
  });

  it("under a term that moved on, inserts everything pending and places nothing", async () => {
    await worker("w1", 8, 4000);
    const term = await bumpTerm(pool, "me");
    await bumpTerm(pool, "other");
    const applier = new PlanApplier(pool, () => true);
    const result = await applier.insertPlaced(term, [job(), job()], [{ ord: 0, workerId: "w1" }, { ord: 1, workerId: "w1" }]);
    expect(result.termHeld).toBe(false);
    expect(result.assigned).toEqual([]);
    const { rows } = await pool.query("SELECT state FROM jobs ORDER BY id");
    expect(rows.map((r) => r.state)).toEqual(["pending", "pending"]);
    await expect(applier.fenced(term)).resolves.toBeInstanceOf(FencedError);
  });

  it("a lone job (a statement of its own): stored as the batch form stores it, placed when it fits and the assignment read back as the row reads", async () => {
    await worker("w1", 8, 1000);
    const term = await bumpTerm(pool, "me");
    const applier = new PlanApplier(pool, () => true);
    const full = job({
      name: "etl", tenant: "acme", priority: 3, labels: { team: "data" }, executor: "js", payload: { task: "etl", payload: '{"d":1}' },
      timeoutMs: 9000, maxAttempts: 4, traceContext: { traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" },
      templateName: "t", templateVersion: 2,
      retry: { backoff: "fixed", initial_ms: 100, max_ms: 100, multiplier: 1, jitter: 0, final_exit_codes: [3] },
    });
    const result = await applier.insertPlaced(term, [full], [{ ord: 0, workerId: "w1" }]);
    const [twin] = await insertJobs(pool, [full]); // the batch form, pending
    // every column but those a placement and the clock set (a column the batch form learns to fill
    // and this one does not shows up here)
    const { rows } = await pool.query(
      `SELECT to_jsonb(j) - 'id' - 'created_at' - 'run_at' - 'state' - 'worker_id' - 'attempt' - 'assigned_at' AS row
       FROM jobs j WHERE id = ANY($1::bigint[]) ORDER BY id`,
      [[result.inserted[0]!.id, twin]],
    );
    expect(rows[0].row).toEqual(rows[1].row);
    expect(rows[0].row).toMatchObject({ name: "etl", tenant: "acme", template_name: "t", template_version: 2, timeout_ms: 9000 });
    expect(result.termHeld).toBe(true);
    expect(result.placedRows).toEqual([0]);
    const [read] = await loadAssignedJobs(pool, ["w1"]); // a full read of the row, as a reconnecting worker gets it
    expect(result.assigned).toEqual([read]);
  });

  it("a lone job that does not fit, or under a term that moved on, or in a paused or full queue, is inserted pending", async () => {
    await worker("w1", 1, 1000);
    const term = await bumpTerm(pool, "me");
    const applier = new PlanApplier(pool, () => true);
    const lone = async (over: Partial<NewJob> = {}, t = term) => {
      const r = await applier.insertPlaced(t, [job(over)], [{ ord: 0, workerId: "w1" }]);
      const { rows } = await pool.query("SELECT state, worker_id FROM jobs WHERE id = $1", [r.inserted[0]!.id]);
      return { placed: r.assigned.length, rows: r.placedRows, held: r.termHeld, state: rows[0].state };
    };
    expect(await lone({ cpuMillis: 1500 })).toEqual({ placed: 0, rows: [], held: true, state: "pending" }); // too big
    await pool.query("INSERT INTO queues (name, paused) VALUES ('held', true)");
    expect(await lone({ queue: "held" })).toEqual({ placed: 0, rows: [], held: true, state: "pending" });
    await pool.query("INSERT INTO queues (name, concurrency_cap) VALUES ('capped', 0)");
    expect(await lone({ queue: "capped" })).toEqual({ placed: 0, rows: [], held: true, state: "pending" });
    expect(await lone()).toEqual({ placed: 1, rows: [0], held: true, state: "assigned" });
    expect(await lone()).toEqual({ placed: 0, rows: [], held: true, state: "pending" }); // its one slot is taken
    await bumpTerm(pool, "other");
    await pool.query("UPDATE jobs SET state = 'succeeded' WHERE state = 'assigned'");
    expect(await lone({}, term)).toEqual({ placed: 0, rows: [], held: false, state: "pending" });
  });
});

describe("a placement's answer", () => {
  it("carries each job as a full read of its row does, in plan order", async () => {
    await worker("w1", 8, 4000);
    await worker("w2", 8, 4000);
    const ids = await insertJobs(pool, [
      job({ name: "etl", tenant: "acme", priority: 3, labels: { team: "data", "a,b": "{c}" }, executor: "js",
            payload: { task: "etl", payload: '{"day":3}' }, timeoutMs: 9000, maxAttempts: 4,
            traceContext: { traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" } }),
      job({ name: "plain", queue: "other" }),
      job({ name: 'quote"d', payload: { argv: ["sh", "-c", "echo 'x,y'"], env: { A: "1" }, cwd: "/tmp" } }),
    ]);
    const term = await bumpTerm(pool, "me");
    const applier = new PlanApplier(pool, () => true);
    // plan order differs from id order
    const placements = [at(ids[2]!, "w2"), { ...at(ids[1]!, "w1"), queue: "other" }, at(ids[0]!, "w1")];
    const { assigned } = await applier.apply(term, { placements, unschedulable: [] });
    expect(assigned.map((a) => a.id)).toEqual([ids[2], ids[1], ids[0]]);
    const full = new Map((await loadAssignedJobs(pool, ["w1", "w2"])).map((j) => [j.id, j]));
    for (const a of assigned) expect(a).toEqual(full.get(a.id));
    expect(assigned[2]).toMatchObject({ name: "etl", tenant: "acme", priority: 3, labels: { team: "data", "a,b": "{c}" }, timeout_ms: 9000, max_attempts: 4 });
  });

  it("read back lean when the leader has the jobs' content, and still as a full read of each row", async () => {
    await worker("w1", 8, 4000);
    const rows = [
      job({ name: "etl", tenant: "acme", labels: { team: "data" }, executor: "js", payload: { task: "etl", payload: "[1]" }, timeoutMs: 9000,
            traceContext: { traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" } }),
      job({ name: "plain" }),
      job({ name: "other" }),
    ];
    const ids = await insertJobs(pool, rows);
    const { rows: created } = await pool.query<{ ms: number }>("SELECT (extract(epoch FROM created_at) * 1000)::float8 AS ms FROM jobs ORDER BY id");
    const content = new Map(ids.map((id, i) => [id, contentOf(rows[i]!, created[i]!.ms)]));
    // UpdateJob changed a priority after the leader learned the job: the answer carries the new one
    await pool.query("UPDATE jobs SET priority = 7 WHERE id = $1", [ids[1]]);
    const term = await bumpTerm(pool, "me");
    const applier = new PlanApplier(pool, () => true);
    const lean = await applier.apply(term, { placements: [at(ids[1]!, "w1"), at(ids[0]!, "w1")], unschedulable: [] }, content);
    expect(lean.assigned.map((a) => a.id)).toEqual([ids[1], ids[0]]);
    const full = new Map((await loadAssignedJobs(pool, ["w1"])).map((j) => [j.id, j]));
    for (const a of lean.assigned) expect(a).toEqual(full.get(a.id));
    expect(lean.assigned[0]!.priority).toBe(7);
    expect(lean.assigned[1]!.payload).toBe(rows[0]!.payload); // taken from the content, not read back
    // content for only part of a plan: the full answer, the same jobs
    content.delete(ids[2]!);
    const partial = await applier.apply(term, { placements: [at(ids[2]!, "w1")], unschedulable: [] }, content);
    expect(partial.assigned).toEqual((await loadAssignedJobs(pool, ["w1"])).filter((j) => j.id === ids[2]));
  });
});

describe("attempts as fencing tokens", () => {
  it("a report from a stale attempt changes nothing; the current attempt's report is recorded", async () => {
    await worker("w1", 4);
    await worker("w2", 4);
    const [id] = await insertJobs(pool, [job({ maxAttempts: 3 })]);
    const term = await bumpTerm(pool, "me");
    const applier = new PlanApplier(pool, () => true);
    await applier.apply(term, { placements: [at(id!, "w1")], unschedulable: [] });
    // The attempt is lost and the job placed again: attempt 2 on w2.
    await pool.query("UPDATE jobs SET state = 'pending' WHERE id = $1", [id]);
    await applier.apply(term, { placements: [at(id!, "w2")], unschedulable: [] });

    const now = Date.now();
    expect((await recordStarted(pool, [{ jobId: id!, attempt: 1, atMs: now }])).changed).toEqual([]);
    expect(await recordFinished(pool, [{ jobId: id!, attempt: 1, workerId: "w1", atMs: now, startedAtMs: now, exitCode: 1, reason: "exited", message: "" }])).toEqual([]);
    let { rows } = await pool.query("SELECT state, attempt, worker_id, exit_code FROM jobs WHERE id = $1", [id]);
    expect(rows[0]).toEqual({ state: "assigned", attempt: 2, worker_id: "w2", exit_code: null });
    // The stale report is still kept as attempt 1's history, under the worker that sent it.
    const hist = await pool.query("SELECT attempt, worker_id, exit_code FROM attempts WHERE job_id = $1 ORDER BY attempt", [id]);
    expect(hist.rows).toEqual([{ attempt: 1, worker_id: "w1", exit_code: 1 }, { attempt: 2, worker_id: "w2", exit_code: null }]);

    expect(await recordFinished(pool, [{ jobId: id!, attempt: 2, workerId: "w2", atMs: now, startedAtMs: now, exitCode: 0, reason: "exited", message: "" }])).toEqual([{ id, state: "succeeded" }]);
    ({ rows } = await pool.query("SELECT state, exit_code FROM jobs WHERE id = $1", [id]));
    expect(rows[0]).toEqual({ state: "succeeded", exit_code: 0 });
    const all = await pool.query("SELECT attempt, worker_id, exit_code FROM attempts WHERE job_id = $1 ORDER BY attempt", [id]);
    expect(all.rows).toEqual([{ attempt: 1, worker_id: "w1", exit_code: 1 }, { attempt: 2, worker_id: "w2", exit_code: 0 }]);
  });

  it("a batch mixing current successes, a stale success, a repeat and failures: each report decided as if alone", async () => {
    await worker("w1", 8, 4000);
    await worker("w2", 8, 4000);
    const [a, b, c, d] = await insertJobs(pool, [job(), job({ maxAttempts: 3 }), job({ maxAttempts: 1 }), job()]);
    const term = await bumpTerm(pool, "me");
    const applier = new PlanApplier(pool, () => true);
    await applier.apply(term, { placements: [at(a!, "w1"), at(b!, "w1"), at(c!, "w1"), at(d!, "w1")], unschedulable: [] });
    // b's first attempt is lost and the job placed again on w2.
    await pool.query("UPDATE jobs SET state = 'pending' WHERE id = $1", [b]);
    await applier.apply(term, { placements: [at(b!, "w2")], unschedulable: [] });
    const now = Date.now();
    const BOOM = 'boom: "2" \\ {x,y} NULL ☃'; // messages travel as a JSON dictionary
    const ev = (jobId: string, attempt: number, exitCode: number, message = "") =>
      ({ jobId, attempt, workerId: "w1", atMs: now, startedAtMs: now - 5, exitCode, reason: "exited", message });
    const result = await recordFinished(pool, [ev(a!, 1, 0), ev(b!, 1, 0), ev(a!, 1, 1), ev(c!, 1, 2, BOOM), ev(d!, 1, 0, "all good")]);
    expect([...result].sort((x, y) => Number(x.id) - Number(y.id))).toEqual([
      { id: a, state: "succeeded" },
      { id: c, state: "failed" },
      { id: d, state: "succeeded" },
    ]);
    const { rows } = await pool.query("SELECT id::text, state, attempt, exit_code, message, started_at IS NOT NULL AS started FROM jobs ORDER BY id");
    expect(rows).toEqual([
      { id: a, state: "succeeded", attempt: 1, exit_code: 0, message: "", started: true },
      { id: b, state: "assigned", attempt: 2, exit_code: null, message: "", started: false },
      { id: c, state: "failed", attempt: 1, exit_code: 2, message: BOOM, started: true },
      { id: d, state: "succeeded", attempt: 1, exit_code: 0, message: "all good", started: true },
    ]);
    // The stale success is kept as b's attempt 1, under the worker that sent it.
    const hist = await pool.query("SELECT attempt, worker_id, exit_code FROM job_attempts WHERE job_id = $1", [b]);
    expect(hist.rows).toEqual([{ attempt: 1, worker_id: "w1", exit_code: 0 }]);
  });

  it("retries a failed attempt while attempts remain, then fails; a refusal by the worker re-queues", async () => {
    await worker("w1", 4);
    const [id] = await insertJobs(pool, [job({ maxAttempts: 2 })]);
    const term = await bumpTerm(pool, "me");
    const applier = new PlanApplier(pool, () => true);
    const place = () => applier.apply(term, { placements: [at(id!, "w1")], unschedulable: [] });
    const fin = (attempt: number, reason: string, exitCode: number | null) =>
      recordFinished(pool, [{ jobId: id!, attempt, workerId: "w1", atMs: Date.now(), startedAtMs: 0, exitCode, reason, message: "" }]);
    await place();
    expect(await fin(1, "rejected", null)).toEqual([{ id, state: "pending" }]);
    await place();
    expect(await fin(2, "exited", 3)).toEqual([{ id, state: "failed" }]); // attempt 2 of max 2
    await pool.query("UPDATE jobs SET state = 'pending', attempt = 0 WHERE id = $1", [id]);
    await pool.query("DELETE FROM job_attempts");
    await place();
    expect(await fin(1, "timed_out", null)).toEqual([{ id, state: "pending" }]);
  });
});
