// Template expansion, pure: substitute {{param}} placeholders in a template's spec, then lay the
// fields set on the submitted spec over it. No I/O; the stored template is passed in.
import type { JobSpec } from "../../shared/gen/baton/v1/types.js";
import type { TemplateParam } from "../../shared/gen/baton/v1/templates.js";

export class TemplateError extends Error {
  readonly code = "INVALID_ARGUMENT";
}

export interface StoredTemplate {
  name: string;
  version: number;
  spec: JobSpec;
  params: TemplateParam[];
}

export const PARAM_NAME_RE = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;
const PLACEHOLDER_RE = /\{\{\s*([A-Za-z_][A-Za-z0-9_.-]*)\s*\}\}/g;

/** `s` with each {{name}} replaced by value(name). */
export function fillPlaceholders(s: string, value: (name: string) => string): string {
  return s.replace(PLACEHOLDER_RE, (_, name: string) => value(name));
}

const mapRecord = (r: Record<string, string>, f: (s: string) => string) =>
  Object.fromEntries(Object.entries(r).map(([k, v]) => [f(k), f(v)]));

/** The spec with `f` applied to every string field that may hold placeholders. */
export function mapSpecStrings(spec: JobSpec, f: (s: string) => string): JobSpec {
  const ex = spec.executor;
  return {
    ...spec,
    name: f(spec.name),
    queue: f(spec.queue),
    tenant: f(spec.tenant),
    labels: mapRecord(spec.labels, f),
    idempotencyKey: f(spec.idempotencyKey),
    executor:
      ex?.$case === "exec"
        ? { $case: "exec", exec: { argv: ex.exec.argv.map(f), env: mapRecord(ex.exec.env, f), cwd: f(ex.exec.cwd) } }
        : ex?.$case === "js"
          ? { $case: "js", js: { task: f(ex.js.task), payloadJson: f(ex.js.payloadJson) } }
          : undefined,
  };
}

/** Every placeholder name the spec uses. */
export function placeholdersOf(spec: JobSpec): Set<string> {
  const names = new Set<string>();
  mapSpecStrings(spec, (s) => {
    for (const m of s.matchAll(PLACEHOLDER_RE)) names.add(m[1]!);
    return s;
  });
  return names;
}

const label = (t: { name: string; version: number }) => `template ${JSON.stringify(t.name)} version ${t.version}`;

/** Says what is wrong with a template about to be stored (params and placeholders agree), or nothing. */
export function checkTemplate(name: string, spec: JobSpec, params: TemplateParam[]): string | undefined {
  const declared = new Set<string>();
  for (const p of params) {
    if (!PARAM_NAME_RE.test(p.name)) return `parameter name ${JSON.stringify(p.name)} must start with a letter or '_' and hold only letters, digits, '_', '.', '-'`;
    if (declared.has(p.name)) return `parameter ${JSON.stringify(p.name)} is declared twice`;
    if (p.required && p.default !== undefined) return `parameter ${JSON.stringify(p.name)} is required and has a default: drop one`;
    declared.add(p.name);
  }
  for (const used of placeholdersOf(spec)) {
    if (!declared.has(used)) return `the spec uses {{${used}}} but declares no parameter ${JSON.stringify(used)}; add it to params`;
  }
  if (spec.template) return `a template's spec cannot itself name a template (${JSON.stringify(name)} names ${JSON.stringify(spec.template.name)})`;
  if (!spec.executor) return "the spec has no executor: set exec (a command) or js (a task name)";
  return undefined;
}

/** The template's spec with its placeholders filled from `given` (and the defaults). */
export function expandTemplate(t: StoredTemplate, given: Record<string, string>, where: string): JobSpec {
  const fail = (what: string): never => {
    throw new TemplateError(`${where}: ${label(t)}: ${what}`);
  };
  const declared = new Map(t.params.map((p) => [p.name, p]));
  for (const name of Object.keys(given)) {
    if (!declared.has(name)) {
      const known = t.params.map((p) => p.name).join(", ") || "none";
      fail(`has no parameter ${JSON.stringify(name)} (its parameters: ${known})`);
    }
  }
  const values = new Map<string, string>();
  for (const p of t.params) {
    const v = given[p.name] ?? p.default;
    if (v === undefined && p.required) fail(`parameter ${JSON.stringify(p.name)} is required: pass it (template.params, or baton submit --param ${p.name}=VALUE)`);
    values.set(p.name, v ?? "");
  }
  return mapSpecStrings(t.spec, (s) =>
    fillPlaceholders(s, (name) => values.get(name) ?? fail(`the spec uses {{${name}}} but declares no parameter ${JSON.stringify(name)}`)),
  );
}

/** Fields set on the submitted spec (non-empty, non-zero) win over the template's; labels merge. */
export function overlaySpec(base: JobSpec, over: JobSpec): JobSpec {
  const r = base.resources ?? { cpuMillis: 0, memoryMb: 0, gpus: 0 };
  const o = over.resources;
  return {
    name: over.name || base.name,
    queue: over.queue || base.queue,
    priority: over.priority || base.priority,
    resources: o
      ? { cpuMillis: o.cpuMillis || r.cpuMillis, memoryMb: o.memoryMb || r.memoryMb, gpus: o.gpus || r.gpus }
      : base.resources,
    labels: { ...base.labels, ...over.labels },
    executor: over.executor ?? base.executor,
    timeoutMs: over.timeoutMs || base.timeoutMs,
    maxAttempts: over.maxAttempts || base.maxAttempts,
    tenant: over.tenant || base.tenant,
    retry: over.retry ?? base.retry,
    runAtMs: over.runAtMs || base.runAtMs,
    idempotencyKey: over.idempotencyKey || base.idempotencyKey,
    idempotencyWindowS: over.idempotencyWindowS || base.idempotencyWindowS,
    template: undefined,
  };
}
