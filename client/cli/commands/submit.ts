// `baton submit`: one job from flags and a command line (or --task), optionally followed to its end.
import type { Command } from "commander";
import type { BatonClient } from "../../baton-client.js";
import type { Job } from "../../../shared/gen/baton/v1/types.js";
import { buildJobSpec, DEFAULT_CPU_MILLIS, DEFAULT_MEMORY_MB, type SubmitArgs } from "../job-spec-args.js";
import { clientCommand, withClient } from "../server-option.js";
import { jobOutcome, stateName } from "../format.js";
import { CliError } from "../usage-error.js";

const collect = (value: string, previous: string[] = []) => [...previous, value];

export function submitCommand(): Command {
  return clientCommand("submit")
    .description("submit a job: baton submit [flags] -- CMD ARGS…, baton submit --task NAME [--payload JSON], or baton submit --template NAME [--param k=v …]")
    .argument("[command...]", "the command to run and its arguments (put them after --)")
    .option("--name <name>", "a name to show instead of the command")
    .option("--cpu <cpu>", `CPU: millicores (250, 250m) or cores with a point (0.5, 2.0); default ${DEFAULT_CPU_MILLIS}`)
    .option("--memory <mib>", `memory in MiB (512) or with a unit (512Mi, 2Gi); default ${DEFAULT_MEMORY_MB}`)
    .option("--gpus <n>", "GPUs")
    .option("--priority <n>", "higher runs first (default 0)")
    .option("--queue <queue>", "queue (default: default)")
    .option("--label <k=v>", "a label the worker must carry (repeatable, or a,b lists)", collect)
    .option("--env <K=V>", "an environment variable for the command (repeatable; bare K passes this shell's K)", collect)
    .option("--cwd <dir>", "working directory of the command on the worker")
    .option("--timeout <duration>", "stop the job after this long: 1500ms, 30s, 5m, 1h")
    .option("--max-attempts <n>", "attempts before the job fails for good (default: the cluster's)")
    .option("--tenant <tenant>", "tenant the job counts against")
    .option("--task <name>", "run a named task of the workers' --tasks module instead of a command")
    .option("--payload <json>", "JSON input of the --task")
    .option("--run-at <time>", "not before this time: ISO (2026-01-02T15:04:05Z) or +DURATION (+30s, +2h)")
    .option("--delay <duration>", "not before this long from now: 30s, 5m, 1h")
    .option("--retry <backoff>", "retry failed attempts with exponential, fixed or no (none) backoff (default: the cluster's)")
    .option("--retry-initial <duration>", "first retry delay (exponential) or every delay (fixed): 500ms, 1s")
    .option("--retry-max <duration>", "cap of an exponential delay: 5m")
    .option("--retry-multiplier <x>", "growth of an exponential delay (default 2)")
    .option("--retry-jitter <0..1>", "scale each delay by a random factor in [1 - jitter, 1]")
    .option("--final-exit-codes <codes>", "exit codes never retried, comma separated: 2,3")
    .option("--template <name>", "submit from this template; flags given override its fields (baton template ls)")
    .option("--template-version <n>", "that version of the template (default: the latest)")
    .option("--param <k=v>", "a template parameter (repeatable)", collect)
    .option("--idempotency-key <key>", "a repeat submit with this key within the window returns the first job instead")
    .option("--idempotency-window <duration>", "how long the key holds: 30m, 24h (default: the cluster's, 24h)")
    .option("--wait", "follow the job to its end and exit with its exit code")
    .passThroughOptions()
    .action(async (command: string[], opts: SubmitArgs & { wait?: boolean }, cmd: Command) => {
      const spec = buildJobSpec(opts, command, process.env);
      await withClient(cmd, async (client) => {
        const [id] = await client.submitJobs([spec]);
        if (!id) throw new CliError("the coordinator accepted the job but returned no id");
        process.stdout.write(`${id}\n`);
        if (opts.wait) process.exitCode = await waitForJob(client, id);
      });
    });
}

/** Follows the job until it ends, reporting changes on stderr; returns the exit status to use. */
export async function waitForJob(client: BatonClient, id: string): Promise<number> {
  const { isTerminal } = await import("../../baton-client.js");
  const onSigint = () => {
    process.stderr.write(`\nstopped waiting; job ${id} goes on (baton cancel ${id} to stop it)\n`);
    process.exit(130);
  };
  process.once("SIGINT", onSigint);
  try {
    let last: Job | undefined;
    let lastLine = "";
    let lastUnschedulable = "";
    // A stream may end early when its coordinator goes away: watch again, a few times.
    for (let tries = 0; ; tries++) {
      try {
        for await (const job of client.watchJob(id)) {
          last = job;
          const line = describeProgress(job);
          if (line !== lastLine) process.stderr.write(`job ${id}: ${line}\n`);
          lastLine = line;
          if (job.unschedulableReason && job.unschedulableReason !== lastUnschedulable) {
            process.stderr.write(`job ${id}: unschedulable: ${job.unschedulableReason}\n`);
          }
          lastUnschedulable = job.unschedulableReason;
        }
      } catch (e) {
        if (tries >= 5) throw e;
      }
      if (last && isTerminal(last)) return exitStatusOf(id, last);
      if (tries >= 5) throw new CliError(`lost track of job ${id}: the watch stream kept ending before the job did`);
      await new Promise((r) => setTimeout(r, 500 * 2 ** tries));
    }
  } finally {
    process.removeListener("SIGINT", onSigint);
  }
}

function describeProgress(job: Job): string {
  const state = stateName(job);
  switch (state) {
    case "assigned":
    case "running":
      return `${state} on worker ${job.workerId} (attempt ${job.attempt})${job.cancelRequested ? ", cancel requested" : ""}`;
    case "pending":
      return job.attempt > 0 ? `pending (retry after attempt ${job.attempt}: ${jobOutcome(job)})` : "pending";
    case "succeeded":
    case "failed":
    case "cancelled":
      return `${state} (${jobOutcome(job)})`;
    default:
      return state;
  }
}

/** The job's own exit code when it has one, else 1 (timed out, cancelled, signaled, …). */
export function exitStatusOf(id: string, job: Job): number {
  const state = stateName(job);
  if (state === "succeeded") return job.exitCode ?? 0;
  if (job.exitCode !== undefined && job.exitCode !== 0) return job.exitCode & 0xff || 1;
  const why = [job.reason, job.message].filter(Boolean).join(": ") || "no reason given";
  process.stderr.write(`job ${id} ${state} without an exit code: ${why}\n`);
  return 1;
}
