// The scheduler's inputs and output. `schedule(snapshot) → Plan` is pure: no I/O, no clock reads.

export type Strategy = "binpack" | "spread";

export interface SchedJob {
  id: string;
  priority: number; // higher first
  createdAtMs: number; // older first among equal priority
  cpuMillis: number;
  memoryMb: number;
  gpus: number;
  /** labels a worker must carry with equal values */
  labels: Record<string, string>;
  queue: string;
  tenant: string;
}

export interface Capacity {
  cpuMillis: number;
  memoryMb: number;
  gpus: number;
  slots: number; // every job takes one slot
}

export interface SchedWorker {
  id: string;
  labels: Record<string, string>;
  capacity: Capacity; // total
  allocated: Capacity; // held by jobs assigned to or running on it now
  /**
   * The part of `allocated` held by jobs below the reservation's priority threshold; absent: all
   * of it (conservative). Only read when the snapshot has a reservation.
   */
  lowAllocated?: Capacity;
}

/** A queue with settings; a queue the snapshot does not list is unlimited and active. */
export interface SchedQueue {
  name: string;
  /** most jobs of the queue assigned or running at once, cluster-wide; null = unlimited */
  cap: number | null;
  /** jobs of the queue assigned or running now */
  running: number;
  /** a paused queue's jobs are not placed (running ones continue) */
  paused: boolean;
}

/**
 * A share of every worker's capacity kept for urgent work: jobs with priority below `minPriority`
 * may only use (1 − share) of each dimension (cpu, memory, slots) of a worker; the rest may use all.
 */
export interface Reservation {
  share: number; // 0 ≤ share < 1
  minPriority: number;
}

export interface Snapshot {
  nowMs: number;
  strategy: Strategy;
  jobs: SchedJob[]; // runnable jobs; any order (schedule sorts by priority, then age, then id)
  workers: SchedWorker[]; // live workers only
  queues?: SchedQueue[];
  reservation?: Reservation;
}

export interface Placement {
  jobId: string;
  workerId: string;
}

export interface Unschedulable {
  jobId: string;
  /** says what no live worker has, e.g. "needs 64000 MiB memory; the largest live worker has 16384 MiB" */
  reason: string;
}

export interface Plan {
  placements: Placement[];
  /** jobs that fit no live worker's total capacity (or labels), whatever is free */
  unschedulable: Unschedulable[];
  /** ids of jobs that could run on some worker but found no room now */
  waiting: string[];
}
