// `baton cron create|ls|pause|resume|rm`: cron schedules, each occurrence of which submits one job.
import { Command } from "commander";
import { MissedPolicy, type Schedule } from "../../../shared/gen/baton/v1/schedules.js";
import { buildCreateSchedule, type CronCreateArgs } from "../cron-args.js";
import { DEFAULT_CPU_MILLIS, DEFAULT_MEMORY_MB } from "../job-spec-args.js";
import { jobCommand, jobTitle, renderTable, truncate } from "../format.js";
import { clientCommand, outputOption, printJson, withClient, type OutputFormat } from "../server-option.js";

const collect = (value: string, previous: string[] = []) => [...previous, value];

function missedName(s: Schedule): string {
  return s.missedPolicy === MissedPolicy.MISSED_POLICY_CATCH_UP ? `catch-up (${s.catchUpLimit})` : "skip";
}

/** An absolute time in the schedule's zone, with how far it is from now. */
export function formatRunTime(ms: number, timeZone: string, now: number): string {
  if (ms === 0) return "-";
  const local = new Intl.DateTimeFormat("sv-SE", {
    timeZone,
    year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit",
  }).format(new Date(ms));
  const d = Math.round((ms - now) / 1000);
  const rel = d >= 0 ? `in ${d}s` : `${-d}s ago`;
  return `${local} (${rel})`;
}

function describeSchedule(s: Schedule): string {
  const what = s.job?.template ? `template ${s.job.template.name}` : jobTitle(s.job) || jobCommand(s.job);
  return truncate(what, 40);
}

function createCommand(): Command {
  return clientCommand("create")
    .description('create a schedule: baton cron create NAME --cron "*/5 * * * *" [--tz ZONE] [job flags] -- CMD ARGS…')
    .argument("<name>", "unique schedule name")
    .argument("[command...]", "the command each occurrence runs (put it after --)")
    .option("--cron <expr>", "cron expression: 5 fields (minute hour day month weekday), or 6 with seconds first")
    .option("--tz <zone>", "IANA time zone the expression is read in (default UTC)")
    .option("--missed <policy>", "occurrences missed while no leader could fire them: skip (default) or catch-up")
    .option("--catch-up-limit <n>", "with --missed catch-up: at most this many missed occurrences fire (default 10)")
    .option("--paused", "create it paused (baton cron resume NAME starts it)")
    .option("--template <name>", "submit from this template (job flags override its fields)")
    .option("--param <k=v>", "a template parameter (repeatable)", collect)
    .option("--name <name>", "a name for each job instead of the command")
    .option("--cpu <cpu>", `CPU: millicores (250, 250m) or cores (0.5); default ${DEFAULT_CPU_MILLIS}`)
    .option("--memory <mib>", `memory in MiB (512) or with a unit (512Mi, 2Gi); default ${DEFAULT_MEMORY_MB}`)
    .option("--gpus <n>", "GPUs")
    .option("--priority <n>", "higher runs first (default 0)")
    .option("--queue <queue>", "queue (default: default)")
    .option("--label <k=v>", "a label the worker must carry (repeatable, or a,b lists)", collect)
    .option("--env <K=V>", "an environment variable for the command (repeatable)", collect)
    .option("--cwd <dir>", "working directory of the command on the worker")
    .option("--timeout <duration>", "stop each job after this long: 1500ms, 30s, 5m, 1h")
    .option("--max-attempts <n>", "attempts before a job fails for good")
    .option("--tenant <tenant>", "tenant the jobs count against")
    .option("--task <name>", "run a named task of the workers' --tasks module instead of a command")
    .option("--payload <json>", "JSON input of the --task")
    // No passThroughOptions: NAME comes first, so the command must follow `--` (its own flags stay its own).
    .action(async (name: string, command: string[], opts: CronCreateArgs, cmd: Command) => {
      const req = buildCreateSchedule(name, opts, command, process.env);
      const s = await withClient(cmd, (client) => client.createSchedule(req));
      const next = s.paused ? "paused" : `next run ${formatRunTime(s.nextRunAtMs, s.timeZone, Date.now())} ${s.timeZone}`;
      process.stdout.write(`schedule ${s.name} (${s.id}) created: ${next}\n`);
    });
}

function lsCommand(): Command {
  return clientCommand("ls")
    .alias("list")
    .description("list schedules with their next run times")
    .addOption(outputOption())
    .action(async (opts: { output: OutputFormat }, cmd: Command) => {
      const schedules = await withClient(cmd, (client) => client.listSchedules());
      if (opts.output === "json") return printJson(schedules);
      const now = Date.now();
      const rows = schedules.map((s) => [
        s.name,
        s.cron,
        s.timeZone,
        missedName(s),
        s.paused ? "paused" : formatRunTime(s.nextRunAtMs, s.timeZone, now),
        formatRunTime(s.lastRunAtMs, s.timeZone, now),
        describeSchedule(s),
      ]);
      process.stdout.write(`${renderTable(["NAME", "CRON", "TZ", "MISSED", "NEXT RUN", "LAST RUN", "JOB"], rows)}\n`);
    });
}

function simple(name: "pause" | "resume" | "rm", description: string): Command {
  return clientCommand(name)
    .description(description)
    .argument("<name>", "schedule name")
    .action(async (scheduleName: string, _opts: unknown, cmd: Command) => {
      await withClient(cmd, async (client) => {
        if (name === "rm") {
          await client.deleteSchedule(scheduleName);
          process.stdout.write(`schedule ${scheduleName} deleted\n`);
          return;
        }
        const s = name === "pause" ? await client.pauseSchedule(scheduleName) : await client.resumeSchedule(scheduleName);
        const state = s.paused ? "paused" : `next run ${formatRunTime(s.nextRunAtMs, s.timeZone, Date.now())} ${s.timeZone}`;
        process.stdout.write(`schedule ${s.name}: ${state}\n`);
      });
    });
}

export function cronCommand(): Command {
  return clientCommand("cron")
    .description("cron schedules: each occurrence submits one job")
    .enablePositionalOptions()
    .addCommand(createCommand())
    .addCommand(lsCommand())
    .addCommand(simple("pause", "pause a schedule: it fires nothing until resumed"))
    .addCommand(simple("resume", "resume a schedule from its next occurrence (paused ones are not caught up)"))
    .addCommand(simple("rm", "delete a schedule (the jobs it made are kept)").alias("delete"));
}
