// Cuts a job's output into log chunks: one stream per chunk, at most `maxBytes` each, sent at the
// latest `flushMs` after its first byte; chunks are numbered 1, 2, 3… across both streams in the
// order the output arrived.
import type { LogStream } from "./executor.js";

export interface LogChunkerOptions {
  maxBytes?: number;
  flushMs?: number;
  emit(stream: LogStream, data: Buffer, seq: number): void;
}

export const LOG_CHUNK_MAX_BYTES = 32 * 1024;
export const LOG_FLUSH_MS = 100;

export class LogChunker {
  private readonly maxBytes: number;
  private readonly flushMs: number;
  private stream: LogStream = "stdout";
  private parts: Buffer[] = [];
  private size = 0;
  private seq = 0;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;

  constructor(private readonly options: LogChunkerOptions) {
    this.maxBytes = options.maxBytes ?? LOG_CHUNK_MAX_BYTES;
    this.flushMs = options.flushMs ?? LOG_FLUSH_MS;
  }

  write(stream: LogStream, data: Buffer): void {
    if (this.closed || data.length === 0) return;
    if (stream !== this.stream) {
      this.flush();
      this.stream = stream;
    }
    let rest = data;
    while (this.size + rest.length >= this.maxBytes) {
      const take = this.maxBytes - this.size;
      this.parts.push(rest.subarray(0, take));
      this.size += take;
      rest = rest.subarray(take);
      this.flush();
    }
    if (rest.length > 0) {
      // Kept past this call: a copy, as the caller may reuse its buffer.
      this.parts.push(Buffer.from(rest));
      this.size += rest.length;
      this.timer ??= setTimeout(() => this.flush(), this.flushMs);
    }
  }

  /** Sends what is buffered now. */
  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.size === 0) return;
    // Always a copy: a chunk kept until acknowledged must not pin a larger buffer it came in.
    const data = Buffer.concat(this.parts, this.size);
    this.parts = [];
    this.size = 0;
    this.options.emit(this.stream, data, ++this.seq);
  }

  /** Flushes, then ignores whatever comes later. */
  close(): void {
    this.flush();
    this.closed = true;
  }

  /** Chunks sent so far. */
  get chunks(): number {
    return this.seq;
  }
}
