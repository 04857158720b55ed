// schedule(snapshot) → Plan: feasibility, then ranking, greedily in priority order (as Nomad does).
// Pure: it reads the snapshot only, and the same snapshot always yields the same plan. Queue caps
// and pauses, and the share of each worker reserved for urgent priorities, bound what it places.
//
// Hot path (10k–20k jobs, up to a few hundred workers, every scheduler tick): free capacity lives
// in typed arrays mutated in place, label matching runs once per distinct label set, and scanning
// stops early once no worker can take even the smallest remaining job.
import {
  FAILED_SHAPES,
  fitsFrontier,
  makeLabelGroup,
  requiredLabels,
  unschedulableReason,
  type LabelGroup,
  type ShapeRing,
} from "./feasibility.js";
import { compareIds, jobOrder } from "./job-order.js";
import type { Placement, Plan, SchedWorker, Snapshot, Strategy, Unschedulable } from "./types.js";

export { compareIds, jobOrder } from "./job-order.js";

/** +1 when the most utilised feasible worker wins (best fit), −1 when the least utilised does. */
function rankSign(strategy: Strategy): 1 | -1 {
  switch (strategy) {
    case "binpack":
      return 1;
    case "spread":
      return -1;
    default: {
      const unknown: never = strategy;
      throw new Error(`unknown scheduling strategy ${JSON.stringify(unknown)}; use "binpack" or "spread"`);
    }
  }
}

const inverse = (n: number) => (n > 0 ? 1 / n : 0);

/** Shapes only shrink the room left, so a job at least as large as a failed shape fails too. */
function coversFailedShape(ring: ShapeRing, cpu: number, mem: number, gpus: number): boolean {
  const f = ring.shapes;
  for (let i = 0, end = 3 * ring.count; i < end; i += 3) {
    if (cpu >= f[i]! && mem >= f[i + 1]! && gpus >= f[i + 2]!) return true;
  }
  return false;
}

function rememberFailedShape(ring: ShapeRing, cpu: number, mem: number, gpus: number): void {
  const at = 3 * ring.next;
  ring.shapes[at] = cpu;
  ring.shapes[at + 1] = mem;
  ring.shapes[at + 2] = gpus;
  ring.next = (ring.next + 1) % FAILED_SHAPES;
  if (ring.count < FAILED_SHAPES) ring.count++;
}

/** What jobs below the reservation may hold of a total: (1 − share) of it, in whole units. */
export function lowLimit(total: number, share: number): number {
  return Math.floor(total * (1 - share) + 1e-9);
}

