// `exec` jobs: argv run without a shell as the leader of its own process group, confined by the
// worker's limits mechanism (cgroups, rlimits) before it runs, so that a timeout, a cancel, an OOM
// or the end of the attempt can reach every process the job started.
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import type { Readable } from "node:stream";
import type { ExecSpec } from "../../shared/gen/baton/v1/types.js";
import type { Assignment } from "../../shared/gen/baton/v1/worker.js";
import { ENTRY_FAILED_EXIT_CODE, entryArgv, resolveCommand } from "../limits/entry-script.js";
import { MIB, type Confinement, type Limits, type UsageReading } from "../limits/limits.js";
import { TreeLimits } from "../limits/tree-limits.js";
import {
  ended,
  type AttemptGrant,
  type AttemptHooks,
  type Executor,
  type Outcome,
  type OutcomeReason,
  type RunningAttempt,
  type StopReason,
} from "./executor.js";
import { signalGroup } from "./process-group.js";

export interface ExecExecutorOptions {
  /** Between SIGTERM and SIGKILL to the group on timeout or cancel. */
  killGraceMs: number;
  /** The environment every job starts from (default: the worker's own). */
  baseEnv?: NodeJS.ProcessEnv;
  /** How jobs are confined (default: none: the process group, usage read from the process tree). */
  limits?: Limits;
  /** Between two usage samples of a running attempt (default 1000); 0: only the one at the end. */
  usageIntervalMs?: number;
}

/**
 * After the job is killed, how long to wait for its pipes to close (a process that escaped every
 * kill may hold them); time spent paused for log backpressure does not count.
 */
const PIPE_CLOSE_WAIT_MS = 1000;
export const DEFAULT_USAGE_INTERVAL_MS = 1000;

export class ExecExecutor implements Executor {
  private readonly limits: Limits;

  constructor(private readonly options: ExecExecutorOptions) {
    this.limits = options.limits ?? new TreeLimits("none");
  }

  start(assignment: Assignment, hooks: AttemptHooks, grant?: AttemptGrant): RunningAttempt {
    const spec = assignment.spec?.executor?.$case === "exec" ? assignment.spec.executor.exec : undefined;
    if (!spec) return ended({ reason: "spawn_failed", message: "assignment carries no exec spec", startedAtMs: 0 });
    const [command, ...args] = spec.argv;
    if (!command) return ended({ reason: "spawn_failed", message: "exec job has an empty argv: nothing to run", startedAtMs: 0 });

    const resources = assignment.spec?.resources;
    const memoryMb = resources?.memoryMb ?? 0;
    let confinement: Confinement;
    try {
      confinement = this.limits.confine(`${assignment.jobId}-${assignment.attempt}`, {
        memoryBytes: Math.max(0, memoryMb) * MIB,
        cpuMillis: Math.max(0, resources?.cpuMillis ?? 0),
      });
    } catch (e) {
      return ended({ reason: "spawn_failed", message: `cannot set up the job's ${this.limits.mechanism} limits: ${(e as Error).message}`, startedAtMs: 0 });
    }
    const env = jobEnv(assignment, spec, grant, this.options.baseEnv ?? process.env);
    const failed = (message: string): RunningAttempt => ({
      cancel: () => {},
      done: confinement.end(null).then(() => ({ reason: "spawn_failed", message, startedAtMs: 0 })),
    });

    let file = command;
    let argv = args;
    if (confinement.entrySteps) {
      // The entry script execs the program: find it first, so that a missing one is named.
      if (spec.cwd && !existsSync(spec.cwd)) return failed(spawnFailure(command, spec.cwd, { code: "ENOENT" }));
      const resolved = resolveCommand(command, env.PATH, spec.cwd || process.cwd());
      if ("code" in resolved) return failed(spawnFailure(command, spec.cwd, resolved));
      ({ command: file, args: argv } = entryArgv(confinement.entrySteps, resolved.path, args));
    }
    let child: ChildProcess;
    try {
      // fd 3 only for the entry script, which closes it before the job's command runs.
      const stdio = confinement.entrySteps ? (["ignore", "pipe", "pipe", "pipe"] as const) : (["ignore", "pipe", "pipe"] as const);
      child = spawn(file, argv, { cwd: spec.cwd || undefined, env, detached: true, stdio: [...stdio] });
    } catch (e) {
      // Synchronous refusals: bad argument types, NUL bytes in argv, …
      return failed(spawnFailure(command, spec.cwd, e));
    }
    return new ExecAttempt(child, command, spec.cwd, confinement, hooks, {
      killGraceMs: this.options.killGraceMs,
      usageIntervalMs: this.options.usageIntervalMs ?? DEFAULT_USAGE_INTERVAL_MS,
      timeoutMs: assignment.timeoutMs,
      memoryMb,
    });
  }
}

