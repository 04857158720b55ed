// The worker end to end against a real gRPC server standing in for a coordinator: logs, usage,
// limits as the coordinator sees them, cancel, GPUs and trace context.
import { randomBytes } from "node:crypto";
import { chmod, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { LogStream } from "../../shared/gen/baton/v1/types.js";
import type { Assignment } from "../../shared/gen/baton/v1/worker.js";
import { startWorker, type RunningWorker } from "../../worker/main.js";
import { compileWorkerOptions, type RawWorkerOptions } from "../../worker/options.js";
import { execAssignment, FakeCoordinator, jobId, jsAssignment, type FakeStream } from "./fake-coordinator.js";

const TASKS = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures", "tasks.mjs");
const MIB = 2 ** 20;

let tmp: string;
const cleanup: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), "baton-worker-telemetry-"));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});
afterEach(async () => {
  while (cleanup.length > 0) await cleanup.pop()!();
});

/** A worker registered with a fresh fake coordinator; heartbeats every `heartbeatMs`. */
async function workerWithStream(raw: RawWorkerOptions = {}, heartbeatMs = 60_000): Promise<{ w: RunningWorker; s: FakeStream }> {
  const c = await FakeCoordinator.start();
  cleanup.push(async () => c.kill());
  const options = compileWorkerOptions({ coordinators: c.address, httpPort: "0", killGraceMs: "200", tasks: TASKS, ...raw }, {});
  const w = await startWorker(options, { connection: { backoffStartMs: 20, backoffCapMs: 200 } });
  cleanup.push(() => w.stop({ graceMs: 0, flushMs: 0 }));
  const s = await c.stream();
  await s.register();
  s.registered(heartbeatMs);
  return { w, s };
}

function withResources(a: Assignment, cpuMillis: number, memoryMb: number, gpus = 0): Assignment {
  a.spec!.resources = { cpuMillis, memoryMb, gpus };
  return a;
}

/** When the event of `kind` of job `id` arrived. */
function receivedAt(s: FakeStream, id: string, kind: string): number {
  const r = s.received.find((x) => x.message.msg?.$case === "events" && x.message.msg.events.events.some((e) => e.jobId === id && e.kind?.$case === kind));
  return r!.at;
}

/** Each event kind of one job in the order received. */
function kinds(s: FakeStream, id: string): string[] {
  return s.events().filter((e) => e.jobId === id).map((e) => e.kind!.$case);
}

