// Turns `baton template put` and `baton submit --template` flags into requests. Pure: no I/O, so
// every accepted form and every error message is unit-tested.
import { TemplateParam } from "../../shared/gen/baton/v1/templates.js";
import { JobSpec, type TemplateRef } from "../../shared/gen/baton/v1/types.js";
import { UsageError } from "./usage-error.js";

const PARAM_NAME_RE = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;
const INT32_MAX = 2_147_483_647;

/** `--param k=v` values of a submit (the value may hold `=`). */
export function parseParamValues(items: readonly string[]): Record<string, string> {
  const params: Record<string, string> = {};
  for (const item of items) {
    const eq = item.indexOf("=");
    const key = eq < 0 ? "" : item.slice(0, eq).trim();
    if (eq < 0 || key === "") throw new UsageError(`--param '${item}' must look like name=value`);
    if (key in params) throw new UsageError(`--param ${key} is given twice`);
    params[key] = item.slice(eq + 1);
  }
  return params;
}

/** The template a submit names, or undefined; --template-version and --param need --template. */
export function parseTemplateRef(args: { template?: string; templateVersion?: string; param?: string[] }): TemplateRef | undefined {
  if (args.template === undefined) {
    if (args.templateVersion !== undefined || (args.param?.length ?? 0) > 0) {
      throw new UsageError("--template-version and --param go with --template NAME");
    }
    return undefined;
  }
  const name = args.template.trim();
  if (name === "") throw new UsageError("--template needs a template name (baton template ls lists them)");
  let version = 0;
  if (args.templateVersion !== undefined) {
    const s = args.templateVersion.trim();
    version = /^\d+$/.test(s) ? Number(s) : NaN;
    if (!Number.isInteger(version) || version < 1 || version > INT32_MAX) {
      throw new UsageError(`--template-version '${args.templateVersion}' must be a version number (1, 2, …); leave it out for the latest`);
    }
  }
  return { name, version, params: parseParamValues(args.param ?? []) };
}

/** `--param NAME` (required) or `--param NAME=DEFAULT` (optional) of `baton template put`. */
export function parseParamDefs(items: readonly string[]): TemplateParam[] {
  const params: TemplateParam[] = [];
  for (const item of items) {
    const eq = item.indexOf("=");
    const name = (eq < 0 ? item : item.slice(0, eq)).trim();
    if (!PARAM_NAME_RE.test(name)) {
      throw new UsageError(`--param '${item}': the name must start with a letter or '_' (then letters, digits, '_', '.', '-'); use NAME (required) or NAME=DEFAULT`);
    }
    if (params.some((p) => p.name === name)) throw new UsageError(`--param ${name} is declared twice`);
    params.push(
      eq < 0
        ? { name, required: true, default: undefined, description: "" }
        : { name, required: false, default: item.slice(eq + 1), description: "" },
    );
  }
  return params;
}

/**
 * A template file: `{"spec": JobSpec (proto JSON), "params": [{"name", "default"?, "required"?}]}`,
 * the shape `baton template get` prints, so a template can be fetched, edited and put back.
 */
export function parseTemplateFile(text: string, path: string): { spec: JobSpec; params: TemplateParam[] } {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`${path} is not valid JSON: ${(e as Error).message}`);
  }
  if (typeof doc !== "object" || doc === null || Array.isArray(doc)) {
    throw new UsageError(`${path} must hold a JSON object with "spec" (the job spec) and "params"`);
  }
  const o = doc as { spec?: unknown; params?: unknown };
  if (typeof o.spec !== "object" || o.spec === null) throw new UsageError(`${path} has no "spec" object: put the job spec under "spec"`);
  if (o.params !== undefined && !Array.isArray(o.params)) throw new UsageError(`${path}: "params" must be a list of {"name", "default"?, "required"?}`);
  const params = ((o.params as unknown[] | undefined) ?? []).map((p, i) => {
    if (typeof p !== "object" || p === null || typeof (p as { name?: unknown }).name !== "string") {
      throw new UsageError(`${path}: params[${i}] must be an object with a "name"`);
    }
    return TemplateParam.fromJSON(p);
  });
  return { spec: JobSpec.fromJSON(o.spec), params };
}

/** The file shape of a template (what parseTemplateFile reads), plus its name and version. */
export function templateToFile(t: { name: string; version: number; spec?: JobSpec; params: TemplateParam[]; createdAtMs: number }): unknown {
  return {
    name: t.name,
    version: t.version,
    createdAt: new Date(t.createdAtMs).toISOString(),
    spec: t.spec ? JobSpec.toJSON(t.spec) : {},
    params: t.params.map((p) => TemplateParam.toJSON(p)),
  };
}
