// Queue caps, paused queues and the capacity reserved for urgent priorities in schedule(): examples,
// then properties over arbitrary clusters checked against a replay of the plan.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { lowLimit, schedule } from "../../shared/scheduling/schedule.js";
import type { Capacity, Plan, SchedJob, SchedQueue, SchedWorker, Snapshot } from "../../shared/scheduling/types.js";

function worker(id: string, capacity: Partial<Capacity> = {}, allocated: Partial<Capacity> = {}, lowAllocated?: Partial<Capacity>): SchedWorker {
  const zero = { cpuMillis: 0, memoryMb: 0, gpus: 0, slots: 0 };
  return {
    id,
    labels: {},
    capacity: { cpuMillis: 4000, memoryMb: 8192, gpus: 0, slots: 10, ...capacity },
    allocated: { ...zero, ...allocated },
    ...(lowAllocated ? { lowAllocated: { ...zero, ...lowAllocated } } : {}),
  };
}

let nextId = 1;
function job(fields: Partial<SchedJob> = {}): SchedJob {
  return {
    id: String(nextId++),
    priority: 0,
    createdAtMs: 1_000,
    cpuMillis: 100,
    memoryMb: 100,
    gpus: 0,
    labels: {},
    queue: "default",
    tenant: "t",
    ...fields,
  };
}

function snap(jobs: SchedJob[], workers: SchedWorker[], extra: Partial<Snapshot> = {}): Snapshot {
  return { nowMs: 10_000, strategy: "binpack", jobs, workers, ...extra };
}

const queueOf = (jobs: SchedJob[]) => new Map(jobs.map((j) => [j.id, j.queue]));
function placedPerQueue(plan: Plan, jobs: SchedJob[]): Record<string, number> {
  const q = queueOf(jobs);
  const counts: Record<string, number> = {};
  for (const p of plan.placements) counts[q.get(p.jobId)!] = (counts[q.get(p.jobId)!] ?? 0) + 1;
  return counts;
}

describe("queue caps and pauses", () => {
  it("places no more of a capped queue than its cap minus what runs, highest priority first", () => {
    const jobs = [
      ...Array.from({ length: 10 }, (_, i) => job({ queue: "etl", priority: i })),
      ...Array.from({ length: 4 }, () => job({ queue: "web" })),
    ];
    const queues: SchedQueue[] = [{ name: "etl", cap: 5, running: 2, paused: false }];
    const plan = schedule(snap(jobs, [worker("a"), worker("b")], { queues }));
    expect(placedPerQueue(plan, jobs)).toEqual({ etl: 3, web: 4 });
    const placed = new Set(plan.placements.map((p) => p.jobId));
    expect(jobs.filter((j) => j.queue === "etl" && placed.has(j.id)).map((j) => j.priority).sort()).toEqual([7, 8, 9]);
    expect(plan.waiting).toHaveLength(7);
  });

  it("places nothing of a queue at or over its cap (a cap lowered below what runs)", () => {
    const jobs = Array.from({ length: 3 }, () => job({ queue: "etl" }));
    const plan = schedule(snap(jobs, [worker("a")], { queues: [{ name: "etl", cap: 2, running: 4, paused: false }] }));
    expect(plan.placements).toEqual([]);
    expect(plan.waiting).toHaveLength(3);
  });

  it("places nothing of a paused queue, and a cap of 0 holds it too", () => {
    const jobs = [job({ queue: "p" }), job({ queue: "z" }), job({ queue: "free" })];
    const queues: SchedQueue[] = [
      { name: "p", cap: null, running: 1, paused: true },
      { name: "z", cap: 0, running: 0, paused: false },
    ];
    const plan = schedule(snap(jobs, [worker("a")], { queues }));
    expect(placedPerQueue(plan, jobs)).toEqual({ free: 1 });
  });

  it("a queue listed unlimited and active changes nothing", () => {
    const jobs = Array.from({ length: 30 }, (_, i) => job({ queue: i % 2 ? "a" : "b", cpuMillis: 300 }));
    const workers = [worker("w1"), worker("w2", { slots: 3 })];
    const queues: SchedQueue[] = [{ name: "a", cap: null, running: 7, paused: false }];
    expect(schedule(snap(jobs, workers, { queues }))).toEqual(schedule(snap(jobs, workers)));
  });
});

