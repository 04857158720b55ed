// cgroup v1: one child group per attempt in each of the memory, cpu and cpuacct hierarchies, nested
// under the worker's own group of that hierarchy (<own>/baton/<worker>/<attempt>).
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import path from "node:path";
import {
  readKeyed,
  readNumber,
  readPids,
  killPids,
  removeCgroup,
  sweepDeadWorkers,
  v1ControllerDir,
  waitEmpty,
  workerDirName,
  writeControl,
  parseMountInfo,
  parseProcCgroup,
} from "./cgroup-fs.js";
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

/** How often a job with a memory limit is checked for an OOM kill (v1 has no group kill of its own). */
export const OOM_POLL_MS = 250;
/** How long the end of an attempt waits for the kernel to tear its processes down. */
const EMPTY_WAIT_MS = 5000;

interface Hierarchies {
  memory: string;
  cpu: string;
  cpuacct: string;
}

export interface CgroupSources {
  procSelfCgroup: string;
  mountInfo: string;
}

export function readCgroupSources(): CgroupSources {
  return { procSelfCgroup: readFileSync("/proc/self/cgroup", "utf8"), mountInfo: readFileSync("/proc/self/mountinfo", "utf8") };
}

/** Where the worker's own memory, cpu and cpuacct groups are; throws LimitsUnavailableError. */
export function resolveV1(sources: CgroupSources): Hierarchies {
  const memberships = parseProcCgroup(sources.procSelfCgroup);
  const mounts = parseMountInfo(sources.mountInfo);
  const out: Partial<Hierarchies> = {};
  for (const c of ["memory", "cpu", "cpuacct"] as const) {
    const { dir, why } = v1ControllerDir(c, memberships, mounts);
    if (!dir) throw new LimitsUnavailableError("cgroup-v1", why!);
    out[c] = dir;
  }
  return out as Hierarchies;
}

export class CgroupV1Limits implements Limits {
  readonly mechanism = "cgroup-v1";

  private constructor(
    /** The worker's folder in each hierarchy (the same folder twice when cpu and cpuacct share one). */
    private readonly bases: Hierarchies,
  ) {}

  static async detect(workerId: string, sources: CgroupSources = readCgroupSources()): Promise<CgroupV1Limits> {
    const own = resolveV1(sources);
    const batonDirs = [...new Set(Object.values(own))].map((d) => path.join(d, "baton"));
    await sweepDeadWorkers(batonDirs);
    const name = workerDirName(workerId);
    const bases: Hierarchies = {
      memory: path.join(own.memory, "baton", name),
      cpu: path.join(own.cpu, "baton", name),
      cpuacct: path.join(own.cpuacct, "baton", name),
    };
    for (const dir of new Set(Object.values(bases))) {
      try {
        mkdirSync(dir, { recursive: true });
      } catch (e) {
        throw new LimitsUnavailableError("cgroup-v1", `cannot create the cgroup ${dir} (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}): run the worker as root or give it a delegated cgroup`);
      }
    }
    for (const file of [path.join(bases.memory, "memory.limit_in_bytes"), path.join(bases.cpu, "cpu.cfs_quota_us"), path.join(bases.cpuacct, "cpuacct.usage")]) {
      if (!existsSync(file)) throw new LimitsUnavailableError("cgroup-v1", `${file} is missing: the hierarchy does not offer that controller`);
    }
    return new CgroupV1Limits(bases);
  }

  confine(name: string, limits: JobLimits): Confinement {
    return new CgroupV1Confinement(this.bases, attemptDirName(name), limits);
  }

  close(): void {
    for (const dir of new Set(Object.values(this.bases))) {
      removeCgroup(dir);
      removeCgroup(path.dirname(dir)); // baton/, when no other worker uses it
    }
  }
}

class CgroupV1Confinement implements Confinement {
  readonly entrySteps: EntrySteps;
  private readonly dirs: Hierarchies;
  /** Each folder once (cpu and cpuacct may be the same hierarchy). */
  private readonly unique: string[];
  private poll: NodeJS.Timeout | undefined;
  private peak = 0;
  private overLimit = false;

