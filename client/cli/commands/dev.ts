// `baton dev`: a whole local cluster in one command: Postgres (embedded unless BATON_DATABASE_URL is
// set), migrations, one coordinator and N workers as child processes, stopped together on Ctrl-C.
import { spawn, type ChildProcess } from "node:child_process";
import net from "node:net";
import path from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { Command } from "commander";
import { compileDevOptions, devChildren, redactUrl, type DevChild, type DevOptions } from "../dev-plan.js";
import { CliError } from "../usage-error.js";

const BIN = fileURLToPath(new URL("../../../bin/baton.mjs", import.meta.url));
// Longer than a worker's own grace for its running jobs, so that it can finish them.
const STOP_GRACE_MS = 20_000;
const SIGNALS = ["SIGINT", "SIGTERM", "SIGHUP"] as const;

export function devCommand(): Command {
  return new Command("dev")
    .description("run a local cluster: Postgres, migrations, a coordinator and workers (Ctrl-C stops all)")
    .option("--grpc-port <port>", "coordinator gRPC port", "50051")
    .option("--http-port <port>", "coordinator HTTP port (REST, dashboard, /metrics)", "8080")
    .option("--workers <n>", "how many workers", "2")
    .option("--data-dir <dir>", "where the embedded Postgres keeps its data (under <dir>/pg)", "./.baton")
    .action(async (opts: DevOptions) => {
      await runDev(opts);
    });
}

function say(line: string): void {
  process.stderr.write(`[dev] ${line}\n`);
}

