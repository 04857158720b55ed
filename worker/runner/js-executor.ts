// `js` jobs: a named handler from the --tasks module, run in the worker's own event loop. This is
// the hot path of the benchmark (tens of thousands of no-op jobs a second): no timers unless the
// attempt has a timeout, no AbortController unless the handler reads ctx.signal, no usage sampling,
// and output only when the handler calls ctx.log.
import { pathToFileURL } from "node:url";
import type { Assignment } from "../../shared/gen/baton/v1/worker.js";
import { ended, type AttemptHooks, type Executor, type Outcome, type RunningAttempt, type StopReason } from "./executor.js";

export interface TaskContext {
  jobId: string;
  attempt: number;
  /** Aborted when the attempt is cancelled or times out: long handlers should watch it. */
  signal: AbortSignal;
  /** Adds a line to the job's output (stdout); ignored once the attempt is over. */
  log(line: string): void;
}

export type TaskHandler = (payload: unknown, ctx: TaskContext) => unknown;

export interface TaskModule {
  /** Where the handlers came from, for messages. */
  source: string;
  handlers: ReadonlyMap<string, TaskHandler>;
}

/** Imports the module once; handlers are its function exports and the function properties of its default export. */
export async function loadTaskModule(modulePath: string): Promise<TaskModule> {
  let mod: Record<string, unknown>;
  try {
    mod = (await import(pathToFileURL(modulePath).href)) as Record<string, unknown>;
  } catch (e) {
    throw new Error(`cannot load the --tasks module ${modulePath}: ${(e as Error).message}`, { cause: e });
  }
  const handlers = new Map<string, TaskHandler>();
  const dflt = mod.default;
  if (dflt && typeof dflt === "object") {
    for (const [name, value] of Object.entries(dflt)) if (typeof value === "function") handlers.set(name, value as TaskHandler);
  }
  for (const [name, value] of Object.entries(mod)) {
    if (name !== "default" && typeof value === "function") handlers.set(name, value as TaskHandler);
  }
  return { source: modulePath, handlers };
}

export class JsExecutor implements Executor {
  constructor(private readonly tasks: TaskModule | undefined) {}

  start(assignment: Assignment, hooks: AttemptHooks): RunningAttempt {
    const startedAtMs = Date.now();
    const spec = assignment.spec?.executor?.$case === "js" ? assignment.spec.executor.js : undefined;
    if (!spec) return ended({ reason: "task_failed", message: "assignment carries no js spec", startedAtMs });
    const handler = this.tasks?.handlers.get(spec.task);
    if (!handler) {
      const message = this.tasks
        ? `unknown task ${JSON.stringify(spec.task)}: the module ${this.tasks.source} exports no handler of that name`
        : `unknown task ${JSON.stringify(spec.task)}: this worker has no tasks module (start it with --tasks)`;
      return ended({ reason: "task_failed", message, startedAtMs });
    }
    let payload: unknown;
    if (spec.payloadJson !== "") {
      try {
        payload = JSON.parse(spec.payloadJson);
      } catch (e) {
        return ended({ reason: "task_failed", message: `payload_json is not valid JSON: ${(e as Error).message}`, startedAtMs });
      }
    }
    return new JsAttempt(assignment, handler, payload, startedAtMs, hooks);
  }
}

class JsAttempt implements RunningAttempt {
  /** Set when the attempt is over (see RunningAttempt.outcome). */
  outcome: Outcome | undefined;
  // The promise exists only if someone waits: a handler that returns at once needs none.
  private donePromise: Promise<Outcome> | undefined;
  private resolveDone: ((o: Outcome) => void) | undefined;
  controller: AbortController | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(a: Assignment, handler: TaskHandler, payload: unknown, private readonly startedAtMs: number, readonly hooks: AttemptHooks) {
    if (a.timeoutMs > 0) this.timer = setTimeout(() => this.cancel("timed_out", `timed out after ${a.timeoutMs} ms`), a.timeoutMs);
    let result: unknown;
    try {
      result = handler(payload, new Context(a.jobId, a.attempt, this));
    } catch (e) {
      this.fail(e);
      return;
    }
    if (isThenable(result)) {
      result.then(
        () => this.settle({ reason: "exited", exitCode: 0, message: "", startedAtMs }),
        (e: unknown) => this.fail(e),
      );
    } else {
      this.settle({ reason: "exited", exitCode: 0, message: "", startedAtMs });
    }
  }

  get done(): Promise<Outcome> {
    this.donePromise ??= this.outcome
      ? Promise.resolve(this.outcome)
      : new Promise<Outcome>((resolve) => (this.resolveDone = resolve));
    return this.donePromise;
  }

  get settled(): boolean {
    return this.outcome !== undefined;
  }

  cancel(reason: StopReason, message?: string): void {
    if (this.outcome) return;
    // A js handler cannot be killed: the attempt ends now, the handler is told through its signal
    // and whatever it still does is ignored.
    this.settle({ reason, message: message ?? reason, startedAtMs: this.startedAtMs });
    this.controller?.abort(new Error(message ?? reason));
  }

  private fail(e: unknown): void {
    this.settle({ reason: "task_failed", message: e instanceof Error ? e.message || e.name : String(e), startedAtMs: this.startedAtMs });
  }

  private settle(o: Outcome): void {
    if (this.outcome) return;
    this.outcome = o;
    if (this.timer) clearTimeout(this.timer);
    this.resolveDone?.(o);
  }
}

/**
 * The handler's TaskContext: a class, so that a job costs one small object rather than a getter
 * and a method made anew for each (this is the benchmark's hot path).
 */
class Context implements TaskContext {
  readonly #run: JsAttempt;

  constructor(
    readonly jobId: string,
    readonly attempt: number,
    run: JsAttempt,
  ) {
    this.#run = run;
  }

  get signal(): AbortSignal {
    this.#run.controller ??= new AbortController();
    return this.#run.controller.signal;
  }

  log(line: string): void {
    if (!this.#run.settled) this.#run.hooks.onLog?.("stdout", Buffer.from(line.endsWith("\n") ? line : `${line}\n`));
  }
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return v !== null && (typeof v === "object" || typeof v === "function") && typeof (v as { then?: unknown }).then === "function";
}
