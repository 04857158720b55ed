// graphile-worker as a benchmark contender for Baton.
//
// Runs graphile-worker 0.17 the way its performance docs recommend for throughput ("batched
// mode": https://worker.graphile.org/docs/performance): TWO worker processes
// (bench/graphile-child.ts) on the same database, each with concurrency 24, maxPoolSize 25,
// a local queue of 500, completeJobBatchDelay/failJobBatchDelay 0, an in-memory task list
// holding one no-op task, and logging off. The schema is installed once (runMigrations)
// before the children start.
//
// Scenarios
//  - "throughput": `jobs` no-op jobs are added in ONE graphile_worker.add_jobs call (the
//    bulk API; specs sent as one JSON parameter as WorkerUtils.addJobs does, but only a count
//    comes back instead of every inserted row); the clock runs from just before that call
//    until the job table is empty, i.e. every job has run and its completion is committed.
//    jobs_per_sec = jobs / seconds; p50/p99 are the add-to-start latencies (handler entry in
//    a child minus the time just before the add).
//  - "latency": on idle workers, `latencySamples` jobs are added one at a time
//    (graphile_worker.add_job on a dedicated connection, as graphile's own latency test does),
//    each after the previous one has started; p50/p99 of add-to-start; jobs_per_sec is
//    samples / the loop's seconds.
// Before that, a backlog of `jobs` jobs is queued and ANALYZEd (planner statistics as a
// long-lived deployment has them; see the comment in runGraphile), the workers drain it as
// their warm-up, and the drained table is VACUUMed.
//
// Times are performance.timeOrigin + performance.now() (epoch ms, sub-ms resolution) in the
// child's handler and in this process just before the add call: same machine, same clock.
// Children batch their start records in memory and send them as one IPC message per 10 ms
// during the throughput run, and at the end of each event-loop turn during the latency run.
// The job table is polled only after every job has reported its start (the short tail).
//
// Alone: `npx tsx bench/graphile-contender.ts [jobs] [latencySamples]` drops and recreates
// the database bench_graphile on the server of BATON_BENCH_DATABASE_URL (default
// postgres://root@127.0.0.1:5432/postgres) and prints one JSON line per result.
// GRAPHILE_BENCH_DEBUG=1 adds a breakdown of the throughput run on stderr.
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath, pathToFileURL } from "node:url";
import { cpuSeconds, peakRssMiB, sampleCpu } from "./cpu-split.js";
import pg from "pg";
import { Logger, runMigrations } from "graphile-worker";

export interface ContenderResult {
  contender: string;
  scenario: string;
  jobs: number;
  jobs_per_sec: number;
  p50_ms: number;
  p99_ms: number;
}

export interface GraphileOptions {
  /** a database this run may own: its graphile_worker schema is installed and its jobs deleted */
  databaseUrl: string;
  /** jobs in the throughput batch, e.g. 20000 */
  jobs: number;
  /** sequential samples in the latency scenario, e.g. 200 */
  latencySamples: number;
  /** whole-run limit; on expiry the children are killed and the promise rejects (default 120 s) */
  timeoutMs?: number;
}

const CONTENDER = "graphile-worker";
const TASK = "noop";
const WORKER_PROCESSES = 2;
const CHILD_PATH = fileURLToPath(new URL("./graphile-child.ts", import.meta.url));

const silentLogger = new Logger(() => () => {});
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
/** epoch milliseconds with sub-millisecond resolution; the children use the same clock */
const now = () => performance.timeOrigin + performance.now();

interface JobSpec {
  identifier: string;
  payload: { n: number };
}

/**
 * graphile-worker's bulk API in one round trip: graphile_worker.add_jobs over the specs,
 * decoded server-side from one JSON parameter exactly as WorkerUtils.addJobs does, but
 * returning a count instead of shipping every inserted row back to the client.
 */
async function addJobsInOneCall(db: pg.Client, specs: JobSpec[]): Promise<void> {
  const r = await db.query<{ n: number }>(
    `select count(*)::int as n from graphile_worker.add_jobs(
       array(select json_populate_recordset(null::graphile_worker.job_spec, $1::json)))`,
    [JSON.stringify(specs)],
  );
  if (r.rows[0]?.n !== specs.length) throw new Error(`add_jobs inserted ${r.rows[0]?.n} of ${specs.length} jobs`);
}

