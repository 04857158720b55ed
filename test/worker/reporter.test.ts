// The reporter: one batch per event-loop turn, cumulative acks, resend after a reconnect.
import { describe, expect, it } from "vitest";
import type { JobEvent, JobEvents } from "../../shared/gen/baton/v1/worker.js";
import { Reporter } from "../../worker/reporter.js";

const ev = (i: number): JobEvent => ({
  jobId: `j${i}`,
  attempt: 1,
  atMs: i,
  kind: { $case: "finished", finished: { exitCode: 0, reason: "exited", message: "", startedAtMs: 0, cpuSeconds: 0, peakMemoryBytes: 0 } },
});
const turn = () => new Promise((r) => setImmediate(r));

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
});
