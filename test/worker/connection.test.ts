// The worker process end to end against real gRPC servers standing in for coordinators.
import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startWorker, type RunningWorker } from "../../worker/main.js";
import { compileWorkerOptions, type RawWorkerOptions } from "../../worker/options.js";
import { execAssignment, FakeCoordinator, jobId, jsAssignment, readWhenWritten, waitGone } from "./fake-coordinator.js";

const TASKS = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures", "tasks.mjs");

let tmp: string;
const cleanup: Array<() => Promise<unknown>> = [];

beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), "baton-worker-conn-"));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});
afterEach(async () => {
  while (cleanup.length > 0) await cleanup.pop()!();
});

async function coordinator(): Promise<FakeCoordinator> {
  const c = await FakeCoordinator.start();
  cleanup.push(async () => c.kill());
  return c;
}

async function worker(coordinators: FakeCoordinator[], raw: RawWorkerOptions = {}): Promise<RunningWorker> {
  const options = compileWorkerOptions(
    { coordinators: coordinators.map((c) => c.address).join(","), httpPort: "0", killGraceMs: "200", tasks: TASKS, ...raw },
    {},
  );
  const w = await startWorker(options, { connection: { backoffStartMs: 20, backoffCapMs: 200 } });
  cleanup.push(() => w.stop({ graceMs: 0, flushMs: 0 }));
  return w;
}

async function httpStatus(w: RunningWorker, p: string): Promise<number> {
  return (await fetch(`http://127.0.0.1:${w.httpPort}${p}`)).status;
}

