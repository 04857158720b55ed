import { describe, expect, it } from "vitest";
import { compareIds, jobOrder } from "../../shared/scheduling/job-order.js";
import { schedule } from "../../shared/scheduling/schedule.js";
import type { SchedJob, SchedWorker, Snapshot, Strategy } from "../../shared/scheduling/types.js";

function worker(
  id: string,
  capacity: Partial<SchedWorker["capacity"]> = {},
  allocated: Partial<SchedWorker["allocated"]> = {},
  labels: Record<string, string> = {},
): SchedWorker {
  return {
    id,
    labels,
    capacity: { cpuMillis: 4000, memoryMb: 8192, gpus: 0, slots: 10, ...capacity },
    allocated: { cpuMillis: 0, memoryMb: 0, gpus: 0, slots: 0, ...allocated },
  };
}

let nextId = 1;
function job(fields: Partial<SchedJob> = {}): SchedJob {
  return {
    id: String(nextId++),
    priority: 0,
    createdAtMs: 1_000,
    cpuMillis: 1000,
    memoryMb: 1024,
    gpus: 0,
    labels: {},
    queue: "default",
    tenant: "t",
    ...fields,
  };
}

function snap(jobs: SchedJob[], workers: SchedWorker[], strategy: Strategy = "binpack"): Snapshot {
  return { nowMs: 10_000, strategy, jobs, workers };
}

const placedOn = (s: Snapshot) =>
  Object.fromEntries(schedule(s).placements.map((p) => [p.jobId, p.workerId]));

describe("ranking", () => {
  it("binpack fills one worker before starting the next", () => {
    const jobs = Array.from({ length: 5 }, () => job());
    const plan = schedule(snap(jobs, [worker("b"), worker("a")]));
    expect(plan.placements.map((p) => p.workerId)).toEqual(["a", "a", "a", "a", "b"]);
    expect(plan.waiting).toEqual([]);
  });

  it("binpack picks the best fit: the worker left most utilised", () => {
    const j = job({ cpuMillis: 1000, memoryMb: 1024 });
    const roomy = worker("a", {}, { cpuMillis: 1000, memoryMb: 1024 });
    const tight = worker("b", {}, { cpuMillis: 3000, memoryMb: 6144 });
    expect(placedOn(snap([j], [roomy, tight]))).toEqual({ [j.id]: "b" });
  });

  it("spread alternates between equal workers and prefers the least utilised", () => {
    const jobs = Array.from({ length: 4 }, () => job());
    const plan = schedule(snap(jobs, [worker("a"), worker("b")], "spread"));
    expect(plan.placements.map((p) => p.workerId)).toEqual(["a", "b", "a", "b"]);

    const j = job();
    const busy = worker("a", {}, { cpuMillis: 3000, memoryMb: 6000 });
    expect(placedOn(snap([j], [busy, worker("b")], "spread"))).toEqual({ [j.id]: "b" });
  });

  it("breaks utilisation ties on slots, then on worker id", () => {
    const j = job();
    const fewSlotsUsed = worker("a", { slots: 10 }, { slots: 1 });
    const moreSlotsUsed = worker("b", { slots: 10 }, { slots: 5 });
    expect(placedOn(snap([j], [fewSlotsUsed, moreSlotsUsed]))).toEqual({ [j.id]: "b" });
    expect(placedOn(snap([j], [fewSlotsUsed, moreSlotsUsed], "spread"))).toEqual({ [j.id]: "a" });
    // Ids compare numerically when both are decimal.
    expect(placedOn(snap([j], [worker("10"), worker("9")]))).toEqual({ [j.id]: "9" });
  });
});