  constructor(
    bases: Hierarchies,
    name: string,
    private readonly limits: JobLimits,
  ) {
    this.dirs = { memory: path.join(bases.memory, name), cpu: path.join(bases.cpu, name), cpuacct: path.join(bases.cpuacct, name) };
    this.unique = [...new Set(Object.values(this.dirs))];
    const made: string[] = [];
    try {
      for (const dir of this.unique) {
        mkdirSync(dir);
        made.push(dir);
      }
      if (limits.memoryBytes > 0) {
        writeControl(path.join(this.dirs.memory, "memory.limit_in_bytes"), String(limits.memoryBytes));
        // With swap, memory+swap must stop at the same place, or the job swaps instead of being limited.
        const memsw = path.join(this.dirs.memory, "memory.memsw.limit_in_bytes");
        if (existsSync(memsw)) writeControl(memsw, String(limits.memoryBytes));
      }
      if (limits.cpuMillis > 0) {
        writeControl(path.join(this.dirs.cpu, "cpu.cfs_period_us"), String(CPU_PERIOD_US));
        writeControl(path.join(this.dirs.cpu, "cpu.cfs_quota_us"), String(cpuQuotaUs(limits.cpuMillis)));
      }
    } catch (e) {
      made.forEach(removeCgroup);
      throw e;
    }
    this.entrySteps = { procsFiles: this.unique.map((d) => path.join(d, "cgroup.procs")) };
  }

  started(_pid: number, onOverLimit: (message: string) => void): void {
    if (this.limits.memoryBytes <= 0) return;
    // The kernel kills one process of the group at the limit; the job as a whole ends with it.
    this.poll = setInterval(() => {
      if (this.overLimit || !this.oomKillSeen()) return;
      this.overLimit = true;
      onOverLimit(`memory limit of ${Math.round(this.limits.memoryBytes / MIB)} MiB exceeded: the kernel's OOM killer killed a process of the job`);
    }, OOM_POLL_MS);
  }

  /** Everything of the job is in its cgroup, whatever its parents. */
  async survey(): Promise<void> {}

  async sample(): Promise<UsageReading> {
    return this.read();
  }

  private read(): UsageReading {
    const memory = readNumber(path.join(this.dirs.memory, "memory.usage_in_bytes")) ?? 0;
    const maxUsage = readNumber(path.join(this.dirs.memory, "memory.max_usage_in_bytes")) ?? 0;
    this.peak = Math.max(this.peak, memory, maxUsage);
    const cpuNs = readNumber(path.join(this.dirs.cpuacct, "cpuacct.usage")) ?? 0;
    return { cpuSeconds: cpuNs / 1e9, memoryBytes: memory, peakMemoryBytes: this.peak };
  }

  kill(): void {
    killPids(readPids(path.join(this.dirs.memory, "cgroup.procs")));
  }

  async end(leaderSignal: NodeJS.Signals | null): Promise<FinalUsage> {
    if (this.poll) clearInterval(this.poll);
    this.poll = undefined;
    await waitEmpty(this.entrySteps.procsFiles, EMPTY_WAIT_MS, true);
    const usage = { ...this.read(), memoryBytes: 0 };
    const oomKilled = this.overLimit || this.oomKillSeen() || this.oldKernelOom(leaderSignal);
    for (const dir of this.unique) removeCgroup(dir);
    return { usage, oomKilled };
  }

  private oomKillSeen(): boolean {
    return (readKeyed(path.join(this.dirs.memory, "memory.oom_control"), "oom_kill") ?? 0) > 0;
  }

  /** Kernels before 4.13 have no oom_kill counter: a SIGKILLed leader after hitting the limit. */
  private oldKernelOom(leaderSignal: NodeJS.Signals | null): boolean {
    if (this.limits.memoryBytes <= 0 || leaderSignal !== "SIGKILL") return false;
    if (readKeyed(path.join(this.dirs.memory, "memory.oom_control"), "oom_kill") !== undefined) return false;
    return (readNumber(path.join(this.dirs.memory, "memory.failcnt")) ?? 0) > 0;
  }
}
