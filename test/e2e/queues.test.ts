// Queue caps and pause/resume end to end: two coordinators (the leader killed midway), several
// workers, and the attempt history replayed to show the cap was never exceeded.
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { JobSpec } from "../../shared/gen/baton/v1/types.js";
import { TestCluster, waitUntil, type CoordinatorProc } from "../support/cluster.js";
import { createTestDatabase, type TestDatabase } from "../support/db.js";

let db: TestDatabase;
let cluster: TestCluster;
let coords: CoordinatorProc[];

const alive = () => coords.find((c) => c.child.exitCode === null && c.child.signalCode === null)!;

beforeAll(async () => {
  db = await createTestDatabase();
  cluster = new TestCluster(db.url);
  coords = [await cluster.coordinator(), await cluster.coordinator()];
  const all = coords.map((c) => c.grpcAddress);
  await Promise.all([
    cluster.worker({ name: "a", coordinators: all, slots: 4 }),
    cluster.worker({ name: "b", coordinators: [...all].reverse(), slots: 4 }),
    cluster.worker({ name: "c", coordinators: all, slots: 4 }),
  ]);
});

afterAll(async () => {
  await cluster?.stop();
  await db?.drop();
});

function sleepJob(queue: string, seconds: string, priority = 0): JobSpec {
  return JobSpec.fromPartial({
    name: "", queue, priority, tenant: "", labels: {}, timeoutMs: 0, maxAttempts: 3,
    resources: { cpuMillis: 100, memoryMb: 64, gpus: 0 },
    executor: { $case: "exec", exec: { argv: ["sh", "-c", `sleep ${seconds}`], env: {}, cwd: "" } },
  });
}

async function query<T extends pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<T[]> {
  const c = new pg.Client({ connectionString: db.url });
  await c.connect();
  try {
    return (await c.query<T>(sql, params)).rows;
  } finally {
    await c.end();
  }
}

const countIn = (queue: string, states: string[]) => async (c: pg.Client) =>
  (await c.query<{ n: number }>("SELECT count(*)::int AS n FROM jobs WHERE queue = $1 AND state = ANY($2)", [queue, states])).rows[0]!.n;

/** The most attempts of the queue held at once, replaying assigned_at → finished_at (releases first on ties). */
async function maxOverlap(queue: string): Promise<number> {
  const rows = await query<{ assigned_at: Date; finished_at: Date | null }>(
    "SELECT a.assigned_at, a.finished_at FROM attempts a JOIN jobs j ON j.id = a.job_id WHERE j.queue = $1",
    [queue],
  );
  const evs = rows.flatMap((r) => [
    { t: r.assigned_at.getTime(), d: 1 },
    { t: r.finished_at ? r.finished_at.getTime() : Infinity, d: -1 },
  ]);
  evs.sort((a, b) => a.t - b.t || a.d - b.d);
  let held = 0;
  let most = 0;
  for (const e of evs) most = Math.max(most, (held += e.d));
  return most;
}

/** Runs the `baton` CLI against a coordinator and returns its stdout. */
async function baton(address: string, ...args: string[]): Promise<string> {
  const p = cluster.spawn(`baton ${args.join(" ")}`, args, { BATON_SERVER: address });
  const code = await p.exited;
  expect(code, p.output).toBe(0);
  return p.output;
}

describe("queues across two coordinators", () => {
  it("a queue capped at 3 runs 30 jobs with never more than 3 at once, through a leader failover", async () => {
    expect(await baton(coords[1]!.grpcAddress, "queue", "set", "capped", "--cap", "3")).toContain("capped: active, cap 3");
    const client = cluster.client(coords[0]!.grpcAddress);
    // Work in another queue shares the workers and is not held back by the cap.
    await client.submitJobs([
      ...Array.from({ length: 30 }, () => sleepJob("capped", "0.2")),
      ...Array.from({ length: 6 }, () => sleepJob("free", "0.2")),
    ]);

    // Kill whichever coordinator leads once a third of the capped jobs are done.
    await waitUntil(db.url, async (c) => (await countIn("capped", ["succeeded"])(c)) >= 10, "10 capped jobs to succeed");
    const [{ leader_id }] = await query<{ leader_id: string }>("SELECT leader_id FROM baton_term");
    const leader = coords.find((c) => c.id === leader_id)!;
    await leader.kill("SIGKILL");

    await waitUntil(db.url, async (c) => (await countIn("capped", ["succeeded"])(c)) === 30, "30 capped jobs to succeed", 90_000);
    await waitUntil(db.url, async (c) => (await countIn("free", ["succeeded"])(c)) === 6, "6 free jobs to succeed");
    expect(await maxOverlap("capped")).toBe(3);
    const [{ term }] = await query<{ term: string }>("SELECT term FROM baton_term");
    expect(Number(term)).toBeGreaterThanOrEqual(2);

    const ls = await baton(alive().grpcAddress, "queue", "ls");
    expect(ls).toMatch(/capped\s+active\s+3\s+0\s+0/);
  });

  it("pause: nothing of the queue starts (its jobs stay pending) while other work runs; resume: they run", async () => {
    const addr = alive().grpcAddress;
    const client = cluster.client(addr);
    expect(await baton(addr, "queue", "pause", "batch")).toContain("batch: paused");
    // The paused queue's jobs outrank the probe: a pass that placed the probe would have placed them.
    const held = await client.submitJobs(Array.from({ length: 5 }, () => sleepJob("batch", "0.1", 10)));
    const [probe] = await client.submitJobs([sleepJob("probe", "0")]);
    await waitUntil(db.url, async (c) => (await c.query("SELECT 1 FROM jobs WHERE id = $1 AND state = 'succeeded'", [probe])).rowCount === 1, "the probe to succeed");
    const rows = await query<{ state: string; attempt: number }>("SELECT state, attempt FROM jobs WHERE id = ANY($1::bigint[])", [held]);
    expect(rows.map((r) => [r.state, r.attempt])).toEqual(held.map(() => ["pending", 0]));
    expect(await baton(addr, "queue", "ls")).toMatch(/batch\s+paused\s+-\s+0\s+5/);

    expect(await baton(addr, "queue", "resume", "batch")).toContain("batch: active");
    await waitUntil(db.url, async (c) => (await countIn("batch", ["succeeded"])(c)) === 5, "the resumed queue's 5 jobs to succeed");
    expect(await baton(addr, "queue", "set", "batch", "--cap", "2")).toContain("batch: active, cap 2");
    expect(await baton(addr, "queue", "set", "batch", "--no-cap")).toContain("batch: active, no cap");
  });
});
