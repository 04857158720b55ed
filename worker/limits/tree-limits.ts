// Without cgroups: `rlimit` gives every process of the job a data-size rlimit as a hard backstop and
// watches the memory of its whole process tree, killing the job when the tree goes over the limit;
// `none` only watches (usage) and kills the tree at the end. Neither can limit CPU.
import { ProcessTree, TreeUsage } from "./process-tree.js";
import { MIB, type Confinement, type EntrySteps, type FinalUsage, type JobLimits, type Limits, type UsageReading } from "./limits.js";

/** How often the watchdog reads the tree's memory: a hog allocating 1 GB/s gets ~100 MB past the limit. */
export const WATCHDOG_INTERVAL_MS = 100;

/**
 * RLIMIT_DATA counts one process's writable private memory (its heap), not the tree's resident
 * memory, and binds at once; so it sits above the limit the watchdog enforces (twice it, at least
 * 64 MiB more) and catches only a process that outruns the watchdog. RLIMIT_AS would count address
 * space that runtimes merely reserve (node reserves ~700 MB at start, Go and Java more).
 */
export function dataLimitBytes(memoryBytes: number): number {
  return Math.max(memoryBytes * 2, memoryBytes + 64 * MIB);
}

export class TreeLimits implements Limits {
  constructor(readonly mechanism: "rlimit" | "none") {}

  confine(_name: string, limits: JobLimits): Confinement {
    return new TreeConfinement(this.mechanism === "rlimit" ? limits.memoryBytes : 0);
  }

  close(): void {}
}

class TreeConfinement implements Confinement {
  readonly entrySteps: EntrySteps | undefined;
  private readonly tree = new ProcessTree();
  private readonly usage = new TreeUsage();
  private watchdog: NodeJS.Timeout | undefined;
  private overLimit = false;

  /** `memoryBytes` 0: watch nothing (no limit, or mechanism none). */
  constructor(private readonly memoryBytes: number) {
    this.entrySteps = memoryBytes > 0 ? { procsFiles: [], dataLimitKib: Math.ceil(dataLimitBytes(memoryBytes) / 1024) } : undefined;
  }

  started(pid: number, onOverLimit: (message: string) => void): void {
    this.tree.setLeader(pid);
    if (this.memoryBytes <= 0) return;
    let busy = false;
    this.watchdog = setInterval(() => {
      if (busy || this.overLimit) return;
      busy = true;
      this.sample()
        .then((u) => {
          if (u.memoryBytes <= this.memoryBytes || this.overLimit || !this.watchdog) return;
          this.overLimit = true;
          onOverLimit(
            `memory limit of ${mib(this.memoryBytes)} MiB exceeded: the job's processes used ${mib(u.memoryBytes)} MiB, the worker killed them`,
          );
        })
        .finally(() => (busy = false));
    }, WATCHDOG_INTERVAL_MS);
  }

  async survey(): Promise<void> {
    await this.tree.scan();
  }

  async sample(): Promise<UsageReading> {
    return this.usage.sample(await this.tree.scan());
  }

  kill(): void {
    this.tree.killKnown();
    void this.tree.killAll();
  }

  async end(): Promise<FinalUsage> {
    if (this.watchdog) clearInterval(this.watchdog);
    this.watchdog = undefined;
    try {
      // What outlived the leader still counts, so read it before it is killed.
      await this.sample();
      await this.tree.killAll();
    } catch {
      /* the usage stays what was last read */
    }
    return { usage: this.usage.final(), oomKilled: this.overLimit };
  }
}

function mib(bytes: number): number {
  return Math.round(bytes / MIB);
}
