import { describe, expect, it } from "vitest";
import {
  buildJobSpec,
  parseCpu,
  parseDuration,
  parseEnv,
  parseLabels,
  parseMemory,
  parseStates,
} from "../../client/cli/job-spec-args.js";
import { compileDevOptions, devChildren } from "../../client/cli/dev-plan.js";
import { UsageError } from "../../client/cli/usage-error.js";

describe("parseDuration", () => {
  it.each([
    ["1500ms", 1500],
    ["30s", 30_000],
    ["5m", 300_000],
    ["1h", 3_600_000],
    ["1h30m", 5_400_000],
    ["1m30s", 90_000],
    ["1.5s", 1500],
    ["0", 0],
  ])("%s is %d ms", (text, ms) => expect(parseDuration(text)).toBe(ms));

  it("asks for a unit on a bare number", () => {
    expect(() => parseDuration("30")).toThrow(/--timeout '30' is not a duration \(add a unit: 30s/);
  });
  it.each(["", "abc", "5x", "s5", "5m junk"])("refuses %j", (text) => {
    expect(() => parseDuration(text)).toThrow(UsageError);
  });
  it("refuses what does not fit in int32 ms", () => {
    expect(() => parseDuration("30d")).toThrow(/too long/);
  });
});

describe("parseCpu", () => {
  it.each([
    ["100", 100],
    ["500m", 500],
    ["0.5", 500],
    ["2.0", 2000],
    [".25", 250],
    ["1.", 1000],
  ])("%s is %d millicores", (text, m) => expect(parseCpu(text)).toBe(m));
  it.each(["abc", "-1", "0", "0m", "1.5m", "2 cores"])("refuses %j", (text) => {
    expect(() => parseCpu(text)).toThrow(/--cpu/);
  });
});

describe("parseMemory", () => {
  it.each([
    ["64", 64],
    ["512Mi", 512],
    ["2Gi", 2048],
    ["1G", 1024],
    ["1.5Gi", 1536],
  ])("%s is %d MiB", (text, mb) => expect(parseMemory(text)).toBe(mb));
  it.each(["lots", "0", "5Ti", "-3"])("refuses %j", (text) => {
    expect(() => parseMemory(text)).toThrow(/--memory/);
  });
});

describe("labels and env", () => {
  it("reads repeated and comma-listed labels", () => {
    expect(parseLabels(["zone=a", "gpu=yes,disk=ssd"])).toEqual({ zone: "a", gpu: "yes", disk: "ssd" });
  });
  it("names a label without a value", () => {
    expect(() => parseLabels(["zone"])).toThrow("--label 'zone' must look like key=value");
    expect(() => parseLabels(["=a"])).toThrow(/--label '=a'/);
  });
  it("keeps = and commas in env values and passes bare names from here", () => {
    expect(parseEnv(["A=x=y,z", "HOME"], { HOME: "/root" })).toEqual({ A: "x=y,z", HOME: "/root" });
  });
  it("names an unset bare env var and a bad name", () => {
    expect(() => parseEnv(["NOPE"], {})).toThrow(/--env NOPE: NOPE is not set here/);
    expect(() => parseEnv(["1A=b"], {})).toThrow(/--env '1A=b'/);
  });
});

describe("parseStates", () => {
  it("reads a comma list", () => expect(parseStates("pending, RUNNING,pending")).toEqual(["pending", "running"]));
  it("lists the valid states on a bad one", () => {
    expect(() => parseStates("pending,done")).toThrow(
      "--state 'done' is not a job state; use one or more of pending, assigned, running, succeeded, failed, cancelled",
    );
  });
});

describe("buildJobSpec", () => {
  it("builds an exec job with defaults", () => {
    expect(buildJobSpec({}, ["echo", "hello"])).toEqual({
      name: "",
      queue: "",
      priority: 0,
      resources: { cpuMillis: 100, memoryMb: 64, gpus: 0 },
      labels: {},
      executor: { $case: "exec", exec: { argv: ["echo", "hello"], env: {}, cwd: "" } },
      timeoutMs: 0,
      maxAttempts: 0,
      tenant: "",
      retry: undefined,
      runAtMs: 0,
      idempotencyKey: "",
      idempotencyWindowS: 0,
      template: undefined,
    });
  });

  it("carries every flag", () => {
    const spec = buildJobSpec(
      {
        name: "build",
        cpu: "1.5",
        memory: "1Gi",
        gpus: "1",
        priority: "-5",
        queue: "ci",
        label: ["os=linux"],
        env: ["CI=1"],
        cwd: "/src",
        timeout: "5m",
        maxAttempts: "3",
        tenant: "team-a",
      },
      ["make", "-j4"],
    );
    expect(spec).toMatchObject({
      name: "build",
      queue: "ci",
      priority: -5,
      resources: { cpuMillis: 1500, memoryMb: 1024, gpus: 1 },
      labels: { os: "linux" },
      executor: { $case: "exec", exec: { argv: ["make", "-j4"], env: { CI: "1" }, cwd: "/src" } },
      timeoutMs: 300_000,
      maxAttempts: 3,
      tenant: "team-a",
    });
  });

  it("builds a js job with a validated payload", () => {
    const spec = buildJobSpec({ task: "resize", payload: '{"w":100}' }, []);
    expect(spec.executor).toEqual({ $case: "js", js: { task: "resize", payloadJson: '{"w":100}' } });
  });

  it("names the problem", () => {
    expect(() => buildJobSpec({}, [])).toThrow(/nothing to run: give a command after --/);
    expect(() => buildJobSpec({ task: "t" }, ["echo"])).toThrow(/either a command .* or --task, not both/);
    expect(() => buildJobSpec({ task: "t", payload: "{nope" }, [])).toThrow(/--payload is not valid JSON/);
    expect(() => buildJobSpec({ payload: "{}" }, ["echo"])).toThrow(/--payload goes with --task/);
    expect(() => buildJobSpec({ task: "t", env: ["A=b"] }, [])).toThrow(/--env applies to commands/);
    expect(() => buildJobSpec({ maxAttempts: "0" }, ["x"])).toThrow("--max-attempts '0' must be at least 1");
    expect(() => buildJobSpec({ priority: "high" }, ["x"])).toThrow("--priority 'high' is not a whole number");
    expect(() => buildJobSpec({ gpus: "-1" }, ["x"])).toThrow(/--gpus '-1' must be at least 0/);
  });
});

describe("dev plan", () => {
  it("runs one coordinator and N workers on consecutive worker ports", () => {
    const s = compileDevOptions({ grpcPort: "50051", httpPort: "8080", workers: "2", dataDir: ".baton" });
    const children = devChildren(s, "postgres://x");
    expect(children.map((c) => c.label)).toEqual(["coordinator", "worker-1", "worker-2"]);
    expect(children[0]!.args).toEqual([
      "coordinator", "--database-url", "postgres://x", "--grpc-port", "50051", "--http-port", "8080", "--host", "127.0.0.1",
    ]);
    expect(children[2]!.args).toEqual([
      "worker", "--coordinators", "127.0.0.1:50051", "--name", "dev-worker-2", "--http-port", "9465", "--host", "127.0.0.1",
    ]);
  });
  it("refuses clashing ports", () => {
    expect(() => compileDevOptions({ grpcPort: "9464", httpPort: "8080", workers: "1", dataDir: "d" })).toThrow(/9464/);
    expect(() => compileDevOptions({ grpcPort: "70000", httpPort: "8080", workers: "1", dataDir: "d" })).toThrow(/--grpc-port/);
  });
});