/** graphile_worker.add_job for one job, on a connection of its own (as graphile's latency test does) */
async function addJob(db: pg.Client, spec: JobSpec): Promise<void> {
  await db.query("select graphile_worker.add_job($1::text, $2::json)", [spec.identifier, JSON.stringify(spec.payload)]);
}

/** nearest-rank percentile of an ascending array */
function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1]!;
}
const round2 = (x: number) => Math.round(x * 100) / 100;

type ChildMsg = { type: "ready" } | { type: "starts"; data: number[] } | { type: "error"; message: string };

/** A phase collects the start times of jobs whose payload.n is 0..size-1. */
class Phase {
  readonly starts: Float64Array;
  received = 0;
  private waiters = new Map<number, () => void>();
  private allWaiter: (() => void) | undefined;
  constructor(readonly size: number) {
    this.starts = new Float64Array(size).fill(NaN);
  }
  record(n: number, t: number): void {
    if (!(n >= 0 && n < this.size) || !Number.isNaN(this.starts[n]!)) return; // foreign or repeat
    this.starts[n] = t;
    this.received++;
    const w = this.waiters.get(n);
    if (w) {
      this.waiters.delete(n);
      w();
    }
    if (this.received === this.size && this.allWaiter) this.allWaiter();
  }
  started(n: number): Promise<void> {
    if (!Number.isNaN(this.starts[n]!)) return Promise.resolve();
    return new Promise((r) => this.waiters.set(n, r));
  }
  allStarted(): Promise<void> {
    if (this.received === this.size) return Promise.resolve();
    return new Promise((r) => (this.allWaiter = r));
  }
}

