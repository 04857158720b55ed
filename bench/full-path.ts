// The full path of a job, measured: submit → leader places → stream → worker runs → completion
// written. One coordinator and two worker processes on this machine, js no-op jobs, and
// graphile-worker on the same database server in the same run for comparison.
// Prints one JSON line per contender and scenario. Usage: npx tsx bench/full-path.ts [--jobs N] [--runs N]
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { BatonClient } from "../client/baton-client.js";
import { freePort } from "../coordinator/db/embedded-postgres.js";
import { JobSpec } from "../shared/gen/baton/v1/types.js";
import { JobState } from "../shared/gen/baton/v1/types.js";
import { freshDatabase, type ContenderResult } from "./graphile-contender.js";
import { cpuSeconds, peakRssMiB, sampleCpu } from "./cpu-split.js";

const BIN = fileURLToPath(new URL("../bin/baton.mjs", import.meta.url));
const TASKS = fileURLToPath(new URL("./tasks.mjs", import.meta.url));

function arg(name: string, fallback: number): number {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : fallback;
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

const round = (n: number, d = 2) => Math.round(n * 10 ** d) / 10 ** d;

function start(args: string[], env: NodeJS.ProcessEnv, ready: RegExp): Promise<ChildProcess> {
  const child = spawn(process.execPath, [...(process.env.BENCH_PROFILE ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_PROFILE}`] : []), BIN, ...args], { stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, ...env } });
  let out = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${args[0]} did not start:\n${out}`)), 30_000);
    const onData = (d: Buffer) => {
      out += d.toString();
      if (process.env.TRACE) process.stderr.write(d);
      if (ready.test(out)) {
        clearTimeout(timer);
        resolve(child);
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    child.on("exit", (code) => reject(new Error(`${args[0]} exited ${code}:\n${out}`)));
  });
}

const task = (name: string): JobSpec => JobSpec.fromPartial({
  name: "", queue: "", priority: 0, tenant: "", labels: {}, timeoutMs: 0, maxAttempts: 0,
  resources: { cpuMillis: 0, memoryMb: 0, gpus: 0 },
  executor: { $case: "js", js: { task: name, payloadJson: "" } },
});
const noop = () => task("noop");

/** epoch ms with sub-millisecond resolution; the worker's `stamp` task uses the same clock */
const now = () => performance.timeOrigin + performance.now();

/** When the `stamp` handler of a job was entered (it wrote the time to its output). */
async function stampedAt(db: pg.Client, id: string): Promise<number> {
  const { rows } = await db.query<{ text: string }>(
    "SELECT convert_from(data, 'UTF8') AS text FROM job_logs WHERE job_id = $1::bigint ORDER BY attempt, seq LIMIT 1",
    [id],
  );
  if (rows.length === 0) throw new Error(`job ${id} wrote no start stamp`);
  return Number(rows[0]!.text.trim());
}

async function startedLatencies(db: pg.Client, ids: string[], t0ById: Map<string, number> | number): Promise<number[]> {
  const { rows } = await db.query<{ id: string; started_ms: number }>(
    "SELECT id, extract(epoch FROM started_at) * 1000 AS started_ms FROM jobs WHERE id = ANY($1::bigint[])",
    [ids],
  );
  return rows
    .map((r) => Number(r.started_ms) - (typeof t0ById === "number" ? t0ById : t0ById.get(r.id)!))
    .sort((a, b) => a - b);
}

