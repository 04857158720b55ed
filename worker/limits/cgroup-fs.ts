// Where this process's cgroups are: pure parsing of /proc/self/cgroup and /proc/self/mountinfo, and
// the few file operations on cgroup folders every mechanism needs.
import { readdirSync, readFileSync, rmdirSync, writeFileSync } from "node:fs";
import path from "node:path";

export interface CgroupMembership {
  /** "0" for the unified (v2) hierarchy. */
  hierarchyId: string;
  /** v1 controllers of the hierarchy ("cpu", "cpuacct", "name=systemd"…); empty for v2. */
  controllers: string[];
  /** Path of this process's cgroup, relative to the hierarchy's root ("/" or "/a/b"). */
  path: string;
}

export function parseProcCgroup(text: string): CgroupMembership[] {
  const out: CgroupMembership[] = [];
  for (const line of text.split("\n")) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line.trim());
    if (!m) continue;
    out.push({ hierarchyId: m[1]!, controllers: m[2] === "" ? [] : m[2]!.split(","), path: m[3]! });
  }
  return out;
}

export interface Mount {
  /** The folder of the filesystem that is mounted (for cgroupfs: a cgroup path). */
  root: string;
  mountPoint: string;
  readOnly: boolean;
  fsType: string;
  superOptions: string[];
}

/** /proc/self/mountinfo: `id parent maj:min root mountpoint options [optional…] - fstype source superoptions`. */
export function parseMountInfo(text: string): Mount[] {
  const out: Mount[] = [];
  for (const line of text.split("\n")) {
    const f = line.trim().split(" ");
    const dash = f.indexOf("-");
    if (dash < 6 || f.length < dash + 4) continue;
    out.push({
      root: unescapeMount(f[3]!),
      mountPoint: unescapeMount(f[4]!),
      readOnly: f[5]!.split(",").includes("ro"),
      fsType: f[dash + 1]!,
      superOptions: f[dash + 3]!.split(","),
    });
  }
  return out;
}

