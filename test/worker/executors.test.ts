// The exec and js executors on their own: real child processes, a real tasks module.
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ExecExecutor } from "../../worker/runner/exec-executor.js";
import { JsExecutor, loadTaskModule, type TaskModule } from "../../worker/runner/js-executor.js";
import { execAssignment, jobId, jsAssignment, readWhenWritten, waitGone } from "./fake-coordinator.js";

const TASKS = path.join(path.dirname(fileURLToPath(import.meta.url)), "fixtures", "tasks.mjs");

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(path.join(os.tmpdir(), "baton-worker-exec-"));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

describe("exec executor", () => {
  const exec = new ExecExecutor({ killGraceMs: 300 });

  it("reports exit code 0 and the pid, and starts the child with the job's env", async () => {
    const out: Buffer[] = [];
    let startedPid: number | undefined;
    const a = execAssignment(jobId(), ["sh", "-c", 'echo "$BATON_JOB_ID $BATON_ATTEMPT $FOO"'], { env: { FOO: "bar" } });
    const run = exec.start(a, { onStarted: (pid) => (startedPid = pid), onLog: (s, c) => void (s === "stdout" && out.push(c)) });
    const o = await run.done;
    expect(o).toMatchObject({ reason: "exited", exitCode: 0 });
    expect(o.startedAtMs).toBeGreaterThan(0);
    expect(startedPid).toBe(run.pid);
    expect(Buffer.concat(out).toString()).toBe(`${a.jobId} 1 bar\n`);
  });

  it("reports exit code 3", async () => {
    const o = await exec.start(execAssignment(jobId(), ["sh", "-c", "exit 3"]), {}).done;
    expect(o).toMatchObject({ reason: "exited", exitCode: 3, message: "exited with code 3" });
  });

  it("reports a child killed by a signal as signaled, naming the signal", async () => {
    const o = await exec.start(execAssignment(jobId(), ["sh", "-c", "kill -KILL $$"]), {}).done;
    expect(o.reason).toBe("signaled");
    expect(o.exitCode).toBeUndefined();
    expect(o.message).toContain("SIGKILL");
  });

  it("reports a missing binary as spawn_failed naming the command", async () => {
    const o = await exec.start(execAssignment(jobId(), ["baton-no-such-binary-xyz", "arg"]), {}).done;
    expect(o.reason).toBe("spawn_failed");
    expect(o.message).toContain("baton-no-such-binary-xyz");
    expect(o.message).toContain("ENOENT");
  });

  it("reports a missing working directory as spawn_failed naming the directory", async () => {
    const o = await exec.start(execAssignment(jobId(), ["true"], { cwd: path.join(tmp, "nope") }), {}).done;
    expect(o.reason).toBe("spawn_failed");
    expect(o.message).toContain(path.join(tmp, "nope"));
  });

  it("reports a file that is not executable as spawn_failed", async () => {
    const o = await exec.start(execAssignment(jobId(), [TASKS]), {}).done;
    expect(o.reason).toBe("spawn_failed");
    expect(o.message).toContain("EACCES");
  });

  it("drains a chatty child without a log hook", async () => {
    const o = await exec.start(execAssignment(jobId(), ["sh", "-c", "head -c 4000000 /dev/zero; head -c 4000000 /dev/zero >&2"]), {}).done;
    expect(o).toMatchObject({ reason: "exited", exitCode: 0 });
  });

  it("times out a job and kills its whole process group, grandchild included", async () => {
    const pidFile = path.join(tmp, "timeout-grandchild.pid");
    // The shell ignores SIGTERM, so only the SIGKILL after the grace period ends it.
    const a = execAssignment(jobId(), ["sh", "-c", `trap '' TERM; sleep 60 & echo $! > ${pidFile}; wait; wait`], { timeoutMs: 300 });
    const run = exec.start(a, {});
    const grandchild = Number(await readWhenWritten(pidFile));
    const o = await run.done;
    expect(o.reason).toBe("timed_out");
    expect(o.message).toContain("timed out after 300 ms");
    expect(await waitGone(grandchild)).toBe(true);
    expect(await waitGone(run.pid!)).toBe(true);
  });

  it("kills what a job left running in the background when it exits", async () => {
    const pidFile = path.join(tmp, "orphan.pid");
    const run = exec.start(execAssignment(jobId(), ["sh", "-c", `sleep 60 & echo $! > ${pidFile}; exit 0`]), {});
    const o = await run.done;
    expect(o).toMatchObject({ reason: "exited", exitCode: 0 });
    expect(await waitGone(Number(await readWhenWritten(pidFile)))).toBe(true);
  });

  it("cancels a job: SIGTERM to the group, reported as cancelled", async () => {
    const pidFile = path.join(tmp, "cancel-grandchild.pid");
    const run = exec.start(execAssignment(jobId(), ["sh", "-c", `sleep 60 & echo $! > ${pidFile}; wait`]), {});
    const grandchild = Number(await readWhenWritten(pidFile));
    run.cancel("cancelled", "cancelled by test");
    const o = await run.done;
    expect(o.reason).toBe("cancelled");
    expect(o.message).toContain("cancelled by test");
    expect(await waitGone(grandchild)).toBe(true);
  });
});

