// Live cluster settings across two real coordinator processes: a value set through one is applied
// by the other without a restart (each logs "config changed: key=…" when it re-reads).
import { status } from "@grpc/grpc-js";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { isBatonClientError } from "../../client/baton-client.js";
import { JobSpec } from "../../shared/gen/baton/v1/types.js";
import { TestCluster, waitUntil, type CoordinatorProc, type Proc } from "../support/cluster.js";
import { createTestDatabase, type TestDatabase } from "../support/db.js";

let db: TestDatabase;
let cluster: TestCluster;
let c1: CoordinatorProc;
let c2: CoordinatorProc;
let sql: pg.Client;

beforeAll(async () => {
  db = await createTestDatabase();
  cluster = new TestCluster(db.url);
  c1 = await cluster.coordinator();
  c2 = await cluster.coordinator();
  sql = new pg.Client({ connectionString: db.url });
  await sql.connect();
});

afterAll(async () => {
  await sql?.end();
  await cluster?.stop();
  await db?.drop();
});

function job(argv: string[], cpu = 100): JobSpec {
  return JobSpec.fromPartial({
    resources: { cpuMillis: cpu, memoryMb: 32, gpus: 0 },
    executor: { $case: "exec", exec: { argv, env: {}, cwd: "" } },
  });
}

/** Where each coordinator's output ends now: waits start from here, so an older line never matches. */
function marks(...procs: Proc[]): number[] {
  return procs.map((p) => p.output.length);
}

async function rejected(p: Promise<unknown>): Promise<{ code: number; message: string }> {
  try {
    await p;
  } catch (e) {
    if (isBatonClientError(e)) return { code: e.code, message: e.details };
    throw e;
  }
  throw new Error("the call succeeded");
}

async function runCli(args: string[]): Promise<{ code: number | null; output: string }> {
  const p = cluster.spawn(`cli ${args.join(" ")}`, args);
  const code = await p.exited;
  return { code, output: p.output };
}

