// The leader's scheduling loop against a real Postgres: a batch submitted to an idle leader that
// does not fit is placed from the queue the leader knows, as ends give capacity back, with no
// snapshot read; anything it cannot account for hands over to ordinary passes.
import { afterEach, describe, expect, it } from "vitest";
import { PlanApplier } from "../../coordinator/leader/plan-applier.js";
import { SchedulerLoop } from "../../coordinator/leader/scheduler-loop.js";
import type { AssignedJob } from "../../coordinator/sql/apply-plan.js";
import { insertJobs, type NewJob } from "../../coordinator/sql/insert-jobs.js";
import { recordFinished } from "../../coordinator/sql/record-events.js";
import { bumpTerm } from "../../coordinator/sql/term.js";
import { upsertWorker } from "../../coordinator/sql/workers.js";
import { useTestPool } from "../support/db.js";

const t = useTestPool(4);
const loops: SchedulerLoop[] = [];

afterEach(async () => {
  await Promise.all(loops.splice(0).map((l) => l.stop()));
});

const job = (name: string, over: Partial<NewJob> = {}): NewJob => ({
  name, queue: "default", tenant: "", priority: 0, cpuMillis: 100, memoryMb: 10, gpus: 0, labels: {},
  executor: "js", payload: { task: "noop" }, timeoutMs: 0, maxAttempts: 1, ...over,
});

/** A loop on a fresh term, and the placements it delivers, awaited in order. */
async function leaderLoop(slots: number) {
  await upsertWorker(t.pool, { id: "w1", name: "w1", cpuMillis: 8000, memoryMb: 8000, gpus: 0, slots, labels: {}, limitsMechanism: "none", coordinatorId: "c" });
  const term = await bumpTerm(t.pool, "me");
  const delivered: AssignedJob[][] = [];
  const waiters: (() => void)[] = [];
  const errors: Error[] = [];
  const loop = new SchedulerLoop(t.pool, new PlanApplier(t.pool, () => true), {
    term, strategy: () => "binpack", batchSize: 1000, tickMs: 3_600_000,
    deliver: (assigned) => {
      if (assigned.length === 0) return;
      delivered.push(assigned);
      waiters.splice(0).forEach((w) => w());
    },
    onError: (err) => errors.push(err),
  });
  loops.push(loop);
  /** The next delivery. */
  const nextJobs = async (): Promise<AssignedJob[]> => {
    while (delivered.length === 0) await new Promise<void>((r) => waiters.push(r));
    return delivered.shift()!;
  };
  /** The names of the next delivery. */
  const next = async (): Promise<string[]> => (await nextJobs()).map((a) => a.name);
  /** Records the successes of these jobs and tells the loop, as the event sink does. */
  const end = async (names: string[]) => {
    const { rows } = await t.pool.query<{ id: string }>("SELECT id::text FROM jobs WHERE name = ANY($1)", [names]);
    const now = Date.now();
    const ended = await recordFinished(t.pool, rows.map((r) => ({ jobId: r.id, attempt: 1, workerId: "w1", atMs: now, startedAtMs: now, exitCode: 0, reason: "exited", message: "" })));
    loop.capacityFreed(false, ended.map((e) => e.id));
  };
  loop.start(); // the first pass sees an empty queue
  await loop.idle();
  expect(loop.snapshotsRead).toBe(1);
  return { loop, next, nextJobs, end, errors };
}

describe("a leader's known queue", () => {
  it("places a submit that did not fit as ends give capacity back, without reading snapshots", async () => {
    const { loop, next, nextJobs, end, errors } = await leaderLoop(2);
    const reads = loop.snapshotsRead;
    const rows = ["a", "b", "c", "d", "e"].map((n) => job(n));
    const inserted = loop.insertSubmitted(rows);
    expect(inserted).toBeDefined();
    expect((await inserted!).length).toBe(5);
    expect(await next()).toEqual(["a", "b"]);
    await end(["a", "b"]);
    const cd = await nextJobs();
    expect(cd.map((a) => a.name)).toEqual(["c", "d"]);
    // the placement read back only what it decided: the content is the submit's own
    expect(cd[0]!.payload).toBe(rows[2]!.payload);
    expect(cd[0]).toMatchObject({ attempt: 1, worker_id: "w1", queue: "default", cpu_millis: 100, executor: "js" });
    await end(["c"]);
    expect(await next()).toEqual(["e"]);
    expect(loop.snapshotsRead).toBe(reads);
    expect(errors).toEqual([]);
    // The queue is drained now: the next submit is placed with its insert again.
    await end(["d", "e"]);
    const again = loop.insertSubmitted([job("f")]);
    expect(again).toBeDefined();
    await again;
    expect(await next()).toEqual(["f"]);
  });

  it("keeps the known queue through ends that leave no room for its head (no snapshot until room comes)", async () => {
    const { loop, next, end, errors } = await leaderLoop(3);
    const reads = loop.snapshotsRead;
    // w1 has 8000m: a and c fit at once, b waits for a's share
    await loop.insertSubmitted([job("a", { cpuMillis: 4500 }), job("b", { cpuMillis: 4500 }), job("c", { cpuMillis: 100 })]);
    expect(await next()).toEqual(["a", "c"]);
    await end(["c"]); // a slot and 100m back: still no room for b
    await loop.idle();
    expect(loop.snapshotsRead).toBe(reads);
    await end(["a"]);
    expect(await next()).toEqual(["b"]);
    expect(loop.snapshotsRead).toBe(reads);
    expect(errors).toEqual([]);
  });

  it("hands over to a pass when work arrives another way, and keeps priority order", async () => {
    const { loop, next, end } = await leaderLoop(2);
    await loop.insertSubmitted(["a", "b", "c"].map((n) => job(n)));
    expect(await next()).toEqual(["a", "b"]);
    // submitted through another coordinator, which wakes the leader
    await insertJobs(t.pool, [job("urgent", { priority: 9 })]);
    const reads = loop.snapshotsRead;
    loop.wake();
    await end(["a"]);
    expect(await next()).toEqual(["urgent"]);
    expect(loop.snapshotsRead).toBeGreaterThan(reads);
    await end(["b"]);
    expect(await next()).toEqual(["c"]);
  });

  it("hands over to a pass when a known job was cancelled meanwhile (its placement is refused)", async () => {
    const { loop, next, end } = await leaderLoop(1);
    await loop.insertSubmitted(["a", "b", "c"].map((n) => job(n)));
    expect(await next()).toEqual(["a"]);
    await t.pool.query("UPDATE jobs SET state = 'cancelled', finished_at = now() WHERE name = 'b'");
    const reads = loop.snapshotsRead;
    await end(["a"]);
    expect(await next()).toEqual(["c"]);
    expect(loop.snapshotsRead).toBeGreaterThan(reads);
  });

  it("hands over to a pass on ends it cannot account for (recorded by another coordinator)", async () => {
    const { loop, next } = await leaderLoop(1);
    await loop.insertSubmitted(["a", "b"].map((n) => job(n)));
    expect(await next()).toEqual(["a"]);
    const now = Date.now();
    const { rows } = await t.pool.query<{ id: string }>("SELECT id::text FROM jobs WHERE name = 'a'");
    await recordFinished(t.pool, [{ jobId: rows[0]!.id, attempt: 1, workerId: "w1", atMs: now, startedAtMs: now, exitCode: 0, reason: "exited", message: "" }]);
    const reads = loop.snapshotsRead;
    loop.capacityFreed(false); // a follower's notification: no ids
    expect(await next()).toEqual(["b"]);
    expect(loop.snapshotsRead).toBeGreaterThan(reads);
  });
});
