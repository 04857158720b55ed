// Worker options: flag over env, defaults, and errors that name what was wrong.
import os from "node:os";
import { describe, expect, it } from "vitest";
import { compileWorkerOptions, WorkerOptionError } from "../../worker/options.js";

describe("compileWorkerOptions", () => {
  it("fills defaults from the host", () => {
    const o = compileWorkerOptions({}, {});
    expect(o.coordinators).toEqual(["127.0.0.1:50051"]);
    expect(o.slots).toBe(64);
    expect(o.httpPort).toBe(9464);
    expect(o.httpHost).toBe("127.0.0.1");
    expect(o.name).toBe(os.hostname());
    expect(o.labels).toEqual({});
    expect(o.killGraceMs).toBe(5000);
    expect(o.cpuMillis).toBeGreaterThan(0);
    expect(o.cpuMillis).toBeLessThanOrEqual(os.availableParallelism() * 1000);
    expect(o.memoryMb).toBeGreaterThan(0);
    expect(o.tasksModule).toBeUndefined();
    expect(o.limits).toBe("auto");
    expect(o.usageIntervalMs).toBe(1000);
    expect(o.gpus).toBeUndefined();
    expect(o.workerId).toMatch(/^[0-9a-f-]{36}$/);
    expect(compileWorkerOptions({}, {}).workerId).not.toBe(o.workerId);
  });

  it("reads env vars, and a flag wins over its env var", () => {
    const env = {
      BATON_COORDINATORS: "a:1, b:2",
      BATON_WORKER_CPU: "2500",
      BATON_WORKER_MEMORY: "512",
      BATON_WORKER_SLOTS: "3",
      BATON_WORKER_NAME: "from-env",
      BATON_WORKER_LABELS: "zone=eu, disk=ssd",
      BATON_WORKER_HTTP_PORT: "0",
      BATON_HOST: "0.0.0.0",
      BATON_WORKER_TASKS: "tasks.mjs",
    };
    const fromEnv = compileWorkerOptions({}, env);
    expect(fromEnv).toMatchObject({
      coordinators: ["a:1", "b:2"],
      cpuMillis: 2500,
      memoryMb: 512,
      slots: 3,
      name: "from-env",
      labels: { zone: "eu", disk: "ssd" },
      httpPort: 0,
      httpHost: "0.0.0.0",
      tasksModule: `${process.cwd()}/tasks.mjs`,
    });
    const fromFlags = compileWorkerOptions({ cpu: "1000", name: "flag", coordinators: "[::1]:7000", killGraceMs: "0" }, env);
    expect(fromFlags).toMatchObject({ cpuMillis: 1000, name: "flag", coordinators: ["[::1]:7000"], killGraceMs: 0, memoryMb: 512 });
  });

  it("reads the limits mechanism, usage interval and GPU count", () => {
    const env = { BATON_WORKER_LIMITS: "rlimit", BATON_WORKER_USAGE_INTERVAL_MS: "250", BATON_WORKER_GPUS: "2" };
    expect(compileWorkerOptions({}, env)).toMatchObject({ limits: "rlimit", usageIntervalMs: 250, gpus: 2 });
    expect(compileWorkerOptions({ limits: "cgroup-v1", usageIntervalMs: "0", gpus: "0" }, env)).toMatchObject({
      limits: "cgroup-v1",
      usageIntervalMs: 0,
      gpus: 0,
    });
  });

  it.each([
    [{ cpu: "abc" }, {}, /--cpu "abc"/],
    [{ cpu: "0" }, {}, /--cpu "0"/],
    [{}, { BATON_WORKER_SLOTS: "-1" }, /BATON_WORKER_SLOTS "-1"/],
    [{ memory: "1.5" }, {}, /--memory "1.5"/],
    [{ httpPort: "70000" }, {}, /--http-port "70000"/],
    [{ coordinators: "localhost" }, {}, /coordinator address "localhost" in --coordinators/],
    [{ coordinators: " , " }, {}, /--coordinators is empty/],
    [{}, { BATON_WORKER_LABELS: "zone" }, /label "zone" in BATON_WORKER_LABELS/],
    [{ labels: "a=1,a=2" }, {}, /label "a" is given twice/],
    [{ name: " " }, {}, /--name must not be empty/],
    [{ limits: "docker" }, {}, /invalid --limits "docker": expected one of auto, cgroup-v2, cgroup-v1, rlimit, none/],
    [{}, { BATON_WORKER_USAGE_INTERVAL_MS: "soon" }, /BATON_WORKER_USAGE_INTERVAL_MS "soon"/],
    [{ gpus: "-1" }, {}, /--gpus "-1"/],
  ])("rejects %o %o", (flags, env, message) => {
    expect(() => compileWorkerOptions(flags, env)).toThrow(WorkerOptionError);
    expect(() => compileWorkerOptions(flags, env)).toThrow(message);
  });
});
