// Turns `baton cron create` flags into a CreateScheduleRequest. Pure: no I/O, so every accepted form
// and every error message is unit-tested. The job flags are those of `baton submit`; with
// --template NAME only the flags given override the template (unset fields keep its values).
import { MissedPolicy, type CreateScheduleRequest } from "../../shared/gen/baton/v1/schedules.js";
import { JobSpec } from "../../shared/gen/baton/v1/types.js";
import {
  buildJobSpec,
  parseCpu,
  parseDuration,
  parseEnv,
  parseInteger,
  parseLabels,
  parseMemory,
  type SubmitArgs,
} from "./job-spec-args.js";
import { UsageError } from "./usage-error.js";

export interface CronCreateArgs extends SubmitArgs {
  cron?: string;
  tz?: string;
  missed?: string;
  catchUpLimit?: string;
  paused?: boolean;
  template?: string;
  param?: string[];
}

export function parseMissed(text: string): MissedPolicy {
  switch (text.trim().toLowerCase()) {
    case "skip":
      return MissedPolicy.MISSED_POLICY_SKIP;
    case "catch-up":
    case "catch_up":
    case "catchup":
      return MissedPolicy.MISSED_POLICY_CATCH_UP;
    default:
      throw new UsageError(`--missed '${text}' must be skip or catch-up`);
  }
}

/** `k=v` pairs of --param (the value may hold '=' and commas). */
export function parseParams(items: readonly string[]): Record<string, string> {
  const params: Record<string, string> = {};
  for (const item of items) {
    const eq = item.indexOf("=");
    if (eq <= 0) throw new UsageError(`--param '${item}' must look like name=value`);
    params[item.slice(0, eq).trim()] = item.slice(eq + 1);
  }
  return params;
}

/** A spec naming a template: only the flags given are set, so the template fills the rest. */
function templateSpec(args: CronCreateArgs, command: readonly string[], localEnv: Readonly<Record<string, string | undefined>>): JobSpec {
  const name = args.template!.trim();
  if (!name) throw new UsageError("--template needs a template name");
  if (args.task !== undefined && command.length > 0) throw new UsageError("give either a command (after --) or --task, not both");
  let executor: JobSpec["executor"];
  if (args.task !== undefined) executor = { $case: "js", js: { task: args.task.trim(), payloadJson: args.payload ?? "" } };
  else if (command.length > 0) executor = { $case: "exec", exec: { argv: [...command], env: parseEnv(args.env ?? [], localEnv), cwd: args.cwd ?? "" } };
  const given = args.cpu !== undefined || args.memory !== undefined || args.gpus !== undefined;
  return JobSpec.fromPartial({
    name: args.name ?? "",
    queue: args.queue ?? "",
    priority: args.priority === undefined ? 0 : parseInteger(args.priority, "--priority"),
    resources: given
      ? {
          cpuMillis: args.cpu === undefined ? 0 : parseCpu(args.cpu),
          memoryMb: args.memory === undefined ? 0 : parseMemory(args.memory),
          gpus: args.gpus === undefined ? 0 : parseInteger(args.gpus, "--gpus", { min: 0 }),
        }
      : undefined,
    labels: parseLabels(args.label ?? []),
    executor,
    timeoutMs: args.timeout === undefined ? 0 : parseDuration(args.timeout),
    maxAttempts: args.maxAttempts === undefined ? 0 : parseInteger(args.maxAttempts, "--max-attempts", { min: 1 }),
    tenant: args.tenant ?? "",
    template: { name, version: 0, params: parseParams(args.param ?? []) },
  });
}

export function buildCreateSchedule(
  name: string,
  args: CronCreateArgs,
  command: readonly string[],
  localEnv: Readonly<Record<string, string | undefined>> = {},
): CreateScheduleRequest {
  if (!args.cron || args.cron.trim() === "") {
    throw new UsageError('--cron is required, e.g. --cron "*/5 * * * *" (5 fields, or 6 with seconds first)');
  }
  if (args.template === undefined && (args.param?.length ?? 0) > 0) throw new UsageError("--param goes with --template");
  const job = args.template !== undefined ? templateSpec(args, command, localEnv) : buildJobSpec(args, command, localEnv);
  return {
    name,
    cron: args.cron.trim(),
    timeZone: args.tz?.trim() ?? "",
    job,
    missedPolicy: args.missed === undefined ? MissedPolicy.MISSED_POLICY_SKIP : parseMissed(args.missed),
    catchUpLimit: args.catchUpLimit === undefined ? 0 : parseInteger(args.catchUpLimit, "--catch-up-limit", { min: 1 }),
    paused: args.paused ?? false,
  };
}
