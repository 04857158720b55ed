// `baton dev` on a machine with nothing but Node: embedded Postgres, a coordinator, two workers.
import { spawn, spawnSync } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { freePort } from "../../coordinator/db/embedded-postgres.js";
import { Proc } from "../support/cluster.js";

const BIN = fileURLToPath(new URL("../../bin/baton.mjs", import.meta.url));
let dir: string;
let dev: Proc | undefined;

afterAll(async () => {
  await dev?.kill("SIGKILL");
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("baton dev", () => {
  it("starts a whole cluster on an embedded Postgres, runs a job, and stops cleanly on Ctrl-C", async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "baton-dev-"));
    const grpcPort = await freePort();
    const env = { ...process.env };
    delete env.BATON_DATABASE_URL;
    const child = spawn(process.execPath, [BIN, "dev", "--grpc-port", String(grpcPort), "--http-port", String(await freePort()), "--data-dir", dir], {
      stdio: ["ignore", "pipe", "pipe"],
      env,
    });
    dev = new Proc("dev", child);
    await dev.waitFor(/starting embedded Postgres/, 30_000);
    await dev.waitFor(/worker-2\] .*registered with coordinator/, 60_000);
    await dev.waitFor(/worker-1\] .*registered with coordinator/, 10_000);
    expect(dev.output).toMatch(new RegExp(`gRPC\\s+127\\.0\\.0\\.1:${grpcPort}`));

    const submit = spawnSync(process.execPath, [BIN, "--server", `127.0.0.1:${grpcPort}`, "submit", "--wait", "--", "sh", "-c", "exit 4"], {
      encoding: "utf8",
      timeout: 30_000,
    });
    expect(submit.status).toBe(4);
    const status = spawnSync(process.execPath, [BIN, "--server", `127.0.0.1:${grpcPort}`, "status", "-o", "json"], { encoding: "utf8" });
    const cluster = JSON.parse(status.stdout);
    expect(cluster.workers.filter((w: { state: string }) => w.state === "alive")).toHaveLength(2);
    expect(cluster.jobCounts.failed).toBe(1);

    child.kill("SIGINT");
    expect(await dev.exited).toBe(0);
    expect(dev.output).toMatch(/stopping Postgres/);
  });
});
