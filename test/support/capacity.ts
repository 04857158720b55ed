import type pg from "pg";

export interface Overcommit {
  workerId: string;
  at: Date;
  dimension: string;
  used: number;
  capacity: number;
}

/**
 * Replays attempt history (assigned → finished) per worker and reports every moment at which the
 * attempts held on a worker needed more than it has, in any dimension.
 */
export async function findOvercommits(db: pg.Client): Promise<Overcommit[]> {
  const { rows } = await db.query<{
    worker_id: string;
    assigned_at: Date;
    finished_at: Date | null;
    cpu_millis: number;
    memory_mb: number;
    gpus: number;
    w_gpus: number;
    w_cpu: number;
    w_mem: number;
    w_slots: number;
  }>(
    `SELECT a.worker_id, a.assigned_at, a.finished_at, j.cpu_millis, j.memory_mb, j.gpus, w.gpus AS w_gpus,
            w.cpu_millis AS w_cpu, w.memory_mb AS w_mem, w.slots AS w_slots
     FROM attempts a JOIN jobs j ON j.id = a.job_id JOIN workers w ON w.id = a.worker_id`,
  );
  type Ev = { t: number; d: number; cpu: number; mem: number; gpus: number };
  const byWorker = new Map<string, { evs: Ev[]; cap: { cpu: number; mem: number; gpus: number; slots: number } }>();
  for (const r of rows) {
    let w = byWorker.get(r.worker_id);
    if (!w) byWorker.set(r.worker_id, (w = { evs: [], cap: { cpu: r.w_cpu, mem: r.w_mem, gpus: r.w_gpus, slots: r.w_slots } }));
    w.evs.push({ t: r.assigned_at.getTime(), d: 1, cpu: r.cpu_millis, mem: r.memory_mb, gpus: r.gpus });
    w.evs.push({ t: r.finished_at ? r.finished_at.getTime() : Infinity, d: -1, cpu: -r.cpu_millis, mem: -r.memory_mb, gpus: -r.gpus });
  }
  const found: Overcommit[] = [];
  for (const [workerId, w] of byWorker) {
    // Releases before acquisitions at the same instant.
    w.evs.sort((a, b) => a.t - b.t || a.d - b.d);
    let cpu = 0, mem = 0, gpus = 0, slots = 0;
    for (const e of w.evs) {
      cpu += e.cpu;
      mem += e.mem;
      gpus += e.gpus;
      slots += e.d;
      const at = new Date(e.t);
      if (cpu > w.cap.cpu) found.push({ workerId, at, dimension: "cpu", used: cpu, capacity: w.cap.cpu });
      if (mem > w.cap.mem) found.push({ workerId, at, dimension: "memory", used: mem, capacity: w.cap.mem });
      if (gpus > w.cap.gpus) found.push({ workerId, at, dimension: "gpus", used: gpus, capacity: w.cap.gpus });
      if (slots > w.cap.slots) found.push({ workerId, at, dimension: "slots", used: slots, capacity: w.cap.slots });
    }
  }
  return found;
}
