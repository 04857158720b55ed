// A job's processes without cgroups: its leader's descendants found by a scan of /proc (ppid links),
// remembered across scans so that a process that escaped its group (setsid) or lost its parent is
// still the job's, and their usage sampled with pidusage.
import { readdir, readFile } from "node:fs/promises";
import pidusage from "pidusage";
import type { UsageReading } from "./limits.js";

export interface ProcEntry {
  pid: number;
  ppid: number;
  /** Start time in clock ticks since boot: with the pid, it names one process even after pid reuse. */
  start: number;
}

/** Parses /proc/<pid>/stat; undefined when it does not look like one. */
export function parseProcStat(text: string): ProcEntry | undefined {
  const open = text.indexOf(" (");
  const close = text.lastIndexOf(")");
  if (open < 0 || close < open) return undefined;
  const pid = Number(text.slice(0, open));
  // After "(comm) ": state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime
  // stime cutime cstime priority nice threads itrealvalue starttime …
  const f = text.slice(close + 2).split(" ");
  const ppid = Number(f[1]);
  const start = Number(f[19]);
  if (!Number.isInteger(pid) || !Number.isInteger(ppid) || !Number.isFinite(start)) return undefined;
  return { pid, ppid, start };
}

/** Scans shared by every job for this long: one /proc walk serves all watchdogs of one tick. */
const TABLE_REUSE_MS = 20;
let table: { at: number; entries: Promise<Map<number, ProcEntry>> } | undefined;

/** Every process of the host (of this pid namespace), by pid. */
export function processTable(): Promise<Map<number, ProcEntry>> {
  const now = Date.now();
  if (table && now - table.at < TABLE_REUSE_MS) return table.entries;
  const entries = scanProc();
  table = { at: now, entries };
  return entries;
}

async function scanProc(): Promise<Map<number, ProcEntry>> {
  const out = new Map<number, ProcEntry>();
  let names: string[];
  try {
    names = await readdir("/proc");
  } catch {
    return out; // no /proc (not Linux): the tree is its leader alone
  }
  await Promise.all(
    names.map(async (name) => {
      if (!/^\d+$/.test(name)) return;
      try {
        const e = parseProcStat(await readFile(`/proc/${name}/stat`, "utf8"));
        if (e) out.set(e.pid, e);
      } catch {
        /* gone meanwhile */
      }
    }),
  );
  return out;
}

/** The processes of one job, as the last scan saw them. */
export class ProcessTree {
  /** pid → start of every process of the job seen alive at the last scan. */
  private known = new Map<number, number>();
  private leader: number | undefined;

  setLeader(pid: number): void {
    this.leader = pid;
  }

  /**
   * Scans: the leader and every process seen before (still the same process), and all their
   * descendants. Without /proc, the leader alone.
   */
  async scan(): Promise<ProcEntry[]> {
    const all = await processTable();
    if (this.leader === undefined) return [];
    if (all.size === 0) return [{ pid: this.leader, ppid: 0, start: 0 }];
    const children = new Map<number, ProcEntry[]>();
    for (const e of all.values()) {
      let list = children.get(e.ppid);
      if (!list) children.set(e.ppid, (list = []));
      list.push(e);
    }
    const found = new Map<number, ProcEntry>();
    const queue: ProcEntry[] = [];
    const root = (e: ProcEntry | undefined) => {
      if (e && !found.has(e.pid)) {
        found.set(e.pid, e);
        queue.push(e);
      }
    };
    root(all.get(this.leader));
    for (const [pid, start] of this.known) {
      const e = all.get(pid);
      if (e && e.start === start) root(e);
    }
    while (queue.length > 0) for (const c of children.get(queue.pop()!.pid) ?? []) root(c);
    this.known = new Map(Array.from(found.values(), (e) => [e.pid, e.start]));
    return [...found.values()];
  }

  /** SIGKILL to every process of the job, rescanning until none is left (a forking job races us). */
  async killAll(rounds = 5): Promise<void> {
    for (let i = 0; i < rounds; i++) {
      table = undefined; // a fresh scan: the one cached may predate the kill
      const procs = await this.scan();
      if (procs.length === 0) return;
      for (const p of procs) {
        try {
          process.kill(p.pid, "SIGKILL");
        } catch {
          /* already gone */
        }
      }
      this.leader = undefined; // the leader is dead or was never more than a pid
    }
  }

  /** SIGKILL to every process the last scan saw; does not wait. */
  killKnown(): void {
    for (const pid of this.known.keys()) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        /* already gone */
      }
    }
  }
}

/** Usage of a process tree over time, from pidusage samples of its members. */
export class TreeUsage {
  /** Last CPU time (ms) of every process ever seen, by pid:start: ended processes keep counting. */
  private cpuMs = new Map<string, number>();
  private peak = 0;
  private last: UsageReading = { cpuSeconds: 0, memoryBytes: 0, peakMemoryBytes: 0 };

  async sample(procs: readonly ProcEntry[]): Promise<UsageReading> {
    let memory = 0;
    if (procs.length > 0) {
      let stats: Record<string, pidusage.Status>;
      try {
        stats = await pidusage(procs.map((p) => p.pid), { maxage: 10_000 });
      } catch {
        stats = {};
      }
      for (const p of procs) {
        const s = stats[p.pid];
        if (!s) continue;
        memory += s.memory;
        this.cpuMs.set(`${p.pid}:${p.start}`, s.ctime);
      }
    }
    let cpuMs = 0;
    for (const v of this.cpuMs.values()) cpuMs += v;
    this.peak = Math.max(this.peak, memory);
    this.last = { cpuSeconds: cpuMs / 1000, memoryBytes: memory, peakMemoryBytes: this.peak };
    return this.last;
  }

  /** The last sample, with nothing running any more. */
  final(): UsageReading {
    return { ...this.last, memoryBytes: 0 };
  }
}