describe("live configuration across coordinators", () => {
  it("a default_max_attempts set on one coordinator is used by the other for the next submit", async () => {
    const setter = cluster.client(c1.grpcAddress);
    const other = cluster.client(c2.grpcAddress);
    const [from] = marks(c2);

    const set = await setter.setConfig("default_max_attempts", "3", "test");
    expect(set).toMatchObject({ key: "default_max_attempts", value: "3", source: "stored", defaultValue: "1" });
    expect(set.updatedBy).toBe(`test via ${c1.id}`);
    await c2.waitFor(/config changed: key=default_max_attempts value=3 \(stored\)/, 10_000, from);

    const [id] = await other.submitJobs([job(["true"])]);
    const { rows } = await sql.query<{ max_attempts: number }>("SELECT max_attempts FROM jobs WHERE id = $1", [id]);
    expect(rows[0]!.max_attempts).toBe(3);
    expect((await other.getConfig("default_max_attempts"))[0]).toMatchObject({ value: "3", source: "stored" });

    // Reset through the other one: the first goes back to its default.
    const [back] = marks(c1);
    expect(await other.resetConfig("default_max_attempts")).toMatchObject({ value: "1", source: "default" });
    await c1.waitFor(/config changed: key=default_max_attempts value=1 \(default\)/, 10_000, back);
    const [id2] = await setter.submitJobs([job(["true"])]);
    const r2 = await sql.query<{ max_attempts: number }>("SELECT max_attempts FROM jobs WHERE id = $1", [id2]);
    expect(r2.rows[0]!.max_attempts).toBe(1);
  });

  it("a default retry policy set on one coordinator is stored with jobs submitted to the other", async () => {
    const [from] = marks(c2);
    await cluster.client(c1.grpcAddress).setConfig("default_retry", "fixed,initial=250ms", "test");
    await c2.waitFor(/config changed: key=default_retry/, 10_000, from);
    const [id] = await cluster.client(c2.grpcAddress).submitJobs([job(["true"])]);
    const { rows } = await sql.query<{ retry: { backoff: string; initial_ms: number } }>("SELECT retry FROM jobs WHERE id = $1", [id]);
    expect(rows[0]!.retry).toMatchObject({ backoff: "fixed", initial_ms: 250 });
    const bad = await rejected(cluster.client(c2.grpcAddress).setConfig("default_retry", "sometimes", "test"));
    expect(bad.code).toBe(status.INVALID_ARGUMENT);
    expect(bad.message).toMatch(/^default_retry is not a retry policy/);
    await cluster.client(c1.grpcAddress).resetConfig("default_retry");
  });

  it("scheduling_strategy changes placement on the leader without a restart", async () => {
    const w = [c1.grpcAddress, c2.grpcAddress];
    const workers = await Promise.all([
      cluster.worker({ name: "a", coordinators: w, cpu: 2000, memory: 2048, slots: 8 }),
      cluster.worker({ name: "b", coordinators: w, cpu: 2000, memory: 2048, slots: 8 }),
    ]);
    // Submit through the follower: the leader then places from a fresh snapshot in a full pass (a
    // submit to the leader itself may be planned against its cached view of the workers).
    await waitUntil(db.url, async (c) => (await c.query("SELECT 1 FROM jobs WHERE state NOT IN ('succeeded', 'failed', 'cancelled')")).rowCount === 0, "earlier jobs to end");
    const { leaderId } = await cluster.client(c1.grpcAddress).getCluster();
    expect([c1.id, c2.id]).toContain(leaderId);
    const client = cluster.client(leaderId === c1.id ? c2.grpcAddress : c1.grpcAddress);
    const placedOn = async (ids: string[]) => {
      await waitUntil(
        db.url,
        async (c) => (await c.query("SELECT 1 FROM jobs WHERE id = ANY($1::bigint[]) AND worker_id IS NOT NULL", [ids])).rowCount === ids.length,
        `${ids.length} jobs placed`,
      );
      const { rows } = await sql.query<{ worker_id: string }>("SELECT worker_id FROM jobs WHERE id = ANY($1::bigint[])", [ids]);
      return rows.map((r) => r.worker_id);
    };

    const m = marks(c1, c2);
    await client.setConfig("scheduling_strategy", "spread");
    await Promise.all([c1.waitFor(/config changed: key=scheduling_strategy value="spread"/, 10_000, m[0]), c2.waitFor(/config changed: key=scheduling_strategy value="spread"/, 10_000, m[1])]);
    const spread = await placedOn(await client.submitJobs([1, 2, 3, 4].map(() => job(["sleep", "30"]))));
    const perWorker = workers.map((wk) => spread.filter((id) => id === wk.workerId).length);
    expect(perWorker).toEqual([2, 2]);

    const m2 = marks(c1, c2);
    await client.setConfig("scheduling_strategy", "binpack");
    await Promise.all([c1.waitFor(/config changed: key=scheduling_strategy value="binpack"/, 10_000, m2[0]), c2.waitFor(/config changed: key=scheduling_strategy value="binpack"/, 10_000, m2[1])]);
    const packed = await placedOn(await client.submitJobs([1, 2, 3, 4].map(() => job(["sleep", "30"]))));
    expect(new Set(packed).size).toBe(1);
  });

  it("rejects invalid values with messages that name the key, and stores nothing", async () => {
    const client = cluster.client(c1.grpcAddress);
    const bad = await rejected(client.setConfig("scheduling_strategy", "roundrobin"));
    expect(bad.code).toBe(status.INVALID_ARGUMENT);
    expect(bad.message).toMatch(/scheduling_strategy must be one of binpack, spread, got "roundrobin"/);

    const range = await rejected(client.setConfig("default_max_attempts", "0"));
    expect(range.code).toBe(status.INVALID_ARGUMENT);
    expect(range.message).toMatch(/default_max_attempts must be an integer from 1 to 100, got 0/);

    const unknown = await rejected(client.setConfig("max_attempts", "3"));
    expect(unknown.code).toBe(status.INVALID_ARGUMENT);
    expect(unknown.message).toMatch(/unknown setting "max_attempts": known settings are .*default_max_attempts.*lease_ms/);

    // The test cluster runs with --lease-ms 2000: a 1500 ms heartbeat would break lease ≥ 2 × heartbeat.
    const pair = await rejected(client.setConfig("heartbeat_interval_ms", "1500"));
    expect(pair.code).toBe(status.INVALID_ARGUMENT);
    expect(pair.message).toMatch(/lease_ms \(2000\) must be at least twice heartbeat_interval_ms \(1500\)/);
    // Raised together in the right order, both are accepted.
    await client.setConfig("lease_ms", "4000");
    expect(await client.setConfig("heartbeat_interval_ms", "1500")).toMatchObject({ value: "1500", source: "stored" });
    await client.resetConfig("heartbeat_interval_ms");
    await client.resetConfig("lease_ms");

    const { rows } = await sql.query<{ key: string }>("SELECT key FROM cluster_config ORDER BY key");
    expect(rows.map((r) => r.key)).toEqual(["scheduling_strategy"]); // only the earlier test's valid value
  });

  it("baton config get/set/reset", async () => {
    const server = ["--server", c2.grpcAddress];
    const set = await runCli(["config", "set", "default_timeout_ms", "5000", ...server]);
    expect(set).toMatchObject({ code: 0, output: "default_timeout_ms = 5000 (stored)\n" });

    const one = await runCli(["config", "get", "default_timeout_ms", ...server]);
    expect(one.code).toBe(0);
    expect(one.output).toMatch(/KEY\s+VALUE\s+SOURCE\s+DEFAULT\s+UPDATED/);
    expect(one.output).toMatch(/default_timeout_ms\s+5000\s+stored\s+0\s+\S+ .* by \S+ via c2/);

    const all = await runCli(["--server", c1.grpcAddress, "config", "get", "-o", "json"]);
    expect(all.code).toBe(0);
    const settings = JSON.parse(all.output) as { key: string; value: string; source: string }[];
    expect(settings.map((s) => s.key)).toEqual(expect.arrayContaining(["default_timeout_ms", "lease_ms", "log_max_bytes_per_job"]));
    expect(settings.find((s) => s.key === "default_timeout_ms")).toMatchObject({ value: "5000", source: "stored" });

    const bad = await runCli(["config", "set", "log_retention_hours", "-5", ...server]);
    expect(bad.code).toBe(1);
    expect(bad.output).toMatch(/log_retention_hours must be an integer from 0 to 87600, got -5/);

    const reset = await runCli(["config", "reset", "default_timeout_ms", ...server]);
    expect(reset).toMatchObject({ code: 0, output: "default_timeout_ms = 0 (default)\n" });
  });

  it("workers that register after a heartbeat_interval_ms change are told the new interval", async () => {
    const [from] = marks(c2);
    await cluster.client(c1.grpcAddress).setConfig("heartbeat_interval_ms", "300");
    await c2.waitFor(/config changed: key=heartbeat_interval_ms value=300 \(stored\)/, 10_000, from);
    const w = await cluster.worker({ name: "late", coordinators: [c2.grpcAddress] });
    await w.waitFor(/registered with coordinator c2 .*\(heartbeat 300 ms, lease 2000 ms\)/, 10_000);
    await cluster.client(c1.grpcAddress).resetConfig("heartbeat_interval_ms");
  });

  it("re-reads after the listener reconnects: a change it was never notified of is applied", async () => {
    const m = marks(c1, c2);
    // Written behind the coordinators' backs (no NOTIFY), then their listening connections are cut.
    await sql.query(`INSERT INTO cluster_config (key, value, updated_by) VALUES ('log_max_bytes_per_job', '1048576', 'test')`);
    const { rowCount } = await sql.query(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'baton-listener' AND datname = current_database()",
    );
    expect(rowCount).toBe(2);
    await Promise.all([
      c1.waitFor(/config changed: key=log_max_bytes_per_job value=1048576 \(stored\)/, 10_000, m[0]),
      c2.waitFor(/config changed: key=log_max_bytes_per_job value=1048576 \(stored\)/, 10_000, m[1]),
    ]);
    expect((await cluster.client(c2.grpcAddress).getConfig("log_max_bytes_per_job"))[0]).toMatchObject({ value: "1048576", source: "stored", updatedBy: "test" });
  });
});
