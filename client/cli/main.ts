// The `baton` program: client commands, `dev`, and the coordinator/worker/migrate commands that their
// owners define. User errors print one line (exit 2 for usage, 1 at run time); only bugs print stacks.
import { Command, CommanderError } from "commander";
import { cancelCommand } from "./commands/cancel.js";
import { configCommand } from "./commands/config.js";
import { cronCommand } from "./commands/cron.js";
import { devCommand } from "./commands/dev.js";
import { getCommand } from "./commands/get.js";
import { logsCommand } from "./commands/logs.js";
import { retryCommand } from "./commands/retry.js";
import { rmCommand } from "./commands/rm.js";
import { updateCommand } from "./commands/update.js";
import { lsCommand } from "./commands/ls.js";
import { queueCommand } from "./commands/queue.js";
import { statusCommand } from "./commands/status.js";
import { submitCommand } from "./commands/submit.js";
import { templateCommand } from "./commands/template.js";
import { workersCommand } from "./commands/workers.js";
import { serverOption } from "./server-option.js";
import { isCliError, isUsageError } from "./usage-error.js";

const CLIENT_COMMANDS = ["config", "submit", "get", "ls", "list", "logs", "cancel", "retry", "update", "rm", "workers", "queue", "status", "cron", "template", "dev"];

/** The servers' commands pull in their whole process (pg, grpc server…): load them only when needed. */
async function serverCommands(): Promise<Command[]> {
  const [coordinator, worker] = await Promise.all([
    import("../../coordinator/command.js"),
    import("../../worker/command.js"),
  ]);
  return [coordinator.coordinatorCommand(), coordinator.migrateCommand(), worker.workerCommand()];
}

/** The first word that is not a global option: the command the user asked for, if any. */
function requestedCommand(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === "--server") i++;
    else if (!a.startsWith("-")) return a;
  }
  return undefined;
}

export async function buildProgram(argv: readonly string[]): Promise<Command> {
  const program = new Command("baton")
    .description("Baton: a distributed job scheduler on Postgres and gRPC")
    .addOption(serverOption())
    .enablePositionalOptions()
    .showHelpAfterError("(run with --help for usage)")
    .addCommand(submitCommand())
    .addCommand(getCommand())
    .addCommand(lsCommand())
    .addCommand(logsCommand())
    .addCommand(cancelCommand())
    .addCommand(retryCommand())
    .addCommand(updateCommand())
    .addCommand(rmCommand())
    .addCommand(workersCommand())
    .addCommand(queueCommand())
    .addCommand(statusCommand())
    .addCommand(configCommand())
    .addCommand(cronCommand())
    .addCommand(templateCommand())
    .addCommand(devCommand());
  const asked = requestedCommand(argv);
  if (asked === undefined || !CLIENT_COMMANDS.includes(asked)) {
    for (const c of await serverCommands()) program.addCommand(c);
  }
  exitOverrideEverywhere(program);
  return program;
}

function exitOverrideEverywhere(cmd: Command): void {
  cmd.exitOverride();
  for (const sub of cmd.commands) exitOverrideEverywhere(sub);
}

function report(e: unknown): number {
  if (e instanceof CommanderError) {
    // Commander has printed its message already; help and version are not errors.
    if (e.code === "commander.helpDisplayed" || e.code === "commander.help" || e.code === "commander.version") return 0;
    if (e.code === "commander.executeSubCommandAsync") return e.exitCode;
    return 2;
  }
  if (isUsageError(e)) {
    process.stderr.write(`error: ${e.message}\n`);
    return 2;
  }
  if (isCliError(e)) {
    process.stderr.write(`error: ${e.message}\n`);
    return e.exitCode;
  }
  if (e instanceof Error && e.name === "BatonClientError") {
    process.stderr.write(`error: ${e.message}\n`);
    return 1;
  }
  process.stderr.write(`error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  return 1;
}

export async function main(argv: readonly string[]): Promise<void> {
  try {
    const program = await buildProgram(argv);
    await program.parseAsync([...argv], { from: "user" });
  } catch (e) {
    process.exitCode = report(e);
  }
}

await main(process.argv.slice(2));
