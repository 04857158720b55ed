// `baton status`: leader and term, coordinators, workers alive/lost, jobs by state.
import type { Command } from "commander";
import type { ClusterStatus } from "../../../shared/gen/baton/v1/cluster.js";
import { JOB_STATE_NAMES } from "../../../shared/domain.js";
import { clientCommand, outputOption, printJson, withClient, type OutputFormat } from "../server-option.js";
import { formatAge, renderTable } from "../format.js";

export function statusCommand(): Command {
  return clientCommand("status")
    .description("show the cluster: leader, coordinators, workers, job counts")
    .addOption(outputOption())
    .action(async (opts: { output: OutputFormat }, cmd: Command) => {
      const cluster = await withClient(cmd, (client) => client.getCluster());
      if (opts.output === "json") {
        // Loaded here: the generated cluster module pulls in grpc-js, which --help should not pay for.
        const { ClusterStatus } = await import("../../../shared/gen/baton/v1/cluster.js");
        printJson(ClusterStatus.toJSON(cluster));
      } else process.stdout.write(`${describeCluster(cluster, Date.now())}\n`);
    });
}

/** The human view of the cluster. Pure, for tests. */
export function describeCluster(c: ClusterStatus, now: number): string {
  const out: string[] = [];
  out.push(`Leader:        ${c.leaderId || "(none elected)"}${c.leaderId ? ` (term ${c.term})` : ""}`);
  const alive = c.workers.filter((w) => w.state === "alive").length;
  const lost = c.workers.filter((w) => w.state === "lost").length;
  const other = c.workers.length - alive - lost;
  out.push(`Workers:       ${alive} alive, ${lost} lost${other ? `, ${other} other` : ""}`);
  const counts = JOB_STATE_NAMES.map((s) => `${s} ${c.jobCounts[s] ?? 0}`);
  for (const [k, v] of Object.entries(c.jobCounts)) if (!(JOB_STATE_NAMES as readonly string[]).includes(k)) counts.push(`${k} ${v}`);
  out.push(`Jobs:          ${counts.join(", ")}`);
  out.push(`Unschedulable: ${c.unschedulable}`);
  out.push("");
  if (c.coordinators.length === 0) out.push("Coordinators:  none registered");
  else {
    out.push("Coordinators:");
    const rows = c.coordinators.map((co) => [
      co.leader || co.id === c.leaderId ? "*" : "",
      co.id,
      co.grpcAddress || "-",
      co.httpAddress || "-",
      co.lastSeenMs ? `${formatAge(now - co.lastSeenMs)} ago` : "-",
    ]);
    out.push(
      renderTable(["LEADER", "ID", "GRPC", "HTTP", "SEEN"], rows)
        .split("\n")
        .map((l) => `  ${l}`)
        .join("\n"),
    );
  }
  return out.join("\n");
}
