// Placeholder: replaced by the coordinator's real commands.
import { Command } from "commander";

export function coordinatorCommand(): Command {
  return new Command("coordinator").description("run a coordinator");
}

export function migrateCommand(): Command {
  return new Command("migrate").description("apply database migrations");
}
