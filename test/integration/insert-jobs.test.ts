// The submit batch's encoding (shared shapes + per-row values) stores every job field for field.
import { describe, expect, it } from "vitest";
import { insertJobsReporting, type NewJob } from "../../coordinator/sql/insert-jobs.js";
import { useTestPool } from "../support/db.js";

const t = useTestPool(2);

const NO_RETRY = { backoff: "none" as const, initial_ms: 0, max_ms: 0, multiplier: 0, jitter: 0, final_exit_codes: [] };
const base: NewJob = {
  name: "", queue: "default", tenant: "", priority: 0, cpuMillis: 100, memoryMb: 64, gpus: 0, labels: {},
  executor: "js", payload: { task: "noop" }, timeoutMs: 0, maxAttempts: 1, retry: NO_RETRY,
};

describe("insertJobsReporting", () => {
  it("stores a batch of jobs that share some fields and differ in others, each as submitted and in order", async () => {
    const retry = { backoff: "exponential" as const, initial_ms: 100, max_ms: 1000, multiplier: 2, jitter: 0, final_exit_codes: [3] };
    const runAt = Date.now() + 3_600_000;
    const batch: NewJob[] = [
      base,
      { ...base, name: "second", payload: { task: "noop", payload: '{"n":2}' } },
      { ...base, labels: { gpu: "a100" }, priority: 5, queue: "etl", tenant: "acme" },
      { ...base, labels: { gpu: "a100" }, priority: 5, queue: "etl", tenant: "acme", name: "same shape" },
      { ...base, executor: "exec", payload: { argv: ["echo", "it's \"quoted\"\n\\"], env: { A: "b" } }, retry, maxAttempts: 4 },
      { ...base, traceContext: { traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" }, runAtMs: runAt, timeoutMs: 5000 },
    ];
    const inserted = await insertJobsReporting(t.pool, batch);
    expect(inserted.every((r) => r.created)).toBe(true);
    const { rows } = await t.pool.query(
      `SELECT id::text, name, queue, tenant, priority, cpu_millis, memory_mb, labels, executor, payload, timeout_ms, max_attempts,
              retry, trace_context, delayed, (extract(epoch FROM run_at) * 1000)::float8 AS run_at_ms
       FROM jobs ORDER BY id`,
    );
    expect(rows.map((r) => r.id)).toEqual(inserted.map((r) => r.id));
    expect(rows.map((r) => [r.name, r.queue, r.tenant, r.priority, r.labels, r.executor, r.payload, r.max_attempts, r.timeout_ms])).toEqual([
      ["", "default", "", 0, {}, "js", { task: "noop" }, 1, 0],
      ["second", "default", "", 0, {}, "js", { task: "noop", payload: '{"n":2}' }, 1, 0],
      ["", "etl", "acme", 5, { gpu: "a100" }, "js", { task: "noop" }, 1, 0],
      ["same shape", "etl", "acme", 5, { gpu: "a100" }, "js", { task: "noop" }, 1, 0],
      ["", "default", "", 0, {}, "exec", { argv: ["echo", "it's \"quoted\"\n\\"], env: { A: "b" } }, 4, 0],
      ["", "default", "", 0, {}, "js", { task: "noop" }, 1, 5000],
    ]);
    expect(rows[4].retry).toEqual(retry);
    expect(rows[0].retry).toEqual(NO_RETRY);
    expect(rows.map((r) => r.trace_context)).toEqual([null, null, null, null, null, batch[5]!.traceContext]);
    expect(rows.map((r) => r.delayed)).toEqual([false, false, false, false, false, true]);
    expect(Math.abs(rows[5].run_at_ms - runAt)).toBeLessThan(1);
  });

  it("draws ids in request order for a large batch of one shape and for one of several", async () => {
    // A batch of one shape and one of several are read by different plans: each must keep the order.
    for (const shapes of [1, 3]) {
      const batch: NewJob[] = Array.from({ length: 5000 }, (_, i) => ({ ...base, name: `job-${i}`, priority: i % shapes }));
      const inserted = await insertJobsReporting(t.pool, batch);
      const { rows } = await t.pool.query<{ name: string; priority: number }>(
        "SELECT name, priority FROM jobs WHERE id = ANY($1::bigint[]) ORDER BY id",
        [inserted.map((r) => r.id)],
      );
      expect(rows.map((r) => r.name)).toEqual(batch.map((j) => j.name));
      expect(rows.map((r) => r.priority)).toEqual(batch.map((j) => j.priority));
    }
  });

  it("stores names and idempotency keys with any characters, each on its own row, repeated or not", async () => {
    const odd = ["", "plain", 'quo"te', "back\\slash", "{brace,comma}", "NULL", "tab\there", "é 日本 🎉", "plain"];
    const batch: NewJob[] = odd.map((name, i) => ({ ...base, name, idempotencyKey: `${name}#${i}`, idempotencyWindowS: 60 }));
    const inserted = await insertJobsReporting(t.pool, batch);
    expect(inserted.every((r) => r.created)).toBe(true);
    const { rows } = await t.pool.query(
      "SELECT j.name, k.key FROM jobs j JOIN idempotency_keys k ON k.job_id = j.id WHERE j.id = ANY($1::bigint[]) ORDER BY j.id",
      [inserted.map((r) => r.id)],
    );
    expect(rows).toEqual(odd.map((name, i) => ({ name, key: `${name}#${i}` })));
  });
});
