// The one interface every way of confining a job sits behind (cgroup v2, cgroup v1, rlimits with a
// watchdog, nothing): the exec executor asks it to wrap the command, watch the job, read its usage
// and end it; it never needs to know which mechanism it got.

export type LimitsMechanism = "cgroup-v2" | "cgroup-v1" | "rlimit" | "none";
/** What --limits asks for: a mechanism, or the best one this host has. */
export type LimitsMode = "auto" | LimitsMechanism;

export const LIMITS_MODES: readonly LimitsMode[] = ["auto", "cgroup-v2", "cgroup-v1", "rlimit", "none"];

export interface JobLimits {
  /** 0 = no memory limit. */
  memoryBytes: number;
  /** Millicores; 0 = no CPU limit. */
  cpuMillis: number;
}

/** What everything of one job uses, read at one moment. */
export interface UsageReading {
  /** Cumulative CPU time of the job's processes (including ones that already ended, where the mechanism can tell). */
  cpuSeconds: number;
  /** Memory now. */
  memoryBytes: number;
  /** Highest memory seen for the attempt. */
  peakMemoryBytes: number;
}

export interface FinalUsage {
  usage: UsageReading;
  /** The job went over its memory limit and the kernel or the worker's watchdog killed it for that. */
  oomKilled: boolean;
}

/** What the entry script does before it execs the job's command (see entry-script.ts). */
export interface EntrySteps {
  /** cgroup.procs files the job's first process writes itself into. */
  procsFiles: string[];
  /** RLIMIT_DATA (soft and hard), KiB. */
  dataLimitKib?: number;
}

/** Confines one attempt: created before its spawn, ended once, after its leader exited. */
export interface Confinement {
  /** undefined: spawn the command itself; else through the entry script, which confines it first. */
  readonly entrySteps: EntrySteps | undefined;
  /**
   * The leader runs as `pid` (it leads its own process group). Starts watching the job:
   * `onOverLimit` is called at most once when the job went over its memory limit.
   */
  started(pid: number, onOverLimit: (message: string) => void): void;
  /**
   * Looks at what the job is made of now, before the worker signals it: without cgroups the
   * job's processes are found through their parents, links a signal to the leader cuts.
   */
  survey(): Promise<void>;
  /** Usage of everything in the job now. */
  sample(): Promise<UsageReading>;
  /** Sends SIGKILL to everything of the job at once (beyond the process group); does not wait. */
  kill(): void;
  /**
   * The attempt is over: kills whatever of the job still runs and waits (bounded) until nothing
   * is left, reads the final usage and whether memory killed it, and removes what was created
   * for the job. Never rejects.
   */
  end(leaderSignal: NodeJS.Signals | null): Promise<FinalUsage>;
}

export interface Limits {
  readonly mechanism: LimitsMechanism;
  /** Sets up the confinement of one attempt; throws (with a message that says why) when it cannot. */
  confine(name: string, limits: JobLimits): Confinement;
  /** Removes what the worker created for itself (its cgroup folders). Never throws. */
  close(): void;
}

/** A mechanism cannot be used on this host; `reason` says why, for the start line and errors. */
export class LimitsUnavailableError extends Error {
  override readonly name = "LimitsUnavailableError";
  constructor(
    readonly mechanism: LimitsMechanism,
    readonly reason: string,
  ) {
    super(`${mechanism} limits are not available: ${reason}`);
  }
}

export function isLimitsUnavailableError(e: unknown): e is LimitsUnavailableError {
  return e instanceof LimitsUnavailableError;
}

export const MIB = 1024 * 1024;

/** CFS period used for every CPU quota: 100 ms, the kernel's default. */
export const CPU_PERIOD_US = 100_000;

/** Microseconds of CPU per period for `cpuMillis`; the kernel refuses quotas under 1 ms. */
export function cpuQuotaUs(cpuMillis: number): number {
  return Math.max(1000, Math.round((cpuMillis * CPU_PERIOD_US) / 1000));
}

/** A cgroup folder name for an attempt: job ids come from users, keep only safe characters. */
export function attemptDirName(name: string): string {
  const safe = name.replace(/[^A-Za-z0-9._-]/g, "_").slice(0, 200);
  return safe === "" || safe === "." || safe === ".." ? `job_${safe}` : safe;
}
