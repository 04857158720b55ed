// What `baton dev` runs: the coordinator and worker processes with their flags. Pure, for tests.
import { parseInteger } from "./job-spec-args.js";
import { UsageError } from "./usage-error.js";

export interface DevOptions {
  grpcPort: string;
  httpPort: string;
  workers: string;
  dataDir: string;
}

export interface DevSettings {
  grpcPort: number;
  httpPort: number;
  workers: number;
  dataDir: string;
}

export interface DevChild {
  /** `coordinator`, `worker-1`, …: the prefix of its output lines. */
  label: string;
  /** Arguments after `node bin/baton.mjs`. */
  args: string[];
  /** Ports it listens on, to check before starting and to print. */
  ports: { name: string; port: number }[];
}

export const WORKER_HTTP_BASE_PORT = 9464;
const HOST = "127.0.0.1";

function port(text: string, flag: string): number {
  const n = parseInteger(text, flag, { min: 1 });
  if (n > 65535) throw new UsageError(`${flag} '${text}' is not a port (1-65535)`);
  return n;
}

export function compileDevOptions(opts: DevOptions): DevSettings {
  const settings = {
    grpcPort: port(opts.grpcPort, "--grpc-port"),
    httpPort: port(opts.httpPort, "--http-port"),
    workers: parseInteger(opts.workers, "--workers", { min: 0 }),
    dataDir: opts.dataDir,
  };
  if (settings.grpcPort === settings.httpPort) throw new UsageError("--grpc-port and --http-port must differ");
  if (settings.workers > 64) throw new UsageError(`--workers ${settings.workers}: at most 64 on one machine`);
  const workerPorts = workerHttpPorts(settings.workers);
  for (const p of [settings.grpcPort, settings.httpPort]) {
    if (workerPorts.includes(p)) {
      throw new UsageError(`port ${p} is also a worker HTTP port (${workerPorts.join(", ")}); pick another`);
    }
  }
  return settings;
}

function workerHttpPorts(n: number): number[] {
  return Array.from({ length: n }, (_, i) => WORKER_HTTP_BASE_PORT + i);
}

export function devChildren(s: DevSettings, databaseUrl: string): DevChild[] {
  const coordinator: DevChild = {
    label: "coordinator",
    args: [
      "coordinator",
      "--database-url",
      databaseUrl,
      "--grpc-port",
      String(s.grpcPort),
      "--http-port",
      String(s.httpPort),
      "--host",
      HOST,
    ],
    ports: [
      { name: "gRPC", port: s.grpcPort },
      { name: "HTTP", port: s.httpPort },
    ],
  };
  const workers = workerHttpPorts(s.workers).map((httpPort, i): DevChild => ({
    label: `worker-${i + 1}`,
    args: [
      "worker",
      "--coordinators",
      `${HOST}:${s.grpcPort}`,
      "--name",
      `dev-worker-${i + 1}`,
      "--http-port",
      String(httpPort),
      "--host",
      HOST,
    ],
    ports: [{ name: "HTTP", port: httpPort }],
  }));
  return [coordinator, ...workers];
}

/** The database URL with its password hidden, for printing. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return url;
  }
}
