// The coordinator's pool: settings every connection gets.
import { expect, it } from "vitest";
import { insertJobsReporting, type NewJob } from "../../coordinator/sql/insert-jobs.js";
import { useTestPool } from "../support/db.js";

const t = useTestPool(3);

it("runs every connection without JIT, whatever the server's default", async () => {
  const clients = await Promise.all([t.pool.connect(), t.pool.connect(), t.pool.connect()]);
  try {
    const settings = await Promise.all(clients.map((c) => c.query<{ jit: string }>("SHOW jit")));
    expect(settings.map((r) => r.rows[0]!.jit)).toEqual(["off", "off", "off"]);
  } finally {
    for (const c of clients) c.release();
  }
});

it("sorts a 20,000-job submit with idempotency keys in memory (no temporary file)", async () => {
  const job: NewJob = {
    name: "", queue: "default", tenant: "", priority: 0, cpuMillis: 0, memoryMb: 0, gpus: 0, labels: {},
    executor: "js", payload: { task: "noop", payload: "" }, timeoutMs: 0, maxAttempts: 3,
    retry: { backoff: "exponential", initial_ms: 1000, max_ms: 300_000, multiplier: 2, jitter: 0.2, final_exit_codes: [] },
  };
  const tempFiles = async () => {
    const { rows } = await t.pool.query<{ n: string }>("SELECT temp_files AS n FROM pg_stat_database WHERE datname = current_database()");
    return Number(rows[0]!.n);
  };
  const client = await t.pool.connect();
  try {
    const before = await tempFiles();
    // Keyed jobs take the statement that claims keys: it sorts the batch's rows (about 5 MB)
    const inserted = await insertJobsReporting(client, Array.from({ length: 20_000 }, (_, i) => ({ ...job, idempotencyKey: `key-${i}`, idempotencyWindowS: 60 })));
    expect(inserted).toHaveLength(20_000);
    // A backend's statistics reach the shared counters when it flushes them: asked for here, done
    // at the end of the next transaction on the same connection.
    await client.query("SELECT pg_stat_force_next_flush()");
    await client.query("SELECT 1");
    expect(await tempFiles()).toBe(before);
  } finally {
    client.release();
  }
});
