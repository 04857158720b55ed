// `baton cancel ID`: cancels a pending job at once, or asks its worker to stop it.
import type { Command } from "commander";
import { clientCommand, withClient } from "../server-option.js";
import { stateName } from "../format.js";

export function cancelCommand(): Command {
  return clientCommand("cancel")
    .description("cancel a job (pending: at once; running: its worker stops it)")
    .argument("<id>", "job id")
    .action(async (id: string, _opts: unknown, cmd: Command) => {
      const job = await withClient(cmd, (client) => client.cancelJob(id));
      const state = stateName(job);
      const note = job.cancelRequested && (state === "assigned" || state === "running") ? " (cancel requested; the worker is stopping it)" : "";
      process.stdout.write(`${job.id || id}: ${state}${note}\n`);
    });
}
