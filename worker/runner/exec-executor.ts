// `exec` jobs: argv run without a shell as the leader of its own process group, so that a timeout,
// a cancel or the end of the attempt can reach every process the job started.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import type { ExecSpec } from "../../shared/gen/baton/v1/types.js";
import type { Assignment } from "../../shared/gen/baton/v1/worker.js";
import { ended, type AttemptHooks, type Executor, type Outcome, type RunningAttempt, type StopReason } from "./executor.js";
import { signalGroup } from "./process-group.js";

export interface ExecExecutorOptions {
  /** Between SIGTERM and SIGKILL to the group on timeout or cancel. */
  killGraceMs: number;
  /** The environment every job starts from (default: the worker's own). */
  baseEnv?: NodeJS.ProcessEnv;
}

/** After the leader exits and the group is killed, how long to wait for the pipes to close. */
const PIPE_CLOSE_WAIT_MS = 1000;

export class ExecExecutor implements Executor {
  constructor(private readonly options: ExecExecutorOptions) {}

  start(assignment: Assignment, hooks: AttemptHooks): RunningAttempt {
    const spec = assignment.spec?.executor?.$case === "exec" ? assignment.spec.executor.exec : undefined;
    if (!spec) return ended({ reason: "spawn_failed", message: "assignment carries no exec spec", startedAtMs: 0 });
    return startChild(assignment, spec, hooks, this.options);
  }
}

function startChild(a: Assignment, spec: ExecSpec, hooks: AttemptHooks, opts: ExecExecutorOptions): RunningAttempt {
  const [command, ...args] = spec.argv;
  if (!command) return ended({ reason: "spawn_failed", message: "exec job has an empty argv: nothing to run", startedAtMs: 0 });

  const env = { ...(opts.baseEnv ?? process.env), ...spec.env, BATON_JOB_ID: a.jobId, BATON_ATTEMPT: String(a.attempt) };
  let child: ChildProcess;
  try {
    child = spawn(command, args, { cwd: spec.cwd || undefined, env, detached: true, stdio: ["ignore", "pipe", "pipe"] });
  } catch (e) {
    // Synchronous refusals: bad argument types, NUL bytes in argv, …
    return ended({ reason: "spawn_failed", message: spawnFailure(command, spec.cwd, e), startedAtMs: 0 });
  }

  const pid = child.pid;
  let startedAtMs = 0;
  let stop: { reason: StopReason; message: string } | undefined;
  let exited = false;
  let settled = false;
  let timeoutTimer: NodeJS.Timeout | undefined;
  let killTimer: NodeJS.Timeout | undefined;
  let resolveDone!: (o: Outcome) => void;
  const done = new Promise<Outcome>((resolve) => (resolveDone = resolve));

  const clearTimers = () => {
    if (timeoutTimer) clearTimeout(timeoutTimer);
    if (killTimer) clearTimeout(killTimer);
    timeoutTimer = killTimer = undefined;
  };
  const settle = (o: Outcome) => {
    if (settled) return;
    settled = true;
    clearTimers();
    resolveDone(o);
  };

  child.stdout!.on("data", (chunk: Buffer) => hooks.onLog?.("stdout", chunk));
  child.stderr!.on("data", (chunk: Buffer) => hooks.onLog?.("stderr", chunk));

  child.once("spawn", () => {
    startedAtMs = Date.now();
    if (pid !== undefined) hooks.onStarted?.(pid, startedAtMs);
  });

  child.once("error", (e) => {
    // Before the child ran, this is the spawn failure; after, a failed kill() we never call.
    if (startedAtMs === 0 && !exited) settle({ reason: "spawn_failed", message: spawnFailure(command, spec.cwd, e), startedAtMs: 0 });
  });

  child.once("exit", (code, signal) => {
    exited = true;
    clearTimers();
    // The attempt is over: nothing it started may outlive it.
    if (pid !== undefined) signalGroup(pid, "SIGKILL");
    const outcome = describeExit(code, signal, stop, startedAtMs);
    // Wait for the pipes to close so the last output reaches the log hook, but not for a process
    // that escaped the group and holds them open.
    let closeTimer: NodeJS.Timeout | undefined;
    const finish = () => {
      if (closeTimer) clearTimeout(closeTimer);
      settle(outcome);
    };
    if (child.stdout!.closed && child.stderr!.closed) return finish();
    child.once("close", finish);
    closeTimer = setTimeout(() => {
      child.stdout!.destroy();
      child.stderr!.destroy();
      finish();
    }, PIPE_CLOSE_WAIT_MS);
  });

  const cancel = (reason: StopReason, message?: string) => {
    if (stop || exited || settled || pid === undefined) return;
    stop = { reason, message: message ?? reason };
    signalGroup(pid, "SIGTERM");
    if (opts.killGraceMs <= 0) signalGroup(pid, "SIGKILL");
    else killTimer = setTimeout(() => signalGroup(pid, "SIGKILL"), opts.killGraceMs);
  };

  if (a.timeoutMs > 0) {
    timeoutTimer = setTimeout(() => cancel("timed_out", `timed out after ${a.timeoutMs} ms`), a.timeoutMs);
  }

  return { pid, cancel, done };
}

function describeExit(
  code: number | null,
  signal: NodeJS.Signals | null,
  stop: { reason: StopReason; message: string } | undefined,
  startedAtMs: number,
): Outcome {
  const how = code !== null ? `exited with code ${code}` : `killed by ${signal}`;
  if (stop) return { reason: stop.reason, message: `${stop.message} (${how})`, startedAtMs };
  if (code !== null) return { reason: "exited", exitCode: code, message: how, startedAtMs };
  return { reason: "signaled", message: how, startedAtMs };
}

function spawnFailure(command: string, cwd: string, e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  // Node reports a missing cwd as ENOENT of the command: say which one is missing.
  if (err.code === "ENOENT" && cwd && !existsSync(cwd)) {
    return `cannot start ${JSON.stringify(command)}: working directory ${JSON.stringify(cwd)} does not exist`;
  }
  const why =
    err.code === "ENOENT" ? "command not found"
    : err.code === "EACCES" ? "permission denied (is it executable?)"
    : err.message;
  return `cannot start ${JSON.stringify(command)}: ${why}${err.code ? ` (${err.code})` : ""}`;
}
