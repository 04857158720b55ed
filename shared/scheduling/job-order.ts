// The order in which the scheduler considers jobs and workers; it must be total so that the same
// snapshot always yields the same plan, whatever order the snapshot lists things in.
import type { SchedJob } from "./types.js";

function isDecimal(id: string): boolean {
  if (id.length === 0) return false;
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/**
 * Orders ids numerically when both are decimal strings (ids are bigints, so "9" < "10": shorter
 * first, then lexicographically), and by UTF-16 code units otherwise.
 */
export function compareIds(a: string, b: string): number {
  if (a === b) return 0;
  if (a.length !== b.length && isDecimal(a) && isDecimal(b)) return a.length - b.length;
  return a < b ? -1 : 1;
}

/** Indices into `jobs`, in scheduling order: priority descending, then oldest first, then id. */
export function jobOrder(jobs: readonly SchedJob[]): Int32Array {
  return packedOrder(jobs) ?? comparedOrder(jobs);
}

function compareJobs(jobs: readonly SchedJob[], a: number, b: number): number {
  const x = jobs[a]!;
  const y = jobs[b]!;
  if (x.priority !== y.priority) return x.priority > y.priority ? -1 : 1;
  if (x.createdAtMs !== y.createdAtMs) return x.createdAtMs < y.createdAtMs ? -1 : 1;
  return compareIds(x.id, y.id);
}

function comparedOrder(jobs: readonly SchedJob[]): Int32Array {
  const order = Array.from(jobs, (_, i) => i);
  return Int32Array.from(order.sort((a, b) => compareJobs(jobs, a, b)));
}

/**
 * The hot path: a comparator sort of 20,000 jobs costs several milliseconds. Instead each job gets
 * one exact integer key, (priority rank, age within the snapshot), sorted by a stable radix sort;
 * runs of equal keys then stand in input order and are put in id order. Returns undefined when
 * the keys would not stay exact (fractional times, NaN, too wide a span).
 */
function packedOrder(jobs: readonly SchedJob[]): Int32Array | undefined {
  const n = jobs.length;
  if (n < 2) return Int32Array.from(jobs, (_, i) => i);
  let minCreated = Infinity;
  let maxCreated = -Infinity;
  const priorities = new Set<number>();
  let lastPriority = NaN;
  for (let i = 0; i < n; i++) {
    const { createdAtMs, priority } = jobs[i]!;
    if (!Number.isInteger(createdAtMs) || Number.isNaN(priority)) return undefined;
    if (createdAtMs < minCreated) minCreated = createdAtMs;
    if (createdAtMs > maxCreated) maxCreated = createdAtMs;
    if (priority !== lastPriority) priorities.add((lastPriority = priority));
  }
  const span = maxCreated - minCreated + 1;
  if (!(priorities.size * span < Number.MAX_SAFE_INTEGER)) return undefined;

  const ranked = [...priorities].sort((a, b) => b - a);
  const rankOf = new Map<number, number>();
  ranked.forEach((p, rank) => rankOf.set(p, rank));
  const lo = new Uint32Array(n);
  const hi = new Uint32Array(n);
  lastPriority = NaN;
  let lastRank = 0;
  for (let i = 0; i < n; i++) {
    const job = jobs[i]!;
    if (job.priority !== lastPriority) lastRank = rankOf.get((lastPriority = job.priority))!;
    const key = lastRank * span + (job.createdAtMs - minCreated);
    const high = Math.floor(key / 0x1_0000_0000);
    hi[i] = high;
    lo[i] = key - high * 0x1_0000_0000;
  }

  const order = radixSort(lo, hi);
  for (let start = 0; start < n; ) {
    const head = order[start]!;
    let end = start + 1;
    while (end < n && lo[order[end]!] === lo[head] && hi[order[end]!] === hi[head]) end++;
    if (end - start > 1) sortRunById(jobs, order, start, end);
    start = end;
  }
  return order;
}

// 11-bit digits keep the counting table in cache; keys stay under 2^53, so hi has 21 bits.
const DIGITS = [
  { high: false, shift: 0, mask: 0x7ff },
  { high: false, shift: 11, mask: 0x7ff },
  { high: false, shift: 22, mask: 0x3ff },
  { high: true, shift: 0, mask: 0x7ff },
  { high: true, shift: 11, mask: 0x3ff },
] as const;

/** Indices 0..n−1 stably sorted by the keys hi·2^32 + lo (LSD radix, skipping flat digits). */
function radixSort(lo: Uint32Array, hi: Uint32Array): Int32Array {
  const n = lo.length;
  let src = new Int32Array(n);
  let dst = new Int32Array(n);
  for (let i = 0; i < n; i++) src[i] = i;
  const counts = new Int32Array(0x800);
  for (const { high, shift, mask } of DIGITS) {
    const words = high ? hi : lo;
    counts.fill(0);
    for (let i = 0; i < n; i++) counts[(words[i]! >>> shift) & mask]!++;
    if (counts[(words[0]! >>> shift) & mask] === n) continue; // one digit value: nothing moves
    let sum = 0;
    for (let d = 0; d <= mask; d++) {
      const c = counts[d]!;
      counts[d] = sum;
      sum += c;
    }
    for (let i = 0; i < n; i++) {
      const x = src[i]!;
      dst[counts[(words[x]! >>> shift) & mask]!++] = x;
    }
    [src, dst] = [dst, src];
  }
  return src;
}

function sortRunById(jobs: readonly SchedJob[], order: Int32Array, start: number, end: number): void {
  let sorted = true;
  for (let r = start + 1; r < end && sorted; r++) {
    sorted = compareIds(jobs[order[r - 1]!]!.id, jobs[order[r]!]!.id) <= 0;
  }
  if (sorted) return;
  order.subarray(start, end).sort((a, b) => compareIds(jobs[a]!.id, jobs[b]!.id));
}
