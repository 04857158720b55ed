// Limits enforced for real: cgroups of this machine (each mechanism skipped only where the host
// lacks it), rlimits with the watchdog, and teardown that leaves no process behind.
import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { detectLimits } from "../../worker/limits/detect.js";
import { isLimitsUnavailableError, type Limits, type LimitsMechanism } from "../../worker/limits/limits.js";
import { ExecExecutor } from "../../worker/runner/exec-executor.js";
import type { Outcome, UsageSample } from "../../worker/runner/executor.js";
import { execAssignment, jobId, readWhenWritten, waitGone } from "./fake-coordinator.js";

/** The mechanism, or why this host cannot offer it (the reason a test is skipped). */
async function open(m: LimitsMechanism): Promise<{ limits?: Limits; why: string }> {
  try {
    return { limits: (await detectLimits(m, randomUUID())).limits, why: "" };
  } catch (e) {
    if (isLimitsUnavailableError(e)) return { why: e.reason };
    throw e;
  }
}

const v2 = await open("cgroup-v2");
const v1 = await open("cgroup-v1");
const rlimit = await open("rlimit");
const none = await open("none");
const cgroups = [
  { name: "cgroup-v2", ...v2 },
  { name: "cgroup-v1", ...v1 },
];
for (const c of cgroups) if (!c.limits) console.log(`skipping ${c.name} tests: ${c.why}`);

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), "baton-worker-limits-"));
});
afterAll(async () => {
  for (const l of [v2, v1, rlimit, none]) l.limits?.close();
  await rm(tmp, { recursive: true, force: true });
});

/** A node process that allocates (and touches) 4 MiB every `everyMs` until it is stopped. */
function hog(everyMs: number): string[] {
  return ["node", "-e", `const a = []; setInterval(() => a.push(Buffer.alloc(4 << 20, 1)), ${everyMs});`];
}

function run(exec: ExecExecutor, argv: string[], resources: { cpuMillis: number; memoryMb: number }, extra: { timeoutMs?: number } = {}) {
  const a = execAssignment(jobId("lim"), argv, { timeoutMs: extra.timeoutMs ?? 0 });
  a.spec!.resources = { ...resources, gpus: 0 };
  const out: Buffer[] = [];
  const usage: UsageSample[] = [];
  let startedPid = 0;
  const attempt = exec.start(a, {
    onStarted: (pid) => (startedPid = pid),
    onLog: (s, c) => void (s === "stdout" && out.push(c)),
    onUsage: (u) => usage.push(u),
  });
  return { attempt, done: attempt.done, stdout: () => Buffer.concat(out).toString(), usage, pid: () => startedPid, name: `${a.jobId}-${a.attempt}` };
}

describe.each(cgroups)("$name", ({ name, limits, why }) => {
  const exec = limits ? new ExecExecutor({ killGraceMs: 300, limits, usageIntervalMs: 200 }) : undefined;

  it.skipIf(!limits)(`ends a memory hog as oom_killed while a neighbour finishes normally ${limits ? "" : `(skipped: ${why})`}`, async () => {
    const hogRun = run(exec!, hog(5), { cpuMillis: 0, memoryMb: 100 });
    const neighbour = run(exec!, ["sh", "-c", "sleep 1; echo fine"], { cpuMillis: 0, memoryMb: 100 });
    const [h, n] = await Promise.all([hogRun.done, neighbour.done]);
    expect(h.reason).toBe("oom_killed");
    expect(h.message).toContain("memory limit of 100 MiB exceeded");
    expect(h.peakMemoryBytes).toBeGreaterThan(90 * 2 ** 20);
    expect(n).toMatchObject({ reason: "exited", exitCode: 0 });
    expect(neighbour.stdout()).toBe("fine\n");
    expect(await waitGone(hogRun.pid())).toBe(true);
  });

  it.skipIf(!limits)("holds a CPU spinner to its quota (200 millicores)", async () => {
    const r = run(exec!, ["sh", "-c", "while :; do :; done"], { cpuMillis: 200, memoryMb: 0 }, { timeoutMs: 2000 });
    const o = await r.done;
    expect(o.reason).toBe("timed_out");
    const wall = (Date.now() - o.startedAtMs) / 1000;
    const share = o.cpuSeconds! / wall;
    expect(share).toBeGreaterThan(0.1);
    expect(share).toBeLessThan(0.35);
    // Samples while it ran: a rate near the quota, cumulative time growing.
    expect(r.usage.length).toBeGreaterThanOrEqual(3);
    const last = r.usage.at(-1)!;
    expect(last.cpuMillis).toBeGreaterThan(100);
    expect(last.cpuMillis).toBeLessThan(350);
    expect(last.cpuSeconds).toBeGreaterThan(r.usage[0]!.cpuSeconds);
  });

  it.skipIf(!limits)("kills every process of a timed-out job, also one that left its group with setsid", async () => {
    const f1 = path.join(tmp, `${name}-child.pid`);
    const f2 = path.join(tmp, `${name}-setsid.pid`);
    // A background child, and one in a session (and group) of its own that ignores SIGTERM.
    const script = `sleep 60 & echo $! > ${f1}; setsid sh -c 'trap "" TERM; echo $$ > ${f2}; while :; do sleep 1; done' & wait`;
    const r = run(exec!, ["sh", "-c", script], { cpuMillis: 0, memoryMb: 0 }, { timeoutMs: 500 });
    const child = Number(await readWhenWritten(f1));
    const escaped = Number(await readWhenWritten(f2));
    const o = await r.done;
    expect(o.reason).toBe("timed_out");
    // Gone by the time the attempt is reported over: no wait needed.
    expect(await waitGone(child, 0)).toBe(true);
    expect(await waitGone(escaped, 0)).toBe(true);
  });

  it.skipIf(!limits)("kills what a job left running when it exits, and removes its cgroup", async () => {
    const f = path.join(tmp, `${name}-daemon.pid`);
    const r = run(exec!, ["sh", "-c", `setsid sleep 60 & echo $! > ${f}; exit 0`], { cpuMillis: 100, memoryMb: 64 });
    const o = await r.done;
    expect(o).toMatchObject({ reason: "exited", exitCode: 0 });
    expect(await waitGone(Number(await readWhenWritten(f)), 0)).toBe(true);
    const own = await ownCgroupFolders(name as LimitsMechanism);
    for (const dir of own) expect(existsSync(path.join(dir, r.name))).toBe(false);
  });

  it.skipIf(!limits)("reports a command that cannot be found as spawn_failed, and runs relative to cwd", async () => {
    const missing = await run(exec!, ["baton-no-such-binary-xyz"], { cpuMillis: 100, memoryMb: 64 }).done;
    expect(missing.reason).toBe("spawn_failed");
    expect(missing.message).toContain("command not found (ENOENT)");
    const r = run(exec!, ["pwd"], { cpuMillis: 100, memoryMb: 64 });
    await r.done;
    expect(r.stdout()).not.toBe("");
  });
});

