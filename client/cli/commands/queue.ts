// `baton queue ls|set|pause|resume|rm`: queue settings (concurrency cap, pause) and counts.
import { Command } from "commander";
import type { Queue } from "../../../shared/gen/baton/v1/queues.js";
import { renderTable } from "../format.js";
import { clientCommand, outputOption, printJson, withClient, type OutputFormat } from "../server-option.js";
import { UsageError } from "../usage-error.js";

/** The queues table. Pure, for tests. */
export function renderQueues(queues: readonly Queue[]): string {
  if (queues.length === 0) return "no queues (a queue without settings is unlimited and active)";
  const rows = queues.map((q) => [
    q.name,
    q.paused ? "paused" : "active",
    q.concurrencyCap === undefined ? "-" : String(q.concurrencyCap),
    String(q.running),
    String(q.pending),
  ]);
  return renderTable(["QUEUE", "STATE", "CAP", "RUNNING", "PENDING"], rows);
}

/** One line after a change: "etl: active, cap 3 (1 running, 12 pending)". */
export function describeQueue(q: Queue): string {
  const cap = q.concurrencyCap === undefined ? "no cap" : `cap ${q.concurrencyCap}`;
  return `${q.name}: ${q.paused ? "paused" : "active"}, ${cap} (${q.running} running, ${q.pending} pending)`;
}

export function parseCap(text: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(n) || n > 2_147_483_647) {
    throw new UsageError(`--cap must be a whole number of jobs (0 or more), got '${text}'; use --no-cap for unlimited`);
  }
  return n;
}

function lsCommand(): Command {
  return clientCommand("ls")
    .alias("list")
    .description("list queues with settings or with jobs: state, cap, running and pending jobs")
    .addOption(outputOption())
    .action(async (opts: { output: OutputFormat }, cmd: Command) => {
      const queues = await withClient(cmd, (client) => client.listQueues());
      if (opts.output === "json") {
        const { Queue } = await import("../../../shared/gen/baton/v1/queues.js");
        printJson({ queues: queues.map((q) => Queue.toJSON(q)) });
      } else process.stdout.write(`${renderQueues(queues)}\n`);
    });
}

function setCommand(): Command {
  return clientCommand("set")
    .description("set a queue's concurrency cap: the most of its jobs assigned or running at once, cluster-wide")
    .argument("<name>", "queue name")
    .option("--cap <n>", "the cap (0 holds every new job back)")
    .option("--no-cap", "no cap: unlimited")
    .action(async (name: string, opts: { cap?: string | boolean }, cmd: Command) => {
      // Commander: --cap N gives a string, --no-cap gives false, neither leaves it undefined.
      if (opts.cap === undefined || opts.cap === true) throw new UsageError("give --cap N or --no-cap");
      const cap = opts.cap === false ? null : parseCap(opts.cap);
      const q = await withClient(cmd, (client) => client.setQueue(name, { cap }));
      process.stdout.write(`${describeQueue(q)}\n`);
    });
}

function pauseResume(verb: "pause" | "resume", description: string): Command {
  return clientCommand(verb)
    .description(description)
    .argument("<name>", "queue name")
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      const q = await withClient(cmd, (client) => client.setQueue(name, { paused: verb === "pause" }));
      process.stdout.write(`${describeQueue(q)}\n`);
    });
}

function rmCommand(): Command {
  return clientCommand("rm")
    .alias("delete")
    .description("remove a queue's settings (its jobs stay): unlimited and active again")
    .argument("<name>", "queue name")
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      const deleted = await withClient(cmd, (client) => client.deleteQueue(name));
      process.stdout.write(deleted ? `${name}: settings removed (unlimited, active)\n` : `${name}: had no settings\n`);
    });
}

export function queueCommand(): Command {
  return clientCommand("queue")
    .description("queues: concurrency caps and pause/resume")
    .addCommand(lsCommand())
    .addCommand(setCommand())
    .addCommand(pauseResume("pause", "pause a queue: none of its jobs start until resumed (running ones continue)"))
    .addCommand(pauseResume("resume", "resume a paused queue"))
    .addCommand(rmCommand());
}
