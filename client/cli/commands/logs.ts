// `baton logs ID`: a job's output as it printed it: stdout chunks to stdout, stderr chunks to stderr,
// raw bytes. With -f, keeps printing until the job (or the attempt asked for) is over.
import { once } from "node:events";
import { Option, type Command } from "commander";
import { clientCommand, withClient } from "../server-option.js";
import { UsageError } from "../usage-error.js";

const STDOUT = 1; // LogStream.LOG_STREAM_STDOUT
const STDERR = 2; // LogStream.LOG_STREAM_STDERR

interface LogsOptions {
  follow?: boolean;
  attempt?: string;
  stream?: "stdout" | "stderr";
}

export function logsCommand(): Command {
  return clientCommand("logs")
    .description("print a job's output (stdout to stdout, stderr to stderr); -f follows it until the job ends")
    .argument("<id>", "job id")
    .option("-f, --follow", "keep printing output as it comes, until the job ends")
    .option("--attempt <n>", "only this attempt's output (default: every attempt, in order)")
    .addOption(new Option("--stream <name>", "only one of the job's streams").choices(["stdout", "stderr"]))
    .action(async (id: string, opts: LogsOptions, cmd: Command) => {
      const attempt = parseAttempt(opts.attempt);
      const only = opts.stream === "stdout" ? STDOUT : opts.stream === "stderr" ? STDERR : undefined;
      // `baton logs ID | head`: a closed pipe ends the command quietly.
      for (const out of [process.stdout, process.stderr]) {
        out.on("error", (e: NodeJS.ErrnoException) => {
          if (e.code === "EPIPE") process.exit(0);
          throw e;
        });
      }
      await withClient(cmd, async (client) => {
        for await (const chunk of client.getJobLogs(id, { follow: opts.follow ?? false, attempt })) {
          if (only !== undefined && chunk.stream !== only) continue;
          const out = chunk.stream === STDERR ? process.stderr : process.stdout;
          if (!out.write(chunk.data)) await once(out, "drain");
        }
      });
    });
}

export function parseAttempt(raw: string | undefined): number {
  if (raw === undefined) return 0;
  const n = Number(raw);
  if (!/^\d+$/.test(raw.trim()) || !Number.isSafeInteger(n) || n < 1) {
    throw new UsageError(`--attempt '${raw}' must be an attempt number: 1, 2, … (see the attempts in \`baton get ID\`)`);
  }
  return n;
}
