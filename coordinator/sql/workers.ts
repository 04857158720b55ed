import type { Queryable } from "../db/pool.js";

export interface WorkerRegistration {
  id: string;
  name: string;
  cpuMillis: number;
  memoryMb: number;
  gpus: number;
  slots: number;
  labels: Record<string, string>;
  limitsMechanism: string;
  coordinatorId: string;
  /** GPUs the worker found, in index order */
  gpuIds?: string[];
}

export async function upsertWorker(db: Queryable, w: WorkerRegistration): Promise<void> {
  await db.query(
    `INSERT INTO workers (id, name, cpu_millis, memory_mb, gpus, slots, labels, limits_mechanism, coordinator_id,
                          gpu_ids, state, last_heartbeat)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'alive', now())
     ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, cpu_millis = EXCLUDED.cpu_millis,
       memory_mb = EXCLUDED.memory_mb, gpus = EXCLUDED.gpus, slots = EXCLUDED.slots, labels = EXCLUDED.labels,
       limits_mechanism = EXCLUDED.limits_mechanism, coordinator_id = EXCLUDED.coordinator_id,
       gpu_ids = EXCLUDED.gpu_ids, state = 'alive', last_heartbeat = now()`,
    [w.id, w.name, w.cpuMillis, w.memoryMb, w.gpus, w.slots, JSON.stringify(w.labels), w.limitsMechanism, w.coordinatorId,
      w.gpuIds ?? []],
  );
}

/** A worker heard from, with the real usage its last heartbeat reported. */
export interface WorkerLiveness {
  id: string;
  usedCpuMillis: number;
  usedMemoryMb: number;
}

/**
 * One statement for all the workers whose streams this coordinator holds, plus the coordinator's
 * own liveness row: heartbeats never become a write per worker per second.
 */
export async function touchLiveness(
  db: Queryable,
  coordinator: { id: string; grpcAddress: string; httpAddress: string },
  workers: readonly WorkerLiveness[],
): Promise<void> {
  await db.query(
    `WITH c AS (
       INSERT INTO coordinators (id, grpc_address, http_address, last_seen) VALUES ($1, $2, $3, now())
       ON CONFLICT (id) DO UPDATE SET grpc_address = EXCLUDED.grpc_address,
         http_address = EXCLUDED.http_address, last_seen = now()
     )
     UPDATE workers w SET last_heartbeat = now(), coordinator_id = $1, state = 'alive',
       used_cpu_millis = u.cpu, used_memory_mb = u.mem
     FROM unnest($4::text[], $5::int[], $6::int[]) AS u(id, cpu, mem)
     WHERE w.id = u.id`,
    [
      coordinator.id,
      coordinator.grpcAddress,
      coordinator.httpAddress,
      workers.map((w) => w.id),
      workers.map((w) => Math.max(0, Math.round(w.usedCpuMillis))),
      workers.map((w) => Math.max(0, Math.round(w.usedMemoryMb))),
    ],
  );
}

/** A stream closed: the worker is no longer reachable here (its lease keeps running). */
export async function detachWorker(db: Queryable, workerId: string, coordinatorId: string): Promise<void> {
  await db.query("UPDATE workers SET coordinator_id = NULL WHERE id = $1 AND coordinator_id = $2", [
    workerId,
    coordinatorId,
  ]);
}
