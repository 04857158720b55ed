// Real coordinator and worker processes: retries with backoff, delayed jobs, the dead-letter view,
// RetryJobs, UpdateJob and DeleteJob, through the client and the CLI.
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { status } from "@grpc/grpc-js";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isBatonClientError, type BatonClient } from "../../client/baton-client.js";
import { Backoff, JobSpec, JobState, type RetryPolicy } from "../../shared/gen/baton/v1/types.js";
import { TestCluster, waitUntil, type CoordinatorProc } from "../support/cluster.js";
import { createTestDatabase, type TestDatabase } from "../support/db.js";

const BIN = fileURLToPath(new URL("../../bin/baton.mjs", import.meta.url));

let db: TestDatabase;
let cluster: TestCluster;
let coord: CoordinatorProc;
let client: BatonClient;
let pgc: pg.Client;
let tmp: string;

beforeAll(async () => {
  db = await createTestDatabase();
  cluster = new TestCluster(db.url);
  coord = await cluster.coordinator();
  await cluster.worker({ name: "w", coordinators: [coord.grpcAddress], slots: 16, cpu: 4000, memory: 4096 });
  client = cluster.client(coord.grpcAddress);
  pgc = new pg.Client({ connectionString: db.url });
  await pgc.connect();
  tmp = await mkdtemp(path.join(os.tmpdir(), "baton-semantics-"));
});

afterAll(async () => {
  await pgc?.end();
  await cluster?.stop();
  await db?.drop();
  if (tmp) await rm(tmp, { recursive: true, force: true });
});

function spec(argv: string[], extra: Partial<JobSpec> = {}): JobSpec {
  return JobSpec.fromPartial({
    resources: { cpuMillis: 100, memoryMb: 64, gpus: 0 },
    executor: { $case: "exec", exec: { argv, env: {}, cwd: "" } },
    ...extra,
  });
}

const retry = (p: Partial<RetryPolicy>): RetryPolicy => ({
  backoff: Backoff.BACKOFF_FIXED, initialDelayMs: 0, maxDelayMs: 0, multiplier: 0, jitter: 0, finalExitCodes: [], ...p,
});

async function stateOf(id: string): Promise<string | undefined> {
  const { rows } = await pgc.query<{ state: string }>("SELECT state FROM jobs WHERE id = $1", [id]);
  return rows[0]?.state;
}

function until(ids: string[], states: string[], what: string, timeoutMs = 60_000): Promise<void> {
  return waitUntil(
    db.url,
    async (c) => {
      const { rows } = await c.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM jobs WHERE id = ANY($1::bigint[]) AND state = ANY($2::text[])",
        [ids, states],
      );
      return rows[0]!.n === ids.length;
    },
    what,
    timeoutMs,
  );
}

interface AttemptTimes {
  attempt: number;
  worker_id: string;
  assigned_at: Date;
  finished_at: Date;
  exit_code: number | null;
  reason: string;
}

async function attemptsOf(id: string): Promise<AttemptTimes[]> {
  const { rows } = await pgc.query<AttemptTimes>(
    "SELECT attempt, worker_id, assigned_at, finished_at, exit_code, reason FROM attempts WHERE job_id = $1 ORDER BY attempt",
    [id],
  );
  return rows;
}

/** Time from each attempt's end to the next one's placement. */
const gaps = (a: AttemptTimes[]) => a.slice(1).map((x, i) => x.assigned_at.getTime() - a[i]!.finished_at.getTime());

async function grpcError(p: Promise<unknown>): Promise<{ code: number; details: string }> {
  try {
    await p;
  } catch (e) {
    if (isBatonClientError(e)) return { code: e.code, details: e.details };
    throw e;
  }
  throw new Error("the call succeeded");
}

function cli(args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  return promisify(execFile)(process.execPath, [BIN, "--server", coord.grpcAddress, ...args]).then(
    (r) => ({ stdout: r.stdout, stderr: r.stderr, code: 0 }),
    (e: { stdout: string; stderr: string; code: number }) => ({ stdout: e.stdout, stderr: e.stderr, code: e.code }),
  );
}