describe("capacity reserved for urgent priorities", () => {
  const reservation = { share: 0.2, minPriority: 100 };

  it("jobs below the threshold use at most (1 − share) of each dimension", () => {
    const jobs = Array.from({ length: 20 }, () => job({ priority: 1, cpuMillis: 100, memoryMb: 100 }));
    const plan = schedule(snap(jobs, [worker("a", { slots: 10 })], { reservation }));
    expect(plan.placements).toHaveLength(8); // 10 slots, 2 kept
    const cpuBound = Array.from({ length: 20 }, () => job({ priority: 1, cpuMillis: 1000, memoryMb: 10 }));
    expect(schedule(snap(cpuBound, [worker("a", { cpuMillis: 4000 })], { reservation })).placements).toHaveLength(3);
  });

  it("urgent jobs use the reserve, and get it even behind a flood of low-priority work", () => {
    const flood = Array.from({ length: 50 }, (_, i) => job({ priority: 1, createdAtMs: i }));
    const urgent = [job({ priority: 100, createdAtMs: 999 }), job({ priority: 150, createdAtMs: 999 })];
    // The flood was placed in an earlier pass: 8 of 10 slots are taken by low-priority jobs.
    const w = worker("a", { slots: 10 }, { slots: 8, cpuMillis: 800, memoryMb: 800 }, { slots: 8, cpuMillis: 800, memoryMb: 800 });
    const plan = schedule(snap([...flood, ...urgent], [w], { reservation }));
    expect(plan.placements.map((p) => p.jobId).sort()).toEqual(urgent.map((j) => j.id).sort());
  });

  it("urgent work held does not count against the low-priority share", () => {
    const w = worker("a", { slots: 10 }, { slots: 5 }, { slots: 0 });
    const lows = Array.from({ length: 10 }, () => job({ priority: 0 }));
    expect(schedule(snap(lows, [w], { reservation })).placements).toHaveLength(5);
    // Without lowAllocated, all that is allocated counts as low (conservative).
    const w2 = worker("a", { slots: 10 }, { slots: 5 });
    expect(schedule(snap(lows, [w2], { reservation })).placements).toHaveLength(3);
  });

  it("a share of 0 is no reservation", () => {
    const jobs = Array.from({ length: 12 }, () => job());
    expect(schedule(snap(jobs, [worker("a")], { reservation: { share: 0, minPriority: 1 } }))).toEqual(
      schedule(snap(jobs, [worker("a")])),
    );
  });

  it("lowLimit keeps whole units below (1 − share) of the total", () => {
    expect(lowLimit(10, 0.2)).toBe(8);
    expect(lowLimit(8, 0.2)).toBe(6);
    expect(lowLimit(10, 0.3)).toBe(7);
    expect(lowLimit(4000, 0.25)).toBe(3000);
    expect(lowLimit(5, 0)).toBe(5);
  });
});

// --- properties ------------------------------------------------------------------------------------

const QUEUES = ["q0", "q1", "q2", "q3"];

const capArb = fc.record({
  cpuMillis: fc.integer({ min: 0, max: 12 }).map((n) => n * 500),
  memoryMb: fc.integer({ min: 0, max: 12 }).map((n) => n * 512),
  gpus: fc.constant(0),
  slots: fc.integer({ min: 0, max: 10 }),
});

const workerArb = (id: string): fc.Arbitrary<SchedWorker> =>
  fc
    .record({ capacity: capArb, used: fc.double({ min: 0, max: 1, noNaN: true }), lowPart: fc.double({ min: 0, max: 1, noNaN: true }) })
    .map(({ capacity, used, lowPart }) => {
      const allocated = {
        cpuMillis: Math.floor(capacity.cpuMillis * used),
        memoryMb: Math.floor(capacity.memoryMb * used),
        gpus: 0,
        slots: Math.floor(capacity.slots * used),
      };
      const lowAllocated = {
        cpuMillis: Math.floor(allocated.cpuMillis * lowPart),
        memoryMb: Math.floor(allocated.memoryMb * lowPart),
        gpus: 0,
        slots: Math.floor(allocated.slots * lowPart),
      };
      return { id, labels: {}, capacity, allocated, lowAllocated };
    });

