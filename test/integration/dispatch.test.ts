// What a coordinator keeps per worker stream: the assignments it sent, until their attempts end.
// A real Dispatcher behind a real gRPC server and Postgres, and a worker played by the test.
import { Server, ServerCredentials } from "@grpc/grpc-js";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { Dispatcher } from "../../coordinator/dispatch/worker-service.js";
import type { AssignedJob } from "../../coordinator/sql/apply-plan.js";
import { WorkerServiceService, type JobEvent } from "../../shared/gen/baton/v1/worker.js";
import { useTestPool } from "../support/db.js";
import { ScriptedWorker } from "../support/scripted-worker.js";

const t = useTestPool(4);

let server: Server;
let dispatcher: Dispatcher;
let address: string;

// The pool is the test's (a fresh database for each), so the dispatcher and its server are too.
beforeEach(async () => {
  dispatcher = new Dispatcher(t.pool, {
    coordinatorId: "c-dispatch",
    grpcAddress: () => address,
    httpAddress: () => "",
    heartbeatIntervalMs: () => 60_000,
    leaseMs: () => 120_000,
    defaultTimeoutMs: () => 0,
    logMaxBytesPerJob: () => 1024 * 1024,
  });
  server = new Server();
  server.addService(WorkerServiceService, dispatcher.service);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  address = `127.0.0.1:${port}`;
});

afterEach(async () => {
  dispatcher.events.stop();
  server.forceShutdown();
  await dispatcher.events.drain();
});

/** Assignments a worker received so far for this attempt. */
const assignmentsOf = (worker: ScriptedWorker, jobId: string, attempt: number) =>
  worker.received.reduce(
    (n, m) => n + (m.msg?.$case === "assignments" ? m.msg.assignments.assignments.filter((a) => a.jobId === jobId && a.attempt === attempt).length : 0),
    0,
  );

const job = (id: string, workerId: string): AssignedJob => ({
  id, attempt: 1, worker_id: workerId, name: "", queue: "default", tenant: "", priority: 0, cpu_millis: 0, memory_mb: 0, gpus: 0,
  labels: {}, executor: "js", payload: { task: "noop" }, timeout_ms: 0, max_attempts: 1, trace_context: null,
  created_ms: Date.now(), assigned_ms: Date.now(),
});

const finished = (jobId: string): JobEvent => ({
  jobId, attempt: 1, atMs: Date.now(),
  kind: { $case: "finished", finished: { exitCode: 0, reason: "exited", message: "", startedAtMs: Date.now(), cpuSeconds: 0, peakMemoryBytes: 0 } },
});

describe("a worker stream's sent assignments", () => {
  it("sends an attempt once while it is in flight, and forgets it when the worker reports its end", async () => {
    const worker = new ScriptedWorker(address, "w-dispatch");
    try {
      await worker.register();
      const stream = dispatcher.streams.get(worker.id)!;
      const jobs = Array.from({ length: 50 }, (_, i) => job(String(9_000_000 + i), worker.id));
      dispatcher.deliver(jobs);
      // delivered again (a notification raced the direct send): nothing new goes out
      dispatcher.deliver(jobs);
      dispatcher.deliver([job("9100000", worker.id)]); // a marker behind them on the same stream
      await worker.next((m) => (m.msg?.$case === "assignments" && m.msg.assignments.assignments.some((a) => a.jobId === "9100000") ? true : undefined));
      expect(jobs.map((j) => assignmentsOf(worker, j.id, 1))).toEqual(jobs.map(() => 1));
      expect(stream.inFlight).toBe(51);

      // Ends (one rejected, the rest finished) take them out; the one still running stays.
      await worker.events([
        { jobId: jobs[0]!.id, attempt: 1, atMs: Date.now(), kind: { $case: "rejected", rejected: { message: "no room" } } },
        ...jobs.slice(1).map((j) => finished(j.id)),
      ]);
      expect(stream.inFlight).toBe(1);
    } finally {
      worker.close();
    }
  });
});