describe("logs", () => {
  it("streams 10 MB of output as ordered chunks of at most 32 KiB, all before finished, while heartbeats keep flowing", async () => {
    const { s } = await workerWithStream({}, 50);
    s.autoAck();
    await s.waitFor("a first heartbeat", () => (s.heartbeats().length > 0 ? true : undefined));
    const content = Buffer.from(randomBytes(7_500_000).toString("base64")); // 10,000,000 bytes
    const file = path.join(tmp, "ten-mb.txt");
    await writeFile(file, content);
    const id = jobId("big");
    s.assign(execAssignment(id, ["cat", file]));
    const { started } = await s.event(id, "started");
    const { finished } = await s.event(id, "finished");
    expect(finished).toMatchObject({ reason: "exited", exitCode: 0 });

    const chunks = s.logs(id);
    expect(chunks.map((c) => c.seq)).toEqual(chunks.map((_, i) => i + 1));
    expect(chunks.every((c) => c.stream === LogStream.LOG_STREAM_STDOUT && c.data.length > 0 && c.data.length <= 32 * 1024)).toBe(true);
    expect(s.output(id).equals(content)).toBe(true);
    const k = kinds(s, id);
    expect(k[0]).toBe("started");
    expect(k.at(-1)).toBe("finished");
    expect(k.filter((x) => x === "finished")).toHaveLength(1);

    // The worker stayed responsive: heartbeats kept their pace while the output streamed.
    const from = receivedAt(s, id, "started");
    const to = receivedAt(s, id, "finished");
    await s.waitFor("a heartbeat after the job", () => s.heartbeats().find((h) => h.at >= to));
    const beats = s.heartbeats().map((h) => h.at);
    const window = [beats.filter((t) => t <= from).at(-1)!, ...beats.filter((t) => t > from && t < to), beats.find((t) => t >= to)!];
    expect(started.pid).toBeGreaterThan(0);
    expect(window.every((t) => t !== undefined)).toBe(true);
    for (let i = 1; i < window.length; i++) expect(window[i]! - window[i - 1]!).toBeLessThan(500);
  });

  it("holds a job's output back while the coordinator acknowledges nothing, then delivers all of it", async () => {
    const { s } = await workerWithStream();
    const content = randomBytes(20 * MIB);
    const file = path.join(tmp, "twenty-mb.bin");
    await writeFile(file, content);
    const id = jobId("held");
    s.assign(execAssignment(id, ["cat", file]));
    const cap = 8 * MIB;
    await s.waitFor("8 MiB of output", () => (s.output(id).length >= cap ? true : undefined));
    // Backpressure is the absence of progress, which only time can show: the job stays blocked on
    // its writes and the worker sends no more than the cap (plus what was already read).
    await new Promise((r) => setTimeout(r, 500));
    expect(s.output(id).length).toBeLessThan(cap + MIB);
    expect(kinds(s, id)).not.toContain("finished");
    s.autoAck();
    const { finished } = await s.event(id, "finished");
    expect(finished).toMatchObject({ reason: "exited", exitCode: 0 });
    expect(s.output(id).equals(content)).toBe(true);
  });

  it("numbers chunks across stdout and stderr in the order the job wrote them", async () => {
    const { s } = await workerWithStream();
    s.autoAck();
    const id = jobId("streams");
    s.assign(execAssignment(id, ["sh", "-c", "echo out1; sleep 0.2; echo err1 >&2; sleep 0.2; echo out2"]));
    await s.event(id, "finished");
    expect(s.logs(id).map((c) => [c.stream, c.data.toString(), c.seq])).toEqual([
      [LogStream.LOG_STREAM_STDOUT, "out1\n", 1],
      [LogStream.LOG_STREAM_STDERR, "err1\n", 2],
      [LogStream.LOG_STREAM_STDOUT, "out2\n", 3],
    ]);
  });

  it("sends what a js task writes with ctx.log before its finished event", async () => {
    const { s } = await workerWithStream();
    const id = jobId("js-log");
    s.assign(jsAssignment(id, "chatty", { who: "baton" }));
    await s.event(id, "finished");
    expect(s.output(id).toString()).toBe("hello baton\nbye\n");
    expect(s.logs(id)[0]!.seq).toBe(1);
    expect(kinds(s, id).at(-1)).toBe("finished");
  });
});

describe("usage", () => {
  it("samples a running job, sums running jobs in heartbeats, and reports CPU time and peak memory at the end", async () => {
    const { s } = await workerWithStream({ usageIntervalMs: "100" }, 100);
    const id = jobId("usage");
    const script = "const b = Buffer.alloc(64 << 20, 1); const end = Date.now() + 1500; while (Date.now() < end) {} console.log(b.length)";
    s.assign(withResources(execAssignment(id, ["node", "-e", script]), 0, 512));
    const busy = await s.waitFor("a heartbeat with the job's usage", () =>
      s.heartbeats().find((h) => h.message.msg?.$case === "heartbeat" && h.message.msg.heartbeat.used!.memoryMb >= 60 && h.message.msg.heartbeat.used!.cpuMillis > 200),
    );
    expect(busy.message.msg?.$case === "heartbeat" && busy.message.msg.heartbeat.running).toBe(1);
    const { finished } = await s.event(id, "finished");
    expect(finished).toMatchObject({ reason: "exited", exitCode: 0 });
    // Spinning 1.5 s on a shared two-core machine: a generous lower bound.
    expect(finished.cpuSeconds).toBeGreaterThan(0.4);
    expect(finished.peakMemoryBytes).toBeGreaterThan(64 * MIB);

    const samples = s.usages(id);
    expect(samples.length).toBeGreaterThanOrEqual(5);
    expect(Math.max(...samples.map((u) => u.memoryBytes))).toBeGreaterThan(64 * MIB);
    expect(Math.max(...samples.map((u) => u.cpuMillis))).toBeGreaterThan(200);
    for (let i = 1; i < samples.length; i++) {
      expect(samples[i]!.cpuSeconds).toBeGreaterThanOrEqual(samples[i - 1]!.cpuSeconds);
      expect(samples[i]!.peakMemoryBytes).toBeGreaterThanOrEqual(samples[i - 1]!.peakMemoryBytes);
    }
    const k = kinds(s, id);
    expect(k.lastIndexOf("usage")).toBeLessThan(k.indexOf("finished"));
    // Idle again: nothing used.
    const idle = await s.waitFor("an idle heartbeat", () =>
      s.heartbeats().find((h) => h.at > Date.now() - 50 && h.message.msg?.$case === "heartbeat" && h.message.msg.heartbeat.running === 0),
    );
    expect(idle.message.msg?.$case === "heartbeat" && idle.message.msg.heartbeat.used).toEqual({ cpuMillis: 0, memoryMb: 0, gpus: 0 });
  });

  it("sends no usage for js jobs", async () => {
    const { s } = await workerWithStream({ usageIntervalMs: "50" });
    const id = jobId("js");
    s.assign(jsAssignment(id, "noop"));
    const { finished } = await s.event(id, "finished");
    expect(finished).toMatchObject({ reason: "exited", cpuSeconds: 0, peakMemoryBytes: 0 });
    expect(kinds(s, id)).toEqual(["finished"]);
  });
});