describe("retries", () => {
  it("retries a failing job after a fixed backoff, keeping every attempt, then fails it", async () => {
    const [id] = await client.submitJobs([
      spec(["sh", "-c", "exit 1"], { maxAttempts: 3, retry: retry({ backoff: Backoff.BACKOFF_FIXED, initialDelayMs: 300 }) }),
    ]);
    await until([id!], ["failed"], "the job to fail after 3 attempts");
    const attempts = await attemptsOf(id!);
    expect(attempts.map((a) => [a.attempt, a.exit_code, a.reason])).toEqual([[1, 1, "exited"], [2, 1, "exited"], [3, 1, "exited"]]);
    for (const a of attempts) expect(a.worker_id).toBeTruthy();
    for (const g of gaps(attempts)) expect(g).toBeGreaterThanOrEqual(300);
    const job = await client.getJob(id!);
    expect(job.spec?.retry?.backoff).toBe(Backoff.BACKOFF_FIXED);
    expect(job.spec?.retry?.initialDelayMs).toBe(300);
    expect(job.attempts).toHaveLength(3);
  });

  it("grows an exponential backoff", async () => {
    const [id] = await client.submitJobs([
      spec(["sh", "-c", "exit 1"], {
        maxAttempts: 4,
        retry: retry({ backoff: Backoff.BACKOFF_EXPONENTIAL, initialDelayMs: 200, multiplier: 3, maxDelayMs: 60_000 }),
      }),
    ]);
    await until([id!], ["failed"], "the job to fail after 4 attempts");
    const g = gaps(await attemptsOf(id!));
    expect(g).toHaveLength(3);
    expect(g[0]).toBeGreaterThanOrEqual(200);
    expect(g[1]).toBeGreaterThanOrEqual(600);
    expect(g[2]).toBeGreaterThanOrEqual(1800);
  });

  it("does not retry a final exit code", async () => {
    const [id] = await client.submitJobs([
      spec(["sh", "-c", "exit 3"], { maxAttempts: 5, retry: retry({ backoff: Backoff.BACKOFF_NONE, finalExitCodes: [2, 3] }) }),
    ]);
    await until([id!], ["failed"], "the job to fail at once");
    const attempts = await attemptsOf(id!);
    expect(attempts.map((a) => a.exit_code)).toEqual([3]);
  });
});

describe("delayed jobs", () => {
  it("does not place a job before its run_at, and places it after", async () => {
    const runAtMs = Date.now() + 1500;
    const [id] = await client.submitJobs([spec(["true"], { runAtMs })]);
    expect(await stateOf(id!)).toBe("pending");
    expect((await client.getJob(id!)).runAtMs).toBe(runAtMs);
    await until([id!], ["succeeded"], "the delayed job to run");
    const { rows } = await pgc.query<{ assigned_at: Date; run_at: Date }>("SELECT assigned_at, run_at FROM jobs WHERE id = $1", [id]);
    expect(rows[0]!.assigned_at.getTime()).toBeGreaterThanOrEqual(runAtMs);
    // woken by its own timer, not a slow poll
    expect(rows[0]!.assigned_at.getTime() - runAtMs).toBeLessThan(1500);
  });

  it("baton submit --delay holds a job back", async () => {
    const before = Date.now();
    const r = await cli(["submit", "--delay", "1s", "--", "true"]);
    expect(r.code, r.stderr).toBe(0);
    const id = r.stdout.trim();
    await until([id], ["succeeded"], "the --delay job to run");
    const { rows } = await pgc.query<{ assigned_at: Date }>("SELECT assigned_at FROM jobs WHERE id = $1", [id]);
    expect(rows[0]!.assigned_at.getTime()).toBeGreaterThanOrEqual(before + 1000);
  });
});