describe("worker ↔ coordinator stream", () => {
  it("registers with its capacity, labels and identity; ready only once Registered", async () => {
    const c = await coordinator();
    const w = await worker([c], { cpu: "2000", memory: "1024", slots: "7", labels: "zone=eu,disk=ssd", name: "w-reg" });
    const s = await c.stream();
    const reg = await s.register();
    expect(reg).toMatchObject({
      workerId: w.id,
      name: "w-reg",
      capacity: { cpuMillis: 2000, memoryMb: 1024, gpus: 0 },
      slots: 7,
      labels: { zone: "eu", disk: "ssd" },
      running: [],
      limitsMechanism: w.limitsMechanism,
    });
    expect(["cgroup-v2", "cgroup-v1", "rlimit", "none"]).toContain(reg.limitsMechanism);
    expect(reg.version).not.toBe("");
    expect(await httpStatus(w, "/healthz")).toBe(200);
    expect(await httpStatus(w, "/readyz")).toBe(503);
    s.registered(50);
    await s.waitFor("a heartbeat", () => (s.heartbeats().length > 0 ? true : undefined));
    expect(await httpStatus(w, "/readyz")).toBe(200);
  });

  it("heartbeats at the interval the coordinator sets", async () => {
    const c = await coordinator();
    await worker([c], { slots: "2" });
    const s = await c.stream();
    await s.register();
    const registeredAt = Date.now();
    s.registered(100);
    const beats = await s.waitFor("3 heartbeats", () => (s.heartbeats().length >= 3 ? s.heartbeats().slice(0, 3) : undefined));
    const times = [registeredAt, ...beats.map((b) => b.at)];
    for (let i = 1; i < times.length; i++) expect(times[i]! - times[i - 1]!).toBeGreaterThanOrEqual(80);
    const hb = beats[0]!.message.msg;
    expect(hb?.$case === "heartbeat" && hb.heartbeat).toEqual({ running: 0, used: { cpuMillis: 0, memoryMb: 0, gpus: 0 } });
  });

  it("runs an assignment and reports started then finished in acknowledged batches", async () => {
    const c = await coordinator();
    await worker([c]);
    const s = await c.stream();
    await s.register();
    s.registered();
    const ok = jobId("ok");
    const three = jobId("three");
    const js = jobId("js");
    s.assign(execAssignment(ok, ["sh", "-c", "exit 0"]), execAssignment(three, ["sh", "-c", "exit 3"]), jsAssignment(js, "noop"));
    const started = await s.event(ok, "started");
    expect(started.started.pid).toBeGreaterThan(0);
    expect((await s.event(ok, "finished")).finished).toMatchObject({ exitCode: 0, reason: "exited" });
    expect((await s.event(three, "finished")).finished).toMatchObject({ exitCode: 3, reason: "exited" });
    const jsDone = (await s.event(js, "finished")).finished;
    expect(jsDone).toMatchObject({ exitCode: 0, reason: "exited" });
    expect(jsDone.startedAtMs).toBeGreaterThan(0);
    // js jobs send only `finished`; exec jobs `started` before `finished`.
    expect(s.events().filter((e) => e.jobId === js).map((e) => e.kind?.$case)).toEqual(["finished"]);
    const okKinds = s.events().filter((e) => e.jobId === ok).map((e) => e.kind?.$case);
    expect(okKinds).toEqual(["started", "finished"]);
    const seqs = s.batchSeqs();
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(seqs).size).toBe(seqs.length);
  });

  it("runs a duplicated assignment once", async () => {
    const c = await coordinator();
    await worker([c]);
    const s = await c.stream();
    await s.register();
    s.registered();
    const file = path.join(tmp, "dup.txt");
    const dup = execAssignment(jobId("dup"), ["sh", "-c", `echo run >> ${file}`]);
    const sentinel = jobId("sentinel");
    s.assign(dup, dup, execAssignment(sentinel, ["true"]));
    s.assign(dup);
    await s.event(dup.jobId, "finished");
    await s.event(sentinel, "finished");
    // Resent after it finished (as after a reconnect): still not run again.
    const sentinel2 = jobId("sentinel");
    s.assign(dup, execAssignment(sentinel2, ["true"]));
    await s.event(sentinel2, "finished");
    expect(s.events().filter((e) => e.jobId === dup.jobId).map((e) => e.kind?.$case)).toEqual(["started", "finished"]);
    expect(await readFile(file, "utf8")).toBe("run\n");
  });

  it("rejects an assignment when no slot is free", async () => {
    const c = await coordinator();
    await worker([c], { slots: "1" });
    const s = await c.stream();
    await s.register();
    s.registered();
    const long = jobId("long");
    const extra = jobId("extra");
    s.assign(execAssignment(long, ["sleep", "30"]), execAssignment(extra, ["true"]));
    const rejected = await s.event(extra, "rejected");
    expect(rejected.rejected.message).toContain("no free slot");
    expect(s.events().some((e) => e.jobId === extra && e.kind?.$case !== "rejected")).toBe(false);
    const { started } = await s.event(long, "started");
    s.cancel([{ jobId: long, attempt: 1 }], "test over");
    expect((await s.event(long, "finished")).finished.reason).toBe("cancelled");
    expect(await waitGone(started.pid)).toBe(true);
  });

  it("stops a job the coordinator cancels, and ignores cancels of unknown attempts", async () => {
    const c = await coordinator();
    await worker([c]);
    const s = await c.stream();
    await s.register();
    s.registered();
    const pidFile = path.join(tmp, "cancel.pid");
    const id = jobId("cancel");
    s.assign(execAssignment(id, ["sh", "-c", `sleep 30 & echo $! > ${pidFile}; wait`]));
    const { started } = await s.event(id, "started");
    const grandchild = Number(await readWhenWritten(pidFile));
    s.cancel([{ jobId: "unknown", attempt: 1 }, { jobId: id, attempt: 2 }]);
    s.cancel([{ jobId: id, attempt: 1 }], "user asked");
    const { finished } = await s.event(id, "finished");
    expect(finished.reason).toBe("cancelled");
    expect(finished.message).toContain("user asked");
    expect(finished.exitCode).toBeUndefined();
    expect(await waitGone(started.pid)).toBe(true);
    expect(await waitGone(grandchild)).toBe(true);
  });

  it("reconnects to the next coordinator, lists what still runs, and resends unacknowledged events", async () => {
    const a = await coordinator();
    const b = await coordinator();
    const w = await worker([a, b]);
    const sa = await a.stream();
    await sa.register();
    sa.registered();
    const long = jobId("long");
    const quick = jobId("quick");
    sa.assign(execAssignment(long, ["sleep", "30"]), execAssignment(quick, ["true"]));
    const { started } = await sa.event(long, "started");
    await sa.event(quick, "finished");
    const sentOnA = sa.events();
    // No ack from a, then a dies.
    a.kill();

    const sb = await b.stream();
    const reg = await sb.register();
    expect(reg.workerId).toBe(w.id);
    expect(reg.running).toEqual([{ jobId: long, attempt: 1 }]);
    sb.registered();
    const resent = await sb.waitFor("the unacknowledged events", () => {
      const evs = sb.events();
      return evs.length >= sentOnA.length ? evs : undefined;
    });
    expect(resent.slice(0, sentOnA.length)).toEqual(sentOnA);
    // Still running across the reconnect; the new coordinator can stop it.
    sb.cancel([{ jobId: long, attempt: 1 }]);
    expect((await sb.event(long, "finished")).finished.reason).toBe("cancelled");
    expect(await waitGone(started.pid)).toBe(true);
    // New events continue the sequence.
    const seqs = sb.batchSeqs();
    expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
    expect(seqs.at(-1)).toBeGreaterThan(Math.max(...sentOnA.map((e) => e.seq)));
  });

  it("does not resend acknowledged events after a reconnect", async () => {
    const a = await coordinator();
    await worker([a]);
    const s1 = await a.stream(0);
    await s1.register();
    s1.registered();
    const first = jobId("first");
    s1.assign(jsAssignment(first, "noop"));
    await s1.event(first, "finished");
    s1.ack(Math.max(...s1.batchSeqs()));
    // The coordinator ends the stream (e.g. it is shutting down); the worker comes back.
    s1.end();
    const s2 = await a.stream(1);
    await s2.register();
    s2.registered();
    const second = jobId("second");
    s2.assign(jsAssignment(second, "noop"));
    await s2.event(second, "finished");
    expect(s2.events().map((e) => e.jobId)).toEqual([second]);
  });

  it("on stop: sends Drain, rejects new work, stops what still runs and reports it", async () => {
    const c = await coordinator();
    const w = await worker([c]);
    const s = await c.stream();
    await s.register();
    s.registered();
    const id = jobId("running");
    s.assign(execAssignment(id, ["sleep", "30"]));
    const { started } = await s.event(id, "started");
    const stopped = w.stop({ graceMs: 100, flushMs: 5000 });
    await s.waitFor("Drain", (rs) => (rs.some((r) => r.message.msg?.$case === "drain") ? true : undefined));
    const late = jobId("late");
    s.assign(execAssignment(late, ["true"]));
    expect((await s.event(late, "rejected")).rejected.message).toContain("stopping");
    const { finished } = await s.event(id, "finished");
    expect(finished.reason).toBe("worker_lost");
    s.ack(Math.max(...s.batchSeqs()));
    await stopped;
    expect(w.state).toBe("STOPPED");
    expect(await waitGone(started.pid)).toBe(true);
  });
});
