// Which workers could ever run a job (labels, then total capacity), and what to tell the user when
// none could. Jobs are grouped by their label set so that label matching runs once per distinct set.
import type { SchedJob, SchedWorker } from "./types.js";

/** The workers a set of job labels admits, and the best totals among them. */
export interface LabelGroup {
  /** "gpu=a100,zone=b", or "" for jobs without labels */
  readonly labelsText: string;
  /** indices into the id-sorted worker array, ascending */
  readonly eligible: Int32Array;
  /**
   * Total (cpu, memory, gpus) of the eligible workers that have a slot and that no other such
   * worker dominates, flattened in triples: a job can ever run here iff one triple covers it.
   */
  readonly frontier: Float64Array;
  /** shapes that already found no room in this plan for any job; see schedule.ts */
  readonly failed: ShapeRing;
  /** shapes that found no room for jobs below the reservation (which may still fit urgent jobs) */
  readonly failedLow: ShapeRing;
  readonly reasons: Map<string, string>;
}

/** How many failed shapes a group remembers; a ring, since older failures tend to be subsumed. */
export const FAILED_SHAPES = 8;

/** (cpu, memory, gpus) triples, flattened; a ring of the last FAILED_SHAPES written. */
export interface ShapeRing {
  readonly shapes: Float64Array;
  count: number;
  next: number;
}

const shapeRing = (): ShapeRing => ({ shapes: new Float64Array(3 * FAILED_SHAPES), count: 0, next: 0 });

function labelsMatch(required: readonly (readonly [string, string])[], worker: SchedWorker): boolean {
  const have = worker.labels;
  for (const [key, value] of required) {
    if (!Object.hasOwn(have, key) || have[key] !== value) return false;
  }
  return true;
}

function paretoFrontier(workers: readonly SchedWorker[], eligible: Int32Array): Float64Array {
  const points: number[] = [];
  for (const w of eligible) {
    const cap = workers[w]!.capacity;
    if (cap.slots >= 1) points.push(cap.cpuMillis, cap.memoryMb, cap.gpus);
  }
  const kept: number[] = [];
  const count = points.length / 3;
  for (let i = 0; i < count; i++) {
    const c = points[3 * i]!;
    const m = points[3 * i + 1]!;
    const g = points[3 * i + 2]!;
    let dominated = false;
    for (let k = 0; k < count && !dominated; k++) {
      if (k === i) continue;
      const kc = points[3 * k]!;
      const km = points[3 * k + 1]!;
      const kg = points[3 * k + 2]!;
      const covers = kc >= c && km >= m && kg >= g;
      const strictly = kc > c || km > m || kg > g;
      // Of equal points keep the first only.
      dominated = covers && (strictly || k < i);
    }
    if (!dominated) kept.push(c, m, g);
  }
  return Float64Array.from(kept);
}

export function makeLabelGroup(
  workers: readonly SchedWorker[],
  required: readonly (readonly [string, string])[],
): LabelGroup {
  const eligible: number[] = [];
  for (let w = 0; w < workers.length; w++) {
    if (required.length === 0 || labelsMatch(required, workers[w]!)) eligible.push(w);
  }
  const eligibleArr = Int32Array.from(eligible);
  return {
    labelsText: required.map(([k, v]) => `${k}=${v}`).join(","),
    eligible: eligibleArr,
    frontier: paretoFrontier(workers, eligibleArr),
    failed: shapeRing(),
    failedLow: shapeRing(),
    reasons: new Map(),
  };
}

/** Sorted [key, value] pairs of a job's labels, and a key naming the set unambiguously. */
export function requiredLabels(labels: Record<string, string>): {
  required: [string, string][];
  key: string;
} {
  const required = Object.keys(labels)
    .sort()
    .map((k): [string, string] => [k, labels[k]!]);
  return { required, key: required.map(([k, v]) => `${k}\u0000${v}`).join("\u0001") };
}

export function fitsFrontier(group: LabelGroup, cpu: number, mem: number, gpus: number): boolean {
  const f = group.frontier;
  for (let i = 0; i < f.length; i += 3) {
    if (f[i]! >= cpu && f[i + 1]! >= mem && f[i + 2]! >= gpus) return true;
  }
  return false;
}

// --- reasons -------------------------------------------------------------------------------------

type Dimension = "cpu" | "memory" | "gpus" | "slots";

