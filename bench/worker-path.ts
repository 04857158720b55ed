// A worker's own cost per job, without a coordinator: `npx tsx bench/worker-path.ts [waves]`.
//
// The real attempt runner, js executor, reporter and metrics of a worker run no-op jobs from
// bench/tasks.mjs: each wave is 1,000 assignments decoded from the bytes a coordinator would send,
// run, and reported as one encoded batch of events, as the worker's stream would carry them. It
// prints the mean microseconds per job over the waves after the first 20 (the warm-up), as one
// JSON line. The full-path bench cannot resolve a change of this size; this can.
import { fileURLToPath } from "node:url";
import { toJobSpec } from "../coordinator/dispatch/worker-stream.js";
import { CoordinatorMessage, WorkerMessage } from "../shared/gen/baton/v1/worker.js";
import { WorkerMetrics } from "../worker/metrics.js";
import { Reporter } from "../worker/reporter.js";
import { AttemptRunner } from "../worker/runner/attempt-runner.js";
import type { Executor } from "../worker/runner/executor.js";
import { JsExecutor, loadTaskModule } from "../worker/runner/js-executor.js";

const WAVE = 1000;
const WARMUP = 20;
const waves = Math.max(WARMUP + 1, Number(process.argv[2] ?? 60));

const tasks = await loadTaskModule(fileURLToPath(new URL("./tasks.mjs", import.meta.url)));
const noExec: Executor = { start: () => { throw new Error("this bench runs js jobs only"); } };
const reporter = new Reporter();
const metrics: WorkerMetrics = new WorkerMetrics({ slots: WAVE, running: () => runner.runningCount, registered: () => true, unackedBatches: () => reporter.unackedBatches });
const runner: AttemptRunner = new AttemptRunner({
  slots: WAVE,
  workerId: "bench",
  executors: { exec: noExec, js: new JsExecutor(tasks) },
  emit: (event) => {
    metrics.event(event);
    reporter.emit(event);
  },
  logBudget: reporter,
});
let reported = 0;
reporter.attach(metrics.countBatches((batch) => {
  WorkerMessage.encode({ msg: { $case: "events", events: batch } }).finish(); // what the stream sends
  reported += batch.events.length;
  reporter.ack(batch.seq);
}));

// The waves a coordinator would send, encoded up front (their cost is the coordinator's).
let nextId = 1_000_000;
const encoded = Array.from({ length: waves }, () =>
  CoordinatorMessage.encode({
    msg: {
      $case: "assignments",
      assignments: {
        assignments: Array.from({ length: WAVE }, () => {
          const id = String(nextId++);
          const spec = toJobSpec({
            name: "", queue: "default", tenant: "", priority: 0, cpu_millis: 0, memory_mb: 0, gpus: 0, labels: {},
            executor: "js", payload: { task: "noop" }, timeout_ms: 0, max_attempts: 1,
          });
          return { jobId: id, attempt: 1, spec, timeoutMs: 3_600_000, traceContext: {} };
        }),
      },
    },
  }).finish(),
);

const turn = () => new Promise<void>((resolve) => setImmediate(resolve));
let measuredFrom = 0;
for (let w = 0; w < waves; w++) {
  if (w === WARMUP) measuredFrom = performance.now();
  const msg = CoordinatorMessage.decode(encoded[w]!);
  if (msg.msg?.$case === "assignments") runner.assign(msg.msg.assignments.assignments);
  await turn(); // the reporter cuts its batch at the end of the turn
  await turn();
}
const measuredMs = performance.now() - measuredFrom;
if (reported !== waves * WAVE) throw new Error(`reported ${reported} of ${waves * WAVE} jobs`);
console.log(JSON.stringify({ bench: "worker-path", jobs: (waves - WARMUP) * WAVE, us_per_job: Math.round((measuredMs / ((waves - WARMUP) * WAVE)) * 1000 * 100) / 100 }));
