// `baton template put` and `baton submit --template` flags: every accepted form and error message.
import { describe, expect, it } from "vitest";
import { describeJob } from "../../client/cli/commands/get.js";
import { buildJobSpec } from "../../client/cli/job-spec-args.js";
import { Job } from "../../shared/gen/baton/v1/types.js";
import { parseParamDefs, parseParamValues, parseTemplateFile, parseTemplateRef, templateToFile } from "../../client/cli/template-args.js";

describe("submit --template", () => {
  it("builds a spec that names the template, with only the flags given set", () => {
    const spec = buildJobSpec({ template: "greet", templateVersion: "2", param: ["who=a=b", "n=1"], priority: "7" }, []);
    expect(spec.template).toEqual({ name: "greet", version: 2, params: { who: "a=b", n: "1" } });
    expect(spec.executor).toBeUndefined();
    expect(spec.resources).toEqual({ cpuMillis: 0, memoryMb: 0, gpus: 0 });
    expect(spec.priority).toBe(7);
  });

  it("takes a command that replaces the template's, and an idempotency key and window", () => {
    const spec = buildJobSpec({ template: "t", cpu: "250", idempotencyKey: "k1", idempotencyWindow: "90m" }, ["echo", "x"]);
    expect(spec.executor).toEqual({ $case: "exec", exec: { argv: ["echo", "x"], env: {}, cwd: "" } });
    expect(spec.resources).toEqual({ cpuMillis: 250, memoryMb: 0, gpus: 0 });
    expect(spec).toMatchObject({ idempotencyKey: "k1", idempotencyWindowS: 5400, template: { name: "t", version: 0, params: {} } });
  });

  it("refuses parameters without a template, malformed parameters and versions", () => {
    expect(() => parseTemplateRef({ param: ["a=1"] })).toThrow("--template-version and --param go with --template NAME");
    expect(() => parseTemplateRef({ template: "t", templateVersion: "0" })).toThrow("--template-version '0' must be a version number");
    expect(() => parseParamValues(["novalue"])).toThrow("--param 'novalue' must look like name=value");
    expect(() => parseParamValues(["a=1", "a=2"])).toThrow("--param a is given twice");
    expect(() => buildJobSpec({ template: "t", env: ["A=1"] }, [])).toThrow("--env, --cwd and --payload go with a command or --task");
    expect(() => buildJobSpec({ idempotencyWindow: "1h" }, ["true"])).toThrow("--idempotency-window goes with --idempotency-key");
  });
});

describe("template put", () => {
  it("reads --param NAME as required and NAME=DEFAULT as optional", () => {
    expect(parseParamDefs(["who", "greeting=hello there"])).toEqual([
      { name: "who", required: true, default: undefined, description: "" },
      { name: "greeting", required: false, default: "hello there", description: "" },
    ]);
    expect(() => parseParamDefs(["1x"])).toThrow("--param '1x': the name must start with a letter");
    expect(() => parseParamDefs(["a", "a=1"])).toThrow("--param a is declared twice");
  });

  it("reads a template file (what template get prints) and says what is wrong with a bad one", () => {
    const file = JSON.stringify({
      spec: { name: "n-{{x}}", exec: { argv: ["echo", "{{x}}"] }, resources: { cpu_millis: 100 } },
      params: [{ name: "x", default: "1" }],
    });
    const { spec, params } = parseTemplateFile(file, "t.json");
    expect(spec.executor).toEqual({ $case: "exec", exec: { argv: ["echo", "{{x}}"], env: {}, cwd: "" } });
    expect(spec.resources?.cpuMillis).toBe(100);
    expect(params).toEqual([{ name: "x", default: "1", required: false, description: "" }]);
    const round = templateToFile({ name: "t", version: 1, spec, params, createdAtMs: 0 }) as { spec: unknown; params: unknown[] };
    expect(parseTemplateFile(JSON.stringify(round), "t.json")).toEqual({ spec, params });
    expect(() => parseTemplateFile("{", "t.json")).toThrow("t.json is not valid JSON");
    expect(() => parseTemplateFile("{}", "t.json")).toThrow('t.json has no "spec" object');
    expect(() => parseTemplateFile('{"spec": {}, "params": [{}]}', "t.json")).toThrow('t.json: params[0] must be an object with a "name"');
  });
});

describe("baton get", () => {
  it("shows the template and version a job was made from, and its idempotency key", () => {
    const text = describeJob(Job.fromPartial({ id: "7", templateName: "greet", templateVersion: 2, idempotencyKey: "deploy-42" }), Date.now());
    expect(text).toMatch(/^Template: +greet version 2$/m);
    expect(text).toMatch(/^Idempotency key: +deploy-42$/m);
  });
});
