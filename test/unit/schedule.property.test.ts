// Properties of schedule() over arbitrary clusters, checked against plain re-derivations here (an
// independent job order, brute-force feasibility and a replay of the plan's capacity use).
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { jobOrder } from "../../shared/scheduling/job-order.js";
import { schedule } from "../../shared/scheduling/schedule.js";
import type { Capacity, Plan, SchedJob, SchedWorker, Snapshot } from "../../shared/scheduling/types.js";

const RUNS = 300;

const labelsArb = fc.record(
  { zone: fc.constantFrom("a", "b"), gpu: fc.constantFrom("a100", "h100") },
  { requiredKeys: [] },
);

// Small ranges make ties, full workers and near misses common.
const capacityArb: fc.Arbitrary<Capacity> = fc.record({
  cpuMillis: fc.integer({ min: 0, max: 16 }).map((n) => n * 500),
  memoryMb: fc.integer({ min: 0, max: 16 }).map((n) => n * 1024),
  gpus: fc.oneof(fc.constant(0), fc.integer({ min: 0, max: 3 })),
  slots: fc.integer({ min: 0, max: 8 }),
});

const workerArb = (id: string): fc.Arbitrary<SchedWorker> =>
  fc
    .record({
      labels: labelsArb,
      capacity: capacityArb,
      // Mostly within capacity; sometimes over it (a worker re-registered with less).
      share: fc.record({
        cpuMillis: fc.double({ min: 0, max: 1.2, noNaN: true }),
        memoryMb: fc.double({ min: 0, max: 1.2, noNaN: true }),
        gpus: fc.double({ min: 0, max: 1, noNaN: true }),
        slots: fc.double({ min: 0, max: 1.1, noNaN: true }),
      }),
    })
    .map(({ labels, capacity, share }) => ({
      id,
      labels,
      capacity,
      allocated: {
        cpuMillis: Math.floor(capacity.cpuMillis * share.cpuMillis),
        memoryMb: Math.floor(capacity.memoryMb * share.memoryMb),
        gpus: Math.floor(capacity.gpus * share.gpus),
        slots: Math.floor(capacity.slots * share.slots),
      },
    }));

/**
 * "ties": few distinct whole-millisecond times; "wide": times over centuries that differ in every
 * 11-bit digit of the fast ordering path's radix sort, with ties in the digits above;
 * "fractional": times that force its fallback.
 */
type Times = "ties" | "wide" | "fractional";
const timesArb = fc.constantFrom<Times>("ties", "wide", "fractional");

const jobArb = (id: string, times: Times): fc.Arbitrary<SchedJob> =>
  fc.record({
    id: fc.constant(id),
    priority: fc.integer({ min: -1, max: 3 }),
    createdAtMs:
      times === "ties"
        ? fc.integer({ min: 0, max: 5 }).map((t) => 1_700_000_000_000 + t)
        : times === "wide"
          ? fc
              .array(fc.integer({ min: 0, max: 2 }), { minLength: 5, maxLength: 5 })
              .map((d) => d.reduce((t, digit, k) => t + digit * 2 ** [0, 11, 22, 32, 43][k]!, 0))
          : fc.double({ min: 0, max: 5, noNaN: true }),
    cpuMillis: fc.integer({ min: 0, max: 10 }).map((n) => n * 400),
    memoryMb: fc.integer({ min: 0, max: 10 }).map((n) => n * 800),
    gpus: fc.oneof({ arbitrary: fc.constant(0), weight: 3 }, { arbitrary: fc.integer({ min: 0, max: 4 }), weight: 1 }),
    labels: fc.oneof({ arbitrary: fc.constant({}), weight: 2 }, { arbitrary: labelsArb, weight: 1 }),
    queue: fc.constant("default"),
    tenant: fc.constantFrom("t1", "t2"),
  });

const snapshotArb: fc.Arbitrary<Snapshot> = fc
  .record({
    strategy: fc.constantFrom("binpack" as const, "spread" as const),
    times: timesArb,
    workerIds: fc.uniqueArray(fc.bigInt({ min: 1n, max: 10n ** 20n }), { maxLength: 8 }),
    jobIds: fc.uniqueArray(fc.bigInt({ min: 1n, max: 10n ** 20n }), { maxLength: 40 }),
  })
  .chain(({ strategy, times, workerIds, jobIds }) =>
    fc.record({
      nowMs: fc.constant(0),
      strategy: fc.constant(strategy),
      workers: fc.tuple(...workerIds.map((id) => workerArb(`w${id}`))),
      jobs: fc.tuple(...jobIds.map((id) => jobArb(String(id), times))),
    }),
  );

