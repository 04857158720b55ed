// `baton workers`: the cluster's workers with what they offer and what is in use.
import type { Command } from "commander";
import type { Worker } from "../../../shared/gen/baton/v1/cluster.js";
import { clientCommand, outputOption, printJson, withClient, type OutputFormat } from "../server-option.js";
import { formatCpu, formatLabels, formatMemory, renderTable, shortId } from "../format.js";

export function workersCommand(): Command {
  return clientCommand("workers")
    .description("list workers: state, CPU/memory/slots used of total, labels, limits mechanism")
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
  const rows = workers.map((w) => [
    w.name || "-",
    shortId(w.id),
    w.state || "-",
    `${formatCpu(w.allocated?.cpuMillis ?? 0)}/${formatCpu(w.capacity?.cpuMillis ?? 0)}`,
    `${formatMemory(w.allocated?.memoryMb ?? 0)}/${formatMemory(w.capacity?.memoryMb ?? 0)}`,
    `${w.allocatedSlots}/${w.slots}`,
    formatLabels(w.labels),
    w.limitsMechanism || "-",
    w.coordinatorId || "-",
  ]);
  return renderTable(["NAME", "ID", "STATE", "CPU", "MEM", "SLOTS", "LABELS", "LIMITS", "COORDINATOR"], rows);
}
