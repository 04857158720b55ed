// `baton worker` as a real process: its start line, bad flags, and an orderly stop on SIGTERM.
import { spawn } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { execAssignment, FakeCoordinator, jobId, waitGone } from "./fake-coordinator.js";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const RUN = path.join(HERE, "fixtures", "run-worker.ts");

const cleanup: Array<() => void> = [];
afterEach(() => {
  while (cleanup.length > 0) cleanup.pop()!();
});

function runWorker(args: string[], env: NodeJS.ProcessEnv = {}) {
  const child = spawn(process.execPath, ["--import", "tsx", RUN, ...args], {
    cwd: path.resolve(HERE, "../.."),
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  cleanup.push(() => child.exitCode === null && child.signalCode === null && child.kill("SIGKILL"));
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
  child.stderr.on("data", (c: Buffer) => (stderr += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const firstLine = new Promise<string>((resolve, reject) => {
    const onData = () => {
      const nl = stdout.indexOf("\n");
      if (nl >= 0) {
        child.stdout.off("data", onData);
        resolve(stdout.slice(0, nl));
      }
    };
    child.stdout.on("data", onData);
    child.on("exit", (code) => reject(new Error(`worker exited (${code}) before its start line; stderr: ${stderr}`)));
  });
  firstLine.catch(() => {}); // not every test awaits it
  return { child, exited, firstLine, stderr: () => stderr };
}

describe("baton worker", () => {
  it("rejects a bad flag with exit code 2, naming the flag", async () => {
    const w = runWorker(["--slots", "many"]);
    expect(await w.exited).toBe(2);
    expect(w.stderr()).toContain('invalid --slots "many"');
  });

  it("prints its start line and on SIGTERM stops the running job, reports it, exits 0", async () => {
    const c = await FakeCoordinator.start();
    cleanup.push(() => c.kill());
    const w = runWorker(["--http-port", "0", "--cpu", "1500", "--memory", "256", "--shutdown-grace-ms", "100", "--kill-grace-ms", "100"], {
      BATON_COORDINATORS: c.address,
      BATON_WORKER_NAME: "cmd-worker",
    });
    const line = await w.firstLine;
    expect(line).toMatch(
      new RegExp(`^worker cmd-worker \\([0-9a-f-]{36}\\) cpu=1500m memory=256MiB slots=64 limits=(cgroup-v2|cgroup-v1|rlimit|none) → coordinators ${c.address} http 127\\.0\\.0\\.1:\\d+$`),
    );
    const s = await c.stream();
    await s.register();
    s.registered();
    const id = jobId("cmd");
    s.assign(execAssignment(id, ["sleep", "30"]));
    const { started } = await s.event(id, "started");
    w.child.kill("SIGTERM");
    const { finished } = await s.event(id, "finished");
    expect(finished.reason).toBe("worker_lost");
    s.ack(Math.max(...s.batchSeqs()));
    expect(await w.exited).toBe(0);
    expect(await waitGone(started.pid)).toBe(true);
  });
});
