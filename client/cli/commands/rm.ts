// `baton rm ID…`: deletes jobs that are not running, with their history and output.
import type { Command } from "commander";
import { clientCommand, withClient } from "../server-option.js";

export function rmCommand(): Command {
  return clientCommand("rm")
    .description("delete jobs that are pending or finished, with their history and output")
    .argument("<ids...>", "job ids")
    .action(async (ids: string[], _opts: unknown, cmd: Command) => {
      await withClient(cmd, async (client) => {
        for (const id of ids) {
          await client.deleteJob(id);
          process.stdout.write(`${id}: deleted\n`);
        }
      });
    });
}
