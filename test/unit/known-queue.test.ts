// The leader's known queue: a submit's pending rows in scheduling order, heads built on demand.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { KnownQueue, submitOrder } from "../../coordinator/leader/known-queue.js";
import type { NewJob } from "../../coordinator/sql/insert-jobs.js";
import { jobOrder } from "../../shared/scheduling/job-order.js";

const row = (name: string, priority = 0): NewJob => ({
  name, queue: "q", tenant: "t", priority, cpuMillis: 100, memoryMb: 10, gpus: 0, labels: { a: "b" },
  executor: "js", payload: { task: name }, timeoutMs: 5, maxAttempts: 2,
});

/** ids as a submit draws them: ascending, across a digit boundary ("98" < "99" < "100"). */
const idsFor = (n: number) => Array.from({ length: n }, (_, i) => String(98 + i));

describe("submitOrder", () => {
  it("orders a submit's rows as jobOrder orders the same jobs (priority, then age, then id)", () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: -3, max: 3 }), { maxLength: 60 }), (priorities) => {
        const rows = priorities.map((p, i) => row(`j${i}`, p));
        const ids = idsFor(rows.length);
        const jobs = rows.map((r, i) => ({ id: ids[i]!, priority: r.priority, createdAtMs: 1000, cpuMillis: 0, memoryMb: 0, gpus: 0, labels: {}, queue: "", tenant: "" }));
        expect(submitOrder(rows, rows.map((_, i) => i))).toEqual(Array.from(jobOrder(jobs)));
      }),
    );
  });
});

describe("KnownQueue", () => {
  it("hands out heads in order, with each job's content, and forgets what was placed", () => {
    const rows = [row("a"), row("b", 5), row("c"), row("d", 5), row("e")];
    const ids = idsFor(5);
    // "c" (index 2) was placed with the insert
    const q = new KnownQueue(rows, ids, 1000, 1234.5, [0, 1, 3, 4]);
    expect(q.size).toBe(4);
    const { jobs, content } = q.head(3);
    expect(jobs.map((j) => j.id)).toEqual([ids[1], ids[3], ids[0]]); // priority 5 first, then by id
    expect(jobs[0]).toEqual({ id: ids[1], priority: 5, createdAtMs: 1000, cpuMillis: 100, memoryMb: 10, gpus: 0, labels: { a: "b" }, queue: "q", tenant: "t" });
    expect(content.get(ids[1]!)).toEqual({
      name: "b", tenant: "t", labels: { a: "b" }, executor: "js", payload: { task: "b" }, timeout_ms: 5, max_attempts: 2,
      trace_context: null, created_ms: 1234.5,
    });
    expect([...content.keys()]).toEqual(jobs.map((j) => j.id));
    expect(q.has(ids[2]!)).toBe(false);
    expect(q.has("99999")).toBe(false);

    // the middle of the head was placed; unknown ids and repeats change nothing
    q.remove([ids[3]!, "7", ids[3]!, ids[2]!]);
    expect(q.size).toBe(3);
    expect(q.has(ids[3]!)).toBe(false);
    expect(q.head(10).jobs.map((j) => j.id)).toEqual([ids[1], ids[0], ids[4]]);
    q.remove([ids[1]!, ids[0]!, ids[4]!]);
    expect(q.size).toBe(0);
    expect(q.head(10).jobs).toEqual([]);
  });
});