export async function runBaton(serverUrl: string, jobs: number, latencySamples: number): Promise<ContenderResult[]> {
  const databaseUrl = await freshDatabase(serverUrl, "bench_baton");
  const grpcPort = await freePort();
  const env = { BATON_DATABASE_URL: databaseUrl };
  const procs: ChildProcess[] = [];
  try {
    procs.push(await start(["coordinator", "--host", "127.0.0.1", "--grpc-port", String(grpcPort), "--http-port", String(await freePort())], env, /elected leader/));
    for (const i of [1, 2]) {
      procs.push(
        await start(
          ["worker", "--name", `bench-${i}`, "--coordinators", `127.0.0.1:${grpcPort}`, "--slots", process.env.BENCH_SLOTS ?? "1000", "--tasks", TASKS, "--http-port", "0", "--host", "127.0.0.1"],
          env,
          /registered with coordinator/,
        ),
      );
    }
    const client = new BatonClient(`127.0.0.1:${grpcPort}`);
    const db = new pg.Client({ connectionString: databaseUrl });
    await db.connect();
    const results: ContenderResult[] = [];
    const drained = async (firstId: string): Promise<void> => {
      // Until no job of the batch is left unfinished. The end time is the last finished_at, so how
      // often this polls does not change the figure; it only takes CPU from the cluster under test.
      // Each test is spelled as the predicate of a partial index of unfinished jobs (a shrinking
      // set) and stops at the first row: `state = 'pending'` alone matches no index since
      // migration 0009 and walked the primary key past every finished job of the batch
      // (10-35 ms a poll, a tenth of Postgres's CPU during a run).
      for (;;) {
        const { rows } = await db.query<{ left: boolean }>(
          `SELECT EXISTS (SELECT 1 FROM jobs WHERE state = 'pending' AND NOT delayed AND id >= $1::bigint)
               OR EXISTS (SELECT 1 FROM jobs WHERE state = 'pending' AND delayed AND id >= $1::bigint)
               OR EXISTS (SELECT 1 FROM jobs WHERE state IN ('assigned', 'running') AND id >= $1::bigint) AS left`,
          [firstId],
        );
        if (!rows[0]!.left) return;
        await new Promise((r) => setTimeout(r, 100));
      }
    };

    // Warm-up, as graphile-worker's contender gets one: a backlog of the benchmark's size runs
    // through, then the jobs table is vacuumed and analyzed (what autovacuum does on a live
    // deployment; this server may run without it). Without statistics the planner reads a fresh
    // table as empty and picks plans no long-lived cluster would run.
    const warm = await client.submitJobs(Array.from({ length: jobs }, noop));
    await drained(warm[0]!);
    await db.query("VACUUM (ANALYZE) jobs");

    // Latency on an idle cluster: one job at a time, submit → handler entered (the `stamp` task
    // writes its entry time; both clocks are this machine's, read with sub-ms resolution).
    const latencies: number[] = [];
    const warmup = 20;
    let measuredFrom = 0;
    for (let i = 0; i < latencySamples + warmup; i++) {
      if (i === warmup) measuredFrom = Date.now();
      const t0 = now();
      const [id] = await client.submitJobs([task("stamp")]);
      for await (const j of client.watchJob(id!)) if (j.state === JobState.JOB_STATE_SUCCEEDED) break;
      if (i >= warmup) latencies.push((await stampedAt(db, id!)) - t0);
    }
    latencies.sort((a, b) => a - b);
    results.push({
      contender: "baton",
      scenario: "latency",
      jobs: latencySamples,
      jobs_per_sec: Math.round(latencySamples / ((Date.now() - measuredFrom) / 1000)),
      p50_ms: round(percentile(latencies, 50)),
      p99_ms: round(percentile(latencies, 99)),
    });

    // Throughput: one batch of `jobs`, submit → all complete.
    const specs = Array.from({ length: jobs }, noop);
    const parts = { coordinator: [procs[0]!.pid!], workers: procs.slice(1).map((p) => p.pid!) };
    const cpuBefore = sampleCpu(parts);
    const t0 = Date.now();
    const ids = await client.submitJobs(specs);
    const submitMs = Date.now() - t0;
    await drained(ids[0]!);
    const cpu = cpuSeconds(cpuBefore, sampleCpu(parts));
    const peakRss = { coordinator: peakRssMiB(procs[0]!.pid!), workers: procs.slice(1).map((p) => peakRssMiB(p.pid!)) };
    const { rows: last } = await db.query<{ ms: number }>(
      "SELECT extract(epoch FROM max(finished_at)) * 1000 AS ms FROM jobs WHERE id = ANY($1::bigint[])",
      [ids],
    );
    const totalMs = Number(last[0]!.ms) - t0;
    const { rows: failed } = await db.query<{ n: number }>("SELECT count(*)::int AS n FROM jobs WHERE state <> 'succeeded' AND id = ANY($1::bigint[])", [ids]);
    if (failed[0]!.n > 0) throw new Error(`${failed[0]!.n} benchmark jobs did not succeed`);
    const lat = await startedLatencies(db, ids, t0);
    results.push({
      contender: "baton",
      scenario: "throughput",
      jobs,
      jobs_per_sec: Math.round(jobs / (totalMs / 1000)),
      p50_ms: round(percentile(lat, 50)),
      p99_ms: round(percentile(lat, 99)),
    });
    process.stderr.write(`baton: submit of ${jobs} jobs took ${submitMs} ms; all done after ${totalMs} ms; CPU seconds ${JSON.stringify(cpu)}; peak RSS MiB ${JSON.stringify(peakRss)}\n`);
    client.close();
    await db.end();
    return results;
  } finally {
    // Profiling needs a clean exit to write its files; otherwise do not wait.
    const signal = process.env.BENCH_PROFILE ? "SIGTERM" : "SIGKILL";
    await Promise.all(procs.map((p) => new Promise((r) => (p.exitCode !== null ? r(null) : (p.once("exit", r), p.kill(signal))))));
  }
}