export async function runGraphile(opts: GraphileOptions): Promise<ContenderResult[]> {
  const { databaseUrl, jobs, latencySamples } = opts;
  const timeoutMs = opts.timeoutMs ?? 120_000;
  if (!(jobs >= 1 && latencySamples >= 1)) throw new Error("runGraphile: jobs and latencySamples must be >= 1");

  const children: ChildProcess[] = [];
  // one connection for adding jobs and, once all have started, watching the job table drain
  const db = new pg.Client({ connectionString: databaseUrl });
  let dbConnected = false;
  let autovacuumOff = false;
  let completed = false;
  db.on("error", () => {}); // a backend we terminate ourselves after a failure
  let timer: NodeJS.Timeout | undefined;
  let finished = false;

  // Everything awaited below races against `failure`: the deadline, or a child that dies.
  let fail!: (e: Error) => void;
  const failure = new Promise<never>((_, reject) => (fail = reject));
  failure.catch(() => {}); // observed through race() only
  const race = <T>(p: Promise<T>): Promise<T> => Promise.race([p, failure]);
  let stage = "setup";
  timer = setTimeout(
    () => fail(new Error(`graphile-worker benchmark timed out after ${timeoutMs} ms (stage: ${stage})`)),
    timeoutMs,
  );

  let phase: Phase | undefined;
  const readyChildren = new Set<number>();
  let allReady!: () => void;
  const childrenReady = new Promise<void>((r) => (allReady = r));

  try {
    await race(runMigrations({ connectionString: databaseUrl, logger: silentLogger }));
    await race(db.connect());
    dbConnected = true;
    // A database the caller lets us own: clear whatever an earlier run left behind.
    await race(db.query("delete from graphile_worker._private_jobs"));
    await race(db.query("vacuum graphile_worker._private_jobs"));
    const batch = (n: number): JobSpec[] => Array.from({ length: n }, (_, i) => ({ identifier: TASK, payload: { n: i } }));

    // Planner statistics as a long-lived deployment has them. A never-analyzed jobs table
    // makes graphile's get_jobs a seq scan + sort of the whole backlog for every batch of 500
    // (measured here: ~15 ms instead of ~0.6 ms per fetch at 20,000 jobs, i.e. less than
    // half the throughput), which is an artefact of the fresh database, not of graphile.
    // So: queue a backlog of the benchmark's size, ANALYZE it (what autovacuum would have
    // done), let the workers drain it as their warm-up, then VACUUM the drained table.
    // Autovacuum stays off on the jobs table for the run so that an auto-ANALYZE of the
    // empty table cannot replace those statistics at a random moment; the setting is
    // restored at the end.
    stage = "priming statistics";
    await race(db.query("alter table graphile_worker._private_jobs set (autovacuum_enabled = false)"));
    autovacuumOff = true;
    const warm = (phase = new Phase(jobs));
    await race(addJobsInOneCall(db, batch(jobs)));
    await race(db.query("analyze graphile_worker._private_jobs"));

    stage = "starting workers";
    const tsx = import.meta.resolve("tsx");
    for (let i = 0; i < WORKER_PROCESSES; i++) {
      const child = spawn(process.execPath, ["--import", tsx, CHILD_PATH], {
        stdio: ["ignore", "inherit", "inherit", "ipc"],
        env: { ...process.env, GRAPHILE_BENCH_DATABASE_URL: databaseUrl },
      });
      children.push(child);
      child.on("message", (raw) => {
        const msg = raw as ChildMsg;
        if (msg.type === "starts") {
          const d = msg.data;
          const ph = phase;
          if (ph) for (let k = 0; k < d.length; k += 2) ph.record(d[k]!, d[k + 1]!);
        } else if (msg.type === "ready") {
          readyChildren.add(i);
          if (readyChildren.size === WORKER_PROCESSES) allReady();
        } else if (msg.type === "error") {
          fail(new Error(`graphile-worker child ${i}: ${msg.message}`));
        }
      });
      child.on("error", (e) => fail(new Error(`graphile-worker child ${i} failed to spawn: ${e.message}`)));
      child.on("exit", (code, signal) => {
        if (!finished) fail(new Error(`graphile-worker child ${i} exited early (code ${code}, signal ${signal})`));
      });
    }
    await race(childrenReady);

    const queueEmpty = async (): Promise<void> => {
      for (;;) {
        const r = await race(db.query("select 1 from graphile_worker._private_jobs limit 1"));
        if (r.rowCount === 0) return;
        await race(sleep(1));
      }
    };
    // Warm-up: both pools drain the priming backlog (connected, LISTENing, statements prepared).
    stage = "warm-up";
    await race(warm.allStarted());
    await queueEmpty();
    // Reclaim the drained backlog, as autovacuum would; the ANALYZE statistics stay.
    await race(db.query("vacuum graphile_worker._private_jobs"));
    await race(sleep(300));

    // Throughput: one add_jobs call, then until the job table is empty.
    stage = "throughput";
    const specs = batch(jobs);
    const tp = (phase = new Phase(jobs));
    const parts = { workers: children.map((c) => c.pid!) };
    const cpuBefore = sampleCpu(parts);
    const t0 = now();
    await race(addJobsInOneCall(db, specs));
    const tAdded = now();
    await race(tp.allStarted());
    const tStarted = now();
    await queueEmpty();
    const t1 = now();
    const cpu = cpuSeconds(cpuBefore, sampleCpu(parts));
    process.stderr.write(
      `graphile-worker: all done after ${Math.round(t1 - t0)} ms; CPU seconds ${JSON.stringify(cpu)}; ` +
        `peak RSS MiB ${JSON.stringify({ workers: children.map((c) => peakRssMiB(c.pid!)) })}\n`,
    );
    if (process.env.GRAPHILE_BENCH_DEBUG) {
      const first = tp.starts.reduce((a, b) => Math.min(a, b), Infinity);
      console.error(
        `graphile throughput: add_jobs ${(tAdded - t0).toFixed(1)} ms, first start +${(first - t0).toFixed(1)} ms, ` +
          `all started +${(tStarted - t0).toFixed(1)} ms, queue empty +${(t1 - t0).toFixed(1)} ms`,
      );
    }
    const tpLat = Float64Array.from(tp.starts, (s) => s - t0).sort();
    const throughput: ContenderResult = {
      contender: CONTENDER,
      scenario: "throughput",
      jobs,
      jobs_per_sec: Math.round((jobs / Math.max(1, t1 - t0)) * 1000 * 10) / 10,
      p50_ms: round2(percentile(tpLat, 50)),
      p99_ms: round2(percentile(tpLat, 99)),
    };

    // Latency: idle workers; children now report at the end of each event-loop turn.
    stage = "latency";
    for (const c of children) c.send({ type: "flush", ms: 0 });
    await race(sleep(500));
    const lp = (phase = new Phase(latencySamples));
    const adds = new Float64Array(latencySamples);
    const l0 = now();
    for (let i = 0; i < latencySamples; i++) {
      adds[i] = now();
      await race(addJob(db, { identifier: TASK, payload: { n: i } }));
      await race(lp.started(i));
    }
    const l1 = now();
    await queueEmpty();
    const lat = Float64Array.from(lp.starts, (s, i) => s - adds[i]!).sort();
    const latency: ContenderResult = {
      contender: CONTENDER,
      scenario: "latency",
      jobs: latencySamples,
      jobs_per_sec: Math.round((latencySamples / Math.max(1, l1 - l0)) * 1000 * 10) / 10,
      p50_ms: round2(percentile(lat, 50)),
      p99_ms: round2(percentile(lat, 99)),
    };

    stage = "shutdown";
    finished = true;
    await stopChildren(children, 3000);
    completed = true;
    return [throughput, latency];
  } finally {
    finished = true;
    clearTimeout(timer);
    for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    if (completed) {
      if (autovacuumOff) await db.query(RESET_AUTOVACUUM).catch(() => {});
      await db.end().catch(() => {});
    } else if (dbConnected) {
      // A query may still be running on `db` (e.g. a huge add_jobs at the deadline): end its
      // backend from a second connection instead of waiting for it, then restore autovacuum.
      await abandon(databaseUrl, db, autovacuumOff);
    }
  }
}