describe("rlimit (forced)", () => {
  const exec = new ExecExecutor({ killGraceMs: 300, limits: rlimit.limits!, usageIntervalMs: 200 });

  it("ends a memory hog as oom_killed through the watchdog", async () => {
    const r = run(exec, hog(20), { cpuMillis: 0, memoryMb: 128 });
    const o = await r.done;
    expect(o.reason).toBe("oom_killed");
    expect(o.message).toMatch(/memory limit of 128 MiB exceeded: the job's processes used \d+ MiB, the worker killed them/);
    expect(o.peakMemoryBytes).toBeGreaterThan(128 * 2 ** 20);
    expect(await waitGone(r.pid(), 0)).toBe(true);
  });

  it("caps one process's heap with RLIMIT_DATA before the job runs", async () => {
    const r = run(exec, ["sh", "-c", "ulimit -d"], { cpuMillis: 0, memoryMb: 100 });
    await r.done;
    expect(Number(r.stdout().trim())).toBe(200 * 1024); // twice the limit, in KiB
  });

  it("kills a timed-out job's processes, also one that left its group with setsid", async () => {
    const f1 = path.join(tmp, "rlimit-child.pid");
    const f2 = path.join(tmp, "rlimit-setsid.pid");
    const script = `sleep 60 & echo $! > ${f1}; setsid sh -c 'trap "" TERM; echo $$ > ${f2}; while :; do sleep 1; done' & wait`;
    // No usage samples and no memory watchdog: the processes must be found when the worker stops
    // the job, not before.
    const quiet = new ExecExecutor({ killGraceMs: 300, limits: rlimit.limits!, usageIntervalMs: 0 });
    const r = run(quiet, ["sh", "-c", script], { cpuMillis: 0, memoryMb: 0 }, { timeoutMs: 500 });
    const child = Number(await readWhenWritten(f1));
    const escaped = Number(await readWhenWritten(f2));
    expect((await r.done).reason).toBe("timed_out");
    expect(await waitGone(child, 0)).toBe(true);
    expect(await waitGone(escaped, 0)).toBe(true);
  });

  it("samples the usage of the whole process tree", async () => {
    // Two processes, each holding ~40 MB and spinning for a while.
    const busy = `node -e 'const b = Buffer.alloc(40 << 20, 1); const end = Date.now() + 1200; while (Date.now() < end) {} console.log(b.length)'`;
    const r = run(exec, ["sh", "-c", `${busy} & ${busy}; wait`], { cpuMillis: 0, memoryMb: 512 });
    const o: Outcome = await r.done;
    expect(o).toMatchObject({ reason: "exited", exitCode: 0 });
    expect(r.usage.length).toBeGreaterThanOrEqual(2);
    expect(Math.max(...r.usage.map((u) => u.memoryBytes))).toBeGreaterThan(80 * 2 ** 20);
    expect(o.peakMemoryBytes).toBeGreaterThan(80 * 2 ** 20);
    // Two processes spinning 1.2 s each, on a shared two-core machine; CPU of a process that ends
    // between two samples is partly missed without cgroups: a generous lower bound.
    expect(o.cpuSeconds).toBeGreaterThan(0.3);
  });
});

/** The folders where `m` makes attempt cgroups (to check that they are gone). */
async function ownCgroupFolders(m: LimitsMechanism): Promise<string[]> {
  const { readFileSync } = await import("node:fs");
  const { parseMountInfo, parseProcCgroup, v1ControllerDir, v2Dir } = await import("../../worker/limits/cgroup-fs.js");
  const memberships = parseProcCgroup(readFileSync("/proc/self/cgroup", "utf8"));
  const mounts = parseMountInfo(readFileSync("/proc/self/mountinfo", "utf8"));
  const roots =
    m === "cgroup-v2" ? [v2Dir(memberships, mounts).dir!] : ["memory", "cpu", "cpuacct"].map((c) => v1ControllerDir(c, memberships, mounts).dir!);
  const { readdirSync } = await import("node:fs");
  return roots.flatMap((r) => {
    try {
      return readdirSync(path.join(r, "baton")).map((w) => path.join(r, "baton", w));
    } catch {
      return [];
    }
  });
}
