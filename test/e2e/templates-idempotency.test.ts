// Real coordinator and worker processes: idempotent submits across two coordinators, and jobs
// submitted from versioned templates (parameter errors, versions, substituted argv that runs).
import { spawn } from "node:child_process";
import { mkdtemp, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isBatonClientError, isTerminal, type BatonClient } from "../../client/baton-client.js";
import { JobSpec, JobState, type Job } from "../../shared/gen/baton/v1/types.js";
import { TestCluster, type CoordinatorProc } from "../support/cluster.js";
import { createTestDatabase, type TestDatabase } from "../support/db.js";

let db: TestDatabase;
let cluster: TestCluster;
let a: CoordinatorProc;
let b: CoordinatorProc;
let ca: BatonClient;
let cb: BatonClient;

beforeAll(async () => {
  db = await createTestDatabase();
  cluster = new TestCluster(db.url);
  [a, b] = await Promise.all([cluster.coordinator(), cluster.coordinator()]);
  ca = cluster.client(a.grpcAddress);
  cb = cluster.client(b.grpcAddress);
  await cluster.worker({ name: "w1", coordinators: [a.grpcAddress, b.grpcAddress] });
});

afterAll(async () => {
  await cluster?.stop();
  await db?.drop();
});

const spec = (over: Partial<JobSpec> = {}): JobSpec =>
  JobSpec.fromPartial({
    resources: { cpuMillis: 100, memoryMb: 32, gpus: 0 },
    executor: { $case: "exec", exec: { argv: ["true"], env: {}, cwd: "" } },
    ...over,
  });

const fromTemplate = (name: string, params: Record<string, string>, version = 0, over: Partial<JobSpec> = {}): JobSpec =>
  JobSpec.fromPartial({ template: { name, version, params }, ...over });

async function finished(client: BatonClient, id: string): Promise<Job> {
  let last: Job | undefined;
  for await (const job of client.watchJob(id)) last = job;
  if (!last || !isTerminal(last)) throw new Error(`job ${id} watch ended before the job did`);
  return last;
}

async function output(client: BatonClient, id: string): Promise<string> {
  let text = "";
  for await (const c of client.getJobLogs(id)) text += Buffer.from(c.data).toString();
  return text;
}

async function rejection(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (e) {
    if (isBatonClientError(e)) return { code: e.codeName, message: e.details };
    throw e;
  }
  throw new Error("expected the call to fail");
}

async function jobCount(): Promise<number> {
  const c = new pg.Client({ connectionString: db.url });
  await c.connect();
  try {
    return Number((await c.query("SELECT count(*) FROM jobs")).rows[0].count);
  } finally {
    await c.end();
  }
}

describe("idempotent submit", () => {
  it("20 concurrent submits with one key, across two coordinators, make exactly one job and all get its id", async () => {
    const before = await jobCount();
    const key = `deploy-${Date.now()}`;
    const ids = await Promise.all(
      Array.from({ length: 20 }, (_, i) => (i % 2 ? ca : cb).submitJobs([spec({ idempotencyKey: key, name: `try ${i}` })])),
    );
    const distinct = new Set(ids.map((r) => r[0]));
    expect(distinct.size).toBe(1);
    expect(await jobCount()).toBe(before + 1);
    const job = await ca.getJob(ids[0]![0]!);
    expect(job.idempotencyKey).toBe(key);
    expect((await finished(ca, job.id)).state).toBe(JobState.JOB_STATE_SUCCEEDED);
    // Still within the window after the job finished: the same id again.
    expect(await cb.submitJobs([spec({ idempotencyKey: key })])).toEqual([job.id]);
  });

  it("makes a new job after the window (the job's own idempotency_window_s)", async () => {
    const key = `short-${Date.now()}`;
    const [first] = await ca.submitJobs([spec({ idempotencyKey: key, idempotencyWindowS: 3600 })]);
    expect(await cb.submitJobs([spec({ idempotencyKey: key })])).toEqual([first]);
    // The window passing is the key's expiry: age it instead of waiting an hour.
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    const { rows } = await c.query("UPDATE idempotency_keys SET expires_at = now() - interval '1 second' WHERE key = $1 RETURNING job_id::text", [key]);
    await c.end();
    expect(rows[0].job_id).toBe(first);
    const [second] = await cb.submitJobs([spec({ idempotencyKey: key })]);
    expect(second).not.toBe(first);
  });

  it("a batch with one invalid spec stores nothing, keys included, and names jobs[i]", async () => {
    const before = await jobCount();
    const err = await rejection(ca.submitJobs([spec({ idempotencyKey: "never" }), spec({ executor: undefined })]));
    expect(err.code).toBe("INVALID_ARGUMENT");
    expect(err.message).toMatch(/^jobs\[1\]: no executor/);
    expect(await jobCount()).toBe(before);
    const [id] = await ca.submitJobs([spec({ idempotencyKey: "never" })]);
    expect((await ca.getJob(id!)).idempotencyKey).toBe("never");
  });
});

