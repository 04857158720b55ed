// `baton get ID`: one job, for a person or as the proto's JSON.
import type { Command } from "commander";
import { Backoff, Job, type RetryPolicy } from "../../../shared/gen/baton/v1/types.js";
import { clientCommand, outputOption, printJson, withClient, type OutputFormat } from "../server-option.js";
import {
  formatBytes,
  formatCpuLong,
  formatCpuSeconds,
  formatDuration,
  formatMemory,
  formatLabels,
  formatTime,
  jobCommand,
  jobOutcome,
  renderTable,
  stateName,
} from "../format.js";

export function getCommand(): Command {
  return clientCommand("get")
    .description("show one job: state, attempts, worker, exit code, times, resources")
    .argument("<id>", "job id")
    .addOption(outputOption())
    .action(async (id: string, opts: { output: OutputFormat }, cmd: Command) => {
      const job = await withClient(cmd, (client) => client.getJob(id));
      if (opts.output === "json") printJson(Job.toJSON(job));
      else process.stdout.write(`${describeJob(job, Date.now())}\n`);
    });
}

/** A retry policy in a line: `exponential from 1s, x2 up to 5m, jitter 0.2; never after exit 2, 3`. */
export function describeRetry(r: RetryPolicy): string {
  let s: string;
  switch (r.backoff) {
    case Backoff.BACKOFF_EXPONENTIAL:
      s = `exponential from ${formatDuration(r.initialDelayMs)}, x${r.multiplier}${r.maxDelayMs ? ` up to ${formatDuration(r.maxDelayMs)}` : ""}`;
      break;
    case Backoff.BACKOFF_FIXED:
      s = `every ${formatDuration(r.initialDelayMs)}`;
      break;
    case Backoff.BACKOFF_NONE:
      s = "at once";
      break;
    default:
      s = "the cluster default";
  }
  if (r.jitter && r.backoff !== Backoff.BACKOFF_NONE) s += `, jitter ${r.jitter}`;
  if (r.finalExitCodes.length) s += `; never after exit ${r.finalExitCodes.join(", ")}`;
  return s;
}

/** The human view of a job. Pure, for tests. */
export function describeJob(job: Job, now: number): string {
  const spec = job.spec;
  const lines: [string, string][] = [];
  const add = (k: string, v: string | undefined) => {
    if (v !== undefined && v !== "") lines.push([k, v]);
  };
  add("ID", job.id);
  add("Name", spec?.name);
  const ex = spec?.executor;
  if (ex?.$case === "exec") {
    add("Command", jobCommand(spec));
    add("Cwd", ex.exec.cwd);
    add("Env", Object.keys(ex.exec.env).length ? formatLabels(ex.exec.env) : undefined);
  } else if (ex?.$case === "js") {
    add("Task", ex.js.task);
    add("Payload", ex.js.payloadJson);
  }
  add("State", stateName(job) + (job.cancelRequested && !job.finishedAtMs ? " (cancel requested)" : ""));
  add("Attempt", job.attempt ? String(job.attempt) : undefined);
  add("Worker", job.workerId);
  if (job.exitCode !== undefined || job.reason) add("Outcome", jobOutcome(job));
  add("Message", job.message);
  add("Unschedulable", job.unschedulableReason);
  add("Queue", spec ? spec.queue || "default" : undefined);
  add("Priority", spec ? String(spec.priority) : undefined);
  add("Tenant", spec?.tenant);
  const r = spec?.resources;
  if (r) add("Resources", `cpu ${formatCpuLong(r.cpuMillis)}, memory ${formatMemory(r.memoryMb)}${r.gpus ? `, gpus ${r.gpus}` : ""}`);
  if (spec && Object.keys(spec.labels).length) add("Labels", formatLabels(spec.labels));
  add("Timeout", spec?.timeoutMs ? formatDuration(spec.timeoutMs) : undefined);
  add("Max attempts", spec?.maxAttempts ? String(spec.maxAttempts) : undefined);
  add("Template", job.templateName ? `${job.templateName} version ${job.templateVersion}` : undefined);
  add("Idempotency key", job.idempotencyKey);
  add("Retry", spec?.retry ? describeRetry(spec.retry) : undefined);
  if (stateName(job) === "pending" && job.runAtMs > now) add("Not before", `${new Date(job.runAtMs).toISOString()} (in ${formatDuration(job.runAtMs - now)})`);
  add("Created", job.createdAtMs ? formatTime(job.createdAtMs, now) : undefined);
  add("Assigned", job.assignedAtMs ? formatTime(job.assignedAtMs, now) : undefined);
  add("Started", job.startedAtMs ? formatTime(job.startedAtMs, now) : undefined);
  add("Finished", job.finishedAtMs ? formatTime(job.finishedAtMs, now) : undefined);
  if (job.startedAtMs && job.finishedAtMs) add("Ran for", formatDuration(job.finishedAtMs - job.startedAtMs));
  const state = stateName(job);
  if (job.usage && (state === "running" || state === "assigned")) {
    const u = job.usage;
    add("Usage now", `cpu ${formatCpuLong(u.cpuMillis)}, memory ${formatBytes(u.memoryBytes)} (CPU time ${formatCpuSeconds(u.cpuSeconds)}, peak memory ${formatBytes(u.peakMemoryBytes)})`);
  }
  add("CPU time", job.cpuSeconds ? formatCpuSeconds(job.cpuSeconds) : undefined);
  add("Peak memory", job.peakMemoryBytes ? formatBytes(job.peakMemoryBytes) : undefined);
  if (job.logBytes || job.logTruncated) {
    add("Output", `${formatBytes(job.logBytes)}${job.logTruncated ? " (truncated: the rest went past the per-job cap)" : ""}; \`baton logs ${job.id}\``);
  }

  const width = Math.max(...lines.map(([k]) => k.length)) + 1;
  let out = lines.map(([k, v]) => `${`${k}:`.padEnd(width)} ${v}`).join("\n");
  if (job.attempts.length) {
    const rows = job.attempts.map((a) => [
      String(a.attempt),
      a.workerId || "-",
      a.startedAtMs ? new Date(a.startedAtMs).toISOString() : "-",
      a.startedAtMs && a.finishedAtMs ? formatDuration(a.finishedAtMs - a.startedAtMs) : "-",
      a.finishedAtMs || a.reason || a.exitCode !== undefined ? jobOutcome(a) : "-",
      a.cpuSeconds ? formatCpuSeconds(a.cpuSeconds) : "-",
      a.peakMemoryBytes ? formatBytes(a.peakMemoryBytes) : "-",
      a.message || "",
    ]);
    out += `\n\nAttempts:\n${indent(renderTable(["#", "WORKER", "STARTED", "RAN", "OUTCOME", "CPU", "PEAK MEM", "MESSAGE"], rows))}`;
  }
  return out;
}

function indent(s: string): string {
  return s
    .split("\n")
    .map((l) => `  ${l}`)
    .join("\n");
}
