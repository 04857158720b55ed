// cgroup v2: one child group per attempt, <own>/baton/<worker>/<attempt>, with memory.max (no swap,
// the whole group killed on OOM) and cpu.max; killed at once through cgroup.kill where the kernel
// has it.
import { existsSync, mkdirSync } from "node:fs";
import path from "node:path";
import {
  killPids,
  parseMountInfo,
  parseProcCgroup,
  readKeyed,
  readNumber,
  readPids,
  readText,
  removeCgroup,
  sweepDeadWorkers,
  v2Dir,
  waitEmpty,
  workerDirName,
  writeControl,
} from "./cgroup-fs.js";
import { readCgroupSources, OOM_POLL_MS, type CgroupSources } from "./cgroup-v1.js";
import {
  attemptDirName,
  cpuQuotaUs,
  CPU_PERIOD_US,
  LimitsUnavailableError,
  MIB,
  type Confinement,
  type EntrySteps,
  type FinalUsage,
  type JobLimits,
  type Limits,
  type UsageReading,
} from "./limits.js";

const EMPTY_WAIT_MS = 5000;
const CONTROLLERS = ["memory", "cpu"] as const;
/** Where the worker moves itself when its own group must hand its controllers down (see below). */
const WORKER_LEAF = "baton-worker";

/** The worker's own cgroup folder in the unified hierarchy, when it offers memory and cpu. */
export function resolveV2(sources: CgroupSources): string {
  const { dir, why } = v2Dir(parseProcCgroup(sources.procSelfCgroup), parseMountInfo(sources.mountInfo));
  if (!dir) throw new LimitsUnavailableError("cgroup-v2", why!);
  const controllers = readText(path.join(dir, "cgroup.controllers"));
  if (controllers === undefined) throw new LimitsUnavailableError("cgroup-v2", `${dir}/cgroup.controllers cannot be read`);
  const offered = controllers.trim().split(/\s+/);
  const missing = CONTROLLERS.filter((c) => !offered.includes(c));
  if (missing.length > 0) {
    throw new LimitsUnavailableError(
      "cgroup-v2",
      `the cgroup v2 group ${dir} does not offer the ${missing.join(" and ")} controller${missing.length > 1 ? "s" : ""} (it offers: ${controllers.trim() || "none"}); on a hybrid host they are bound to cgroup v1`,
    );
  }
  return dir;
}

export class CgroupV2Limits implements Limits {
  readonly mechanism = "cgroup-v2";

  private constructor(private readonly base: string) {}

  static async detect(workerId: string, sources: CgroupSources = readCgroupSources()): Promise<CgroupV2Limits> {
    const own = resolveV2(sources);
    const batonDir = path.join(own, "baton");
    const base = path.join(batonDir, workerDirName(workerId));
    try {
      delegate(own, true);
      mkdirSync(batonDir, { recursive: true });
      delegate(batonDir, false);
      await sweepDeadWorkers([batonDir]);
      mkdirSync(base, { recursive: true });
      delegate(base, false);
    } catch (e) {
      if (e instanceof LimitsUnavailableError) throw e;
      throw new LimitsUnavailableError("cgroup-v2", `${(e as Error).message}: run the worker as root or give it a delegated cgroup`);
    }
    return new CgroupV2Limits(base);
  }

  confine(name: string, limits: JobLimits): Confinement {
    return new CgroupV2Confinement(path.join(this.base, attemptDirName(name)), limits);
  }

  close(): void {
    removeCgroup(this.base);
    removeCgroup(path.dirname(this.base));
  }
}

/**
 * Makes the memory and cpu controllers available to the children of `dir`. A group with processes
 * cannot do that (cgroup v2's "no internal processes" rule): for the worker's own group, the
 * worker moves itself into a leaf child first, which works when it is alone in its group (a
 * container, a systemd unit with Delegate=yes).
 */
