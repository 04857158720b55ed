// `baton workers`: the cluster's workers with what they offer and what is in use.
import type { Command } from "commander";
import type { Worker } from "../../../shared/gen/baton/v1/cluster.js";
import { clientCommand, outputOption, printJson, withClient, type OutputFormat } from "../server-option.js";
import { formatCpu, formatLabels, formatMemory, renderTable, shortId } from "../format.js";

export function workersCommand(): Command {
  return clientCommand("workers")
    .description("list workers: state, CPU and memory really used / allocated / total, slots, GPUs, labels, limits mechanism")
    .addOption(outputOption())
    .action(async (opts: { output: OutputFormat }, cmd: Command) => {
      const cluster = await withClient(cmd, (client) => client.getCluster());
      if (opts.output === "json") {
        // Loaded here: the generated cluster module pulls in grpc-js, which --help should not pay for.
        const { Worker } = await import("../../../shared/gen/baton/v1/cluster.js");
        printJson({ workers: cluster.workers.map((w) => Worker.toJSON(w)) });
      } else process.stdout.write(`${renderWorkers(cluster.workers)}\n`);
    });
}

/** The workers table. Pure, for tests. */
export function renderWorkers(workers: readonly Worker[]): string {
  if (workers.length === 0) return "no workers";
  const rows = workers.map((w) => {
    // What a lost worker last reported is not what it uses now.
    const alive = w.state === "alive";
    return [
      w.name || "-",
      shortId(w.id),
      w.state || "-",
      `${alive ? formatCpu(w.used?.cpuMillis ?? 0) : "-"}/${formatCpu(w.allocated?.cpuMillis ?? 0)}/${formatCpu(w.capacity?.cpuMillis ?? 0)}`,
      `${alive ? formatMemory(w.used?.memoryMb ?? 0) : "-"}/${formatMemory(w.allocated?.memoryMb ?? 0)}/${formatMemory(w.capacity?.memoryMb ?? 0)}`,
      `${w.allocatedSlots}/${w.slots}`,
      w.capacity?.gpus || w.gpuIds.length ? `${w.allocated?.gpus ?? 0}/${w.capacity?.gpus ?? 0}` : "-",
      formatLabels(w.labels),
      w.limitsMechanism || "-",
      w.coordinatorId || "-",
    ];
  });
  return renderTable(
    ["NAME", "ID", "STATE", "CPU USED/ALLOC/TOTAL", "MEM USED/ALLOC/TOTAL", "SLOTS", "GPUS", "LABELS", "LIMITS", "COORDINATOR"],
    rows,
  );
}