describe("limits on a worker", () => {
  const hog = ["node", "-e", "const a = []; setInterval(() => a.push(Buffer.alloc(4 << 20, 1)), 20);"];

  it("ends a memory hog as oom_killed while its neighbour on the same worker finishes normally", async () => {
    const { w, s } = await workerWithStream();
    const h = jobId("hog");
    const n = jobId("neighbour");
    s.assign(withResources(execAssignment(h, hog), 100, 128), withResources(execAssignment(n, ["sh", "-c", "sleep 1.5; echo done"]), 100, 64));
    const { finished } = await s.event(h, "finished");
    expect(finished.reason).toBe(w.limitsMechanism === "none" ? "exited" : "oom_killed");
    expect(finished.message).toContain("memory limit of 128 MiB exceeded");
    expect(finished.exitCode).toBeUndefined();
    expect((await s.event(n, "finished")).finished).toMatchObject({ reason: "exited", exitCode: 0 });
    expect(s.output(n).toString()).toBe("done\n");
    expect(w.runningCount()).toBe(0);
  });

  it("with --limits rlimit: registers it and ends a hog as oom_killed", async () => {
    const { w, s } = await workerWithStream({ limits: "rlimit" });
    expect(w.limitsMechanism).toBe("rlimit");
    expect((await s.register()).limitsMechanism).toBe("rlimit");
    const h = jobId("hog");
    s.assign(withResources(execAssignment(h, hog), 100, 128));
    const { finished } = await s.event(h, "finished");
    expect(finished.reason).toBe("oom_killed");
    expect(finished.peakMemoryBytes).toBeGreaterThan(128 * MIB);
  });

  it("refuses to start when the mechanism --limits names is not available here", async () => {
    const c = await FakeCoordinator.start();
    cleanup.push(async () => c.kill());
    // Unless this host has cgroup v2 with memory and cpu, in which case there is nothing to refuse.
    const options = compileWorkerOptions({ coordinators: c.address, httpPort: "0", limits: "cgroup-v2" }, {});
    const started = await startWorker(options).then(
      (w) => {
        cleanup.push(() => w.stop({ graceMs: 0, flushMs: 0 }));
        return undefined;
      },
      (e: Error) => e,
    );
    if (started) expect(started.message).toMatch(/^cgroup-v2 limits are not available: /);
  });

  it("stops a cancelled job within two seconds, even one that ignores SIGTERM", async () => {
    const { s } = await workerWithStream({ killGraceMs: "500" });
    const id = jobId("stubborn");
    s.assign(execAssignment(id, ["sh", "-c", "trap '' TERM; echo ready; while :; do sleep 1; done"]));
    await s.waitFor("ready", () => (s.output(id).toString() === "ready\n" ? true : undefined));
    const cancelledAt = Date.now();
    s.cancel([{ jobId: id, attempt: 1 }], "user asked");
    const { finished } = await s.event(id, "finished");
    expect(finished.reason).toBe("cancelled");
    expect(Date.now() - cancelledAt).toBeLessThan(2000);
  });
});