function unescapeMount(s: string): string {
  return s.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/**
 * The folder of this process's own cgroup in `mount`, or undefined when the mount does not show it
 * (a cgroup namespace or bind mount rooted elsewhere).
 */
export function ownCgroupDir(mount: Mount, ownPath: string): string | undefined {
  const rel = path.posix.relative(mount.root, ownPath);
  if (rel.startsWith("..") || path.posix.isAbsolute(rel)) return undefined;
  return path.join(mount.mountPoint, rel);
}

/** The v1 hierarchy of `controller`: the folder of this process's cgroup in it. */
export function v1ControllerDir(controller: string, memberships: CgroupMembership[], mounts: Mount[]): { dir?: string; why?: string } {
  const member = memberships.find((m) => m.hierarchyId !== "0" && m.controllers.includes(controller));
  if (!member) return { why: `the ${controller} controller is not on a cgroup v1 hierarchy (/proc/self/cgroup)` };
  const mount = mounts.find((m) => m.fsType === "cgroup" && m.superOptions.includes(controller));
  if (!mount) return { why: `the cgroup v1 ${controller} hierarchy is not mounted` };
  if (mount.readOnly) return { why: `the cgroup v1 ${controller} hierarchy at ${mount.mountPoint} is mounted read-only` };
  const dir = ownCgroupDir(mount, member.path);
  if (!dir) return { why: `this process's ${controller} cgroup ${member.path} is outside the mount at ${mount.mountPoint}` };
  return { dir };
}

/** The unified (v2) hierarchy: the folder of this process's cgroup in it. */
export function v2Dir(memberships: CgroupMembership[], mounts: Mount[]): { dir?: string; mountPoint?: string; why?: string } {
  const member = memberships.find((m) => m.hierarchyId === "0");
  if (!member) return { why: "this process is in no cgroup v2 hierarchy (/proc/self/cgroup has no 0:: line)" };
  const mount = mounts.find((m) => m.fsType === "cgroup2");
  if (!mount) return { why: "no cgroup2 filesystem is mounted" };
  if (mount.readOnly) return { why: `the cgroup2 filesystem at ${mount.mountPoint} is mounted read-only` };
  const dir = ownCgroupDir(mount, member.path);
  if (!dir) return { why: `this process's cgroup ${member.path} is outside the cgroup2 mount at ${mount.mountPoint}` };
  return { dir, mountPoint: mount.mountPoint };
}

export function readText(file: string): string | undefined {
  try {
    return readFileSync(file, "utf8");
  } catch {
    return undefined;
  }
}

/** `key value` lines (cpu.stat, memory.events, memory.oom_control) → the value of `key`. */
export function readKeyed(file: string, key: string): number | undefined {
  const text = readText(file);
  if (text === undefined) return undefined;
  const m = new RegExp(`^${key} (\\d+)$`, "m").exec(text);
  return m ? Number(m[1]) : undefined;
}

export function readNumber(file: string): number | undefined {
  const text = readText(file);
  if (text === undefined) return undefined;
  const n = Number(text.trim());
  return Number.isFinite(n) ? n : undefined;
}

/** Writes a control file; the error names the file and what was written. */
export function writeControl(file: string, value: string): void {
  try {
    writeFileSync(file, value);
  } catch (e) {
    throw new Error(`cannot write ${JSON.stringify(value)} to ${file}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, { cause: e });
  }
}

/** Pids in a cgroup.procs file (none when it is gone). */
export function readPids(procsFile: string): number[] {
  const text = readText(procsFile);
  if (!text) return [];
  return text
    .split("\n")
    .filter((s) => s !== "")
    .map(Number)
    .filter((n) => Number.isInteger(n) && n > 0);
}

export function killPids(pids: readonly number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      /* gone */
    }
  }
}

/** Removes an empty cgroup folder; false when it is still populated or already gone. */
export function removeCgroup(dir: string): boolean {
  try {
    rmdirSync(dir);
    return true;
  } catch {
    return false;
  }
}

/** Child cgroup folders of `dir` (names only). */
export function childCgroups(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name);
  } catch {
    return [];
  }
}

/** Waits (polling: the kernel offers no event for this on v1) until every pid file is empty. */
export async function waitEmpty(procsFiles: readonly string[], timeoutMs: number, kill: boolean): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  let delay = 2;
  for (;;) {
    const pids = procsFiles.flatMap(readPids);
    if (pids.length === 0) return true;
    if (kill) killPids(pids);
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 50);
  }
}

/** The folder, under `<own cgroup>/baton/`, of one worker process: its pid first, to find dead ones. */
export function workerDirName(workerId: string): string {
  return `${process.pid}-${workerId.slice(0, 8)}`;
}

/**
 * Removes what workers that died without cleaning up left under `batonDir` (folders named after a
 * pid that no longer runs): their jobs' processes are killed (their attempts were re-queued when
 * the worker was lost) and the folders removed. Best effort.
 */
export async function sweepDeadWorkers(batonDirs: readonly string[]): Promise<void> {
  const dead = new Set<string>();
  for (const batonDir of batonDirs) {
    for (const name of childCgroups(batonDir)) {
      const pid = Number(/^(\d+)-/.exec(name)?.[1]);
      if (pid > 0 && pid !== process.pid && !pidExists(pid)) dead.add(name);
    }
  }
  for (const name of dead) {
    const workerDirs = batonDirs.map((b) => path.join(b, name));
    const jobs = new Set(workerDirs.flatMap(childCgroups));
    for (const job of jobs) {
      const dirs = workerDirs.map((w) => path.join(w, job));
      await waitEmpty(
        dirs.map((d) => path.join(d, "cgroup.procs")),
        2000,
        true,
      );
      dirs.forEach(removeCgroup);
    }
    workerDirs.forEach(removeCgroup);
  }
}

function pidExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}
