// What this host (or the cgroup the worker runs in) can offer, used as the default capacity.
import { readFileSync } from "node:fs";
import os from "node:os";

const MIB = 1024 * 1024;

/** Millicores: the CPUs this process may run on, lowered to a cgroup v2 quota when one is set. */
export function detectCpuMillis(): number {
  const host = os.availableParallelism() * 1000;
  const max = readCgroupFile("cpu.max"); // "max 100000" or "<quota> <period>"
  if (!max) return host;
  const [quota, period] = max.split(/\s+/);
  if (quota === "max" || !quota || !period) return host;
  const millis = Math.floor((Number(quota) / Number(period)) * 1000);
  return Number.isFinite(millis) && millis > 0 ? Math.min(host, millis) : host;
}

/** MiB: total memory, lowered to a cgroup v2 memory.max when one is set. */
export function detectMemoryMb(): number {
  const host = Math.floor(os.totalmem() / MIB);
  const max = readCgroupFile("memory.max");
  if (!max || max === "max") return host;
  const mb = Math.floor(Number(max) / MIB);
  return Number.isFinite(mb) && mb > 0 ? Math.min(host, mb) : host;
}

function readCgroupFile(name: string): string | undefined {
  try {
    return readFileSync(`/sys/fs/cgroup/${name}`, "utf8").trim();
  } catch {
    return undefined;
  }
}
