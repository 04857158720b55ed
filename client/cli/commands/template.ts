// `baton template put|ls|get|rm`: named, versioned job specs with {{param}} placeholders.
import { readFile } from "node:fs/promises";
import { Command } from "commander";
import { buildJobSpec, parseInteger, type SubmitArgs } from "../job-spec-args.js";
import { formatAge, jobCommand, renderTable, truncate } from "../format.js";
import { clientCommand, outputOption, printJson, withClient, type OutputFormat } from "../server-option.js";
import { parseParamDefs, parseTemplateFile, templateToFile } from "../template-args.js";
import { UsageError } from "../usage-error.js";
import type { Template } from "../../../shared/gen/baton/v1/templates.js";

const collect = (value: string, previous: string[] = []) => [...previous, value];

type PutArgs = Omit<SubmitArgs, "param"> & { file?: string; param?: string[] };

export function templateCommand(): Command {
  return new Command("template")
    .description("job templates: specs with {{param}} placeholders, submitted with baton submit --template NAME --param k=v")
    .addCommand(putCommand())
    .addCommand(lsCommand())
    .addCommand(getCommand())
    .addCommand(rmCommand());
}

function putCommand(): Command {
  return clientCommand("put")
    .description("store a new version of a template: --file template.json ({\"spec\": …, \"params\": […]}), or flags -- CMD ARGS… with {{param}} placeholders")
    .argument("<name>", "template name")
    .argument("[command...]", "the command and its arguments (after --); may hold {{param}} placeholders")
    .option("--file <path>", "the template as JSON: {\"spec\": JobSpec, \"params\": [{\"name\", \"default\"?, \"required\"?}]} (as baton template get prints it)")
    .option("--param <name[=default]>", "a parameter: NAME is required, NAME=DEFAULT is optional (repeatable)", collect)
    .option("--name <name>", "job name (may hold placeholders)")
    .option("--cpu <cpu>", "CPU: millicores (250, 250m) or cores with a point (0.5)")
    .option("--memory <mib>", "memory in MiB (512) or with a unit (2Gi)")
    .option("--gpus <n>", "GPUs")
    .option("--priority <n>", "higher runs first")
    .option("--queue <queue>", "queue")
    .option("--label <k=v>", "a label the worker must carry (repeatable)", collect)
    .option("--env <K=V>", "an environment variable for the command (repeatable)", collect)
    .option("--cwd <dir>", "working directory of the command")
    .option("--timeout <duration>", "stop the job after this long: 30s, 5m")
    .option("--max-attempts <n>", "attempts before the job fails for good")
    .option("--tenant <tenant>", "tenant")
    .option("--task <name>", "a named task of the workers' --tasks module instead of a command")
    .option("--payload <json>", "JSON input of the --task (may hold placeholders)")
    .action(async (name: string, command: string[], opts: PutArgs, cmd: Command) => {
      let spec;
      let params;
      if (opts.file !== undefined) {
        const flags = Object.keys(opts).filter((k) => k !== "file" && k !== "server");
        if (command.length > 0 || flags.length > 0) {
          throw new UsageError(`--file holds the whole template: give no command or job flags with it (got ${flags.map((f) => `--${f}`).join(", ") || command.join(" ")})`);
        }
        let text: string;
        try {
          text = await readFile(opts.file, "utf8");
        } catch (e) {
          throw new UsageError(`cannot read --file ${opts.file}: ${(e as Error).message}`);
        }
        ({ spec, params } = parseTemplateFile(text, opts.file));
      } else {
        const { param, ...job } = opts;
        spec = buildJobSpec(job, command, process.env);
        params = parseParamDefs(param ?? []);
      }
      await withClient(cmd, async (client) => {
        const t = await client.putTemplate(name, spec, params);
        process.stdout.write(`${t.name} version ${t.version}\n`);
      });
    });
}

function lsCommand(): Command {
  return clientCommand("ls")
    .alias("list")
    .description("list templates (their latest versions)")
    .addOption(outputOption())
    .action(async (opts: { output: OutputFormat }, cmd: Command) => {
      const templates = await withClient(cmd, (client) => client.listTemplates());
      if (opts.output === "json") printJson({ templates: templates.map(templateToFile) });
      else process.stdout.write(`${renderTemplates(templates, Date.now())}\n`);
    });
}

/** The templates table. Pure, for tests. */
export function renderTemplates(templates: readonly Template[], now: number): string {
  if (templates.length === 0) return "no templates (baton template put NAME … stores one)";
  return renderTable(
    ["NAME", "VERSION", "PARAMS", "COMMAND", "UPDATED"],
    templates.map((t) => [
      t.name,
      String(t.version),
      t.params.map((p) => (p.required ? p.name : p.default !== undefined ? `${p.name}=${p.default}` : `${p.name}?`)).join(" ") || "-",
      truncate(jobCommand(t.spec), 50),
      formatAge(now - t.createdAtMs),
    ]),
  );
}

function getCommand(): Command {
  return clientCommand("get")
    .description("print a template as JSON (the shape baton template put --file reads)")
    .argument("<name>", "template name")
    .option("--version <n>", "this version (default: the latest)")
    .action(async (name: string, opts: { version?: string }, cmd: Command) => {
      const version = opts.version === undefined ? 0 : parseInteger(opts.version, "--version", { min: 1 });
      const t = await withClient(cmd, (client) => client.getTemplate(name, version));
      printJson(templateToFile(t));
    });
}

function rmCommand(): Command {
  return clientCommand("rm")
    .alias("delete")
    .description("delete a template, every version (jobs made from it are kept)")
    .argument("<name>", "template name")
    .action(async (name: string, _opts: unknown, cmd: Command) => {
      const n = await withClient(cmd, (client) => client.deleteTemplate(name));
      process.stdout.write(`deleted ${name} (${n} version${n === 1 ? "" : "s"})\n`);
    });
}
