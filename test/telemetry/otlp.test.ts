// OpenTelemetry end to end: real coordinator and worker processes export to a real OTLP/HTTP
// endpoint; one job's spans form one trace across the gRPC hop, down to the job's own process.
import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { JobSpec } from "../../shared/gen/baton/v1/types.js";
import { TestCluster } from "../support/cluster.js";
import { createTestDatabase, type TestDatabase } from "../support/db.js";
import { OtlpReceiver, type ReceivedSpan } from "../support/otlp-receiver.js";

let db: TestDatabase;
let cluster: TestCluster;
let receiver: OtlpReceiver;
let dir: string;

beforeAll(async () => {
  receiver = new OtlpReceiver();
  const endpoint = await receiver.start();
  db = await createTestDatabase();
  dir = await mkdtemp(path.join(os.tmpdir(), "baton-otel-"));
  cluster = new TestCluster(db.url, {
    OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
    OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
    OTEL_BSP_SCHEDULE_DELAY: "100",
    OTEL_METRIC_EXPORT_INTERVAL: "500",
    OTEL_TRACES_SAMPLER: "always_on",
  });
});

afterAll(async () => {
  await cluster?.stop();
  await receiver?.stop();
  await db?.drop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("OpenTelemetry", () => {
  it("exports one trace per job: submit → queued → dispatch (coordinator) → run (worker) → the job's process", async () => {
    const coord = await cluster.coordinator();
    await coord.waitFor(/elected leader/);
    await cluster.worker({ name: "otel", coordinators: [coord.grpcAddress] });
    const client = cluster.client(coord.grpcAddress);
    const out = path.join(dir, "traceparent");
    const spec: JobSpec = JobSpec.fromPartial({
      name: "", queue: "traced", priority: 0, tenant: "", labels: {}, timeoutMs: 0, maxAttempts: 0,
      resources: { cpuMillis: 100, memoryMb: 64, gpus: 0 },
      executor: { $case: "exec", exec: { argv: ["sh", "-c", `printf %s "$TRACEPARENT" > ${out}`], env: {}, cwd: "" } },
    });
    const [id] = await client.submitJobs([spec]);
    for await (const j of client.watchJob(id!)) void j;

    const byName = (trace: string, name: string) => receiver.spans.find((s) => s.traceId === trace && s.name === name);
    const submit = await receiver.until(
      () => receiver.spans.find((s) => s.name === "baton.job.submit" && s.attributes["baton.job.id"] === id),
      "the submit span",
    );
    const trace = submit.traceId;
    const spans = await receiver.until(() => {
      const got = ["baton.job.queued", "baton.job.dispatch", "baton.job.run"].map((n) => byName(trace, n));
      return got.every(Boolean) ? (got as ReceivedSpan[]) : undefined;
    }, "queued, dispatch and run spans in the job's trace");
    const [queued, dispatch, run] = spans as [ReceivedSpan, ReceivedSpan, ReceivedSpan];

    expect(submit.parentSpanId).toBe("");
    expect(submit.service).toBe("baton-coordinator");
    expect(queued.parentSpanId).toBe(submit.spanId);
    expect(dispatch.parentSpanId).toBe(submit.spanId);
    expect(dispatch.service).toBe("baton-coordinator");
    // Linked across the gRPC hop: the worker's run span is a child of the coordinator's dispatch span.
    expect(run.parentSpanId).toBe(dispatch.spanId);
    expect(run.service).toBe("baton-worker");
    expect(run.attributes["baton.job.id"]).toBe(id);
    expect(run.attributes["baton.job.attempt"]).toBe(1);
    // The job's process received the run span's context.
    const traceparent = await readFile(out, "utf8");
    expect(traceparent).toBe(`00-${trace}-${run.spanId}-01`);

    // Metrics are exported over OTLP too.
    await receiver.until(() => receiver.metricNames.has("baton_jobs_submitted"), "baton_jobs_submitted over OTLP");
  });
});