describe("templates", () => {
  it("stores versions, expands parameters with defaults, lets submitted fields override, and runs the substituted argv", async () => {
    const v1 = await ca.putTemplate(
      "greet",
      spec({
        name: "greet-{{who}}",
        priority: 5,
        executor: { $case: "exec", exec: { argv: ["sh", "-c", "echo \"$0, $1\"", "{{greeting}}", "{{who}}"], env: {}, cwd: "" } },
      }),
      [
        { name: "who", required: true, default: undefined, description: "" },
        { name: "greeting", required: false, default: "hello", description: "" },
      ],
    );
    expect(v1.version).toBe(1);
    const v2 = await cb.putTemplate(
      "greet",
      spec({ executor: { $case: "exec", exec: { argv: ["sh", "-c", "echo \"v2 $0\"", "{{who}}"], env: {}, cwd: "" } } }),
      [{ name: "who", required: true, default: undefined, description: "" }],
    );
    expect(v2.version).toBe(2);
    expect((await ca.getTemplate("greet", 1)).spec?.name).toBe("greet-{{who}}");
    expect((await ca.listTemplates()).map((t) => [t.name, t.version])).toEqual([["greet", 2]]);

    const [old, latest] = await ca.submitJobs([
      fromTemplate("greet", { who: "world" }, 1, { priority: 9 }),
      fromTemplate("greet", { who: "there" }),
    ]);
    const oldJob = await finished(ca, old!);
    expect(oldJob.state).toBe(JobState.JOB_STATE_SUCCEEDED);
    expect(oldJob).toMatchObject({ templateName: "greet", templateVersion: 1 });
    expect(oldJob.spec).toMatchObject({ name: "greet-world", priority: 9 });
    expect(await output(ca, old!)).toBe("hello, world\n");
    const latestJob = await finished(cb, latest!);
    expect(latestJob).toMatchObject({ templateName: "greet", templateVersion: 2 });
    expect(await output(cb, latest!)).toBe("v2 there\n");
  });

  it("refuses a missing required parameter, an unknown parameter and an unknown placeholder, naming template, version and parameter", async () => {
    await ca.putTemplate("needs-n", spec({ executor: { $case: "exec", exec: { argv: ["echo", "{{n}}"], env: {}, cwd: "" } } }), [
      { name: "n", required: true, default: undefined, description: "" },
    ]);
    const before = await jobCount();
    const missing = await rejection(ca.submitJobs([spec(), fromTemplate("needs-n", {})]));
    expect(missing).toEqual({
      code: "INVALID_ARGUMENT",
      message: 'jobs[1]: template "needs-n" version 1: parameter "n" is required: pass it (template.params, or baton submit --param n=VALUE)',
    });
    const unknown = await rejection(ca.submitJobs([fromTemplate("needs-n", { n: "1", m: "2" })]));
    expect(unknown).toEqual({ code: "INVALID_ARGUMENT", message: 'jobs[0]: template "needs-n" version 1: has no parameter "m" (its parameters: n)' });
    const placeholder = await rejection(
      ca.putTemplate("bad", spec({ executor: { $case: "exec", exec: { argv: ["echo", "{{nope}}"], env: {}, cwd: "" } } }), []),
    );
    expect(placeholder).toEqual({
      code: "INVALID_ARGUMENT",
      message: 'template bad: the spec uses {{nope}} but declares no parameter "nope"; add it to params',
    });
    const notFound = await rejection(ca.submitJobs([fromTemplate("needs-n", { n: "1" }, 7)]));
    expect(notFound.code).toBe("NOT_FOUND");
    expect(notFound.message).toMatch(/^jobs\[0\]: template "needs-n" version 7 not found/);
    expect(await jobCount()).toBe(before);
  });

  it("deletes every version; a new put continues the numbering", async () => {
    await ca.putTemplate("gone", spec(), []);
    await ca.putTemplate("gone", spec(), []);
    expect(await cb.deleteTemplate("gone")).toBe(2);
    expect((await rejection(ca.getTemplate("gone"))).code).toBe("NOT_FOUND");
    expect((await ca.putTemplate("gone", spec(), [])).version).toBe(3);
  });
});