const jobArb = (id: string): fc.Arbitrary<SchedJob> =>
  fc.record({
    id: fc.constant(id),
    priority: fc.constantFrom(0, 1, 50, 100, 200),
    createdAtMs: fc.integer({ min: 0, max: 5 }),
    cpuMillis: fc.integer({ min: 0, max: 8 }).map((n) => n * 250),
    memoryMb: fc.integer({ min: 0, max: 8 }).map((n) => n * 256),
    gpus: fc.constant(0),
    labels: fc.constant({}),
    queue: fc.constantFrom(...QUEUES, "unlisted"),
    tenant: fc.constant("t"),
  });

const queueArb = (name: string): fc.Arbitrary<SchedQueue> =>
  fc.record({
    name: fc.constant(name),
    cap: fc.option(fc.integer({ min: 0, max: 6 }), { nil: null }),
    running: fc.integer({ min: 0, max: 8 }),
    paused: fc.boolean(),
  });

const snapshotArb: fc.Arbitrary<Snapshot> = fc
  .record({
    strategy: fc.constantFrom("binpack" as const, "spread" as const),
    workerCount: fc.integer({ min: 0, max: 6 }),
    jobCount: fc.integer({ min: 0, max: 60 }),
    queues: fc.subarray(QUEUES).chain((names) => fc.tuple(...names.map(queueArb))),
    reservation: fc.option(
      fc.record({ share: fc.constantFrom(0.1, 0.2, 0.25, 0.5, 0.9), minPriority: fc.constantFrom(50, 100) }),
      { nil: undefined },
    ),
  })
  .chain(({ strategy, workerCount, jobCount, queues, reservation }) =>
    fc.record({
      nowMs: fc.constant(10_000),
      strategy: fc.constant(strategy),
      workers: fc.tuple(...Array.from({ length: workerCount }, (_, i) => workerArb(`w${i}`))),
      jobs: fc.tuple(...Array.from({ length: jobCount }, (_, i) => jobArb(String(i + 1)))),
      queues: fc.constant(queues),
      reservation: fc.constant(reservation),
    }),
  );

const RUNS = 300;

