// Placeholder: replaced by the worker's real command.
import { Command } from "commander";

export function workerCommand(): Command {
  return new Command("worker").description("run a worker");
}
