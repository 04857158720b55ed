// The leader's own cost per job, without gRPC or worker processes: `npx tsx bench/leader-path.ts [batches]`.
//
// The real scheduler loop, plan applier, event sink, worker streams and metrics run against a
// real Postgres (BATON_BENCH_DATABASE_URL, else the local server), on a fresh database. Two
// in-process stand-in workers of 1,000 slots complete each assignment at once: they encode and
// decode what gRPC would carry, then report every attempt as succeeded. Each batch is a 20,000-job
// submit to the leader, from decoding the request to the last end recorded. What it prints is
// this process's CPU per job (the coordinator's JavaScript, its pg client and the stand-ins'
// codec work) and the wall time, one JSON line per batch after the first (the warm-up).
//
// The full-path bench (`make bench`) measures five processes' wall time, which moves by ±15%
// between runs on a shared 2-core VM; this measures one process's CPU. Batches still vary (15-33 us
// a job seen on that VM): run several and compare medians (the last line). Garbage collections are
// counted per batch too; run with `node --max-semi-space-size=1 --import tsx bench/leader-path.ts`
// and the count of young-generation collections measures what a batch allocates (about 1 MB each),
// steadily enough to see a few percent. BENCH_HEAP_PROFILE=FILE writes where the last batch
// allocated (V8's sampling heap profile, collected objects included; open it in Chrome DevTools).
import { writeFileSync } from "node:fs";
import type { HeapProfiler } from "node:inspector";
import { Session } from "node:inspector/promises";
import { PerformanceObserver, constants as perfConstants } from "node:perf_hooks";
import { migrate } from "../coordinator/db/migrate.js";
import { createPool } from "../coordinator/db/pool.js";
import { batchSpecs } from "../coordinator/api/batch-specs.js";
import { prepareBatch } from "../coordinator/api/prepare-batch.js";
import { submitRequest } from "../client/compact-batch.js";
import { EventSink } from "../coordinator/dispatch/event-sink.js";
import { WorkerStream } from "../coordinator/dispatch/worker-stream.js";
import { PlanApplier } from "../coordinator/leader/plan-applier.js";
import { SchedulerLoop } from "../coordinator/leader/scheduler-loop.js";
import { CoordinatorMetrics } from "../coordinator/metrics/coordinator-metrics.js";
import type { AssignedJob } from "../coordinator/sql/apply-plan.js";
import { bumpTerm } from "../coordinator/sql/term.js";
import { upsertWorker } from "../coordinator/sql/workers.js";
import { SubmitJobsRequest } from "../shared/gen/baton/v1/jobs.js";
import { JobSpec } from "../shared/gen/baton/v1/types.js";
import { CoordinatorMessage, WorkerMessage, type JobEvent } from "../shared/gen/baton/v1/worker.js";
import { freshDatabase } from "./graphile-contender.js";

const JOBS = 20_000;
const WORKERS = ["w1", "w2"];

const serverUrl = process.env.BATON_BENCH_DATABASE_URL ?? process.env.BATON_TEST_DATABASE_URL ?? "postgres://root@127.0.0.1:5432/postgres";
const databaseUrl = await freshDatabase(serverUrl, "bench_leader_path");
await migrate(databaseUrl);
const pool = createPool(databaseUrl, 10);
for (const id of WORKERS) {
  await upsertWorker(pool, { id, name: id, cpuMillis: 2000, memoryMb: 24_000, gpus: 0, slots: 1000, labels: {}, limitsMechanism: "none", coordinatorId: "bench" });
}
const term = await bumpTerm(pool, "bench");
const metrics = new CoordinatorMetrics(pool, { isLeader: () => true, streams: () => WORKERS.length });

let ended = 0;
let allEnded: (() => void) | undefined;
let seq = 0;
const streams = new Map<string, WorkerStream>();
const sink: EventSink = new EventSink(pool, {
  capacityFreed: (requeued, jobs) => {
    ended += jobs.length;
    loop.capacityFreed(requeued, jobs);
    if (ended >= JOBS) allEnded?.();
  },
  cancelAgain: () => {},
  recorded: (started, finished, result) => metrics.eventsRecorded(started, finished, result),
});