describe("properties with queues and a reservation", () => {
  it("never over-commits a worker, and never places past a queue's cap or from a paused queue", () => {
    fc.assert(
      fc.property(snapshotArb, (s) => {
        const plan = schedule(s);
        const jobs = new Map(s.jobs.map((j) => [j.id, j]));
        const used = new Map(s.workers.map((w) => [w.id, { ...w.allocated }]));
        for (const p of plan.placements) {
          const j = jobs.get(p.jobId)!;
          const u = used.get(p.workerId)!;
          u.cpuMillis += j.cpuMillis;
          u.memoryMb += j.memoryMb;
          u.slots += 1;
        }
        for (const w of s.workers) {
          const u = used.get(w.id)!;
          const before = w.allocated;
          // A worker already over in some dimension gets nothing more in it.
          for (const d of ["cpuMillis", "memoryMb", "slots"] as const) {
            if (u[d] > before[d]) expect(u[d]).toBeLessThanOrEqual(w.capacity[d]);
          }
        }
        const perQueue = placedPerQueue(plan, s.jobs);
        for (const q of s.queues ?? []) {
          const n = perQueue[q.name] ?? 0;
          if (q.paused) expect(n).toBe(0);
          if (q.cap !== null) expect(n).toBeLessThanOrEqual(Math.max(0, q.cap - q.running));
        }
        // Every job is accounted for exactly once.
        const seen = [...plan.placements.map((p) => p.jobId), ...plan.waiting, ...plan.unschedulable.map((u) => u.jobId)];
        expect(seen.sort()).toEqual(s.jobs.map((j) => j.id).sort());
      }),
      { numRuns: RUNS },
    );
  });

  it("jobs below the threshold never eat into the reserve on any worker", () => {
    fc.assert(
      fc.property(snapshotArb, (s) => {
        const r = s.reservation;
        if (!r) return;
        const plan = schedule(s);
        const jobs = new Map(s.jobs.map((j) => [j.id, j]));
        const low = new Map(s.workers.map((w) => [w.id, { ...(w.lowAllocated ?? w.allocated) }]));
        const placedLow = new Set<string>();
        for (const p of plan.placements) {
          const j = jobs.get(p.jobId)!;
          if (j.priority >= r.minPriority) continue;
          const u = low.get(p.workerId)!;
          u.cpuMillis += j.cpuMillis;
          u.memoryMb += j.memoryMb;
          u.slots += 1;
          placedLow.add(p.workerId);
        }
        for (const w of s.workers) {
          if (!placedLow.has(w.id)) continue;
          const u = low.get(w.id)!;
          expect(u.cpuMillis).toBeLessThanOrEqual(lowLimit(w.capacity.cpuMillis, r.share));
          expect(u.memoryMb).toBeLessThanOrEqual(lowLimit(w.capacity.memoryMb, r.share));
          expect(u.slots).toBeLessThanOrEqual(lowLimit(w.capacity.slots, r.share));
        }
      }),
      { numRuns: RUNS },
    );
  });

  it("urgent jobs alone are placed as if there were no reservation: they may use all", () => {
    fc.assert(
      fc.property(snapshotArb, (s) => {
        const r = s.reservation;
        if (!r) return;
        const urgent = { ...s, jobs: s.jobs.filter((j) => j.priority >= r.minPriority) };
        expect(schedule(urgent)).toEqual(schedule({ ...urgent, reservation: undefined }));
      }),
      { numRuns: RUNS },
    );
  });

  it("unlimited, active queue rows change no plan; a waiting job is held by its queue or finds no room", () => {
    fc.assert(
      fc.property(snapshotArb, (s) => {
        const open = (s.queues ?? []).map((q) => ({ ...q, cap: null, paused: false }));
        expect(schedule({ ...s, queues: open })).toEqual(schedule({ ...s, queues: [] }));
        // Maximality: after the plan, each waiting job either has no room left in its queue, or no
        // worker has room for it (counting the reservation for jobs below it).
        const plan = schedule(s);
        const jobs = new Map(s.jobs.map((j) => [j.id, j]));
        const free = new Map(s.workers.map((w) => [w.id, {
          cpu: w.capacity.cpuMillis - w.allocated.cpuMillis, mem: w.capacity.memoryMb - w.allocated.memoryMb,
          slots: w.capacity.slots - w.allocated.slots,
          lowCpu: s.reservation ? lowLimit(w.capacity.cpuMillis, s.reservation.share) - w.lowAllocated!.cpuMillis : Infinity,
          lowMem: s.reservation ? lowLimit(w.capacity.memoryMb, s.reservation.share) - w.lowAllocated!.memoryMb : Infinity,
          lowSlots: s.reservation ? lowLimit(w.capacity.slots, s.reservation.share) - w.lowAllocated!.slots : Infinity,
        }]));
        const room = new Map((s.queues ?? []).map((q) => [q.name, q.paused ? 0 : q.cap === null ? Infinity : q.cap - q.running]));
        const isLow = (j: SchedJob) => s.reservation !== undefined && s.reservation.share > 0 && j.priority < s.reservation.minPriority;
        for (const p of plan.placements) {
          const j = jobs.get(p.jobId)!;
          const f = free.get(p.workerId)!;
          f.cpu -= j.cpuMillis; f.mem -= j.memoryMb; f.slots -= 1;
          if (isLow(j)) { f.lowCpu -= j.cpuMillis; f.lowMem -= j.memoryMb; f.lowSlots -= 1; }
          if (room.has(j.queue)) room.set(j.queue, room.get(j.queue)! - 1);
        }
        for (const id of plan.waiting) {
          const j = jobs.get(id)!;
          if ((room.get(j.queue) ?? Infinity) < 1) continue;
          const fits = [...free.values()].some((f) =>
            f.slots >= 1 && f.cpu >= j.cpuMillis && f.mem >= j.memoryMb &&
            (!isLow(j) || (f.lowSlots >= 1 && f.lowCpu >= j.cpuMillis && f.lowMem >= j.memoryMb)));
          expect(fits).toBe(false);
        }
      }),
      { numRuns: RUNS },
    );
  });
});