describe("js executor", () => {
  let tasks: TaskModule;
  let js: JsExecutor;
  beforeAll(async () => {
    tasks = await loadTaskModule(TASKS);
    js = new JsExecutor(tasks);
  });

  it("loads named exports and the default object's functions", () => {
    expect([...tasks.handlers.keys()].sort()).toEqual(["boom", "chatty", "echo", "fromDefault", "noop", "rejects", "waitForAbort"]);
  });

  it("reports success as exited 0, sync and async, with payload and ctx", async () => {
    const id = jobId();
    expect(await js.start(jsAssignment(id, "echo", { expectJob: id }), {}).done).toMatchObject({ reason: "exited", exitCode: 0 });
    expect(await js.start(jsAssignment(jobId(), "noop"), {}).done).toMatchObject({ reason: "exited", exitCode: 0 });
    expect(await js.start(jsAssignment(jobId(), "fromDefault"), {}).done).toMatchObject({ reason: "exited", exitCode: 0 });
  });

  it("says at once how an attempt ended when its handler returned at once; an async one only when it settles", async () => {
    // The runner ends an attempt that is over when start returns there and then, with no promise.
    expect(js.start(jsAssignment(jobId(), "noop"), {}).outcome).toMatchObject({ reason: "exited", exitCode: 0 });
    expect(js.start(jsAssignment(jobId(), "boom"), {}).outcome).toMatchObject({ reason: "task_failed", message: "boom: no reason" });
    expect(js.start(jsAssignment(jobId(), "nope"), {}).outcome).toMatchObject({ reason: "task_failed" });
    const waiting = js.start(jsAssignment(jobId(), "waitForAbort"), {});
    expect(waiting.outcome).toBeUndefined();
    const done = waiting.done;
    waiting.cancel("cancelled", "stop");
    expect(waiting.outcome).toMatchObject({ reason: "cancelled" });
    expect(await done).toMatchObject({ reason: "cancelled", message: "stop" });
    // a promise asked for after the end resolves too
    expect(await waiting.done).toMatchObject({ reason: "cancelled" });
  });

  it("passes ctx.log lines to the attempt's output, each ending in a newline", async () => {
    const out: string[] = [];
    const run = js.start(jsAssignment(jobId(), "chatty", { who: "baton" }), { onLog: (s, c) => void (s === "stdout" && out.push(c.toString())) });
    expect(await run.done).toMatchObject({ reason: "exited", exitCode: 0 });
    expect(out).toEqual(["hello baton\n", "bye\n"]);
  });

  it("reports a throw or a rejection as task_failed with the error message", async () => {
    expect(await js.start(jsAssignment(jobId(), "boom", { why: "bad input" }), {}).done).toMatchObject({
      reason: "task_failed",
      message: "boom: bad input",
    });
    expect(await js.start(jsAssignment(jobId(), "rejects"), {}).done).toMatchObject({ reason: "task_failed", message: "rejected on purpose" });
  });

  it("reports an unknown task naming the task and the module", async () => {
    const o = await js.start(jsAssignment(jobId(), "nope"), {}).done;
    expect(o.reason).toBe("task_failed");
    expect(o.message).toContain('"nope"');
    expect(o.message).toContain(TASKS);
  });

  it("reports a task on a worker without --tasks as task_failed", async () => {
    const o = await new JsExecutor(undefined).start(jsAssignment(jobId(), "noop"), {}).done;
    expect(o.reason).toBe("task_failed");
    expect(o.message).toContain("--tasks");
  });

  it("reports bad payload JSON as task_failed", async () => {
    const a = jsAssignment(jobId(), "noop");
    if (a.spec?.executor?.$case === "js") a.spec.executor.js.payloadJson = "{oops";
    expect(await js.start(a, {}).done).toMatchObject({ reason: "task_failed" });
  });

  it("aborts ctx.signal on cancel and on timeout", async () => {
    const run = js.start(jsAssignment(jobId(), "waitForAbort"), {});
    run.cancel("cancelled", "stop it");
    expect(await run.done).toMatchObject({ reason: "cancelled", message: "stop it" });
    const timed = await js.start(jsAssignment(jobId(), "waitForAbort", undefined, { timeoutMs: 50 }), {}).done;
    expect(timed.reason).toBe("timed_out");
  });

  it("fails to load a module that does not exist, naming it", async () => {
    await expect(loadTaskModule(path.join(tmp, "missing.mjs"))).rejects.toThrow(/--tasks module .*missing\.mjs/);
  });
});