function jobEnv(a: Assignment, spec: ExecSpec, grant: AttemptGrant | undefined, base: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base, ...spec.env, BATON_JOB_ID: a.jobId, BATON_ATTEMPT: String(a.attempt) };
  // The job's trace, not one the worker itself may have inherited.
  delete env.TRACEPARENT;
  delete env.TRACESTATE;
  const { traceparent, tracestate } = a.traceContext ?? {};
  if (traceparent) env.TRACEPARENT = traceparent;
  if (traceparent && tracestate) env.TRACESTATE = tracestate;
  if (grant && grant.gpuIndices.length > 0) env.CUDA_VISIBLE_DEVICES = grant.gpuIndices.join(",");
  return env;
}

interface AttemptSettings {
  killGraceMs: number;
  usageIntervalMs: number;
  timeoutMs: number;
  memoryMb: number;
}

/** One child's life: started, sampled, maybe stopped, exited, torn down, reported. */
class ExecAttempt implements RunningAttempt {
  readonly pid: number | undefined;
  readonly done: Promise<Outcome>;
  private resolveDone!: (o: Outcome) => void;
  private startedAtMs = 0;
  private startReported = false;
  private stop: { reason: StopReason | "oom_killed"; message: string } | undefined;
  private exited = false;
  private settled = false;
  /** What the entry script said on fd 3 when it could not confine the job. */
  private entryError = "";
  private timeoutTimer: NodeJS.Timeout | undefined;
  private killTimer: NodeJS.Timeout | undefined;
  private sampleTimer: NodeJS.Timeout | undefined;
  private sampling = false;
  private lastSample = { cpuSeconds: 0, atMs: 0 };
  private readonly pipes: Readable[];
  private paused = false;
  private closeTimer: NodeJS.Timeout | undefined;
  private pipesClosed: (() => void) | undefined;

  constructor(
    private readonly child: ChildProcess,
    private readonly command: string,
    private readonly cwd: string,
    private readonly confinement: Confinement,
    private readonly hooks: AttemptHooks,
    private readonly settings: AttemptSettings,
  ) {
    this.pid = child.pid;
    this.done = new Promise<Outcome>((resolve) => (this.resolveDone = resolve));
    const viaEntry = confinement.entrySteps !== undefined;
    this.pipes = [child.stdout!, child.stderr!];

    child.stdout!.on("data", (chunk: Buffer) => this.onOutput("stdout", chunk));
    child.stderr!.on("data", (chunk: Buffer) => this.onOutput("stderr", chunk));
    const control = child.stdio[3] as Readable | null | undefined;
    if (control) {
      control.on("data", (chunk: Buffer) => (this.entryError += chunk.toString()));
      control.on("error", () => {});
      // fd 3 closes without a word once the entry script has exec'd the job's command.
      control.once("end", () => {
        if (this.entryError === "" && !this.settled) this.reportStarted();
      });
    }

    child.once("spawn", () => {
      this.startedAtMs = Date.now();
      this.lastSample.atMs = this.startedAtMs;
      if (this.pid === undefined) return;
      confinement.started(this.pid, (message) => this.overLimit(message));
      if (!viaEntry) this.reportStarted();
      if (settings.usageIntervalMs > 0) this.sampleTimer = setInterval(() => this.sample(), settings.usageIntervalMs);
    });

    child.once("error", (e) => {
      // Before the child ran, this is the spawn failure; after, a failed kill() we never call.
      if (this.startedAtMs === 0 && !this.exited) {
        this.exited = true;
        void confinement.end(null).then(() => this.settle({ reason: "spawn_failed", message: spawnFailure(command, cwd, e), startedAtMs: 0 }));
      }
    });

    child.once("exit", (code, signal) => void this.onExit(code, signal));

    if (settings.timeoutMs > 0) {
      this.timeoutTimer = setTimeout(() => this.cancel("timed_out", `timed out after ${settings.timeoutMs} ms`), settings.timeoutMs);
    }
  }

  cancel(reason: StopReason, message?: string): void {
    if (this.settled || this.pid === undefined) return;
    if (this.exited) {
      // Over already (and reported as it ended); only its output is still being read, perhaps held
      // back by backpressure: whoever stops the attempt now does not wait for the rest of it.
      this.destroyPipes();
      return;
    }
    if (this.stop) return;
    this.stop = { reason, message: message ?? reason };
    this.signal("SIGTERM");
    if (this.settings.killGraceMs <= 0) this.signal("SIGKILL");
    else this.killTimer = setTimeout(() => this.signal("SIGKILL"), this.settings.killGraceMs);
  }

  private overLimit(message: string): void {
    if (this.stop || this.exited || this.pid === undefined) return;
    this.stop = { reason: "oom_killed", message };
    this.signal("SIGKILL");
  }

  /** Signals the job's process group, and with SIGKILL everything else of the job too. */
  private signal(sig: "SIGTERM" | "SIGKILL"): void {
    const pid = this.pid!;
    const send = () => {
      if (this.settled) return;
      signalGroup(pid, sig);
      if (sig === "SIGKILL") this.confinement.kill();
    };
    void this.confinement.survey().then(send, send);
  }

  /** The job's command runs: said once, and always before any of its output. */
  private reportStarted(): void {
    if (this.startReported || this.pid === undefined) return;
    this.startReported = true;
    this.hooks.onStarted?.(this.pid, this.startedAtMs);
  }

