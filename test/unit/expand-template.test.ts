// Template expansion, pure: placeholders, defaults, parameter errors and overrides.
import { describe, expect, it } from "vitest";
import { checkTemplate, expandTemplate, overlaySpec, placeholdersOf, type StoredTemplate } from "../../coordinator/api/expand-template.js";
import { JobSpec } from "../../shared/gen/baton/v1/types.js";

const template = (spec: Partial<JobSpec>, params: StoredTemplate["params"] = []): StoredTemplate => ({
  name: "t",
  version: 3,
  spec: JobSpec.fromPartial(spec),
  params,
});
const p = (name: string, over: { default?: string; required?: boolean } = {}) => ({ name, description: "", required: false, default: undefined, ...over });

describe("expandTemplate", () => {
  it("fills placeholders in argv, env, cwd, name, queue, labels and the idempotency key, with defaults", () => {
    const t = template(
      {
        name: "build-{{ref}}",
        queue: "{{q}}",
        labels: { zone: "{{zone}}" },
        idempotencyKey: "build-{{ref}}",
        executor: { $case: "exec", exec: { argv: ["make", "{{target}}", "REF={{ref}}"], env: { REF: "{{ref}}" }, cwd: "/src/{{ref}}" } },
      },
      [p("ref", { required: true }), p("q", { default: "builds" }), p("zone", { default: "a" }), p("target")],
    );
    const spec = expandTemplate(t, { ref: "v1.2", zone: "b" }, "jobs[0]");
    expect(spec).toMatchObject({
      name: "build-v1.2",
      queue: "builds",
      labels: { zone: "b" },
      idempotencyKey: "build-v1.2",
      executor: { $case: "exec", exec: { argv: ["make", "", "REF=v1.2"], env: { REF: "v1.2" }, cwd: "/src/v1.2" } },
    });
  });

  it("fills a js payload as text", () => {
    const t = template({ executor: { $case: "js", js: { task: "send", payloadJson: '{"n": {{n}}}' } } }, [p("n", { default: "1" })]);
    expect(expandTemplate(t, { n: "42" }, "jobs[0]").executor).toEqual({ $case: "js", js: { task: "send", payloadJson: '{"n": 42}' } });
  });

  it("names the template, version and parameter in each error", () => {
    const t = template({ executor: { $case: "exec", exec: { argv: ["echo", "{{a}}", "{{ghost}}"], env: {}, cwd: "" } } }, [p("a", { required: true })]);
    expect(() => expandTemplate(t, {}, "jobs[2]")).toThrow('jobs[2]: template "t" version 3: parameter "a" is required');
    expect(() => expandTemplate(t, { a: "1", b: "2" }, "jobs[2]")).toThrow('jobs[2]: template "t" version 3: has no parameter "b" (its parameters: a)');
    expect(() => expandTemplate(t, { a: "1" }, "jobs[2]")).toThrow('jobs[2]: template "t" version 3: the spec uses {{ghost}} but declares no parameter "ghost"');
  });
});

describe("overlaySpec", () => {
  it("lets fields set on the submitted spec win; labels merge; resources per field", () => {
    const base = JobSpec.fromPartial({
      name: "n",
      priority: 1,
      resources: { cpuMillis: 500, memoryMb: 256, gpus: 0 },
      labels: { a: "1", b: "1" },
      executor: { $case: "exec", exec: { argv: ["true"], env: {}, cwd: "" } },
      timeoutMs: 1000,
    });
    const over = JobSpec.fromPartial({ priority: 9, resources: { cpuMillis: 2000, memoryMb: 0, gpus: 0 }, labels: { b: "2" }, template: { name: "t", version: 0, params: {} } });
    expect(overlaySpec(base, over)).toMatchObject({
      name: "n",
      priority: 9,
      resources: { cpuMillis: 2000, memoryMb: 256, gpus: 0 },
      labels: { a: "1", b: "2" },
      executor: base.executor,
      timeoutMs: 1000,
      template: undefined,
    });
  });
});

describe("checkTemplate", () => {
  it("accepts declared placeholders and refuses undeclared ones, duplicates and bad names", () => {
    const spec = JobSpec.fromPartial({ executor: { $case: "exec", exec: { argv: ["echo", "{{x}}"], env: {}, cwd: "" } } });
    expect(placeholdersOf(spec)).toEqual(new Set(["x"]));
    expect(checkTemplate("t", spec, [p("x")])).toBeUndefined();
    expect(checkTemplate("t", spec, [])).toBe('the spec uses {{x}} but declares no parameter "x"; add it to params');
    expect(checkTemplate("t", spec, [p("x"), p("x")])).toBe('parameter "x" is declared twice');
    expect(checkTemplate("t", spec, [p("x", { required: true, default: "1" })])).toBe('parameter "x" is required and has a default: drop one');
    expect(checkTemplate("t", JobSpec.fromPartial({}), [])).toMatch(/^the spec has no executor/);
  });
});