const BIN = fileURLToPath(new URL("../../bin/baton.mjs", import.meta.url));

function baton(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, "--server", a.grpcAddress, ...args]);
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d));
    child.stderr.on("data", (d: Buffer) => (stderr += d));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("baton template and submit --template", () => {
  it("puts from a file and from flags, lists, gets, submits with --param, and removes", async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), "baton-tpl-"));
    const file = path.join(dir, "t.json");
    await writeFile(file, JSON.stringify({ spec: { exec: { argv: ["sh", "-c", "echo file:$0", "{{x}}"] } }, params: [{ name: "x", required: true }] }));
    expect(await baton(["template", "put", "cli-file", "--file", file])).toMatchObject({ code: 0, stdout: "cli-file version 1\n" });
    const put = await baton(["template", "put", "cli-flags", "--param", "who", "--param", "greeting=hi", "--", "sh", "-c", 'echo "$0 $1"', "{{greeting}}", "{{who}}"]);
    expect(put.stderr).toBe("");
    expect(put).toMatchObject({ code: 0, stdout: "cli-flags version 1\n" });

    const ls = await baton(["template", "ls"]);
    expect(ls.code).toBe(0);
    expect(ls.stdout).toMatch(/^cli-file\s+1\s+x\s+/m);
    expect(ls.stdout).toMatch(/^cli-flags\s+1\s+who greeting=hi\s+/m);
    const got = await baton(["template", "get", "cli-file", "--version", "1"]);
    expect(JSON.parse(got.stdout)).toMatchObject({ name: "cli-file", version: 1, spec: { exec: { argv: ["sh", "-c", "echo file:$0", "{{x}}"] } } });

    const run = await baton(["submit", "--template", "cli-flags", "--param", "who=cli", "--wait"]);
    expect(run.code).toBe(0);
    const id = run.stdout.trim();
    expect(await output(ca, id)).toBe("hi cli\n");
    expect(await ca.getJob(id)).toMatchObject({ templateName: "cli-flags", templateVersion: 1 });

    const missing = await baton(["submit", "--template", "cli-flags"]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('jobs[0]: template "cli-flags" version 1: parameter "who" is required');

    expect(await baton(["template", "rm", "cli-file"])).toMatchObject({ code: 0, stdout: "deleted cli-file (1 version)\n" });
    const gone = await baton(["template", "get", "cli-file"]);
    expect(gone.code).toBe(1);
    expect(gone.stderr).toContain('template "cli-file" not found');
  });
});
