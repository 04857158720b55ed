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
}

export interface Snapshot {
  nowMs: number;
  strategy: Strategy;
  jobs: SchedJob[]; // runnable jobs; any order (schedule sorts by priority, then age, then id)
  workers: SchedWorker[]; // live workers only
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