async function runDev(opts: DevOptions): Promise<void> {
  const settings = compileDevOptions(opts);
  const plan = devChildren(settings, "");
  for (const child of plan) {
    for (const p of child.ports) {
      if (!(await portFree(p.port))) {
        throw new CliError(
          `port ${p.port} (${child.label} ${p.name}) is in use on 127.0.0.1: is another baton dev running? ` +
            "Stop it or choose other ports (--grpc-port, --http-port)",
        );
      }
    }
  }

  let stopDatabase: (() => Promise<void>) | undefined;
  let databaseUrl = process.env.BATON_DATABASE_URL;
  if (databaseUrl) say(`using the database of BATON_DATABASE_URL: ${redactUrl(databaseUrl)}`);
  else {
    const dir = path.resolve(settings.dataDir, "pg");
    say(`starting embedded Postgres in ${dir}`);
    const { startEmbeddedPostgres } = await ownSignals(() => import("../../../coordinator/db/embedded-postgres.js"));
    const log: string[] = [];
    try {
      const db = await startEmbeddedPostgres(dir, { persistent: true, onLog: (l) => log.push(l) });
      databaseUrl = db.url;
      stopDatabase = db.stop;
    } catch (e) {
      process.stderr.write(log.slice(-20).join("\n") + "\n");
      throw new CliError(`could not start the embedded Postgres in ${dir}: ${(e as Error).message}`);
    }
  }

  const children = new Map<string, ChildProcess>();
  let stopping = false;
  const stopAll = async (code: number) => {
    if (stopping) return;
    stopping = true;
    say("stopping… (again to force)");
    // Workers first, so that they leave while their coordinator can still record it; then the
    // coordinator, then the database it needs until the end.
    const workers = [...children.entries()].filter(([label]) => label !== "coordinator").map(([, c]) => c);
    await Promise.all(workers.map((c) => stopChild(c)));
    const coordinatorProcess = children.get("coordinator");
    if (coordinatorProcess) await stopChild(coordinatorProcess);
    if (stopDatabase) {
      say("stopping Postgres");
      await stopDatabase().catch((e) => say(`Postgres did not stop cleanly: ${(e as Error).message}`));
    }
    process.exit(code);
  };
  const onSignal = () => {
    if (!stopping) {
      void stopAll(0);
      return;
    }
    say("forced: killing everything");
    for (const c of children.values()) c.kill("SIGKILL");
    void (stopDatabase?.() ?? Promise.resolve()).finally(() => process.exit(1));
  };
  for (const signal of SIGNALS) process.on(signal, onSignal);
  // Should `baton dev` itself die, take the children along rather than leave them running.
  process.on("exit", () => {
    for (const c of children.values()) c.kill("SIGKILL");
  });

  try {
    say("applying migrations");
    const { migrate } = await import("../../../coordinator/db/migrate.js");
    const applied = await migrate(databaseUrl);
    say(applied.length ? `applied migrations ${applied.join(", ")}` : "schema is up to date");
  } catch (e) {
    say(`migrations failed: ${(e as Error).message}`);
    await stopAll(1);
    return;
  }

  const [coordinator, ...workers] = devChildren(settings, databaseUrl);
  const start = (spec: DevChild) => {
    // Each child in its own process group: a terminal's Ctrl-C reaches only `baton dev`, which then
    // stops them in order with one signal each (a second signal would make a worker drop its jobs).
    const child = spawn(process.execPath, [BIN, ...spec.args], { stdio: ["ignore", "pipe", "pipe"], detached: true });
    children.set(spec.label, child);
    prefixLines(child.stdout!, spec.label, process.stdout);
    prefixLines(child.stderr!, spec.label, process.stderr);
    child.on("exit", (code, signal) => {
      children.delete(spec.label);
      if (stopping) return;
      say(`${spec.label} exited unexpectedly (${signal ? `signal ${signal}` : `exit code ${code}`})`);
      if (children.size === 0) {
        say("nothing left running");
        void stopAll(1);
      }
    });
  };

  start(coordinator!);
  const up = await waitForPort(settings.grpcPort, () => !children.has("coordinator") || stopping, 60_000);
  if (!up) {
    if (!stopping) {
      say(`the coordinator did not open gRPC port ${settings.grpcPort}; see its output above`);
      await stopAll(1);
    }
    return;
  }
  for (const w of workers) start(w);

  const lines = [
    "",
    "Baton dev cluster is up:",
    `  database     ${redactUrl(databaseUrl)}`,
    `  gRPC         127.0.0.1:${settings.grpcPort}`,
    `  HTTP         http://127.0.0.1:${settings.httpPort}/  (dashboard, REST, /metrics)`,
    ...workers.map((w) => `  ${w.label.padEnd(12)} http://127.0.0.1:${w.ports[0]!.port}/metrics`),
    "",
    `Try:  baton submit --wait -- echo hello${settings.grpcPort === 50051 ? "" : `   (with BATON_SERVER=127.0.0.1:${settings.grpcPort})`}`,
    "      baton ls · baton workers · baton status",
    "Ctrl-C stops everything.",
    "",
  ];
  process.stderr.write(lines.join("\n") + "\n");
  // Stay alive until a signal or until every child has gone.
  await new Promise<never>(() => {});
}

/**
 * Runs `load` and drops the signal handlers it installs: the embedded-postgres package stops its
 * servers on SIGINT/SIGTERM by itself, which would pull the database away from under a coordinator
 * that is still shutting down. `baton dev` stops Postgres itself, last.
 */
async function ownSignals<T>(load: () => Promise<T>): Promise<T> {
  const before = new Map(SIGNALS.map((s) => [s, new Set(process.listeners(s))]));
  const result = await load();
  for (const signal of SIGNALS) {
    for (const l of process.listeners(signal)) if (!before.get(signal)!.has(l)) process.removeListener(signal, l);
  }
  return result;
}

function prefixLines(stream: NodeJS.ReadableStream, label: string, to: NodeJS.WritableStream): void {
  const rl = createInterface({ input: stream, crlfDelay: Infinity });
  rl.on("line", (line) => to.write(`[${label}] ${line}\n`));
}

function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill("SIGKILL"), STOP_GRACE_MS);
    child.once("exit", () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/** Whether the port accepts connections before `giveUp` says to stop or the time runs out. */
async function waitForPort(port: number, giveUp: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && !giveUp()) {
    if (await canConnect(port)) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}