// --- re-derivations --------------------------------------------------------------------------------

function referenceOrder(jobs: readonly SchedJob[]): SchedJob[] {
  const byId = (a: string, b: string) => {
    const x = BigInt(a);
    const y = BigInt(b);
    return x < y ? -1 : x > y ? 1 : 0;
  };
  return [...jobs].sort(
    (a, b) => b.priority - a.priority || a.createdAtMs - b.createdAtMs || byId(a.id, b.id),
  );
}

const labelsOk = (j: SchedJob, w: SchedWorker) =>
  Object.entries(j.labels).every(([k, v]) => Object.hasOwn(w.labels, k) && w.labels[k] === v);

const fits = (j: SchedJob, free: Capacity) =>
  free.slots >= 1 && free.cpuMillis >= j.cpuMillis && free.memoryMb >= j.memoryMb && free.gpus >= j.gpus;

const everHolds = (j: SchedJob, w: SchedWorker) => labelsOk(j, w) && fits(j, w.capacity);

const freeOf = (w: SchedWorker): Capacity => ({
  cpuMillis: w.capacity.cpuMillis - w.allocated.cpuMillis,
  memoryMb: w.capacity.memoryMb - w.allocated.memoryMb,
  gpus: w.capacity.gpus - w.allocated.gpus,
  slots: w.capacity.slots - w.allocated.slots,
});

function take(free: Capacity, j: SchedJob): void {
  free.cpuMillis -= j.cpuMillis;
  free.memoryMb -= j.memoryMb;
  free.gpus -= j.gpus;
  free.slots -= 1;
}

const utilisation = (w: SchedWorker, free: Capacity, j: SchedJob) => {
  const share = (cap: number, left: number) => (cap > 0 ? (cap - left) / cap : 0);
  return (
    share(w.capacity.cpuMillis, free.cpuMillis - j.cpuMillis) +
    share(w.capacity.memoryMb, free.memoryMb - j.memoryMb)
  );
};

/**
 * Replays the plan in priority order: each placed job must fit (labels and room) where it went,
 * be ranked (near-)best among the workers it fit, and each waiting job must fit nowhere given
 * only the placements ordered before it. Returns the capacity left at the end.
 */
function replay(s: Snapshot, plan: Plan): Map<string, Capacity> {
  const free = new Map(s.workers.map((w) => [w.id, freeOf(w)]));
  const workerById = new Map(s.workers.map((w) => [w.id, w]));
  const placedOn = new Map(plan.placements.map((p) => [p.jobId, p.workerId]));
  const waiting = new Set(plan.waiting);
  for (const j of referenceOrder(s.jobs)) {
    const feasible = s.workers.filter((w) => labelsOk(j, w) && fits(j, free.get(w.id)!));
    const target = placedOn.get(j.id);
    if (target !== undefined) {
      const w = workerById.get(target)!;
      expect(labelsOk(j, w), `labels of ${j.id} on ${target}`).toBe(true);
      expect(fits(j, free.get(target)!), `room for ${j.id} on ${target}`).toBe(true);
      const score = (x: SchedWorker) => utilisation(x, free.get(x.id)!, j);
      const scores = feasible.map(score);
      const best = s.strategy === "binpack" ? Math.max(...scores) : Math.min(...scores);
      expect(Math.abs(score(w) - best)).toBeLessThan(1e-9);
      take(free.get(target)!, j);
    } else if (waiting.has(j.id)) {
      expect(feasible.map((w) => w.id), `${j.id} waits though it fits`).toEqual([]);
    }
  }
  return free;
}

function shuffled<T>(xs: readonly T[], seed: number): T[] {
  const out = [...xs];
  let a = seed >>> 0;
  for (let i = out.length - 1; i > 0; i--) {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    const k = a % (i + 1);
    [out[i], out[k]] = [out[k]!, out[i]!];
  }
  return out;
}

// --- properties ------------------------------------------------------------------------------------

