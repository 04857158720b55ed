// CPU seconds spent by each part of a benchmark run (Linux /proc; elsewhere nothing is reported):
// the database server's processes, and named child processes. Read before and after a scenario.
import { readdirSync, readFileSync } from "node:fs";
import { platform } from "node:os";

const TICKS_PER_SECOND = 100; // USER_HZ on Linux

function ticksOf(pid: number | string): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(fields[11]) + Number(fields[12]); // utime + stime
  } catch {
    return 0;
  }
}

function commandOf(pid: string): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8");
  } catch {
    return "";
  }
}

export type CpuSample = Map<string, number>;

/**
 * Ticks per part: `postgres` (every process whose command line starts with "postgres"), the named
 * pids, this process (`bench`), and for the whole machine `idle` and `steal`.
 */
export function sampleCpu(named: Record<string, number[]>): CpuSample {
  const out: CpuSample = new Map();
  if (platform() !== "linux") return out;
  let pg = 0;
  for (const pid of readdirSync("/proc")) {
    if (/^\d+$/.test(pid) && commandOf(pid).startsWith("postgres")) pg += ticksOf(pid);
  }
  out.set("postgres", pg);
  for (const [name, pids] of Object.entries(named)) out.set(name, pids.reduce((s, p) => s + ticksOf(p), 0));
  out.set("bench", ticksOf(process.pid));
  // The whole machine: CPU left idle, and CPU the hypervisor took (a noisy neighbour's share).
  const cpu = readFileSync("/proc/stat", "utf8").split("\n", 1)[0]!.split(/\s+/).slice(1).map(Number);
  out.set("idle", cpu[3]! + cpu[4]!); // idle + iowait
  out.set("steal", cpu[7] ?? 0);
  return out;
}

/** CPU seconds per part between two samples, e.g. {"postgres": 1.9, "coordinator": 0.8, ...}. */
export function cpuSeconds(before: CpuSample, after: CpuSample): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of after) out[k] = Math.round(((v - (before.get(k) ?? 0)) / TICKS_PER_SECOND) * 100) / 100;
  return out;
}

/** Peak resident memory of a process so far, MiB (VmHWM; Linux only, else undefined). */
export function peakRssMiB(pid: number): number | undefined {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Math.round(Number(m[1]) / 1024) : undefined;
  } catch {
    return undefined;
  }
}
