import { describe, expect, it } from "vitest";
import { describeQueue, parseCap, queueCommand, renderQueues } from "../../client/cli/commands/queue.js";
import { isUsageError } from "../../client/cli/usage-error.js";
import type { Queue } from "../../shared/gen/baton/v1/queues.js";

const q = (over: Partial<Queue>): Queue => ({
  name: "etl", concurrencyCap: undefined, paused: false, pending: 0, running: 0, configured: true, createdAtMs: 0, updatedAtMs: 0, ...over,
});

describe("baton queue", () => {
  it("renders queues with state, cap use, running and pending", () => {
    const out = renderQueues([q({ concurrencyCap: 3, running: 2, pending: 10 }), q({ name: "web", paused: true, pending: 1 })]);
    const lines = out.split("\n");
    expect(lines[0]).toMatch(/^QUEUE\s+STATE\s+CAP\s+RUNNING\s+PENDING$/);
    expect(lines[1]).toMatch(/^etl\s+active\s+3\s+2\s+10$/);
    expect(lines[2]).toMatch(/^web\s+paused\s+-\s+0\s+1$/);
    expect(renderQueues([])).toContain("no queues");
  });

  it("describes a queue in one line", () => {
    expect(describeQueue(q({ concurrencyCap: 0, paused: true, pending: 4 }))).toBe("etl: paused, cap 0 (0 running, 4 pending)");
    expect(describeQueue(q({}))).toBe("etl: active, no cap (0 running, 0 pending)");
  });

  it("takes a whole number cap, and says what to do otherwise", () => {
    expect(parseCap("0")).toBe(0);
    expect(parseCap("12")).toBe(12);
    for (const bad of ["-1", "1.5", "x", ""]) {
      expect(() => parseCap(bad)).toThrow(/--cap must be a whole number.*--no-cap/);
    }
  });

  it("set needs --cap N or --no-cap", async () => {
    const cmd = queueCommand();
    cmd.exitOverride();
    for (const c of cmd.commands) c.exitOverride();
    const err = await cmd.parseAsync(["set", "etl"], { from: "user" }).then(() => undefined, (e: unknown) => e);
    expect(isUsageError(err)).toBe(true);
    expect((err as Error).message).toBe("give --cap N or --no-cap");
  });
});
