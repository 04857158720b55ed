// `baton ls`: jobs, filtered by state, queue or worker, one page or all of them.
import type { Command } from "commander";
import { Job } from "../../../shared/gen/baton/v1/types.js";
import { jobStateToWire } from "../../../shared/domain.js";
import { parseInteger, parseStates } from "../job-spec-args.js";
import { clientCommand, outputOption, printJson, withClient, type OutputFormat } from "../server-option.js";
import { formatAge, jobOutcome, jobTitle, renderTable, shortId, stateName, truncate } from "../format.js";

interface LsOptions {
  state?: string;
  queue?: string;
  worker?: string;
  limit: string;
  all?: boolean;
  dead?: boolean;
  output: OutputFormat;
}

const MAX_PAGE = 1000;

export function lsCommand(): Command {
  return clientCommand("ls")
    .alias("list")
    .description("list jobs")
    .option("--state <states>", "only these states, comma separated: pending,assigned,running,succeeded,failed,cancelled")
    .option("--queue <queue>", "only this queue")
    .option("--worker <id>", "only jobs on this worker")
    .option("--limit <n>", "at most this many jobs", "100")
    .option("--dead", "the dead-letter view: jobs that failed after their last attempt (baton retry puts them back)")
    .option("--all", "every matching job, page after page (ignores --limit)")
    .addOption(outputOption())
    .action(async (opts: LsOptions, cmd: Command) => {
      const states = opts.state === undefined ? [] : parseStates(opts.state).map(jobStateToWire);
      const limit = parseInteger(opts.limit, "--limit", { min: 1 });
      const jobs = await withClient(cmd, async (client) => {
        const out: Job[] = [];
        let pageToken = "";
        do {
          const want = opts.all ? MAX_PAGE : Math.min(MAX_PAGE, limit - out.length);
          const page = await client.listJobs({
            states,
            queue: opts.queue ?? "",
            workerId: opts.worker ?? "",
            pageSize: want,
            pageToken,
            dead: opts.dead ?? false,
          });
          out.push(...(opts.all ? page.jobs : page.jobs.slice(0, limit - out.length)));
          pageToken = page.nextPageToken;
        } while (pageToken && (opts.all || out.length < limit));
        return out;
      });
      if (opts.output === "json") printJson({ jobs: jobs.map((j) => Job.toJSON(j)) });
      else process.stdout.write(`${renderJobs(jobs, Date.now())}\n`);
    });
}

/** The jobs table. Pure, for tests. */
export function renderJobs(jobs: readonly Job[], now: number): string {
  if (jobs.length === 0) return "no jobs";
  const rows = jobs.map((j) => [
    j.id,
    truncate(jobTitle(j.spec), 40),
    stateName(j),
    j.spec?.queue || "default",
    String(j.spec?.priority ?? 0),
    j.workerId ? shortId(j.workerId) : "-",
    j.unschedulableReason ? "unschedulable" : jobOutcome(j),
    j.createdAtMs ? formatAge(now - j.createdAtMs) : "-",
  ]);
  return renderTable(["ID", "NAME/COMMAND", "STATE", "QUEUE", "PRI", "WORKER", "EXIT/REASON", "AGE"], rows);
}
