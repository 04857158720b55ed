// Picks the limits mechanism once, at start: the one --limits names, or with `auto` the first this
// host offers of cgroup v2, cgroup v1, rlimits (Linux), none.
import { existsSync } from "node:fs";
import { CgroupV1Limits } from "./cgroup-v1.js";
import { CgroupV2Limits } from "./cgroup-v2.js";
import { isLimitsUnavailableError, LimitsUnavailableError, type Limits, type LimitsMechanism, type LimitsMode } from "./limits.js";
import { TreeLimits } from "./tree-limits.js";

export interface DetectedLimits {
  limits: Limits;
  /** Why each better mechanism was passed over (auto only), for the log. */
  skipped: string[];
}

/** Throws LimitsUnavailableError when the mechanism named (not auto) cannot be used here. */
export async function detectLimits(mode: LimitsMode, workerId: string): Promise<DetectedLimits> {
  if (mode !== "auto") return { limits: await open(mode, workerId), skipped: [] };
  const skipped: string[] = [];
  for (const m of ["cgroup-v2", "cgroup-v1", "rlimit"] as const) {
    try {
      return { limits: await open(m, workerId), skipped };
    } catch (e) {
      if (!isLimitsUnavailableError(e)) throw e;
      skipped.push(e.message);
    }
  }
  return { limits: new TreeLimits("none"), skipped };
}

async function open(m: LimitsMechanism, workerId: string): Promise<Limits> {
  switch (m) {
    case "cgroup-v2":
    case "cgroup-v1":
      if (process.platform !== "linux") throw new LimitsUnavailableError(m, `cgroups exist only on Linux, not on ${process.platform}`);
      if (!existsSync("/proc/self/cgroup")) throw new LimitsUnavailableError(m, "/proc/self/cgroup does not exist");
      return m === "cgroup-v2" ? CgroupV2Limits.detect(workerId) : CgroupV1Limits.detect(workerId);
    case "rlimit":
      // The watchdog finds a job's processes in /proc, and the entry script sets the rlimit.
      if (!existsSync("/proc/self/stat")) throw new LimitsUnavailableError(m, "/proc is not mounted: the watchdog cannot see a job's processes");
      if (!existsSync("/bin/sh")) throw new LimitsUnavailableError(m, "/bin/sh does not exist: it sets a job's rlimits before the job runs");
      return new TreeLimits("rlimit");
    case "none":
      return new TreeLimits("none");
    default: {
      const never: never = m;
      throw new Error(`unknown limits mechanism ${String(never)}`);
    }
  }
}