const RESET_AUTOVACUUM = "alter table graphile_worker._private_jobs reset (autovacuum_enabled)";

/** Terminate the backend of `db` (rolling back whatever it was doing) and close it, within ~5 s. */
async function abandon(databaseUrl: string, db: pg.Client, resetAutovacuum: boolean): Promise<void> {
  const pid = (db as unknown as { processID?: number }).processID;
  const admin = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 5000 });
  admin.on("error", () => {});
  const work = (async () => {
    try {
      await admin.connect();
      if (pid) await admin.query("select pg_terminate_backend($1::int, 5000)", [pid]);
      if (resetAutovacuum) await admin.query(RESET_AUTOVACUUM);
    } finally {
      await admin.end().catch(() => {});
    }
  })().catch(() => {});
  await Promise.race([work, sleep(6000)]);
  await Promise.race([db.end().catch(() => {}), sleep(1000)]);
}

/** Ask each child to stop; SIGKILL any that has not exited within graceMs. */
async function stopChildren(children: ChildProcess[], graceMs: number): Promise<void> {
  await Promise.all(
    children.map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null || c.signalCode !== null) return resolve();
          const t = setTimeout(() => {
            c.kill("SIGKILL");
            resolve();
          }, graceMs);
          c.once("exit", () => {
            clearTimeout(t);
            resolve();
          });
          if (c.connected) c.send({ type: "stop" });
          else c.kill("SIGTERM");
        }),
    ),
  );
}

/** Drop and recreate `name` on the server of `serverUrl`; returns its URL. */
export async function freshDatabase(serverUrl: string, name: string): Promise<string> {
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`drop database if exists "${name}" with (force)`);
    await admin.query(`create database "${name}"`);
  } finally {
    await admin.end();
  }
  const u = new URL(serverUrl);
  u.pathname = `/${name}`;
  return u.toString();
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const server = process.env.BATON_BENCH_DATABASE_URL ?? "postgres://root@127.0.0.1:5432/postgres";
  const jobs = Number(process.argv[2] ?? 20000);
  const latencySamples = Number(process.argv[3] ?? 200);
  try {
    const databaseUrl = await freshDatabase(server, "bench_graphile");
    const results = await runGraphile({ databaseUrl, jobs, latencySamples });
    for (const r of results) console.log(JSON.stringify(r));
  } catch (e) {
    console.error(e instanceof Error ? e.message : e);
    process.exitCode = 1;
  }
}