/** A worker that ends each assignment at once, with what gRPC would carry each way. */
function standInStream(id: string): WorkerStream {
  const call = {
    destroyed: false,
    writable: true,
    write(msg: CoordinatorMessage): boolean {
      const sent = CoordinatorMessage.decode(CoordinatorMessage.encode(msg).finish());
      if (sent.msg?.$case !== "assignments") return true;
      const assignments = sent.msg.assignments.assignments;
      setImmediate(() => {
        const now = Date.now();
        const events: JobEvent[] = assignments.map((a) => ({
          jobId: a.jobId, attempt: a.attempt, atMs: now,
          kind: { $case: "finished", finished: { exitCode: 0, reason: "exited", message: "", startedAtMs: now, cpuSeconds: 0, peakMemoryBytes: 0 } },
        }));
        const received = WorkerMessage.decode(WorkerMessage.encode({ msg: { $case: "events", events: { seq: ++seq, events } } }).finish());
        if (received.msg?.$case !== "events") return;
        stream.settled(received.msg.events.events);
        sink.add(stream, received.msg.events);
      });
      return true;
    },
    end() {},
  };
  const stream = new WorkerStream(id, id, call as unknown as ConstructorParameters<typeof WorkerStream>[2], () => 3_600_000);
  return stream;
}
for (const id of WORKERS) streams.set(id, standInStream(id));

const deliver = (jobs: readonly AssignedJob[]) => {
  metrics.assigned(jobs);
  const byWorker = new Map<string, AssignedJob[]>();
  for (const job of jobs) {
    const list = byWorker.get(job.worker_id);
    if (list) list.push(job);
    else byWorker.set(job.worker_id, [job]);
  }
  for (const [workerId, list] of byWorker) streams.get(workerId)?.sendAssignments(list);
};
const loop = new SchedulerLoop(pool, new PlanApplier(pool, () => true), {
  term, strategy: () => "binpack", batchSize: 1000, tickMs: 3_600_000, deliver, metrics,
  onError: (err) => {
    console.error(`leader step failed: ${err.message}`);
    process.exit(1);
  },
});
loop.start();
await loop.idle();

// as the client library sends it
const request = SubmitJobsRequest.encode(submitRequest(
  Array.from({ length: JOBS }, () => JobSpec.fromPartial({ resources: { cpuMillis: 0, memoryMb: 0, gpus: 0 }, executor: { $case: "js", js: { task: "noop", payloadJson: "" } } })),
)).finish();
const defaults = { maxAttempts: 1, retry: { backoff: "none" as const, initial_ms: 0, max_ms: 0, multiplier: 0, jitter: 0, final_exit_codes: [] }, idempotencyWindowS: 3600 };

// Garbage collections, counted as they happen: the number of young-generation collections follows
// what the hot path allocates, and varies far less between runs than CPU time does.
const gc = { minor: 0, major: 0, ms: 0 };
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) {
    const kind = (e as unknown as { detail?: { kind?: number } }).detail?.kind;
    if (kind === perfConstants.NODE_PERFORMANCE_GC_MINOR) gc.minor++;
    else gc.major++;
    gc.ms += e.duration;
  }
}).observe({ entryTypes: ["gc"] });

const batches = Number(process.argv[2] ?? 6);
const perJob: number[] = [];
const heapProfile = process.env.BENCH_HEAP_PROFILE;
const inspector = heapProfile ? new Session() : undefined;
inspector?.connect();
for (let b = 0; b < batches; b++) {
  ended = 0;
  const done = new Promise<void>((resolve) => (allEnded = resolve));
  const profiled = inspector !== undefined && b === batches - 1;
  if (profiled) {
    // (the two include flags are newer than @types/node's protocol types)
    const sampling: HeapProfiler.StartSamplingParameterType = {
      samplingInterval: 4096, ...{ includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true },
    };
    await inspector.post("HeapProfiler.startSampling", sampling);
  }
  const cpu0 = process.cpuUsage();
  const gc0 = { ...gc };
  const t0 = performance.now();
  const rows = await prepareBatch(batchSpecs(SubmitJobsRequest.decode(request)), { db: pool, defaults });
  const inserted = loop.insertSubmitted(rows);
  if (!inserted) throw new Error("the leader did not take the submit (a step was running or the queue was not drained)");
  await inserted;
  await done;
  const cpu = process.cpuUsage(cpu0);
  const wallMs = performance.now() - t0;
  if (profiled) writeFileSync(heapProfile!, JSON.stringify((await inspector.post("HeapProfiler.stopSampling")).profile));
  if (b > 0) {
    perJob.push(Math.round(((cpu.user + cpu.system) / JOBS) * 10) / 10);
    console.log(JSON.stringify({
      bench: "leader-path", batch: b, jobs: JOBS, cpu_us_per_job: perJob.at(-1), wall_ms: Math.round(wallMs),
      gc_minor: gc.minor - gc0.minor, gc_major: gc.major - gc0.major, gc_ms: Math.round(gc.ms - gc0.ms),
    }));
  }
  await loop.idle();
  // what autovacuum would do between batches on a live server (this one may run without it)
  await pool.query("VACUUM (ANALYZE) jobs");
}
const sorted = [...perJob].sort((a, b) => a - b);
console.log(JSON.stringify({ bench: "leader-path", batches: perJob.length, median_cpu_us_per_job: sorted[Math.floor((sorted.length - 1) / 2)] }));
await loop.stop();
sink.stop();
await pool.end();
