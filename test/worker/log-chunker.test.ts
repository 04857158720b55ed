// Cutting output into log chunks: size, stream changes, the flush timer, numbering.
import { afterEach, describe, expect, it, vi } from "vitest";
import type { LogStream } from "../../worker/runner/executor.js";
import { LogChunker } from "../../worker/runner/log-chunker.js";

afterEach(() => {
  vi.useRealTimers();
});

function chunker(maxBytes = 10, flushMs = 100) {
  const out: Array<{ stream: LogStream; data: string; seq: number }> = [];
  const c = new LogChunker({ maxBytes, flushMs, emit: (stream, data, seq) => out.push({ stream, data: data.toString(), seq }) });
  return { c, out };
}

describe("LogChunker", () => {
  it("cuts full chunks at once and keeps the rest until a flush", () => {
    const { c, out } = chunker(10);
    c.write("stdout", Buffer.from("abcdefghijklmnopqrstuvwxy"));
    expect(out).toEqual([
      { stream: "stdout", data: "abcdefghij", seq: 1 },
      { stream: "stdout", data: "klmnopqrst", seq: 2 },
    ]);
    c.write("stdout", Buffer.from("z"));
    c.flush();
    expect(out.at(-1)).toEqual({ stream: "stdout", data: "uvwxyz", seq: 3 });
  });

  it("never mixes streams in a chunk and numbers chunks across both", () => {
    const { c, out } = chunker(100);
    c.write("stdout", Buffer.from("a"));
    c.write("stdout", Buffer.from("b"));
    c.write("stderr", Buffer.from("E"));
    c.write("stdout", Buffer.from("c"));
    c.close();
    c.write("stdout", Buffer.from("ignored"));
    c.flush();
    expect(out).toEqual([
      { stream: "stdout", data: "ab", seq: 1 },
      { stream: "stderr", data: "E", seq: 2 },
      { stream: "stdout", data: "c", seq: 3 },
    ]);
  });

  it("sends a partial chunk at the latest flushMs after its first byte", () => {
    vi.useFakeTimers();
    const { c, out } = chunker(100, 100);
    c.write("stdout", Buffer.from("a"));
    vi.advanceTimersByTime(60);
    c.write("stdout", Buffer.from("b"));
    vi.advanceTimersByTime(39);
    expect(out).toEqual([]);
    vi.advanceTimersByTime(1);
    expect(out).toEqual([{ stream: "stdout", data: "ab", seq: 1 }]);
  });

  it("copies what it keeps: the caller's buffer may change", () => {
    const { c, out } = chunker(100);
    const buf = Buffer.from("abc");
    c.write("stdout", buf);
    buf.write("xyz");
    c.flush();
    expect(out[0]!.data).toBe("abc");
  });
});
