// `baton update ID [--priority N] [--cpu C] [--memory M] [--run-at TIME|+DURATION] [--queue Q]`:
// changes a pending job.
import type { Command } from "commander";
import { parseCpu, parseInteger, parseMemory, parseRunAt } from "../job-spec-args.js";
import { clientCommand, withClient } from "../server-option.js";
import { stateName } from "../format.js";
import { UsageError } from "../usage-error.js";

interface UpdateArgs {
  priority?: string;
  cpu?: string;
  memory?: string;
  gpus?: string;
  runAt?: string;
  queue?: string;
}

export function updateCommand(): Command {
  return clientCommand("update")
    .description("change a pending job's priority, resources, start time or queue")
    .argument("<id>", "job id")
    .option("--priority <n>", "higher runs first")
    .option("--cpu <cpu>", "CPU: millicores (250, 250m) or cores with a point (0.5)")
    .option("--memory <mib>", "memory in MiB (512) or with a unit (2Gi)")
    .option("--gpus <n>", "GPUs")
    .option("--run-at <time>", "not before this time: ISO (2026-01-02T15:04:05Z), +DURATION (+30s), or now")
    .option("--queue <queue>", "queue")
    .action(async (id: string, opts: UpdateArgs, cmd: Command) => {
      if (Object.values(opts).every((v) => v === undefined)) {
        throw new UsageError("nothing to change: give --priority, --cpu, --memory, --gpus, --run-at or --queue");
      }
      const job = await withClient(cmd, async (client) => {
        const resources = opts.cpu !== undefined || opts.memory !== undefined || opts.gpus !== undefined
          ? (await client.getJob(id)).spec?.resources
          : undefined;
        return client.updateJob(id, {
          priority: opts.priority === undefined ? undefined : parseInteger(opts.priority, "--priority"),
          resources: resources && {
            cpuMillis: opts.cpu === undefined ? resources.cpuMillis : parseCpu(opts.cpu),
            memoryMb: opts.memory === undefined ? resources.memoryMb : parseMemory(opts.memory),
            gpus: opts.gpus === undefined ? resources.gpus : parseInteger(opts.gpus, "--gpus", { min: 0 }),
          },
          runAtMs: opts.runAt === undefined ? undefined : opts.runAt.trim() === "now" ? 0 : parseRunAt(opts.runAt, Date.now()),
          queue: opts.queue,
        });
      });
      const runAt = job.runAtMs > Date.now() ? ` (not before ${new Date(job.runAtMs).toISOString()})` : "";
      process.stdout.write(`${job.id}: ${stateName(job)}${runAt}\n`);
    });
}
