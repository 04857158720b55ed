// Starts real coordinator and worker processes (the `baton` CLI) against a test database, and waits
// on their output and on Postgres notifications instead of sleeping.
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { freePort } from "../../coordinator/db/embedded-postgres.js";
import { BatonClient } from "../../client/baton-client.js";

const BIN = fileURLToPath(new URL("../../bin/baton.mjs", import.meta.url));
export const TASKS = fileURLToPath(new URL("../fixtures/tasks.mjs", import.meta.url));

export class Proc {
  output = "";
  readonly exited: Promise<number | null>;
  private waiters: { re: RegExp; from: number; resolve: (m: RegExpMatchArray) => void }[] = [];

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    const onData = (d: Buffer) => {
      this.output += d.toString();
      if (process.env.BATON_TEST_VERBOSE) process.stderr.write(`[${name}] ${d}`);
      this.waiters = this.waiters.filter((w) => {
        const m = this.output.slice(w.from).match(w.re);
        if (m) w.resolve(m);
        return !m;
      });
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    this.exited = new Promise((resolve) => child.on("exit", (code) => resolve(code)));
  }

  get pid(): number {
    return this.child.pid!;
  }

  /** Resolves when the output (from `from`, default: everything so far) matches. */
  waitFor(re: RegExp, timeoutMs = 45_000, from = 0): Promise<RegExpMatchArray> {
    const m = this.output.slice(from).match(re);
    if (m) return Promise.resolve(m);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${this.name}: no output matching ${re} within ${timeoutMs} ms; output:\n${this.output}`)),
        timeoutMs,
      );
      this.waiters.push({
        re,
        from,
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
      });
      void this.exited.then((code) => {
        clearTimeout(timer);
        reject(new Error(`${this.name} exited (${code}) before printing ${re}; output:\n${this.output}`));
      });
    });
  }

  kill(signal: NodeJS.Signals = "SIGKILL"): Promise<number | null> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    return this.exited;
  }
}

export interface CoordinatorProc extends Proc {
  grpcAddress: string;
  /** host:port of its HTTP side (/metrics, /healthz), from its start line */
  httpAddress: string;
  id: string;
}

export interface WorkerProc extends Proc {
  workerId: string;
  /** host:port of its HTTP side (/metrics, /healthz), from its start line */
  httpAddress: string;
}

export interface CoordinatorFlags {
  leaseMs?: number;
  heartbeatIntervalMs?: number;
  extra?: string[];
}

export interface WorkerFlags {
  name: string;
  coordinators: string[];
  cpu?: number;
  memory?: number;
  slots?: number;
  labels?: string;
  tasks?: boolean;
  extra?: string[];
  /** extra environment for this worker only (e.g. a PATH with a stand-in nvidia-smi) */
  env?: NodeJS.ProcessEnv;
}

export class TestCluster {
  readonly procs: Proc[] = [];
  private clients: BatonClient[] = [];
  private n = 0;

  constructor(
    readonly databaseUrl: string,
    /** extra environment for every process (e.g. OTEL_* settings) */
    private readonly env: NodeJS.ProcessEnv = {},
  ) {}

  spawn(name: string, args: string[], env: NodeJS.ProcessEnv = {}): Proc {
    const child = spawn(process.execPath, [BIN, ...args], {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, ...this.env, ...env, BATON_DATABASE_URL: this.databaseUrl },
    });
    const proc = new Proc(name, child);
    this.procs.push(proc);
    return proc;
  }

  async coordinator(flags: CoordinatorFlags = {}): Promise<CoordinatorProc> {
    const port = await freePort();
    const id = `c${++this.n}`;
    const proc = this.spawn(`coordinator-${id}`, [
      "coordinator",
      "--id", id,
      "--host", "127.0.0.1",
      "--grpc-port", String(port),
      "--http-port", String(await freePort()),
      "--lease-ms", String(flags.leaseMs ?? 2000),
      "--heartbeat-interval-ms", String(flags.heartbeatIntervalMs ?? 200),
      "--election-interval-ms", "200",
      ...(flags.extra ?? []),
    ]) as CoordinatorProc;
    await proc.waitFor(/coordinator \S+ gRPC/);
    proc.grpcAddress = `127.0.0.1:${port}`;
    proc.httpAddress = (await proc.waitFor(/ HTTP (\S+:\d+)/))[1]!;
    proc.id = id;
    return proc;
  }

  async worker(flags: WorkerFlags): Promise<WorkerProc> {
    const proc = this.spawn(`worker-${flags.name}`, [
      "worker",
      "--name", flags.name,
      "--coordinators", flags.coordinators.join(","),
      "--host", "127.0.0.1",
      "--http-port", "0",
      "--cpu", String(flags.cpu ?? 2000),
      "--memory", String(flags.memory ?? 2048),
      "--slots", String(flags.slots ?? 8),
      ...(flags.labels ? ["--labels", flags.labels] : []),
      ...(flags.tasks ? ["--tasks", TASKS] : []),
      ...(flags.extra ?? []),
    ], flags.env) as WorkerProc;
    const m = await proc.waitFor(/\(([0-9a-f-]{36})\)/);
    proc.workerId = m[1]!;
    proc.httpAddress = (await proc.waitFor(/ http (\S+:\d+)/))[1]!;
    await proc.waitFor(/registered with coordinator/);
    return proc;
  }

  client(address: string): BatonClient {
    const c = new BatonClient(address);
    this.clients.push(c);
    return c;
  }

  async stop(): Promise<void> {
    for (const c of this.clients) c.close();
    await Promise.all(this.procs.map((p) => p.kill("SIGKILL")));
  }
}

/**
 * Waits until `check` (a query against the test database) returns true, re-checking whenever any
 * coordinator announces a job change — an event, not a sleep — with a slow fallback re-check for
 * changes that announce nothing (e.g. a worker row).
 */
export async function waitUntil(
  databaseUrl: string,
  check: (db: pg.Client) => Promise<boolean>,
  what: string,
  timeoutMs = 60_000,
): Promise<void> {
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  try {
    await db.query("LISTEN baton_job_changed");
    const deadline = Date.now() + timeoutMs;
    let wake: () => void = () => {};
    db.on("notification", () => wake());
    for (;;) {
      const changed = new Promise<void>((r) => (wake = r));
      if (await check(db)) return;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await Promise.race([changed, new Promise((r) => setTimeout(r, Math.min(left, 250)))]);
    }
  } finally {
    await db.end();
  }
}

export async function jobCounts(db: pg.Client): Promise<Record<string, number>> {
  const { rows } = await db.query<{ state: string; n: number }>("SELECT state, count(*)::int AS n FROM jobs GROUP BY state");
  return Object.fromEntries(rows.map((r) => [r.state, r.n]));
}
