// A real gRPC WorkerService server for worker tests: it records every message of every stream and
// lets the test push Registered / Assignments / Cancel / EventsAck, and await what the worker sends.
import { readFileSync } from "node:fs";
import { Server, ServerCredentials, type ServerDuplexStream } from "@grpc/grpc-js";
import {
  WorkerServiceService,
  type Assignment,
  type CoordinatorMessage,
  type JobEvent,
  type Register,
  type WorkerMessage,
} from "../../shared/gen/baton/v1/worker.js";
import { JobSpec, type LogStream, type Usage } from "../../shared/gen/baton/v1/types.js";

const DEFAULT_WAIT_MS = 15_000;

export interface Received {
  at: number;
  message: WorkerMessage;
}

type Waiter = { check: () => boolean };

export class FakeStream {
  readonly received: Received[] = [];
  ended = false;
  private waiters: Waiter[] = [];
  private acking = false;

  constructor(readonly call: ServerDuplexStream<WorkerMessage, CoordinatorMessage>) {
    call.on("data", (message: WorkerMessage) => {
      this.received.push({ at: Date.now(), message });
      if (this.acking && message.msg?.$case === "events") this.ack(message.msg.events.seq);
      this.recheck();
    });
    const end = () => {
      this.ended = true;
      this.recheck();
    };
    // The worker half-closes on stop; a coordinator answers by ending its side.
    call.on("end", () => {
      end();
      call.end();
    });
    call.on("error", end);
    call.on("cancelled", end);
  }

  send(message: CoordinatorMessage): void {
    this.call.write(message);
  }
  registered(heartbeatIntervalMs = 60_000, leaseMs = 180_000, coordinatorId = "fake"): void {
    this.send({ msg: { $case: "registered", registered: { coordinatorId, heartbeatIntervalMs, leaseMs } } });
  }
  assign(...assignments: Assignment[]): void {
    this.send({ msg: { $case: "assignments", assignments: { assignments } } });
  }
  cancel(attempts: Array<{ jobId: string; attempt: number }>, reason = "test"): void {
    this.send({ msg: { $case: "cancel", cancel: { attempts, reason } } });
  }
  ack(seq: number): void {
    this.send({ msg: { $case: "ack", ack: { seq } } });
  }
  /** From now on acknowledges every batch as it arrives (and what arrived already), as a coordinator would. */
  autoAck(): void {
    this.acking = true;
    const seqs = this.batchSeqs();
    if (seqs.length > 0) this.ack(Math.max(...seqs));
  }
  end(): void {
    this.call.end();
  }

