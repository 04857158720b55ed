// Idempotency keys in the batch insert statement, against a real Postgres: duplicates in a batch,
// across batches, after the window, and many concurrent statements on separate connections.
import pg from "pg";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createPool } from "../../coordinator/db/pool.js";
import { insertJobsReporting, type NewJob } from "../../coordinator/sql/insert-jobs.js";
import { createTestDatabase, type TestDatabase } from "../support/db.js";

let db: TestDatabase;
let pool: pg.Pool;

beforeEach(async () => {
  db = await createTestDatabase();
  pool = createPool(db.url, 25);
});

afterEach(async () => {
  await pool.end();
  await db.drop();
});

const job = (key?: string, over: Partial<NewJob> = {}): NewJob => ({
  name: "", queue: "default", tenant: "", priority: 0, cpuMillis: 100, memoryMb: 10, gpus: 0, labels: {},
  executor: "exec", payload: { argv: ["true"] }, timeoutMs: 0, maxAttempts: 1,
  ...(key ? { idempotencyKey: key, idempotencyWindowS: 3600 } : {}),
  ...over,
});

const jobCount = async () => Number((await pool.query("SELECT count(*) FROM jobs")).rows[0].count);

describe("idempotency keys", () => {
  it("mixes keyed and unkeyed jobs in one batch; repeats inside the batch resolve to the first; ids in request order", async () => {
    const res = await insertJobsReporting(pool, [job(), job("a", { name: "first a" }), job(), job("b"), job("a", { name: "second a" }), job()]);
    expect(res.map((r) => r.created)).toEqual([true, true, true, true, false, true]);
    expect(res[4]!.id).toBe(res[1]!.id);
    expect(new Set(res.map((r) => r.id)).size).toBe(5);
    // Ids follow request order for the rows that made jobs.
    const made = res.filter((r) => r.created).map((r) => BigInt(r.id));
    expect([...made].sort((x, y) => (x < y ? -1 : 1))).toEqual(made);
    const { rows } = await pool.query("SELECT id::text, name, idempotency_key FROM jobs ORDER BY id");
    expect(rows.find((r) => r.id === res[1]!.id)).toMatchObject({ name: "first a", idempotency_key: "a" });
    expect(await jobCount()).toBe(5);
  });

  it("returns the first job for a repeat within the window, and makes a new job once the window has passed", async () => {
    const [first] = await insertJobsReporting(pool, [job("nightly")]);
    const [again] = await insertJobsReporting(pool, [job("nightly"), job()]);
    expect(again).toEqual({ id: first!.id, created: false });
    expect(await jobCount()).toBe(2);

    // The window passing is the key's expiry: age it rather than wait for it.
    await pool.query("UPDATE idempotency_keys SET expires_at = now() - interval '1 second' WHERE key = 'nightly'");
    const [later] = await insertJobsReporting(pool, [job("nightly")]);
    expect(later!.created).toBe(true);
    expect(later!.id).not.toBe(first!.id);
    const [repeat] = await insertJobsReporting(pool, [job("nightly")]);
    expect(repeat).toEqual({ id: later!.id, created: false });
  });

  it("frees the key when its job is deleted", async () => {
    const [first] = await insertJobsReporting(pool, [job("k")]);
    await pool.query("DELETE FROM jobs WHERE id = $1", [first!.id]);
    const [next] = await insertJobsReporting(pool, [job("k")]);
    expect(next!.created).toBe(true);
  });

  it("makes exactly one job from 20 concurrent statements with the same key (each on its own connection)", async () => {
    const clients = await Promise.all(
      Array.from({ length: 20 }, async () => {
        const c = new pg.Client({ connectionString: db.url });
        await c.connect();
        return c;
      }),
    );
    try {
      // Each statement runs in its own transaction that is held open until all have been sent, so
      // they genuinely overlap (the later ones wait on the first's key).
      await Promise.all(clients.map((c) => c.query("BEGIN")));
      const results = clients.map((c, i) => insertJobsReporting(c, [job(), job("race"), job(`own-${i}`)]));
      // Let the first commit; the others block on the key's row lock until it does.
      const settled = results.map((p, i) => p.then(async (r) => (await clients[i]!.query("COMMIT"), r)));
      const all = await Promise.all(settled);
      const raceIds = new Set(all.map((r) => r[1]!.id));
      expect(raceIds.size).toBe(1);
      expect(all.filter((r) => r[1]!.created)).toHaveLength(1);
      expect(await jobCount()).toBe(20 + 1 + 20);
    } finally {
      await Promise.all(clients.map((c) => c.end()));
    }
  });

  it("rolls the whole batch back (keys included) when the statement fails", async () => {
    await expect(insertJobsReporting(pool, [job("x"), job(undefined, { cpuMillis: -1 })])).rejects.toThrow();
    expect(await jobCount()).toBe(0);
    expect((await pool.query("SELECT count(*) FROM idempotency_keys")).rows[0].count).toBe("0");
  });
});
