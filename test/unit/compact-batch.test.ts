// A large batch of like jobs travels in the compact form (client) and comes back as the same
// specs, in order (coordinator): what the round trip through the wire gives is what was submitted.
import { describe, expect, it } from "vitest";
import { COMPACT_MIN_JOBS, submitRequest } from "../../client/compact-batch.js";
import { batchSpecs } from "../../coordinator/api/batch-specs.js";
import { InvalidJobSpecError } from "../../coordinator/api/validate-job-spec.js";
import { SubmitJobsRequest } from "../../shared/gen/baton/v1/jobs.js";
import { Backoff, JobSpec } from "../../shared/gen/baton/v1/types.js";

const js = (task: string, payloadJson = "", over: Partial<JobSpec> = {}): JobSpec =>
  JobSpec.fromPartial({ resources: { cpuMillis: 100, memoryMb: 64, gpus: 0 }, executor: { $case: "js", js: { task, payloadJson } }, ...over });
const exec = (argv: string[], over: Partial<JobSpec> = {}): JobSpec =>
  JobSpec.fromPartial({ resources: { cpuMillis: 100, memoryMb: 64, gpus: 0 }, executor: { $case: "exec", exec: { argv, env: {}, cwd: "" } }, ...over });

/** The specs the coordinator reads from what the client sends, through the wire encoding. */
const roundTrip = (specs: JobSpec[]) => batchSpecs(SubmitJobsRequest.decode(SubmitJobsRequest.encode(submitRequest(specs)).finish()));
/** As a spec decodes, to compare with what came back through the wire. */
const decoded = (specs: JobSpec[]) => specs.map((s) => JobSpec.decode(JobSpec.encode(s).finish()));

describe("compact batches", () => {
  it("sends many jobs that differ in name and js payload as one spec and items, and gets them back in order", () => {
    const specs = Array.from({ length: 500 }, (_, i) => js("resize", i % 7 === 0 ? "" : JSON.stringify({ n: i }), { name: `img-${i}`, queue: "media", priority: 3 }));
    const req = submitRequest(specs);
    expect(req.jobs).toEqual([]);
    expect(req.specs).toHaveLength(1);
    expect(req.specs[0]).toMatchObject({ name: "", queue: "media", priority: 3 });
    expect(req.items).toHaveLength(500);
    expect(SubmitJobsRequest.encode(req).finish().length).toBeLessThan(SubmitJobsRequest.encode({ jobs: specs, specs: [], items: [] }).finish().length / 2);
    expect(roundTrip(specs)).toEqual(decoded(specs));
  });

  it("keeps runs of different shapes apart, and everything but the name and js payload in each", () => {
    const shapes: JobSpec[] = [
      js("a"),
      js("a", "", { labels: { gpu: "a100" } }),
      js("a", "", { retry: { backoff: Backoff.BACKOFF_FIXED, initialDelayMs: 500, maxDelayMs: 0, multiplier: 0, jitter: 0, finalExitCodes: [2] } }),
      js("b"),
      exec(["echo", "hi"]),
      exec(["echo", "hi"], { timeoutMs: 5000 }),
      js("a", "", { template: { name: "t", version: 2, params: { day: "3" } } }),
    ];
    // 30 jobs of each shape in a row, each with its own name and (js) payload
    const specs = shapes.flatMap((shape, k) =>
      Array.from({ length: 30 }, (_, i) => {
        const s: JobSpec = { ...shape, name: `s${k}-${i}` };
        if (s.executor?.$case === "js") s.executor = { $case: "js", js: { ...s.executor.js, payloadJson: JSON.stringify({ k, i }) } };
        return s;
      }),
    );
    const req = submitRequest(specs);
    expect(req.specs).toHaveLength(shapes.length);
    expect(req.items.map((it) => it.spec)).toEqual(shapes.flatMap((_, k) => Array(30).fill(k)));
    expect(roundTrip(specs)).toEqual(decoded(specs));
  });

  it("sends small batches, and batches with no runs of like jobs, as they are", () => {
    const small = Array.from({ length: COMPACT_MIN_JOBS - 1 }, () => js("a"));
    expect(submitRequest(small)).toEqual({ jobs: small, specs: [], items: [] });
    const unlike = Array.from({ length: 200 }, (_, i) => exec(["process", `file-${i}`]));
    expect(submitRequest(unlike)).toEqual({ jobs: unlike, specs: [], items: [] });
    expect(roundTrip(unlike)).toEqual(decoded(unlike));
  });

  it("rejects a compact batch that points past its specs, mixes both forms, or gives an exec job a payload", () => {
    const spec = js("a");
    expect(() => batchSpecs({ jobs: [], specs: [spec], items: [{ spec: 1, name: "x", payloadJson: "" }] })).toThrow(
      new InvalidJobSpecError("items[0].spec is 1, not an index of specs (0 to 0)"),
    );
    expect(() => batchSpecs({ jobs: [spec], specs: [spec], items: [{ spec: 0, name: "", payloadJson: "" }] })).toThrow(/jobs and items are both set/);
    expect(() => batchSpecs({ jobs: [], specs: [spec], items: [] })).toThrow(/specs is set without items/);
    expect(() => batchSpecs({ jobs: [], specs: [exec(["true"])], items: [{ spec: 0, name: "", payloadJson: "{}" }] })).toThrow(
      /items\[0\]: payload_json is for js jobs/,
    );
  });
});