/**
 * Of several runs of one contender and scenario, the median run by the scenario's headline figure
 * (throughput: jobs/s; latency: p50), so that one noisy run on a shared machine does not decide.
 */
export function medianRun(runs: ContenderResult[]): ContenderResult {
  const key = (r: ContenderResult) => (r.scenario === "latency" ? r.p50_ms : r.jobs_per_sec);
  return [...runs].sort((a, b) => key(a) - key(b))[Math.floor((runs.length - 1) / 2)]!;
}

async function main() {
  const serverUrl = process.env.BATON_BENCH_DATABASE_URL ?? process.env.BATON_TEST_DATABASE_URL ?? "postgres://root@127.0.0.1:5432/postgres";
  const jobs = arg("--jobs", 20_000);
  const samples = arg("--samples", 200);
  // --runs N: the contenders take turns N times; each run's lines go to stderr, the median run of
  // each contender and scenario to stdout.
  const runs = arg("--runs", 1);
  const only = process.argv.includes("--only-baton") ? "baton" : process.argv.includes("--only-graphile") ? "graphile" : "";
  const all: ContenderResult[] = [];
  const report = (r: ContenderResult) => {
    all.push(r);
    if (runs === 1) console.log(JSON.stringify(r));
    else process.stderr.write(`run ${Math.ceil(all.length / (only ? 2 : 4))}/${runs}: ${JSON.stringify(r)}\n`);
  };
  for (let run = 0; run < runs; run++) {
    if (only !== "graphile") for (const r of await runBaton(serverUrl, jobs, samples)) report(r);
    if (only !== "baton") {
      const { runGraphile } = await import("./graphile-contender.js");
      const databaseUrl = await freshDatabase(serverUrl, "bench_graphile");
      for (const r of await runGraphile({ databaseUrl, jobs, latencySamples: samples })) report(r);
    }
  }
  if (runs === 1) return;
  const groups = new Map<string, ContenderResult[]>();
  for (const r of all) groups.set(`${r.contender}/${r.scenario}`, [...(groups.get(`${r.contender}/${r.scenario}`) ?? []), r]);
  for (const group of groups.values()) console.log(JSON.stringify(medianRun(group)));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().then(
    () => process.exit(0),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