function delegate(dir: string, own: boolean): void {
  const control = path.join(dir, "cgroup.subtree_control");
  const enabled = (readText(control) ?? "").trim().split(/\s+/);
  if (CONTROLLERS.every((c) => enabled.includes(c))) return;
  const value = CONTROLLERS.map((c) => `+${c}`).join(" ");
  try {
    writeControl(control, value);
    return;
  } catch (e) {
    if (!own || !String((e as Error).message).includes("EBUSY")) throw e;
  }
  const leaf = path.join(dir, WORKER_LEAF);
  mkdirSync(leaf, { recursive: true });
  writeControl(path.join(leaf, "cgroup.procs"), String(process.pid));
  try {
    writeControl(control, value);
  } catch (e) {
    writeControl(path.join(dir, "cgroup.procs"), String(process.pid)); // back where it was
    throw new LimitsUnavailableError(
      "cgroup-v2",
      `cannot enable the memory and cpu controllers for the children of ${dir} (${(e as Error).message}): other processes share the worker's cgroup; run the worker in a cgroup of its own`,
    );
  }
}

class CgroupV2Confinement implements Confinement {
  readonly entrySteps: EntrySteps;
  private readonly procs: string;
  private poll: NodeJS.Timeout | undefined;
  private peak = 0;
  private overLimit = false;

  constructor(
    private readonly dir: string,
    private readonly limits: JobLimits,
  ) {
    mkdirSync(dir);
    try {
      if (limits.memoryBytes > 0) {
        writeControl(path.join(dir, "memory.max"), String(limits.memoryBytes));
        const swap = path.join(dir, "memory.swap.max");
        if (existsSync(swap)) writeControl(swap, "0");
        // At the limit the kernel kills the whole job, not one process of it.
        const group = path.join(dir, "memory.oom.group");
        if (existsSync(group)) writeControl(group, "1");
      }
      if (limits.cpuMillis > 0) writeControl(path.join(dir, "cpu.max"), `${cpuQuotaUs(limits.cpuMillis)} ${CPU_PERIOD_US}`);
    } catch (e) {
      removeCgroup(dir);
      throw e;
    }
    this.procs = path.join(dir, "cgroup.procs");
    this.entrySteps = { procsFiles: [this.procs] };
  }

  started(_pid: number, onOverLimit: (message: string) => void): void {
    if (this.limits.memoryBytes <= 0) return;
    // Kernels without memory.oom.group kill one process: the job as a whole ends with it.
    this.poll = setInterval(() => {
      if (this.overLimit || !this.oomKillSeen()) return;
      this.overLimit = true;
      onOverLimit(`memory limit of ${Math.round(this.limits.memoryBytes / MIB)} MiB exceeded: the kernel's OOM killer killed the job`);
    }, OOM_POLL_MS);
  }

  /** Everything of the job is in its cgroup, whatever its parents. */
  async survey(): Promise<void> {}

  async sample(): Promise<UsageReading> {
    return this.read();
  }

  private read(): UsageReading {
    const memory = readNumber(path.join(this.dir, "memory.current")) ?? 0;
    this.peak = Math.max(this.peak, memory, readNumber(path.join(this.dir, "memory.peak")) ?? 0);
    const usec = readKeyed(path.join(this.dir, "cpu.stat"), "usage_usec") ?? 0;
    return { cpuSeconds: usec / 1e6, memoryBytes: memory, peakMemoryBytes: this.peak };
  }

  kill(): void {
    const killFile = path.join(this.dir, "cgroup.kill");
    try {
      writeControl(killFile, "1");
    } catch {
      killPids(readPids(this.procs)); // before Linux 5.14
    }
  }

  async end(): Promise<FinalUsage> {
    if (this.poll) clearInterval(this.poll);
    this.poll = undefined;
    this.kill();
    await waitEmpty([this.procs], EMPTY_WAIT_MS, true);
    const usage = { ...this.read(), memoryBytes: 0 };
    const oomKilled = this.overLimit || this.oomKillSeen();
    removeCgroup(this.dir);
    return { usage, oomKilled };
  }

  private oomKillSeen(): boolean {
    const events = path.join(this.dir, "memory.events");
    return (readKeyed(events, "oom_kill") ?? 0) > 0 || (readKeyed(events, "oom_group_kill") ?? 0) > 0;
  }
}
