// `baton config get [KEY]`, `baton config set KEY VALUE`, `baton config reset KEY`: the cluster
// settings every coordinator applies at run time (a stored value overrides each one's flags/env).
import os from "node:os";
import { Command } from "commander";
import type { ConfigSetting } from "../../../shared/gen/baton/v1/config.js";
import { formatTime, renderTable } from "../format.js";
import { clientCommand, outputOption, printJson, withClient, type OutputFormat } from "../server-option.js";

/** `--server` may be given to the subcommand, to `config`, or before the command. */
function serverCommand(cmd: Command): Command {
  return cmd.opts<{ server?: string }>().server ? cmd : cmd.parent!;
}

function whoAmI(): string {
  try {
    return `${os.userInfo().username}@${os.hostname()}`;
  } catch {
    return os.hostname();
  }
}

export function configCommand(): Command {
  const config = clientCommand("config").description("show and change cluster settings, applied by every coordinator without a restart");
  config.addCommand(
    clientCommand("get")
      .description("show every setting (or one): the value in effect, where it comes from, its default")
      .argument("[key]", "one setting")
      .addOption(outputOption())
      .action(async (key: string | undefined, opts: { output: OutputFormat }, cmd: Command) => {
        const settings = await withClient(serverCommand(cmd), (client) => client.getConfig(key ?? ""));
        if (opts.output === "json") {
          const { ConfigSetting } = await import("../../../shared/gen/baton/v1/config.js");
          printJson(settings.map((s) => ConfigSetting.toJSON(s)));
        } else process.stdout.write(`${describeSettings(settings, Date.now())}\n`);
      }),
  );
  config.addCommand(
    clientCommand("set")
      .description("store a value for the whole cluster (JSON, or a bare word: baton config set scheduling_strategy spread)")
      .argument("<key>", "setting")
      .argument("<value>", "new value")
      .action(async (key: string, value: string, _opts: unknown, cmd: Command) => {
        const s = await withClient(serverCommand(cmd), (client) => client.setConfig(key, value, whoAmI()));
        process.stdout.write(`${s.key} = ${s.value} (${s.source})\n`);
      }),
  );
  config.addCommand(
    clientCommand("reset")
      .description("remove the stored value: every coordinator goes back to its default")
      .argument("<key>", "setting")
      .action(async (key: string, _opts: unknown, cmd: Command) => {
        const s = await withClient(serverCommand(cmd), (client) => client.resetConfig(key));
        process.stdout.write(`${s.key} = ${s.value} (${s.source})\n`);
      }),
  );
  return config;
}

/** The human view of the settings. Pure, for tests. */
export function describeSettings(settings: readonly ConfigSetting[], now: number): string {
  const rows = settings.map((s) => [
    s.key,
    s.value,
    s.source,
    s.defaultValue,
    s.updatedAtMs ? `${formatTime(s.updatedAtMs, now)} by ${s.updatedBy || "-"}` : "-",
  ]);
  return renderTable(["KEY", "VALUE", "SOURCE", "DEFAULT", "UPDATED"], rows);
}
