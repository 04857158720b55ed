import type pg from "pg";
import type { ClusterServiceServer } from "../../shared/gen/baton/v1/cluster.js";
import { loadClusterStatus } from "../sql/cluster-status.js";
import { unary } from "./grpc-errors.js";

export function clusterService(pool: pg.Pool, staleAfterMs: number): ClusterServiceServer {
  return {
    getCluster: unary(async () => {
      const s = await loadClusterStatus(pool, staleAfterMs);
      return {
        leaderId: s.leaderId,
        term: s.term,
        coordinators: s.coordinators.map((c) => ({
          id: c.id,
          grpcAddress: c.grpc_address,
          httpAddress: c.http_address,
          leader: c.id === s.leaderId,
          startedAtMs: c.started_at.getTime(),
          lastSeenMs: c.last_seen.getTime(),
        })),
        workers: s.workers.map((w) => ({
          id: w.id,
          name: w.name,
          capacity: { cpuMillis: w.cpu_millis, memoryMb: w.memory_mb, gpus: w.gpus },
          slots: w.slots,
          allocated: { cpuMillis: w.a_cpu, memoryMb: w.a_mem, gpus: w.a_gpus },
          allocatedSlots: w.a_slots,
          labels: w.labels,
          state: w.state,
          coordinatorId: w.coordinator_id ?? "",
          lastHeartbeatMs: w.last_heartbeat.getTime(),
          limitsMechanism: w.limits_mechanism,
          running: w.running,
          used: { cpuMillis: w.used_cpu_millis, memoryMb: w.used_memory_mb, gpus: 0 },
          gpuIds: w.gpu_ids,
        })),
        jobCounts: s.jobCounts,
        unschedulable: s.unschedulable,
      };
    }),
  };
}
