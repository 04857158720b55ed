// `baton worker`: compile the options, start the worker, stop it in order on SIGTERM/SIGINT.
import { Command, Option } from "commander";
import { LIMITS_MODES } from "./limits/limits.js";
import { startWorker } from "./main.js";
import { compileWorkerOptions, isWorkerOptionError, WORKER_SETTINGS as S, type RawWorkerOptions } from "./options.js";

export function workerCommand(): Command {
  const opt = (key: keyof typeof S, arg: string, what: string) =>
    new Option(`${S[key].flag} <${arg}>`, `${what} [env ${S[key].env}]`);
  return new Command("worker")
    .description("run a worker: connect to a coordinator, run the jobs it assigns, report how they end")
    .addOption(opt("coordinators", "list", "coordinators to connect to, host:port comma list, tried in turn (default 127.0.0.1:50051)"))
    .addOption(opt("cpu", "millicores", "CPU capacity offered, 1000 = one core (default: detected)"))
    .addOption(opt("memory", "MiB", "memory capacity offered (default: detected)"))
    .addOption(opt("slots", "n", "jobs that may run at once (default 64)"))
    .addOption(opt("name", "name", "worker name (default: hostname)"))
    .addOption(opt("labels", "k=v,...", "labels jobs can require"))
    .addOption(opt("httpPort", "port", "port of /healthz and /readyz, 0 = any free port (default 9464)"))
    .addOption(opt("host", "address", "address the HTTP listener binds (default 127.0.0.1)"))
    .addOption(opt("tasks", "module", "ESM module whose exports are the handlers of js jobs"))
    .addOption(opt("killGraceMs", "ms", "time between SIGTERM and SIGKILL to a stopped job (default 5000)"))
    .addOption(opt("shutdownGraceMs", "ms", "on SIGTERM/SIGINT, time running jobs get to finish (default 15000)"))
    .addOption(opt("limits", "mechanism", `how jobs' CPU and memory are limited: ${LIMITS_MODES.join("|")} (default auto: the first this host offers)`))
    .addOption(opt("usageIntervalMs", "ms", "time between usage samples of a running job, 0 = only at its end (default 1000)"))
    .addOption(opt("gpus", "n", "GPUs offered to jobs, 0 = none (default: as many as nvidia-smi finds)"))
    .action(async (raw: RawWorkerOptions) => {
      await runWorkerCommand(raw);
    });
}

async function runWorkerCommand(raw: RawWorkerOptions): Promise<void> {
  let options;
  try {
    options = compileWorkerOptions(raw);
  } catch (e) {
    if (!isWorkerOptionError(e)) throw e;
    console.error(`baton worker: ${e.message}`);
    process.exitCode = 2;
    return;
  }
  const log = (line: string) => console.error(`worker ${options.name}: ${line}`);
  const { startTelemetry } = await import("../shared/tracing/sdk.js");
  const telemetry = startTelemetry("baton-worker");
  let worker;
  try {
    worker = await startWorker(options, { log });
  } catch (e) {
    console.error(`baton worker: ${(e as Error).message}`);
    process.exitCode = 1;
    return;
  }
  console.log(
    `worker ${options.name} (${options.workerId}) cpu=${options.cpuMillis}m memory=${options.memoryMb}MiB ` +
      `${worker.gpus > 0 ? `gpus=${worker.gpus} ` : ""}slots=${options.slots} limits=${worker.limitsMechanism} → coordinators ${options.coordinators.join(",")} ` +
      `http ${options.httpHost}:${worker.httpPort}`,
  );
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    if (signals === 1) {
      log(`${signal}: no new work; running jobs get ${options.shutdownGraceMs} ms to finish (send again to stop them now)`);
    } else {
      log(`${signal} again: stopping running jobs now`);
    }
    worker.stop({ graceMs: signals === 1 ? options.shutdownGraceMs : 0 }).then(
      () => telemetry.shutdown().then(() => process.exit(0)),
      (e: unknown) => {
        console.error(`baton worker: stop failed: ${(e as Error).message}`);
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", onSignal);
  process.on("SIGINT", onSignal);
}
