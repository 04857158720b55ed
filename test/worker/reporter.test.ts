// The reporter: one batch per event-loop turn, cumulative acks, resend after a reconnect.
import { describe, expect, it } from "vitest";
import type { JobEvent, JobEvents } from "../../shared/gen/baton/v1/worker.js";
import { LogStream } from "../../shared/gen/baton/v1/types.js";
import { Reporter } from "../../worker/reporter.js";

const ev = (i: number): JobEvent => ({
  jobId: `j${i}`,
  attempt: 1,
  atMs: i,
  kind: { $case: "finished", finished: { exitCode: 0, reason: "exited", message: "", startedAtMs: 0, cpuSeconds: 0, peakMemoryBytes: 0 } },
});
const turn = () => new Promise((r) => setImmediate(r));
const log = (jobId: string, bytes: number, seq: number): JobEvent => ({
  jobId,
  attempt: 1,
  atMs: 0,
  kind: { $case: "log", log: { stream: LogStream.LOG_STREAM_STDOUT, data: Buffer.alloc(bytes), seq } },
});

describe("Reporter", () => {
  it("coalesces one event-loop turn into one batch and cuts batches at the maximum", async () => {
    const sent: JobEvents[] = [];
    const r = new Reporter({ maxBatch: 3 });
    r.attach((b) => sent.push(b));
    for (let i = 0; i < 4; i++) r.emit(ev(i));
    expect(sent.map((b) => b.events.length)).toEqual([3]);
    await turn();
    expect(sent.map((b) => [b.seq, b.events.length])).toEqual([
      [1, 3],
      [2, 1],
    ]);
  });

  it("keeps batches until a cumulative ack and resends them in order on attach", async () => {
    const first: JobEvents[] = [];
    const r = new Reporter();
    r.attach((b) => first.push(b));
    r.emit(ev(1));
    await turn();
    r.emit(ev(2));
    await turn();
    r.detach();
    r.emit(ev(3)); // while disconnected
    await turn();
    r.ack(1);
    const second: JobEvents[] = [];
    r.attach((b) => second.push(b));
    expect(second.map((b) => b.seq)).toEqual([2, 3]);
    expect(second.map((b) => b.events[0]!.jobId)).toEqual(["j2", "j3"]);
    const all = r.whenAllAcked();
    r.ack(3);
    await all;
    expect(r.idle()).toBe(true);
  });

  it("counts unacknowledged log bytes per attempt and in all, and calls back when acks make room", async () => {
    const sent: JobEvents[] = [];
    const r = new Reporter({ maxUnackedLogBytesPerAttempt: 100, maxUnackedLogBytes: 150 });
    r.attach((b) => sent.push(b));
    const a = { jobId: "a", attempt: 1 };
    const b = { jobId: "b", attempt: 1 };
    r.emit(log("a", 60, 1));
    expect(r.hasRoom(a)).toBe(true);
    r.emit(log("a", 60, 2));
    expect(r.unackedLogBytes(a)).toBe(120);
    expect(r.hasRoom(a)).toBe(false);
    expect(r.hasRoom(b)).toBe(true);
    r.emit(log("b", 40, 1));
    expect(r.hasRoom(b)).toBe(false); // 160 in all, over the worker's cap
    const woken: string[] = [];
    r.whenRoom(a, () => woken.push("a"));
    r.whenRoom(b, () => woken.push("b"));
    await turn();
    expect(sent).toHaveLength(1);
    r.emit(log("a", 10, 3));
    await turn();
    r.ack(1); // the first batch: 120 of a and 40 of b
    expect(woken.sort()).toEqual(["a", "b"]);
    expect(r.unackedLogBytes(a)).toBe(10);
    expect(r.unackedLogBytes(b)).toBe(0);
    const now: string[] = [];
    r.whenRoom(a, () => now.push("a"));
    expect(now).toEqual(["a"]);
  });

  it("cuts a batch at the log byte maximum", () => {
    const sent: JobEvents[] = [];
    const r = new Reporter({ maxBatchLogBytes: 100 });
    r.attach((b) => sent.push(b));
    r.emit(log("a", 60, 1));
    r.emit(log("a", 60, 2));
    r.emit(log("a", 10, 3));
    expect(sent.map((b) => b.events.length)).toEqual([2]);
  });
});