  private onOutput(stream: "stdout" | "stderr", chunk: Buffer): void {
    // Through the entry script, start is known when fd 3 closes; that event and the job's first
    // output come on different pipes in no fixed order. Output means the command runs (the entry
    // script writes nothing to stdout or stderr), so start is said first.
    if (this.entryError === "") this.reportStarted();
    if (this.hooks.onLog?.(stream, chunk) !== false || this.paused) return;
    this.paused = true;
    for (const p of this.pipes) p.pause();
    if (this.closeTimer) clearTimeout(this.closeTimer);
    this.closeTimer = undefined;
    const resume = () => {
      if (!this.paused) return;
      this.paused = false;
      for (const p of this.pipes) p.resume();
      if (this.pipesClosed) this.armCloseTimer();
    };
    if (this.hooks.whenLogRoom) this.hooks.whenLogRoom(resume);
    else resume();
  }

  private sample(): void {
    if (this.sampling || this.exited) return;
    this.sampling = true;
    void this.confinement
      .sample()
      .then(
        (u) => {
          // A reading that comes back after the exit is dropped: usage events precede `finished`.
          if (!this.exited && !this.settled) this.hooks.onUsage?.(this.rate(u));
        },
        () => {},
      )
      .finally(() => (this.sampling = false));
  }

  /** The reading with the CPU rate since the previous one. */
  private rate(u: UsageReading) {
    const now = Date.now();
    const dt = (now - this.lastSample.atMs) / 1000;
    const cpuMillis = dt > 0 ? Math.max(0, Math.round(((u.cpuSeconds - this.lastSample.cpuSeconds) / dt) * 1000)) : 0;
    this.lastSample = { cpuSeconds: u.cpuSeconds, atMs: now };
    return { cpuMillis, memoryBytes: u.memoryBytes, cpuSeconds: u.cpuSeconds, peakMemoryBytes: u.peakMemoryBytes };
  }

  private async onExit(code: number | null, signal: NodeJS.Signals | null): Promise<void> {
    this.exited = true;
    this.clearTimers();
    // The attempt is over: nothing it started may outlive it.
    if (this.pid !== undefined) signalGroup(this.pid, "SIGKILL");
    // Let the last output reach the log hook; this races the teardown, which closes the pipes.
    const pipes = this.waitPipes();
    const final = await this.confinement.end(signal);
    await pipes;
    let outcome: Outcome;
    if (code === ENTRY_FAILED_EXIT_CODE && this.entryError !== "") {
      outcome = { reason: "spawn_failed", message: `cannot start ${JSON.stringify(this.command)}: ${this.entryError.trim()}`, startedAtMs: 0 };
    } else {
      outcome = describeExit(code, signal, this.stop, final.oomKilled, this.settings.memoryMb, this.startedAtMs);
    }
    this.settle({ ...outcome, cpuSeconds: final.usage.cpuSeconds, peakMemoryBytes: final.usage.peakMemoryBytes });
  }

  private waitPipes(): Promise<void> {
    const allClosed = () => this.streams().every((p) => p.closed || p.destroyed);
    if (allClosed()) return Promise.resolve();
    return new Promise<void>((resolve) => {
      this.pipesClosed = () => {
        if (this.closeTimer) clearTimeout(this.closeTimer);
        this.closeTimer = undefined;
        this.pipesClosed = undefined;
        resolve();
      };
      this.child.once("close", () => this.pipesClosed?.());
      this.armCloseTimer();
    });
  }

  private armCloseTimer(): void {
    if (this.paused || this.closeTimer) return;
    this.closeTimer = setTimeout(() => this.destroyPipes(), PIPE_CLOSE_WAIT_MS);
  }

  private destroyPipes(): void {
    for (const p of this.streams()) p.destroy();
    this.paused = false;
    this.pipesClosed?.();
  }

  /** stdout, stderr and, with the entry script, fd 3. */
  private streams(): Readable[] {
    const control = this.child.stdio[3] as Readable | null | undefined;
    return control ? [...this.pipes, control] : this.pipes;
  }

  private clearTimers(): void {
    if (this.timeoutTimer) clearTimeout(this.timeoutTimer);
    if (this.killTimer) clearTimeout(this.killTimer);
    if (this.sampleTimer) clearInterval(this.sampleTimer);
    this.timeoutTimer = this.killTimer = this.sampleTimer = undefined;
  }

  private settle(o: Outcome): void {
    if (this.settled) return;
    this.settled = true;
    this.clearTimers();
    this.resolveDone(o);
  }
}

function describeExit(
  code: number | null,
  signal: NodeJS.Signals | null,
  stop: { reason: OutcomeReason; message: string } | undefined,
  oomKilled: boolean,
  memoryMb: number,
  startedAtMs: number,
): Outcome {
  const how = code !== null ? `exited with code ${code}` : `killed by ${signal}`;
  if (stop) return { reason: stop.reason, message: `${stop.message} (${how})`, startedAtMs };
  if (oomKilled) {
    return { reason: "oom_killed", message: `memory limit of ${memoryMb} MiB exceeded: the kernel's OOM killer killed the job (${how})`, startedAtMs };
  }
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