describe("GPUs", () => {
  async function fakeNvidiaSmi(lines: string[]): Promise<string> {
    const bin = path.join(tmp, `bin-${lines.length}-${Date.now()}`);
    await mkdir(bin);
    const script = path.join(bin, "nvidia-smi");
    await writeFile(script, `#!/bin/sh\n[ "$1" = "--query-gpu=index,uuid" ] || exit 9\n${lines.map((l) => `echo '${l}'`).join("\n")}\n`);
    await chmod(script, 0o755);
    return bin;
  }

  /** Starts the worker with `bin` first on PATH (only while it looks for GPUs). */
  async function workerWithPath(bin: string, raw: RawWorkerOptions = {}) {
    const saved = process.env.PATH;
    process.env.PATH = `${bin}:${saved}`;
    try {
      return await workerWithStream(raw);
    } finally {
      process.env.PATH = saved;
    }
  }

  it("finds GPUs with nvidia-smi, gives each job its own, and takes them back at the end", async () => {
    const bin = await fakeNvidiaSmi(["0, GPU-11111111-aaaa", "1, GPU-22222222-bbbb"]);
    const { w, s } = await workerWithPath(bin);
    expect(w.gpus).toBe(2);
    const reg = await s.register();
    expect(reg.capacity).toMatchObject({ gpus: 2 });
    expect(reg.gpuIds).toEqual(["GPU-11111111-aaaa", "GPU-22222222-bbbb"]);

    const gate = path.join(tmp, "gpu-gate");
    const holdGpu = ["sh", "-c", `echo "$CUDA_VISIBLE_DEVICES"; while [ ! -e ${gate} ]; do sleep 0.05; done`];
    const a = jobId("gpu-a");
    const b = jobId("gpu-b");
    const c = jobId("gpu-c");
    s.assign(withResources(execAssignment(a, holdGpu), 100, 64, 1), withResources(execAssignment(b, holdGpu), 100, 64, 1));
    const seen = await s.waitFor("both jobs' CUDA_VISIBLE_DEVICES", () => {
      const pa = s.output(a).toString();
      const pb = s.output(b).toString();
      return pa && pb ? [pa.trim(), pb.trim()] : undefined;
    });
    expect(seen.sort()).toEqual(["0", "1"]);
    // Both GPUs are taken: a third job asking for one is turned back.
    s.assign(withResources(execAssignment(c, ["true"]), 100, 64, 1));
    expect((await s.event(c, "rejected")).rejected.message).toBe("needs 1 GPU, 0 of 2 free on this worker");
    const hb = w;
    expect(hb.runningCount()).toBe(2);
    await writeFile(gate, "");
    await s.event(a, "finished");
    await s.event(b, "finished");

    // Freed: a job asking for both gets them; one asking for none sees no CUDA_VISIBLE_DEVICES.
    const both = jobId("gpu-both");
    const noGpu = jobId("gpu-none");
    s.assign(withResources(execAssignment(both, ["sh", "-c", 'echo "$CUDA_VISIBLE_DEVICES"']), 100, 64, 2));
    await s.event(both, "finished");
    s.assign(withResources(execAssignment(noGpu, ["sh", "-c", 'echo "[$CUDA_VISIBLE_DEVICES]"']), 100, 64, 0));
    await s.event(noGpu, "finished");
    expect(s.output(both).toString()).toBe("0,1\n");
    expect(s.output(noGpu).toString()).toBe("[]\n");
  });

  it("offers no GPUs with --gpus 0, and as many as --gpus says otherwise", async () => {
    const bin = await fakeNvidiaSmi(["0, GPU-11111111-aaaa", "1, GPU-22222222-bbbb"]);
    const off = await workerWithPath(bin, { gpus: "0" });
    expect(off.w.gpus).toBe(0);
    expect((await off.s.register()).gpuIds).toEqual([]);
    const one = await workerWithPath(bin, { gpus: "1" });
    const reg = await one.s.register();
    expect(reg.capacity).toMatchObject({ gpus: 1 });
    expect(reg.gpuIds).toEqual(["GPU-11111111-aaaa"]);
  });

  it("offers none where nvidia-smi is missing", async () => {
    const { w, s } = await workerWithStream();
    if (w.gpus === 0) expect((await s.register()).capacity).toMatchObject({ gpus: 0 });
  });
});

describe("trace context", () => {
  it("hands the assignment's traceparent and tracestate to the job", async () => {
    const { s } = await workerWithStream();
    const id = jobId("trace");
    const traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    s.assign(execAssignment(id, ["sh", "-c", 'echo "$TRACEPARENT|$TRACESTATE"'], { traceContext: { traceparent, tracestate: "baton=1" } }));
    await s.event(id, "finished");
    expect(s.output(id).toString()).toBe(`${traceparent}|baton=1\n`);
    const bare = jobId("trace-none");
    s.assign(execAssignment(bare, ["sh", "-c", 'echo "[$TRACEPARENT]"']));
    await s.event(bare, "finished");
    expect(s.output(bare).toString()).toBe("[]\n");
  });
});
