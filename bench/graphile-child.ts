// One graphile-worker process for bench/graphile-contender.ts (spawned by it with IPC; not run by hand).
//
// It runs graphile-worker in the "batched mode" of its performance docs (concurrency 24,
// a local queue of 500, completion/failure batching with a delay of 0) with one in-memory
// no-op task, and reports when each job's handler was entered. The handler only records
// [payload.n, performance.timeOrigin + performance.now()] in memory; the records go to the parent as one IPC message per
// flush: every FLUSH_MS (10 ms) by default, or at the end of the current event-loop turn
// once the parent asks for {type:"flush", ms:0} (the latency scenario), so that reporting
// never costs graphile a syscall per job.
//
// Messages to the parent: {type:"ready"} once the pool is running and LISTENing,
// {type:"starts", data:[n0,t0,n1,t1,…]}, {type:"error", message}.
// Messages from the parent: {type:"flush", ms}, {type:"stop"}.
import { EventEmitter } from "node:events";
import { Logger, run, type Runner, type Task, type WorkerEvents } from "graphile-worker";

const connectionString = process.env.GRAPHILE_BENCH_DATABASE_URL;
if (!connectionString || !process.send) {
  console.error("graphile-child: needs GRAPHILE_BENCH_DATABASE_URL and an IPC channel (spawn it from graphile-contender)");
  process.exit(2);
}
const send = (msg: unknown): void => {
  if (process.connected) process.send!(msg);
};

let flushMs = 10;
let buf: number[] = [];
let scheduled = false;

function flush(): void {
  scheduled = false;
  if (buf.length === 0) return;
  const data = buf;
  buf = [];
  send({ type: "starts", data });
}

function schedule(): void {
  if (scheduled) return;
  scheduled = true;
  if (flushMs <= 0) setImmediate(flush);
  else setTimeout(flush, flushMs);
}

const noop: Task = (payload) => {
  // epoch ms with sub-ms resolution, the parent's clock too
  const t = performance.timeOrigin + performance.now();
  buf.push((payload as { n?: number } | null)?.n ?? -1, t);
  schedule();
};

const silent = new Logger(() => () => {});
const events: WorkerEvents = new EventEmitter();
let runner: Runner | undefined;
let listening = false;
let started = false;
const maybeReady = () => {
  if (listening && started) send({ type: "ready" });
};
events.once("pool:listen:success", () => {
  listening = true;
  maybeReady();
});

process.on("message", (msg: { type?: string; ms?: number }) => {
  if (msg?.type === "flush") {
    flushMs = msg.ms ?? 10;
    flush();
  } else if (msg?.type === "stop") {
    flush();
    void shutdown(0);
  }
});
// The parent went away: nothing left to report to.
process.on("disconnect", () => void shutdown(0));

let stopping = false;
async function shutdown(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  const force = setTimeout(() => process.exit(code), 2000);
  force.unref();
  try {
    await runner?.stop();
  } catch {
    // exiting anyway
  }
  process.exit(code);
}

try {
  runner = await run({
    connectionString,
    concurrency: 24,
    maxPoolSize: 25,
    pollInterval: Number(process.env.GRAPHILE_BENCH_POLL_INTERVAL ?? 2000),
    noHandleSignals: true,
    logger: silent,
    events,
    taskList: { noop },
    preset: {
      worker: {
        localQueue: { size: 500 },
        completeJobBatchDelay: 0,
        failJobBatchDelay: 0,
      },
    },
  });
  started = true;
  maybeReady();
  runner.promise.catch((e: unknown) => {
    send({ type: "error", message: `runner failed: ${String(e)}` });
    void shutdown(1);
  });
} catch (e) {
  send({ type: "error", message: `run() failed: ${String(e)}` });
  setTimeout(() => process.exit(1), 50);
}