describe("schedule properties", () => {
  it("puts every job in exactly one of placements, unschedulable, waiting", () => {
    fc.assert(
      fc.property(snapshotArb, (s) => {
        const plan = schedule(s);
        const seen = [
          ...plan.placements.map((p) => p.jobId),
          ...plan.unschedulable.map((u) => u.jobId),
          ...plan.waiting,
        ];
        expect([...seen].sort()).toEqual(s.jobs.map((j) => j.id).sort());
      }),
      { numRuns: RUNS },
    );
  });

  it("never over-commits a worker in any dimension, and honours labels", () => {
    fc.assert(
      fc.property(snapshotArb, (s) => {
        const plan = schedule(s);
        const jobById = new Map(s.jobs.map((j) => [j.id, j]));
        for (const w of s.workers) {
          const placed = plan.placements.filter((p) => p.workerId === w.id).map((p) => jobById.get(p.jobId)!);
          if (placed.length === 0) continue;
          for (const j of placed) expect(labelsOk(j, w)).toBe(true);
          const sum = (f: (j: SchedJob) => number) => placed.reduce((acc, j) => acc + f(j), 0);
          expect(w.allocated.cpuMillis + sum((j) => j.cpuMillis)).toBeLessThanOrEqual(w.capacity.cpuMillis);
          expect(w.allocated.memoryMb + sum((j) => j.memoryMb)).toBeLessThanOrEqual(w.capacity.memoryMb);
          expect(w.allocated.gpus + sum((j) => j.gpus)).toBeLessThanOrEqual(w.capacity.gpus);
          expect(w.allocated.slots + placed.length).toBeLessThanOrEqual(w.capacity.slots);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it("calls a job unschedulable iff no live worker's total capacity and labels could hold it", () => {
    fc.assert(
      fc.property(snapshotArb, (s) => {
        const plan = schedule(s);
        const unschedulable = new Map(plan.unschedulable.map((u) => [u.jobId, u.reason]));
        for (const j of s.jobs) {
          const possible = s.workers.some((w) => everHolds(j, w));
          expect(unschedulable.has(j.id), `job ${j.id}`).toBe(!possible);
          if (!possible) expect(unschedulable.get(j.id)).toMatch(/^(needs |no live workers$)/);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it("places greedily by priority: a waiting job fit nowhere after the jobs ordered before it", () => {
    fc.assert(
      fc.property(snapshotArb, (s) => {
        replay(s, schedule(s));
      }),
      { numRuns: RUNS },
    );
  });

  it("is maximal: no waiting job fits the room left when the plan is done", () => {
    fc.assert(
      fc.property(snapshotArb, (s) => {
        const plan = schedule(s);
        const free = replay(s, plan);
        const jobById = new Map(s.jobs.map((j) => [j.id, j]));
        for (const id of plan.waiting) {
          const j = jobById.get(id)!;
          expect(s.workers.some((w) => everHolds(j, w))).toBe(true);
          expect(s.workers.filter((w) => labelsOk(j, w) && fits(j, free.get(w.id)!))).toEqual([]);
        }
      }),
      { numRuns: RUNS },
    );
  });

  it("lists placements, waiting and unschedulable jobs in priority order", () => {
    fc.assert(
      fc.property(snapshotArb, (s) => {
        const plan = schedule(s);
        const rank = new Map(referenceOrder(s.jobs).map((j, r) => [j.id, r]));
        const ascending = (ids: string[]) => ids.every((id, k) => k === 0 || rank.get(ids[k - 1]!)! < rank.get(id)!);
        expect(ascending(plan.placements.map((p) => p.jobId))).toBe(true);
        expect(ascending(plan.waiting)).toBe(true);
        expect(ascending(plan.unschedulable.map((u) => u.jobId))).toBe(true);
      }),
      { numRuns: RUNS },
    );
  });

  it("is deterministic and ignores input order", () => {
    fc.assert(
      fc.property(snapshotArb, fc.nat(), (s, seed) => {
        const plan = schedule(s);
        expect(schedule(s)).toEqual(plan);
        const reordered = { ...s, jobs: shuffled(s.jobs, seed), workers: shuffled(s.workers, seed + 1) };
        expect(schedule(reordered)).toEqual(plan);
      }),
      { numRuns: RUNS },
    );
  });

  it("orders jobs as a plain comparator sort would", () => {
    const jobsArb = fc
      .tuple(fc.uniqueArray(fc.bigInt({ min: 1n, max: 10n ** 25n }), { maxLength: 300 }), timesArb)
      .chain(([ids, times]) => fc.tuple(...ids.map((id) => jobArb(String(id), times))));
    fc.assert(
      fc.property(jobsArb, (jobs) => {
        const ids = Array.from(jobOrder(jobs), (i) => jobs[i]!.id);
        expect(ids).toEqual(referenceOrder(jobs).map((j) => j.id));
      }),
      { numRuns: RUNS },
    );
  });
});
