// Finding the worker's cgroups from /proc texts (pure), what makes a mechanism unavailable, naming
// and quotas, command resolution for the entry script, and the GPU pool.
import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { offeredGpus, GpuPool, parseNvidiaSmi } from "../../worker/gpus.js";
import { parseMountInfo, parseProcCgroup, v1ControllerDir, v2Dir } from "../../worker/limits/cgroup-fs.js";
import { resolveV1 } from "../../worker/limits/cgroup-v1.js";
import { resolveV2 } from "../../worker/limits/cgroup-v2.js";
import { resolveCommand } from "../../worker/limits/entry-script.js";
import { attemptDirName, cpuQuotaUs, LimitsUnavailableError } from "../../worker/limits/limits.js";
import { parseProcStat } from "../../worker/limits/process-tree.js";
import { dataLimitBytes } from "../../worker/limits/tree-limits.js";

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), "baton-limits-detect-"));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

// A hybrid host like the sandbox these tests were written on: v1 controllers, a v2 mount with none.
const HYBRID_CGROUP = ["9:name=systemd:/", "4:memory:/process_api/abc", "2:cpuacct:/", "1:cpu:/", "0::/"].join("\n");
const HYBRID_MOUNTS = [
  "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755",
  "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu",
  "33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct",
  "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory",
  "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw",
].join("\n");

describe("where the worker's cgroups are", () => {
  it("parses /proc/self/cgroup and mountinfo", () => {
    expect(parseProcCgroup("5:cpu,cpuacct:/a/b\n0::/c\n")).toEqual([
      { hierarchyId: "5", controllers: ["cpu", "cpuacct"], path: "/a/b" },
      { hierarchyId: "0", controllers: [], path: "/c" },
    ]);
    const [m] = parseMountInfo("40 31 0:38 /docker/x /sys/fs/cgroup/cpu\\040acct ro,nosuid shared:9 - cgroup cgroup rw,cpu,cpuacct");
    expect(m).toEqual({ root: "/docker/x", mountPoint: "/sys/fs/cgroup/cpu acct", readOnly: true, fsType: "cgroup", superOptions: ["rw", "cpu", "cpuacct"] });
  });

  it("nests under the worker's own v1 group of each controller", () => {
    const ms = parseProcCgroup(HYBRID_CGROUP);
    const mounts = parseMountInfo(HYBRID_MOUNTS);
    expect(v1ControllerDir("memory", ms, mounts).dir).toBe("/sys/fs/cgroup/memory/process_api/abc");
    expect(v1ControllerDir("cpu", ms, mounts).dir).toBe("/sys/fs/cgroup/cpu");
    expect(v1ControllerDir("pids", ms, mounts).why).toContain("pids controller is not on a cgroup v1 hierarchy");
    // A container's view: the mount's root is the container's own group.
    const container = parseMountInfo("50 40 0:32 /kubepods/pod1/c1 /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory");
    expect(v1ControllerDir("memory", parseProcCgroup("4:memory:/kubepods/pod1/c1"), container).dir).toBe("/sys/fs/cgroup/memory");
    expect(v1ControllerDir("memory", parseProcCgroup("4:memory:/elsewhere"), container).why).toContain("outside the mount");
  });

  it("finds the unified group, and says why a hybrid host's v2 mount cannot be used", async () => {
    const pure = v2Dir(parseProcCgroup("0::/system.slice/baton.service"), parseMountInfo("30 20 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate"));
    expect(pure.dir).toBe("/sys/fs/cgroup/system.slice/baton.service");
    const fake = path.join(tmp, "unified");
    await mkdir(fake);
    await writeFile(path.join(fake, "cgroup.controllers"), "hugetlb\n");
    const mountInfo = `41 31 0:38 / ${fake} rw,relatime - cgroup2 cgroup2 rw`;
    expect(() => resolveV2({ procSelfCgroup: "0::/", mountInfo })).toThrow(LimitsUnavailableError);
    expect(() => resolveV2({ procSelfCgroup: "0::/", mountInfo })).toThrow(/does not offer the memory and cpu controllers \(it offers: hugetlb\)/);
    await writeFile(path.join(fake, "cgroup.controllers"), "cpuset cpu io memory pids\n");
    expect(resolveV2({ procSelfCgroup: "0::/", mountInfo })).toBe(fake);
    expect(() => resolveV2({ procSelfCgroup: "1:cpu:/", mountInfo })).toThrow(/no 0:: line/);
  });

  it("needs memory, cpu and cpuacct for cgroup v1", () => {
    const noAcct = HYBRID_MOUNTS.split("\n").filter((l) => !l.includes("cpuacct")).join("\n");
    expect(() => resolveV1({ procSelfCgroup: HYBRID_CGROUP, mountInfo: noAcct })).toThrow(/cpuacct hierarchy is not mounted/);
  });
});