function total(worker: SchedWorker, d: Dimension): number {
  switch (d) {
    case "cpu":
      return worker.capacity.cpuMillis;
    case "memory":
      return worker.capacity.memoryMb;
    case "gpus":
      return worker.capacity.gpus;
    case "slots":
      return worker.capacity.slots;
    default: {
      const unknown: never = d;
      throw new Error(`unknown dimension ${String(unknown)}`);
    }
  }
}

function need(job: SchedJob, d: Dimension): number {
  switch (d) {
    case "cpu":
      return job.cpuMillis;
    case "memory":
      return job.memoryMb;
    case "gpus":
      return job.gpus;
    case "slots":
      return 1;
    default: {
      const unknown: never = d;
      throw new Error(`unknown dimension ${String(unknown)}`);
    }
  }
}

/** "8000 millicores CPU", "64000 MiB memory", "3 GPUs", "1 slot" */
function amount(d: Dimension, n: number): string {
  switch (d) {
    case "cpu":
      return `${n} millicores CPU`;
    case "memory":
      return `${n} MiB memory`;
    case "gpus":
      return n === 1 ? "1 GPU" : `${n} GPUs`;
    case "slots":
      return n === 1 ? "1 slot" : `${n} slots`;
    default: {
      const unknown: never = d;
      throw new Error(`unknown dimension ${String(unknown)}`);
    }
  }
}

/** The same, shortened where the sentence already named the dimension: "16384 MiB" */
function shortAmount(d: Dimension, n: number): string {
  switch (d) {
    case "cpu":
      return `${n} millicores`;
    case "memory":
      return `${n} MiB`;
    case "gpus":
    case "slots":
      return amount(d, n);
    default: {
      const unknown: never = d;
      throw new Error(`unknown dimension ${String(unknown)}`);
    }
  }
}

function list(parts: readonly string[]): string {
  if (parts.length <= 1) return parts.join("");
  return `${parts.slice(0, -1).join(", ")} and ${parts[parts.length - 1]}`;
}

const DIMENSIONS: readonly Dimension[] = ["cpu", "memory", "gpus", "slots"];

/**
 * Why `job` can run on no live worker, naming what is missing and the best on offer. Only called
 * for jobs that `fitsFrontier` rejected; cached per group and shape since floods share shapes.
 */
export function unschedulableReason(
  job: SchedJob,
  group: LabelGroup,
  workers: readonly SchedWorker[],
): string {
  if (workers.length === 0) return "no live workers";
  if (group.eligible.length === 0) {
    return `needs labels ${group.labelsText}; no live worker has them`;
  }
  const cacheKey = `${job.cpuMillis}/${job.memoryMb}/${job.gpus}`;
  const cached = group.reasons.get(cacheKey);
  if (cached !== undefined) return cached;
  const reason = explainShortfall(job, group, workers);
  group.reasons.set(cacheKey, reason);
  return reason;
}

function explainShortfall(job: SchedJob, group: LabelGroup, workers: readonly SchedWorker[]): string {
  const who = group.labelsText === "" ? "live worker" : `live worker with labels ${group.labelsText}`;
  const eligible = Array.from(group.eligible, (w) => workers[w]!);

  const largest = (d: Dimension) => Math.max(...eligible.map((w) => total(w, d)));
  const short = DIMENSIONS.filter((d) => !(largest(d) >= need(job, d)));
  if (short.length === 1) {
    const d = short[0]!;
    return `needs ${amount(d, need(job, d))}; the largest ${who} has ${shortAmount(d, largest(d))}`;
  }
  if (short.length > 1) {
    return (
      `needs ${list(short.map((d) => amount(d, need(job, d))))}; ` +
      `the most any ${who} has is ${list(short.map((d) => amount(d, largest(d))))}`
    );
  }

  // Every dimension is on offer somewhere, but never all on the same worker. Name the dimensions
  // some worker lacks (every worker has the others), and the worker that comes closest: the one
  // whose scarcest of them covers the largest share of the need.
  const wanted = DIMENSIONS.filter((d) => eligible.some((w) => !(total(w, d) >= need(job, d))));
  let closest = eligible[0]!;
  let closestShare = -Infinity;
  for (const w of eligible) {
    const share = Math.min(...wanted.map((d) => total(w, d) / need(job, d)));
    if (share > closestShare) {
      closest = w;
      closestShare = share;
    }
  }
  const all = wanted.length === 2 ? "both" : "all of them";
  return (
    `needs ${list(wanted.map((d) => amount(d, need(job, d))))} on one worker; ` +
    `no ${who} has ${all} (the closest, ${closest.id}, has ` +
    `${list(wanted.map((d) => amount(d, total(closest, d))))})`
  );
}