describe("dead letters and RetryJobs", () => {
  it("lists failed jobs newest first and puts one back with a fresh attempt budget; it runs again", async () => {
    const marker = path.join(tmp, "ok-1");
    const [id] = await client.submitJobs([
      spec(["sh", "-c", `test -f ${marker}`], { maxAttempts: 2, retry: retry({ backoff: Backoff.BACKOFF_NONE }) }),
    ]);
    await until([id!], ["failed"], "the job to fail twice");
    const dead = await client.listJobs({ dead: true });
    expect(dead.jobs[0]!.id).toBe(id);
    expect(dead.jobs.every((j) => j.state === JobState.JOB_STATE_FAILED)).toBe(true);
    const ids = dead.jobs.map((j) => Number(j.id));
    expect([...ids].sort((a, b) => b - a)).toEqual(ids);
    // pageable
    const page1 = await client.listJobs({ dead: true, pageSize: 1 });
    expect(page1.jobs).toHaveLength(1);
    const page2 = await client.listJobs({ dead: true, pageSize: 1, pageToken: page1.nextPageToken });
    expect(page2.jobs[0]!.id).toBe(dead.jobs[1]!.id);

    const ls = await cli(["ls", "--dead"]);
    expect(ls.code, ls.stderr).toBe(0);
    expect(ls.stdout).toMatch(new RegExp(`^${id}\\s.*failed`, "m"));

    await writeFile(marker, "");
    const r = await cli(["retry", id!]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(`${id}: pending\n`);
    await until([id!], ["succeeded"], "the retried job to succeed");
    const attempts = await attemptsOf(id!);
    expect(attempts.map((a) => [a.attempt, a.exit_code])).toEqual([[1, 1], [2, 1], [3, 0]]);
  });

  it("retries every dead job of a queue, and a fresh budget means max_attempts more tries", async () => {
    const marker = path.join(tmp, "ok-2");
    const failing = (queue: string) =>
      spec(["sh", "-c", `test -f ${marker}`], { queue, maxAttempts: 2, retry: retry({ backoff: Backoff.BACKOFF_NONE }) });
    const ids = await client.submitJobs([failing("dlq"), failing("dlq"), failing("other")]);
    await until(ids, ["failed"], "three jobs to fail");
    // Without the marker they fail again, after exactly two more attempts each.
    expect((await client.retryJobs({ allDead: true, queue: "dlq" })).sort()).toEqual(ids.slice(0, 2).sort());
    expect(await stateOf(ids[2]!)).toBe("failed");
    await until(ids.slice(0, 2), ["failed"], "the retried jobs to fail again");
    for (const id of ids.slice(0, 2)) expect((await attemptsOf(id)).map((a) => a.attempt)).toEqual([1, 2, 3, 4]);

    await writeFile(marker, "");
    const r = await cli(["retry", "--all-dead", "--queue", "dlq"]);
    expect(r.code, r.stderr).toBe(0);
    await until(ids.slice(0, 2), ["succeeded"], "the retried jobs to succeed");
    expect(await stateOf(ids[2]!)).toBe("failed");
  });

  it("retries cancelled jobs, and refuses jobs that did not fail or were not cancelled", async () => {
    const [pendingId, doneId] = await client.submitJobs([spec(["true"], { runAtMs: Date.now() + 3_600_000 }), spec(["true"])]);
    await until([doneId!], ["succeeded"], "a job to succeed");
    await client.cancelJob(pendingId!);
    const e = await grpcError(client.retryJobs({ ids: [pendingId!, doneId!] }));
    expect(e.code).toBe(status.FAILED_PRECONDITION);
    expect(e.details).toBe(`job ${doneId} is succeeded: only failed or cancelled jobs can be retried`);
    expect(await stateOf(pendingId!)).toBe("cancelled"); // nothing of a refused call is done
    expect(await client.retryJobs({ ids: [pendingId!] })).toEqual([pendingId]);
    await until([pendingId!], ["succeeded"], "the retried cancelled job to run");
    expect((await grpcError(client.retryJobs({ ids: ["999999"] }))).code).toBe(status.NOT_FOUND);
    expect((await grpcError(client.retryJobs({ ids: [] }))).code).toBe(status.INVALID_ARGUMENT);
  });
});

describe("UpdateJob and DeleteJob", () => {
  it("changes a pending job, validated like a submit, and runs it when its new run_at comes", async () => {
    const [id] = await client.submitJobs([spec(["true"], { runAtMs: Date.now() + 3_600_000 })]);
    const job = await client.updateJob(id!, { priority: 7, queue: "batch", resources: { cpuMillis: 200, memoryMb: 128, gpus: 0 } });
    expect(job.spec?.priority).toBe(7);
    expect(job.spec?.queue).toBe("batch");
    expect(job.spec?.resources).toEqual({ cpuMillis: 200, memoryMb: 128, gpus: 0 });
    expect(job.state).toBe(JobState.JOB_STATE_PENDING);

    const bad = await grpcError(client.updateJob(id!, { queue: "no spaces" }));
    expect(bad.code).toBe(status.INVALID_ARGUMENT);
    expect(bad.details).toMatch(/queue "no spaces"/);
    expect((await grpcError(client.updateJob(id!, { priority: 5_000_000 }))).code).toBe(status.INVALID_ARGUMENT);

    const r = await cli(["update", id!, "--run-at", "+0s", "--priority", "8"]);
    expect(r.code, r.stderr).toBe(0);
    await until([id!], ["succeeded"], "the updated job to run");
    expect((await client.getJob(id!)).spec?.priority).toBe(8);

    const done = await grpcError(client.updateJob(id!, { priority: 1 }));
    expect(done.code).toBe(status.FAILED_PRECONDITION);
    expect(done.details).toBe(`job ${id} is succeeded: only pending jobs can be changed`);
  });

  it("refuses to change or delete a running job; deletes pending and finished jobs with their history and logs", async () => {
    const [running] = await client.submitJobs([spec(["sleep", "30"])]);
    await until([running!], ["running"], "the job to run");
    const upd = await grpcError(client.updateJob(running!, { priority: 1 }));
    expect(upd.code).toBe(status.FAILED_PRECONDITION);
    expect(upd.details).toBe(`job ${running} is running: only pending jobs can be changed`);
    const del = await grpcError(client.deleteJob(running!));
    expect(del.code).toBe(status.FAILED_PRECONDITION);
    expect(del.details).toMatch(new RegExp(`^job ${running} is running: cancel it first`));
    await client.cancelJob(running!);

    const [pending, finished] = await client.submitJobs([
      spec(["true"], { runAtMs: Date.now() + 3_600_000 }),
      spec(["sh", "-c", "echo out; exit 1"], { maxAttempts: 2, retry: retry({ backoff: Backoff.BACKOFF_NONE }) }),
    ]);
    await until([finished!], ["failed"], "the job to fail twice");
    const count = async (table: string) =>
      (await pgc.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${table} WHERE job_id = $1`, [finished])).rows[0]!.n;
    expect(await count("job_attempts")).toBeGreaterThan(0);
    await waitUntil(db.url, async () => (await count("job_logs")) > 0, "the job's output to be stored");

    await client.deleteJob(pending!);
    const r = await cli(["rm", finished!]);
    expect(r.code, r.stderr).toBe(0);
    expect(await stateOf(pending!)).toBeUndefined();
    expect(await stateOf(finished!)).toBeUndefined();
    expect(await count("job_attempts")).toBe(0);
    expect(await count("job_logs")).toBe(0);
    expect((await grpcError(client.getJob(finished!))).code).toBe(status.NOT_FOUND);
    expect((await grpcError(client.deleteJob(finished!))).code).toBe(status.NOT_FOUND);
    await until([running!], ["cancelled"], "the running job to be cancelled");
  });
});
