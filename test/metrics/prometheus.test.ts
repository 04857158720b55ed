// A real Prometheus (Debian's package, unpacked under .tools/ by scripts/install-prometheus.sh)
// scrapes a real coordinator and worker: the counters it stores match the jobs that ran, both
// /metrics bodies pass `promtool check metrics`, and every PromQL expression of the Grafana
// dashboard parses and returns data against the live server.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { freePort } from "../../coordinator/db/embedded-postgres.js";
import { JobSpec } from "../../shared/gen/baton/v1/types.js";
import { METRICS } from "../../shared/telemetry/metric-names.js";
import { jobCounts, Proc, TestCluster, waitUntil, type CoordinatorProc, type WorkerProc } from "../support/cluster.js";
import { createTestDatabase, type TestDatabase } from "../support/db.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const TOOLS = path.join(ROOT, ".tools/prometheus/usr/bin");
const PROMETHEUS = process.env.BATON_PROMETHEUS_BIN ?? path.join(TOOLS, "prometheus");
const PROMTOOL = process.env.BATON_PROMTOOL_BIN ?? path.join(TOOLS, "promtool");
const DASHBOARD = path.join(ROOT, "deploy/grafana/dashboards/baton.json");
const missing = [PROMETHEUS, PROMTOOL].filter((p) => !existsSync(p));
const MISSING_MESSAGE =
  `Prometheus is not installed (${missing.join(", ")} not found): run \`make tools\` ` +
  "(scripts/install-prometheus.sh: apt-get download prometheus + dpkg-deb -x into .tools/prometheus)";