describe("feasibility", () => {
  it("places labelled jobs only on workers carrying equal labels", () => {
    const gpuJob = job({ labels: { gpu: "a100" } });
    const zoneJob = job({ labels: { zone: "b" } });
    const plain = job();
    const gpuWorker = worker("g", { gpus: 2 }, { cpuMillis: 0 }, { gpu: "a100", zone: "a" });
    // w is more utilised, so binpack would prefer it for a job without labels.
    const w = worker("w", {}, { cpuMillis: 2000, memoryMb: 4096 }, { gpu: "h100", zone: "a" });
    const plan = schedule(snap([gpuJob, zoneJob, plain], [gpuWorker, w]));
    expect(plan.placements).toEqual([
      { jobId: gpuJob.id, workerId: "g" },
      { jobId: plain.id, workerId: "w" },
    ]);
    expect(plan.unschedulable).toEqual([
      { jobId: zoneJob.id, reason: "needs labels zone=b; no live worker has them" },
    ]);
  });

  it("respects slots", () => {
    const jobs = Array.from({ length: 3 }, () => job({ cpuMillis: 1, memoryMb: 1 }));
    const plan = schedule(snap(jobs, [worker("a", { slots: 3 }, { slots: 1 })]));
    expect(plan.placements.map((p) => p.jobId)).toEqual([jobs[0]!.id, jobs[1]!.id]);
    expect(plan.waiting).toEqual([jobs[2]!.id]);
  });

  it("respects every resource dimension against what is allocated and already planned", () => {
    const a = job({ cpuMillis: 2000, memoryMb: 1000, gpus: 1 });
    const b = job({ cpuMillis: 1000, memoryMb: 1000, gpus: 1 });
    const c = job({ cpuMillis: 100, memoryMb: 100, gpus: 0 });
    const w = worker("w", { cpuMillis: 4000, memoryMb: 8000, gpus: 2 }, { cpuMillis: 1000, gpus: 1 });
    const plan = schedule(snap([a, b, c], [w]));
    expect(plan.placements.map((p) => p.jobId)).toEqual([a.id, c.id]);
    expect(plan.waiting).toEqual([b.id]);
  });

  it("reports jobs as waiting, not unschedulable, when workers are big enough but full", () => {
    const full = worker("a", {}, { cpuMillis: 4000, memoryMb: 8192, slots: 10 });
    const j = job();
    expect(schedule(snap([j], [full]))).toEqual({ placements: [], unschedulable: [], waiting: [j.id] });
  });

  it("classifies the rest correctly after every worker is full", () => {
    const jobs = [job(), job(), job({ memoryMb: 100_000 }), job({ labels: { gpu: "x" } }), job()];
    const plan = schedule(snap(jobs, [worker("a", { slots: 1 })]));
    expect(plan.placements).toEqual([{ jobId: jobs[0]!.id, workerId: "a" }]);
    expect(plan.waiting).toEqual([jobs[1]!.id, jobs[4]!.id]);
    expect(plan.unschedulable.map((u) => u.jobId)).toEqual([jobs[2]!.id, jobs[3]!.id]);
  });
});

describe("unschedulable reasons", () => {
  const reasonFor = (j: SchedJob, workers: SchedWorker[]) => {
    const plan = schedule(snap([j], workers));
    expect(plan.placements).toEqual([]);
    expect(plan.waiting).toEqual([]);
    expect(plan.unschedulable).toHaveLength(1);
    expect(plan.unschedulable[0]!.jobId).toBe(j.id);
    return plan.unschedulable[0]!.reason;
  };

  it("names memory, cpu and gpus with the largest on offer", () => {
    const workers = [worker("a", { memoryMb: 16384, cpuMillis: 4000, gpus: 1 }), worker("b")];
    expect(reasonFor(job({ memoryMb: 64000 }), workers)).toBe(
      "needs 64000 MiB memory; the largest live worker has 16384 MiB",
    );
    expect(reasonFor(job({ cpuMillis: 8000 }), workers)).toBe(
      "needs 8000 millicores CPU; the largest live worker has 4000 millicores",
    );
    expect(reasonFor(job({ gpus: 3 }), workers)).toBe("needs 3 GPUs; the largest live worker has 1 GPU");
    expect(reasonFor(job({ cpuMillis: 8000, memoryMb: 64000 }), workers)).toBe(
      "needs 8000 millicores CPU and 64000 MiB memory; " +
        "the most any live worker has is 4000 millicores CPU and 16384 MiB memory",
    );
  });

  it("judges totals, not what is free now", () => {
    const busy = worker("a", { memoryMb: 16384 }, { memoryMb: 16000, slots: 10 });
    expect(reasonFor(job({ memoryMb: 20000 }), [busy])).toBe(
      "needs 20000 MiB memory; the largest live worker has 16384 MiB",
    );
    expect(schedule(snap([job({ memoryMb: 16000 })], [busy])).waiting).toHaveLength(1);
  });

  it("names missing labels, and the largest worker among those that carry them", () => {
    const workers = [
      worker("a", { memoryMb: 16384 }, {}, { gpu: "a100" }),
      worker("b", { memoryMb: 65536 }, {}, { gpu: "h100" }),
    ];
    expect(reasonFor(job({ labels: { gpu: "v100", zone: "x" } }), workers)).toBe(
      "needs labels gpu=v100,zone=x; no live worker has them",
    );
    expect(reasonFor(job({ labels: { gpu: "a100" }, memoryMb: 64000 }), workers)).toBe(
      "needs 64000 MiB memory; the largest live worker with labels gpu=a100 has 16384 MiB",
    );
  });

  it("says when there are no live workers", () => {
    expect(reasonFor(job(), [])).toBe("no live workers");
  });

  it("checks all dimensions against the same worker", () => {
    const cpuRich = worker("a", { cpuMillis: 8000, memoryMb: 8192 });
    const memRich = worker("b", { cpuMillis: 2000, memoryMb: 65536 });
    expect(reasonFor(job({ cpuMillis: 8000, memoryMb: 32768 }), [cpuRich, memRich])).toBe(
      "needs 8000 millicores CPU and 32768 MiB memory on one worker; no live worker has both " +
        "(the closest, a, has 8000 millicores CPU and 8192 MiB memory)",
    );
  });

  it("says when the workers have no slots", () => {
    expect(reasonFor(job(), [worker("a", { slots: 0 })])).toBe(
      "needs 1 slot; the largest live worker has 0 slots",
    );
    expect(reasonFor(job({ memoryMb: 10_000 }), [worker("a", { slots: 0, memoryMb: 20_000 }), worker("b")])).toBe(
      "needs 10000 MiB memory and 1 slot on one worker; no live worker has both " +
        "(the closest, b, has 8192 MiB memory and 10 slots)",
    );
  });
});

