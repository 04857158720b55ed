// Micro-benchmark of the pure scheduler: `npx tsx bench/schedule-micro.ts`.
// Prints one JSON line per scenario with the mean milliseconds per schedule() call.
import { schedule } from "../shared/scheduling/schedule.js";
import type { SchedJob, SchedQueue, SchedWorker, Snapshot, Strategy } from "../shared/scheduling/types.js";

/** mulberry32: a seeded generator, so every run measures the same snapshots */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Scenario {
  name: string;
  jobs: number;
  workers: number;
  strategy: Strategy;
  /** share of jobs carrying a label */
  labelled: number;
  /** job sizes relative to a worker: "small" fills workers fast, "mixed" leaves awkward gaps */
  sizes: "small" | "mixed";
  /** jobs over 8 queues (4 capped, 1 paused), and a fifth of each worker reserved for priority 100+ */
  queues?: boolean;
}

function snapshot(s: Scenario, seed = 42): Snapshot {
  const random = rng(seed);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(random() * xs.length)]!;
  const workers: SchedWorker[] = [];
  for (let i = 0; i < s.workers; i++) {
    workers.push({
      id: String(1000 + i),
      labels: { zone: pick(["a", "b", "c"]), ...(i % 4 === 0 ? { gpu: "a100" } : {}) },
      capacity: { cpuMillis: 16000, memoryMb: 65536, gpus: i % 4 === 0 ? 4 : 0, slots: 64 },
      allocated: {
        cpuMillis: Math.floor(random() * 4000),
        memoryMb: Math.floor(random() * 16384),
        gpus: 0,
        slots: Math.floor(random() * 8),
      },
    });
  }
  const jobs: SchedJob[] = [];
  for (let i = 0; i < s.jobs; i++) {
    const big = s.sizes === "mixed" && random() < 0.5;
    const labels: Record<string, string> = random() < s.labelled ? { zone: pick(["a", "b", "c"]) } : {};
    jobs.push({
      id: String(10_000_000_000n + BigInt(i)),
      priority: pick([0, 0, 0, 10, 50, 100]),
      createdAtMs: 1_700_000_000_000 + Math.floor(random() * 3_600_000),
      cpuMillis: big ? 6000 + Math.floor(random() * 6000) : pick([100, 250, 500, 1000, 2000]),
      memoryMb: big ? 20000 + Math.floor(random() * 30000) : pick([128, 256, 512, 1024, 4096]),
      gpus: 0,
      labels,
      queue: s.queues ? `q${i % 8}` : "default",
      tenant: pick(["t1", "t2", "t3"]),
    });
  }
  // Random order, as the database might return them; schedule() sorts.
  for (let i = jobs.length - 1; i > 0; i--) {
    const k = Math.floor(random() * (i + 1));
    [jobs[i], jobs[k]] = [jobs[k]!, jobs[i]!];
  }
  const snap: Snapshot = { nowMs: 1_700_000_000_000, strategy: s.strategy, jobs, workers };
  if (!s.queues) return snap;
  for (const w of workers) w.lowAllocated = { ...w.allocated };
  return {
    ...snap,
    queues: [
      ...[0, 1, 2, 3].map((q): SchedQueue => ({ name: `q${q}`, cap: 100, running: 5, paused: false })),
      { name: "q4", cap: null, running: 0, paused: true },
    ],
    reservation: { share: 0.2, minPriority: 100 },
  };
}

function measure(s: Scenario): void {
  const snap = snapshot(s);
  let plan = schedule(snap);
  for (let i = 0; i < 20; i++) plan = schedule(snap); // warm the JIT
  const budgetMs = 1000;
  const start = performance.now();
  let calls = 0;
  while (performance.now() - start < budgetMs || calls < 10) {
    plan = schedule(snap);
    calls++;
  }
  const msPerCall = (performance.now() - start) / calls;
  console.log(
    JSON.stringify({
      scenario: s.name,
      jobs: s.jobs,
      workers: s.workers,
      strategy: s.strategy,
      labelled: s.labelled,
      sizes: s.sizes,
      msPerCall: Number(msPerCall.toFixed(3)),
      calls,
      placed: plan.placements.length,
      waiting: plan.waiting.length,
      unschedulable: plan.unschedulable.length,
    }),
  );
}

const scenarios: Scenario[] = [
  { name: "10k x 10", jobs: 10_000, workers: 10, strategy: "binpack", labelled: 0, sizes: "small" },
  { name: "20k x 100", jobs: 20_000, workers: 100, strategy: "binpack", labelled: 0, sizes: "small" },
  { name: "10k x 10 spread", jobs: 10_000, workers: 10, strategy: "spread", labelled: 0, sizes: "small" },
  { name: "20k x 100 labelled+mixed", jobs: 20_000, workers: 100, strategy: "binpack", labelled: 0.5, sizes: "mixed" },
  { name: "20k x 200 labelled+mixed", jobs: 20_000, workers: 200, strategy: "spread", labelled: 0.5, sizes: "mixed" },
  { name: "20k x 100 queues+reserve", jobs: 20_000, workers: 100, strategy: "binpack", labelled: 0, sizes: "small", queues: true },
  { name: "20k x 200 labelled+mixed queues+reserve", jobs: 20_000, workers: 200, strategy: "spread", labelled: 0.5, sizes: "mixed", queues: true },
];
for (const s of scenarios) measure(s);
