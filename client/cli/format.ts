// How the CLI shows jobs, workers and times to a person. Pure: `now` is passed in.
import type { Job, JobSpec } from "../../shared/gen/baton/v1/types.js";
import { jobStateFromWire, type JobStateName } from "../../shared/domain.js";

/** Columns padded to their widest cell; the last column is not padded. */
export function renderTable(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  return [line(header), ...rows.map(line)].join("\n");
}

export function truncate(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max - 1)}…`;
}

export function shortId(id: string, len = 8): string {
  return id.length <= len ? id : id.slice(0, len);
}

export function stateName(job: Job): JobStateName | "unknown" {
  try {
    return jobStateFromWire(job.state);
  } catch {
    return "unknown";
  }
}

/** `5s`, `3m`, `2h`, `4d`: the largest whole unit. */
export function formatAge(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m`;
  if (s < 86_400) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86_400)}d`;
}

/** `850ms`, `12.3s`, `4m05s`, `2h03m`. */
export function formatDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const s = Math.floor(ms / 1000);
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
}

export function formatTime(ms: number, now: number): string {
  if (!ms) return "-";
  return `${new Date(ms).toISOString()} (${formatAge(now - ms)} ago)`;
}

/** What the job runs: its name, else its command line, else its task. */
export function jobTitle(spec: JobSpec | undefined): string {
  if (!spec) return "";
  if (spec.name) return spec.name;
  return jobCommand(spec);
}

export function jobCommand(spec: JobSpec | undefined): string {
  const ex = spec?.executor;
  if (!ex) return "";
  switch (ex.$case) {
    case "exec":
      return ex.exec.argv.map(quoteArg).join(" ");
    case "js":
      return `task:${ex.js.task}`;
    default: {
      const never: never = ex;
      return String(never);
    }
  }
}

function quoteArg(a: string): string {
  return /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replaceAll("'", `'\\''`)}'`;
}

/** `exit 0`, `exit 3`, `timed_out`, `-`. */
export function jobOutcome(job: { exitCode?: number | undefined; reason: string }): string {
  if (job.exitCode !== undefined && (job.reason === "" || job.reason === "exited")) return `exit ${job.exitCode}`;
  if (job.reason && job.exitCode !== undefined) return `${job.reason} (exit ${job.exitCode})`;
  return job.reason || "-";
}

export function formatCpu(millis: number): string {
  if (millis % 1000 === 0) return `${millis / 1000}`;
  return `${millis}m`;
}

/** For sentences: `250m`, `1 core`, `2.5 cores`. */
export function formatCpuLong(millis: number): string {
  if (millis < 1000) return `${millis}m`;
  const cores = millis / 1000;
  return `${cores} ${cores === 1 ? "core" : "cores"}`;
}

export function formatMemory(mb: number): string {
  if (mb < 1024) return `${mb}Mi`;
  const gi = mb / 1024;
  return `${Number.isInteger(gi) ? gi : gi.toFixed(1)}Gi`;
}

export function formatLabels(labels: Readonly<Record<string, string>>): string {
  const entries = Object.entries(labels).sort(([a], [b]) => a.localeCompare(b));
  return entries.length === 0 ? "-" : entries.map(([k, v]) => `${k}=${v}`).join(",");
}

/** `512 B`, `1.5 KiB`, `12.3 MiB`, `2.0 GiB`. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = bytes / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v < 10 ? v.toFixed(1) : Math.round(v)} ${units[i]}`;
}

/** CPU time: `0.12s`, `3.4s`, `2m05s`. */
export function formatCpuSeconds(seconds: number): string {
  if (seconds < 1) return `${seconds.toFixed(2)}s`;
  return formatDuration(Math.round(seconds * 1000));
}