// Under CI a missing Prometheus is a failure, never a silent skip.
if (missing.length > 0 && process.env.CI === "true") {
  describe("metrics scraped by a real Prometheus", () => {
    it("needs the prometheus and promtool binaries", () => {
      throw new Error(MISSING_MESSAGE);
    });
  });
} else {
  if (missing.length > 0) console.warn(`skipping test/metrics: ${MISSING_MESSAGE}`);
  describe.skipIf(missing.length > 0)("metrics scraped by a real Prometheus", () => {
    let db: TestDatabase;
    let cluster: TestCluster;
    let coord: CoordinatorProc;
    let worker: WorkerProc;
    let prometheus: Proc | undefined;
    let promUrl: string;
    let dir: string;
    let configFile: string;

    beforeAll(async () => {
      dir = mkdtempSync(path.join(tmpdir(), "baton-prometheus-"));
      db = await createTestDatabase();
      cluster = new TestCluster(db.url);
      coord = await cluster.coordinator();
      worker = await cluster.worker({ name: "m1", coordinators: [coord.grpcAddress], cpu: 2000, memory: 1024, slots: 4 });

      const client = cluster.client(coord.grpcAddress);
      await client.submitJobs([
        ...[0, 1, 2].map(() => shell("exit 0", "alpha")),
        ...[0, 1].map(() => shell("exit 3", "beta")),
        shell("exit 4", "beta", 2), // fails, is re-queued once, fails for good
      ]);
      await waitUntil(db.url, async (c) => {
        const n = await jobCounts(c);
        return n.succeeded === 3 && n.failed === 3;
      }, "3 jobs to succeed and 3 to fail");

      const port = await freePort();
      promUrl = `http://127.0.0.1:${port}`;
      configFile = path.join(dir, "prometheus.yml");
      writeFileSync(configFile, prometheusConfig(coord.httpAddress, worker.httpAddress));
      prometheus = new Proc(
        "prometheus",
        spawn(PROMETHEUS, [
          `--config.file=${configFile}`,
          `--storage.tsdb.path=${path.join(dir, "data")}`,
          `--web.listen-address=127.0.0.1:${port}`,
          "--storage.tsdb.retention.time=1h",
        ], { stdio: ["ignore", "pipe", "pipe"] }),
      );
      await prometheus.waitFor(/Server is ready to receive web requests/, 30_000);
    });

    afterAll(async () => {
      await prometheus?.kill("SIGTERM");
      await cluster?.stop();
      await db?.drop();
      if (dir) rmSync(dir, { recursive: true, force: true });
    });

    it("the generated scrape config passes promtool check config", () => {
      promtool(["check", "config", configFile]);
    });

    it("both /metrics bodies pass promtool check metrics", async () => {
      for (const address of [coord.httpAddress, worker.httpAddress]) {
        const res = await fetch(`http://${address}/metrics`);
        expect(res.status).toBe(200);
        expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
        const body = await res.text();
        expect(body).toContain("process_cpu_seconds_total");
        promtool(["check", "metrics"], body);
      }
    });

    it("Prometheus scrapes both and stores what ran: submits, starts and ends by queue, outcome and reason", async () => {
      await waitForQuery(`sum(up{job=~"baton-.*"})`, (r) => value(r) === 2, "both targets up");
      await waitForQuery(`sum(${METRICS.jobsFinished})`, (r) => value(r) === 7, "7 attempt ends scraped");

      expect(await byLabels(`sum by (queue) (${METRICS.jobsSubmitted})`, ["queue"])).toEqual({ alpha: 3, beta: 3 });
      expect(await byLabels(`sum by (queue) (${METRICS.jobsStarted})`, ["queue"])).toEqual({ alpha: 3, beta: 4 });
      expect(await byLabels(`sum by (queue, outcome, reason) (${METRICS.jobsFinished})`, ["queue", "outcome", "reason"])).toEqual({
        "alpha/succeeded/exited": 3,
        "beta/failed/exited": 3,
        "beta/requeued/exited": 1,
      });
      expect(await byLabels(`sum by (outcome) (${METRICS.jobDuration}_count)`, ["outcome"])).toEqual({ succeeded: 3, failed: 3, requeued: 1 });
      // Six first placements; the retry's placement is not a submit → placed latency.
      expect(await scalar(`sum(${METRICS.schedulingLatency}_count)`)).toBe(6);
      expect(await scalar(`sum(${METRICS.planPlacements}_sum)`)).toBe(7);
      expect(await scalar(`sum(${METRICS.schedulerPassDuration}_count)`)).toBeGreaterThan(0);
    });

    it("stores leader, stream, pool and cluster-state gauges of the coordinator", async () => {
      await waitForQuery(`${METRICS.leader}`, (r) => value(r) === 1, "the leader gauge");
      expect(await scalar(METRICS.leaderTerm)).toBeGreaterThanOrEqual(1);
      expect(await scalar(METRICS.workerStreams)).toBe(1);
      expect(await scalar(METRICS.workerStreamRegistrations)).toBe(1);
      expect(await scalar(METRICS.heartbeatsReceived)).toBeGreaterThan(0);
      expect(await scalar(METRICS.pgPoolTotal)).toBeGreaterThanOrEqual(1);
      expect(await scalar(METRICS.pgPoolWaiting)).toBe(0);
      expect(await byLabels(METRICS.queueDepth, ["state"])).toEqual({ pending: 0, assigned: 0, running: 0 });
      expect(await scalar(METRICS.jobsUnschedulable)).toBe(0);
      expect(await byLabels(`${METRICS.workerCapacity}{worker="m1"}`, ["resource"])).toEqual({ cpu_millis: 2000, memory_mb: 1024, slots: 4 });
      expect(await byLabels(`${METRICS.workerAllocated}{worker="m1"}`, ["resource"])).toEqual({ cpu_millis: 0, memory_mb: 0, slots: 0 });
      expect(Object.keys(await byLabels(`${METRICS.workerUsed}{worker="m1"}`, ["resource"])).sort()).toEqual(["cpu_millis", "memory_mb", "slots"]);
    });

    it("stores the worker's own metrics", async () => {
      const w = `{job="baton-worker"}`;
      await waitForQuery(`sum(${METRICS.workerAttemptsFinished}${w})`, (r) => value(r) === 7, "7 attempt ends on the worker");
      expect(await byLabels(`sum by (reason) (${METRICS.workerAttemptsFinished}${w})`, ["reason"])).toEqual({ exited: 7 });
      expect(await scalar(`${METRICS.workerSlots}${w}`)).toBe(4);
      expect(await scalar(`${METRICS.workerRunningAttempts}${w}`)).toBe(0);
      expect(await scalar(`${METRICS.workerRegistered}${w}`)).toBe(1);
      expect(await scalar(`${METRICS.workerRegistrations}${w}`)).toBe(1);
      expect(await scalar(`${METRICS.workerReconnects}${w}`)).toBe(0);
      expect(await scalar(`${METRICS.workerHeartbeatsSent}${w}`)).toBeGreaterThan(0);
      expect(await scalar(`${METRICS.workerEventBatchesSent}${w}`)).toBeGreaterThan(0);
      expect(await scalar(`${METRICS.workerEventBatchesAcked}${w}`)).toBeGreaterThan(0);
      expect(await scalar(`${METRICS.workerEventBatchesUnacked}${w}`)).toBe(0);
      expect(await scalar(`process_resident_memory_bytes${w}`)).toBeGreaterThan(0);
    });

    it("every PromQL expression of the Grafana dashboard parses and returns data", async () => {
      const exprs = dashboardExpressions();
      expect(exprs.length).toBeGreaterThanOrEqual(20);
      // rate() needs two samples of each counter in its window: wait for a scrape after the last end.
      await waitForQuery(
        `min(count_over_time(${METRICS.jobsFinished}[1m])) >= 2 and min(count_over_time(${METRICS.workerAttemptsFinished}[1m])) >= 2`,
        (r) => r.length > 0,
        "two scrapes of the finished counters",
      );
      const problems: string[] = [];
      for (const { panel, expr } of exprs) {
        const promql = expr.replaceAll("$__rate_interval", "1m").replaceAll("$queue", ".*");
        const res = await query(promql);
        if (res.status !== "success") problems.push(`${panel}: ${promql}: ${res.error}`);
        else if (res.result.length === 0) problems.push(`${panel}: ${promql}: no data`);
      }
      expect(problems).toEqual([]);
    });

    // ── helpers ──

    function shell(script: string, queue: string, maxAttempts = 1): JobSpec {
      return JobSpec.fromPartial({
        name: "",
        queue,
        priority: 0,
        resources: { cpuMillis: 100, memoryMb: 64, gpus: 0 },
        labels: {},
        executor: { $case: "exec", exec: { argv: ["sh", "-c", script], env: {}, cwd: "" } },
        timeoutMs: 0,
        maxAttempts,
        tenant: "",
      });
    }

    interface Sample {
      metric: Record<string, string>;
      value: [number, string];
    }
    interface QueryResult {
      status: string;
      error?: string;
      result: Sample[];
    }

    async function query(promql: string): Promise<QueryResult> {
      const res = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(promql)}`);
      const body = (await res.json()) as { status: string; error?: string; data?: { resultType: string; result: Sample[] } };
      return { status: body.status, error: body.error, result: body.data?.result ?? [] };
    }

    function value(result: Sample[]): number | undefined {
      return result.length === 1 ? Number(result[0]!.value[1]) : undefined;
    }

    async function scalar(promql: string): Promise<number | undefined> {
      const r = await query(promql);
      expect(r.status, `${promql}: ${r.error}`).toBe("success");
      expect(r.result, `${promql} should return one series`).toHaveLength(1);
      return value(r.result);
    }

    async function byLabels(promql: string, labels: string[]): Promise<Record<string, number>> {
      const r = await query(promql);
      expect(r.status, `${promql}: ${r.error}`).toBe("success");
      return Object.fromEntries(r.result.map((s) => [labels.map((l) => s.metric[l] ?? "").join("/"), Number(s.value[1])]));
    }

    /** Prometheus announces no scrape: poll its API until `ok`, up to a deadline. */
    async function waitForQuery(promql: string, ok: (r: Sample[]) => boolean, what: string, timeoutMs = 30_000): Promise<void> {
      const deadline = Date.now() + timeoutMs;
      let last: QueryResult | undefined;
      for (;;) {
        last = await query(promql);
        if (last.status === "success" && ok(last.result)) return;
        if (Date.now() > deadline) {
          throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} (${promql}); last answer: ${JSON.stringify(last)}`);
        }
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  });
}

function prometheusConfig(coordinator: string, worker: string): string {
  return `global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: baton-coordinator
    static_configs:
      - targets: ["${coordinator}"]
  - job_name: baton-worker
    static_configs:
      - targets: ["${worker}"]
`;
}

function promtool(args: string[], input?: string): void {
  const r = spawnSync(PROMTOOL, args, { input, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`promtool ${args.join(" ")} failed (${r.status ?? r.signal}):\n${r.stdout}${r.stderr}`);
}

interface Panel {
  title?: string;
  targets?: { expr?: string }[];
  panels?: Panel[];
}

function dashboardExpressions(): { panel: string; expr: string }[] {
  const dash = JSON.parse(readFileSync(DASHBOARD, "utf8")) as { panels: Panel[] };
  const out: { panel: string; expr: string }[] = [];
  const walk = (panels: Panel[]) => {
    for (const p of panels) {
      for (const t of p.targets ?? []) if (t.expr) out.push({ panel: p.title ?? "?", expr: t.expr });
      walk(p.panels ?? []);
    }
  };
  walk(dash.panels);
  return out;
}