describe("order", () => {
  it("places by priority, then age, then id, whatever the input order", () => {
    const low = job({ priority: 1, createdAtMs: 1 });
    const highNew = job({ priority: 5, createdAtMs: 500 });
    const highOld = job({ priority: 5, createdAtMs: 100 });
    const plan = schedule(snap([low, highNew, highOld], [worker("a", { slots: 1 })]));
    expect(plan.placements).toEqual([{ jobId: highOld.id, workerId: "a" }]);
    expect(plan.waiting).toEqual([highNew.id, low.id]);

    const ten = job({ id: "10" });
    const nine = job({ id: "9" });
    expect(schedule(snap([ten, nine], [worker("a", { slots: 1 })])).placements).toEqual([
      { jobId: "9", workerId: "a" },
    ]);
  });

  it("lets a lower-priority job backfill room the higher-priority ones cannot use", () => {
    const big = job({ priority: 9, cpuMillis: 3000 });
    const small = job({ priority: 1, cpuMillis: 500 });
    const w = worker("a", {}, { cpuMillis: 2000 });
    const plan = schedule(snap([small, big], [w]));
    expect(plan.placements).toEqual([{ jobId: small.id, workerId: "a" }]);
    expect(plan.waiting).toEqual([big.id]);
  });

  it("compares decimal ids numerically and other ids by code unit", () => {
    expect(["10", "9", "100", "11"].sort(compareIds)).toEqual(["9", "10", "11", "100"]);
    expect(["b", "a10", "a9"].sort(compareIds)).toEqual(["a10", "a9", "b"]);
    expect(compareIds("123456789012345678901", "123456789012345678902")).toBeLessThan(0);
  });

  it("orders the same on the fast path and the fallback (fractional times, vast spans)", () => {
    const make = (createdAtMs: number[]) =>
      createdAtMs.map((t, k) => job({ id: String(100 - k), createdAtMs: t, priority: k % 2 }));
    const ids = (js: SchedJob[]) => Array.from(jobOrder(js), (i) => js[i]!.id);
    const fast = make([5, 3, 5, 3, 7, 5]);
    const fractional = make([5, 3, 5, 3, 7, 5.5].map((t) => t + 0.25));
    const vast = make([5, 3, 5, 3, 7, 8e15]);
    const expected = ["97", "99", "95", "98", "100", "96"];
    expect(ids(fast)).toEqual(expected);
    expect(ids(fractional)).toEqual(expected);
    expect(ids(vast)).toEqual(expected);
  });
});

describe("purity", () => {
  it("gives the same plan for the same snapshot, in any input order, and mutates nothing", () => {
    const jobs = Array.from({ length: 40 }, (_, k) =>
      job({ priority: k % 3, createdAtMs: k % 5, cpuMillis: 300 + (k % 7) * 200, memoryMb: 256 * (k % 4) }),
    );
    const workers = [worker("a"), worker("b", { slots: 3 }), worker("c", { cpuMillis: 2000 })];
    const s = snap(jobs, workers);
    const before = structuredClone(s);
    const plan = schedule(deepFreeze(s));
    expect(s).toEqual(before);
    expect(schedule(s)).toEqual(plan);
    expect(schedule(snap([...jobs].reverse(), [...workers].reverse()))).toEqual(plan);
  });
});

function deepFreeze<T>(value: T): T {
  if (value && typeof value === "object") {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