  /** Settles with the first value `pick` returns for the messages so far (re-run on each new one). */
  waitFor<T>(what: string, pick: (received: Received[]) => T | undefined, timeoutMs = DEFAULT_WAIT_MS): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; got ${this.describe()}`));
      }, timeoutMs);
      const waiter: Waiter = {
        check: () => {
          const v = pick(this.received);
          if (v === undefined) return false;
          clearTimeout(timer);
          resolve(v);
          return true;
        },
      };
      if (!waiter.check()) this.waiters.push(waiter);
    });
  }

  register(): Promise<Register> {
    return this.waitFor("Register", (rs) => {
      const m = rs[0]?.message.msg;
      return m?.$case === "register" ? m.register : undefined;
    });
  }

  /** Every job event received on this stream, in order, with the seq of its batch. */
  events(): Array<JobEvent & { seq: number }> {
    const out: Array<JobEvent & { seq: number }> = [];
    for (const r of this.received) {
      if (r.message.msg?.$case === "events") {
        for (const e of r.message.msg.events.events) out.push({ ...e, seq: r.message.msg.events.seq });
      }
    }
    return out;
  }

  batchSeqs(): number[] {
    return this.received.flatMap((r) => (r.message.msg?.$case === "events" ? [r.message.msg.events.seq] : []));
  }

  event<K extends "started" | "finished" | "rejected">(jobId: string, kind: K, timeoutMs?: number) {
    return this.waitFor(`${kind} of ${jobId}`, () => {
      const e = this.events().find((ev) => ev.jobId === jobId && ev.kind?.$case === kind);
      return e ? (e.kind as Extract<JobEvent["kind"], { $case: K }>) : undefined;
    }, timeoutMs);
  }

  /** The log chunks of one attempt, in the order received. */
  logs(jobId: string): Array<{ stream: LogStream; data: Buffer; seq: number }> {
    return this.events().flatMap((e) => (e.jobId === jobId && e.kind?.$case === "log" ? [e.kind.log] : []));
  }

  /** The concatenated output of one attempt (both streams, in chunk order). */
  output(jobId: string): Buffer {
    return Buffer.concat(this.logs(jobId).map((c) => c.data));
  }

  usages(jobId: string): Usage[] {
    return this.events().flatMap((e) => (e.jobId === jobId && e.kind?.$case === "usage" ? [e.kind.usage] : []));
  }

  heartbeats(): Received[] {
    return this.received.filter((r) => r.message.msg?.$case === "heartbeat");
  }

  whenEnded(timeoutMs?: number): Promise<true> {
    return this.waitFor("the stream to end", () => (this.ended ? true : undefined), timeoutMs);
  }

  private recheck(): void {
    if (this.waiters.length === 0) return;
    this.waiters = this.waiters.filter((w) => !w.check());
  }

  private describe(): string {
    return JSON.stringify(this.received.map((r) => r.message.msg?.$case === "events" ? r.message.msg.events : r.message.msg?.$case)).slice(0, 2000);
  }
}

export class FakeCoordinator {
  readonly streams: FakeStream[] = [];
  private streamWaiters: Array<(s: FakeStream) => void> = [];

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  static async start(): Promise<FakeCoordinator> {
    const server = new Server();
    let self: FakeCoordinator | undefined;
    server.addService(WorkerServiceService, {
      connect: (call: ServerDuplexStream<WorkerMessage, CoordinatorMessage>) => self!.accept(call),
    });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
    );
    self = new FakeCoordinator(server, port);
    return self;
  }

  private accept(call: ServerDuplexStream<WorkerMessage, CoordinatorMessage>): void {
    const s = new FakeStream(call);
    this.streams.push(s);
    const waiters = this.streamWaiters;
    this.streamWaiters = [];
    for (const w of waiters) w(s);
  }

  /** The stream number `index` (0 = first), once the worker has opened it. */
  stream(index = 0, timeoutMs = DEFAULT_WAIT_MS): Promise<FakeStream> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out waiting for worker stream #${index} on ${this.address}`)), timeoutMs);
      const check = () => {
        const s = this.streams[index];
        if (!s) return void this.streamWaiters.push(check);
        clearTimeout(timer);
        resolve(s);
      };
      check();
    });
  }

  /** Drops every stream at once, as a crashed coordinator would. */
  kill(): void {
    this.server.forceShutdown();
  }

  close(): Promise<void> {
    return new Promise((resolve) => {
      for (const s of this.streams) if (!s.ended) s.call.end();
      this.server.tryShutdown(() => resolve());
    });
  }
}

let seq = 0;
/** A fresh job id per call, so that tests never see each other's events. */
export function jobId(prefix = "job"): string {
  return `${prefix}-${process.pid}-${++seq}`;
}

export function execAssignment(id: string, argv: string[], extra: Partial<Assignment> & { env?: Record<string, string>; cwd?: string } = {}): Assignment {
  const { env = {}, cwd = "", ...rest } = extra;
  const spec: JobSpec = JobSpec.fromPartial({
    name: id,
    queue: "default",
    priority: 0,
    resources: { cpuMillis: 100, memoryMb: 64, gpus: 0 },
    labels: {},
    executor: { $case: "exec", exec: { argv, env, cwd } },
    timeoutMs: 0,
    maxAttempts: 1,
    tenant: "",
  });
  return { jobId: id, attempt: 1, spec, timeoutMs: 0, traceContext: {}, ...rest } as Assignment;
}

export function jsAssignment(id: string, task: string, payload?: unknown, extra: Partial<Assignment> = {}): Assignment {
  const spec: JobSpec = JobSpec.fromPartial({
    name: id,
    queue: "default",
    priority: 0,
    resources: { cpuMillis: 10, memoryMb: 1, gpus: 0 },
    labels: {},
    executor: { $case: "js", js: { task, payloadJson: payload === undefined ? "" : JSON.stringify(payload) } },
    timeoutMs: 0,
    maxAttempts: 1,
    tenant: "",
  });
  return { jobId: id, attempt: 1, spec, timeoutMs: 0, traceContext: {}, ...extra } as Assignment;
}

/** True while a process with this pid exists (zombies count as gone: they run nothing). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    // A zombie (state Z) waits only for its parent to reap it.
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/** Polls (there is no event for "a process is gone") until `pid` is gone or the deadline passes. */
export async function waitGone(pid: number, timeoutMs = 10_000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (!processAlive(pid)) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return !processAlive(pid);
}

/** Polls for a file's content (written by a child; no event tells us when). */
export async function readWhenWritten(file: string, timeoutMs = 10_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      const s = readFileSync(file, "utf8").trim();
      if (s !== "") return s;
    } catch {
      /* not yet */
    }
    if (Date.now() > deadline) throw new Error(`${file} was not written within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