describe("names, quotas and rlimits", () => {
  it("keeps cgroup names safe", () => {
    expect(attemptDirName("job-42-1")).toBe("job-42-1");
    expect(attemptDirName("../../etc-1")).toBe(".._.._etc-1");
    expect(attemptDirName("..")).toBe("job_..");
    expect(attemptDirName("a/b c-2")).toBe("a_b_c-2");
  });

  it("turns millicores into a CFS quota per 100 ms, at least the kernel's 1 ms", () => {
    expect(cpuQuotaUs(200)).toBe(20_000);
    expect(cpuQuotaUs(2500)).toBe(250_000);
    expect(cpuQuotaUs(5)).toBe(1000);
  });

  it("puts the data rlimit above the watched limit", () => {
    expect(dataLimitBytes(100 * 2 ** 20)).toBe(200 * 2 ** 20);
    expect(dataLimitBytes(16 * 2 ** 20)).toBe(80 * 2 ** 20);
  });

  it("parses /proc/<pid>/stat, also with spaces and parentheses in the command name", () => {
    const stat = "4242 (a (b) c) S 17 4242 4242 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 1 0 98765 1000 200";
    expect(parseProcStat(stat)).toEqual({ pid: 4242, ppid: 17, start: 98765 });
  });
});

describe("resolving the command the entry script execs", () => {
  it("searches PATH, names a missing or non-executable program, resolves relative paths from cwd", async () => {
    const bin = path.join(tmp, "bin");
    await mkdir(bin);
    await writeFile(path.join(bin, "tool"), "#!/bin/sh\n");
    await chmod(path.join(bin, "tool"), 0o755);
    await writeFile(path.join(bin, "plain"), "data");
    expect(resolveCommand("tool", `/nonexistent:${bin}`, "/")).toEqual({ path: path.join(bin, "tool") });
    expect(resolveCommand("plain", bin, "/")).toEqual({ code: "EACCES" });
    expect(resolveCommand("nope", bin, "/")).toEqual({ code: "ENOENT" });
    expect(resolveCommand("./tool", undefined, bin)).toEqual({ path: path.join(bin, "tool") });
    expect(resolveCommand(bin, undefined, "/")).toEqual({ code: "EACCES" });
  });
});

describe("GPUs", () => {
  it("parses nvidia-smi's CSV in index order", () => {
    expect(parseNvidiaSmi("1, GPU-b\n0, GPU-a\n\nnot a line\n")).toEqual([
      { index: 0, uuid: "GPU-a" },
      { index: 1, uuid: "GPU-b" },
    ]);
  });

  it("offers what --gpus says", () => {
    const found = [
      { index: 0, uuid: "GPU-a" },
      { index: 1, uuid: "GPU-b" },
    ];
    expect(offeredGpus(found, undefined)).toEqual(found);
    expect(offeredGpus(found, 0)).toEqual([]);
    expect(offeredGpus(found, 1)).toEqual([found[0]]);
    expect(offeredGpus([], 2)).toEqual([
      { index: 0, uuid: "" },
      { index: 1, uuid: "" },
    ]);
  });

  it("hands out free indices, lowest first, and takes them back", () => {
    const pool = new GpuPool([0, 1, 2].map((index) => ({ index, uuid: `GPU-${index}` })));
    expect(pool.take(2)).toEqual([0, 1]);
    expect(pool.take(2)).toBeUndefined();
    expect(pool.take(1)).toEqual([2]);
    pool.give([1]);
    pool.give([0]);
    expect(pool.freeCount).toBe(2);
    expect(pool.take(2)).toEqual([0, 1]);
  });
});
