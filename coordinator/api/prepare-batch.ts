// Submitted specs → rows to insert: template expansion, then validation. The one path every
// submit takes (JobService.SubmitJobs, cron schedules), so a spec means the same wherever it enters.
import { JobSpec } from "../../shared/gen/baton/v1/types.js";
import { TemplateParam } from "../../shared/gen/baton/v1/templates.js";
import type { Queryable } from "../db/pool.js";
import type { NewJob } from "../sql/insert-jobs.js";
import { loadTemplates, type TemplateRow } from "../sql/templates.js";
import { expandTemplate, overlaySpec, type StoredTemplate } from "./expand-template.js";
import { NotFoundError } from "./grpc-errors.js";
import { InvalidJobSpecError, MAX_BATCH, validateJobSpec, type SpecDefaults } from "./validate-job-spec.js";

export interface PrepareDeps {
  db: Queryable;
  defaults: SpecDefaults;
}

export function toStoredTemplate(row: TemplateRow): StoredTemplate {
  return {
    name: row.name,
    version: row.version,
    spec: JobSpec.fromJSON(row.spec),
    params: row.params.map((p) => TemplateParam.fromJSON(p)),
  };
}

const refKey = (name: string, version: number) => `${version}:${name}`;

/**
 * Expands the specs that name a template (one query loads every template the batch uses) and
 * validates them all. Throws INVALID_ARGUMENT (or NOT_FOUND for a missing template) naming
 * `jobs[i]`: one bad spec rejects the whole batch.
 */
export async function prepareBatch(specs: JobSpec[], deps: PrepareDeps): Promise<NewJob[]> {
  if (specs.length === 0) throw new InvalidJobSpecError("jobs is empty: submit at least one job");
  if (specs.length > MAX_BATCH) throw new InvalidJobSpecError(`a batch holds at most ${MAX_BATCH} jobs, got ${specs.length}`);
  const wanted = new Map<string, { name: string; version: number }>();
  specs.forEach((s, i) => {
    const t = s.template;
    if (!t) return;
    if (!t.name) throw new InvalidJobSpecError(`jobs[${i}]: template.name is empty: name the template to submit from`);
    if (!Number.isInteger(t.version) || t.version < 0) throw new InvalidJobSpecError(`jobs[${i}]: template.version must be 0 (the latest) or a version number`);
    wanted.set(refKey(t.name, t.version), { name: t.name, version: t.version });
  });
  const templates = new Map<string, StoredTemplate>();
  for (const row of await loadTemplates(deps.db, [...wanted.values()])) {
    templates.set(refKey(row.name, row.asked), toStoredTemplate(row));
  }
  return specs.map((spec, i) => {
    const ref = spec.template;
    if (!ref) return validateJobSpec(spec, i, deps.defaults);
    const t = templates.get(refKey(ref.name, ref.version));
    if (!t) {
      throw new NotFoundError(
        `jobs[${i}]: template ${JSON.stringify(ref.name)}${ref.version ? ` version ${ref.version}` : ""} not found (baton template ls lists them)`,
      );
    }
    const expanded = overlaySpec(expandTemplate(t, ref.params, `jobs[${i}]`), spec);
    const row = validateJobSpec(expanded, `jobs[${i}] (template ${JSON.stringify(t.name)} version ${t.version})`, deps.defaults);
    return { ...row, templateName: t.name, templateVersion: t.version };
  });
}
