// `baton retry ID…` / `baton retry --all-dead [--queue Q]`: failed (dead-letter) or cancelled jobs
// go back to the queue with a fresh attempt budget.
import type { Command } from "commander";
import { clientCommand, withClient } from "../server-option.js";
import { UsageError } from "../usage-error.js";

export function retryCommand(): Command {
  return clientCommand("retry")
    .description("put failed or cancelled jobs back in the queue: baton retry ID…, or baton retry --all-dead [--queue Q]")
    .argument("[ids...]", "job ids")
    .option("--all-dead", "every failed job (the dead-letter view, baton ls --dead)")
    .option("--queue <queue>", "with --all-dead: only this queue's")
    .action(async (ids: string[], opts: { allDead?: boolean; queue?: string }, cmd: Command) => {
      if (ids.length > 0 && opts.allDead) throw new UsageError("give job ids or --all-dead, not both");
      if (ids.length === 0 && !opts.allDead) throw new UsageError("nothing to retry: give job ids, or --all-dead to retry every failed job");
      if (opts.queue !== undefined && !opts.allDead) throw new UsageError("--queue goes with --all-dead");
      const retried = await withClient(cmd, (client) =>
        client.retryJobs(opts.allDead ? { allDead: true, queue: opts.queue } : { ids }),
      );
      process.stdout.write(retried.length === 0 ? "no jobs to retry\n" : `${retried.map((id) => `${id}: pending`).join("\n")}\n`);
    });
}
