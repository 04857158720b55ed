// Which coordinator a client command talks to, and the client it uses. `--server` is accepted both
// before the command (`baton --server H:P ls`) and after it (`baton ls --server H:P`).
import { Command, Option } from "commander";
import type { BatonClient } from "../baton-client.js";
import { UsageError } from "./usage-error.js";

export const DEFAULT_SERVER = "127.0.0.1:50051";

export function serverOption(): Option {
  return new Option("--server <host:port>", `coordinator gRPC address (env BATON_SERVER, default ${DEFAULT_SERVER})`);
}

/** A command that talks to a coordinator: it takes --server too. */
export function clientCommand(name: string): Command {
  return new Command(name).addOption(serverOption());
}

export function resolveServer(cmd: Command, env: NodeJS.ProcessEnv = process.env): string {
  const local = cmd.opts<{ server?: string }>().server;
  // The nearest command up the chain that was given --server (`baton --server H:P cron ls`).
  let global: string | undefined;
  for (let c = cmd.parent; c && global === undefined; c = c.parent) global = c.opts<{ server?: string }>().server;
  const address = (local ?? global ?? env.BATON_SERVER ?? DEFAULT_SERVER).trim();
  if (!/^(\[[0-9a-fA-F:.]+\]|[^\s:/]+):\d{1,5}$/.test(address) && !address.startsWith("unix:")) {
    throw new UsageError(`--server '${address}' must look like host:port, e.g. ${DEFAULT_SERVER}`);
  }
  return address;
}

/** Runs `fn` with a client of the chosen coordinator, closing it afterwards. */
export async function withClient<T>(cmd: Command, fn: (client: BatonClient) => Promise<T>): Promise<T> {
  const address = resolveServer(cmd);
  const { BatonClient } = await import("../baton-client.js");
  const client = new BatonClient(address);
  try {
    return await fn(client);
  } finally {
    client.close();
  }
}

export type OutputFormat = "table" | "json";

export function outputOption(): Option {
  return new Option("-o, --output <format>", "table or json").choices(["table", "json"]).default("table");
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}