export function schedule(snapshot: Snapshot): Plan {
  const sign = rankSign(snapshot.strategy);
  const jobs = snapshot.jobs;
  const workers: SchedWorker[] = [...snapshot.workers].sort((a, b) => compareIds(a.id, b.id));
  const order = jobOrder(jobs);
  const n = order.length;
  const W = workers.length;

  const placements: Placement[] = [];
  const unschedulable: Unschedulable[] = [];
  const waiting: string[] = [];

  // --- feasibility: label group per job, and whether any worker's total could ever hold it ------
  // Indexed by input position and read in input order: jobs are big objects scattered in memory,
  // so each is touched once, sequentially; the placement loop then reads these compact arrays.
  const unlabelled = makeLabelGroup(workers, []);
  const groups = new Map<string, LabelGroup>();
  const groupOf = new Array<LabelGroup>(n);
  const ids = new Array<string>(n);
  const needCpu = new Float64Array(n);
  const needMem = new Float64Array(n);
  const needGpu = new Float64Array(n);
  const schedulable = new Uint8Array(n);

  // Queues that limit placement: room left under each cap (a paused queue has none).
  const queueIndex = new Map<string, number>();
  const queueRooms: number[] = [];
  for (const q of snapshot.queues ?? []) {
    if (!q.paused && q.cap === null) continue;
    queueIndex.set(q.name, queueRooms.length);
    queueRooms.push(q.paused || q.cap === null ? 0 : Math.max(0, q.cap - q.running));
  }
  const queueRoom = Float64Array.from(queueRooms);
  const limitedQueues = queueIndex.size > 0;
  const queueOf = new Int32Array(n).fill(-1);
  // Jobs below the reservation's priority may only use (1 − share) of each worker.
  const reservation = snapshot.reservation;
  const reserving = reservation !== undefined && reservation.share > 0;
  const minPriority = reserving ? reservation.minPriority : -Infinity;
  const low = new Uint8Array(n);

  for (let i = 0; i < n; i++) {
    const job = jobs[i]!;
    let group = unlabelled;
    for (const _ in job.labels) {
      const { required, key } = requiredLabels(job.labels);
      if (required.length === 0) break; // inherited keys only
      group = groups.get(key) ?? makeLabelGroup(workers, required);
      groups.set(key, group);
      break;
    }
    groupOf[i] = group;
    ids[i] = job.id;
    needCpu[i] = job.cpuMillis;
    needMem[i] = job.memoryMb;
    needGpu[i] = job.gpus;
    if (limitedQueues) queueOf[i] = queueIndex.get(job.queue) ?? -1;
    if (job.priority < minPriority) low[i] = 1;
    schedulable[i] = fitsFrontier(group, job.cpuMillis, job.memoryMb, job.gpus) ? 1 : 0;
  }

  // The component-wise smallest of the schedulable jobs from rank r on: a worker that cannot take
  // it cannot take any of them, so it leaves the scan for good.
  const minCpu = new Float64Array(n + 1).fill(Infinity);
  const minMem = new Float64Array(n + 1).fill(Infinity);
  const minGpu = new Float64Array(n + 1).fill(Infinity);
  for (let r = n - 1; r >= 0; r--) {
    const i = order[r]!;
    const take = schedulable[i] === 1;
    minCpu[r] = take && needCpu[i]! < minCpu[r + 1]! ? needCpu[i]! : minCpu[r + 1]!;
    minMem[r] = take && needMem[i]! < minMem[r + 1]! ? needMem[i]! : minMem[r + 1]!;
    minGpu[r] = take && needGpu[i]! < minGpu[r + 1]! ? needGpu[i]! : minGpu[r + 1]!;
  }

  // --- free capacity, mutated as the plan places jobs (worker w = index in id order) ------------
  const capCpu = new Float64Array(W);
  const capMem = new Float64Array(W);
  const capSlots = new Float64Array(W);
  const invCpu = new Float64Array(W);
  const invMem = new Float64Array(W);
  const invSlots = new Float64Array(W);
  const freeCpu = new Float64Array(W);
  const freeMem = new Float64Array(W);
  const freeGpu = new Float64Array(W);
  const freeSlots = new Float64Array(W);
  // What jobs below the reservation may still take (only read when reserving).
  const lowFreeCpu = new Float64Array(W);
  const lowFreeMem = new Float64Array(W);
  const lowFreeSlots = new Float64Array(W);
  // Workers still able to take some remaining job, in any order (ties break on w, not position).
  const open = new Int32Array(W);
  const openAt = new Int32Array(W);
  const closed = new Uint8Array(W);
  let openCount = 0;
  for (let w = 0; w < W; w++) {
    const { capacity, allocated } = workers[w]!;
    capCpu[w] = capacity.cpuMillis;
    capMem[w] = capacity.memoryMb;
    capSlots[w] = capacity.slots;
    invCpu[w] = inverse(capacity.cpuMillis);
    invMem[w] = inverse(capacity.memoryMb);
    invSlots[w] = inverse(capacity.slots);
    freeCpu[w] = capacity.cpuMillis - allocated.cpuMillis;
    freeMem[w] = capacity.memoryMb - allocated.memoryMb;
    freeGpu[w] = capacity.gpus - allocated.gpus;
    freeSlots[w] = capacity.slots - allocated.slots;
    if (reserving) {
      const share = reservation.share;
      const lowHeld = workers[w]!.lowAllocated ?? allocated;
      lowFreeCpu[w] = lowLimit(capacity.cpuMillis, share) - lowHeld.cpuMillis;
      lowFreeMem[w] = lowLimit(capacity.memoryMb, share) - lowHeld.memoryMb;
      lowFreeSlots[w] = lowLimit(capacity.slots, share) - lowHeld.slots;
    }
    open[openCount] = w;
    openAt[w] = openCount++;
  }

  /** Closes w if it cannot take the smallest job from r on. */
  const closeIfSpent = (w: number, r: number): boolean => {
    if (
      freeSlots[w]! >= 1 &&
      freeCpu[w]! >= minCpu[r]! &&
      freeMem[w]! >= minMem[r]! &&
      freeGpu[w]! >= minGpu[r]!
    ) {
      return false;
    }
    closed[w] = 1;
    const last = open[--openCount]!;
    const at = openAt[w]!;
    open[at] = last;
    openAt[last] = at;
    return true;
  };

  // --- greedy placement in priority order -------------------------------------------------------
  for (let r = 0; r < n; r++) {
    const i = order[r]!;
    const group = groupOf[i]!;
    if (schedulable[i] === 0) {
      unschedulable.push({ jobId: ids[i]!, reason: unschedulableReason(jobs[i]!, group, workers) });
      continue;
    }
    const q = queueOf[i]!;
    if (q >= 0 && queueRoom[q]! < 1) {
      waiting.push(ids[i]!);
      continue;
    }
    const cpu = needCpu[i]!;
    const mem = needMem[i]!;
    const gpus = needGpu[i]!;
    // A shape that found no room for any job fails every job; one that found no room below the
    // reservation fails only jobs below it.
    const isLow = low[i] === 1;
    if (
      openCount === 0 ||
      coversFailedShape(group.failed, cpu, mem, gpus) ||
      (group !== unlabelled && coversFailedShape(unlabelled.failed, cpu, mem, gpus)) ||
      (isLow &&
        (coversFailedShape(group.failedLow, cpu, mem, gpus) ||
          (group !== unlabelled && coversFailedShape(unlabelled.failedLow, cpu, mem, gpus))))
    ) {
      waiting.push(ids[i]!);
      continue;
    }

    // Unlabelled jobs scan the open workers, and close spent ones by swapping in the last open
    // worker (so index c is looked at again); labelled jobs scan their group and skip closed ones.
    const labelled = group !== unlabelled;
    const candidates = labelled ? group.eligible : open;
    let count = labelled ? candidates.length : openCount;
    let best = -1;
    let bestScore = -Infinity;
    let bestSlots = -Infinity;
    for (let c = 0; c < count; ) {
      const w = candidates[c]!;
      if (closed[w] === 1) {
        c++;
      } else if (freeSlots[w]! >= 1 && freeCpu[w]! >= cpu && freeMem[w]! >= mem && freeGpu[w]! >= gpus) {
        if (isLow && !(lowFreeSlots[w]! >= 1 && lowFreeCpu[w]! >= cpu && lowFreeMem[w]! >= mem)) {
          c++;
          continue;
        }
        // Utilisation after placement: cpu share + memory share (their mean, undivided), then slots.
        const score =
          sign *
          ((capCpu[w]! - freeCpu[w]! + cpu) * invCpu[w]! + (capMem[w]! - freeMem[w]! + mem) * invMem[w]!);
        const slots = sign * (capSlots[w]! - freeSlots[w]! + 1) * invSlots[w]!;
        if (
          score > bestScore ||
          (score === bestScore && (slots > bestSlots || (slots === bestSlots && w < best)))
        ) {
          best = w;
          bestScore = score;
          bestSlots = slots;
        }
        c++;
      } else if (closeIfSpent(w, r + 1) && !labelled) {
        count--;
      } else {
        c++;
      }
    }

    if (best < 0) {
      waiting.push(ids[i]!);
      rememberFailedShape(isLow ? group.failedLow : group.failed, cpu, mem, gpus);
      continue;
    }
    freeCpu[best] = freeCpu[best]! - cpu;
    freeMem[best] = freeMem[best]! - mem;
    freeGpu[best] = freeGpu[best]! - gpus;
    freeSlots[best] = freeSlots[best]! - 1;
    if (isLow) {
      lowFreeCpu[best] = lowFreeCpu[best]! - cpu;
      lowFreeMem[best] = lowFreeMem[best]! - mem;
      lowFreeSlots[best] = lowFreeSlots[best]! - 1;
    }
    if (q >= 0) queueRoom[q] = queueRoom[q]! - 1;
    placements.push({ jobId: ids[i]!, workerId: workers[best]!.id });
    closeIfSpent(best, r + 1);
  }

  return { placements, unschedulable, waiting };
}
