// TemplateService: store, read, list and delete job templates.
import type pg from "pg";
import { JobSpec } from "../../shared/gen/baton/v1/types.js";
import { TemplateParam, type Template, type TemplateServiceServer } from "../../shared/gen/baton/v1/templates.js";
import { deleteTemplate, getTemplate, listTemplates, putTemplate, type TemplateRow } from "../sql/templates.js";
import { checkTemplate, fillPlaceholders, mapSpecStrings } from "./expand-template.js";
import { InvalidArgumentError, NotFoundError, unary } from "./grpc-errors.js";
import { InvalidJobSpecError, validateJobSpec, type SpecDefaults } from "./validate-job-spec.js";

const TEMPLATE_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/;

function checkName(name: string): string {
  if (!TEMPLATE_NAME_RE.test(name)) {
    throw new InvalidArgumentError(`template name ${JSON.stringify(name)} must be 1-64 letters, digits, '_', '.', ':' or '-'`);
  }
  return name;
}

function toTemplate(row: TemplateRow): Template {
  return {
    name: row.name,
    version: row.version,
    spec: JobSpec.fromJSON(row.spec),
    params: row.params.map((p) => TemplateParam.fromJSON(p)),
    createdAtMs: row.created_at.getTime(),
  };
}

export function templateService(pool: pg.Pool, defaults: () => SpecDefaults): TemplateServiceServer {
  return {
    putTemplate: unary(async (req) => {
      const name = checkName(req.name);
      if (!req.spec) throw new InvalidArgumentError(`template ${name}: spec is missing: give the job spec to store`);
      const problem = checkTemplate(name, req.spec, req.params);
      if (problem) throw new InvalidArgumentError(`template ${name}: ${problem}`);
      // The spec must be a valid job once filled in: check it with each placeholder as its default
      // (or a stand-in), leaving JSON payloads that hold placeholders to be checked at submit.
      const defaultsByName = new Map(req.params.map((p) => [p.name, p.default ?? "x"]));
      let sample = mapSpecStrings(req.spec, (s) => fillPlaceholders(s, (n) => defaultsByName.get(n) ?? "x"));
      if (sample.executor?.$case === "js" && req.spec.executor?.$case === "js" && /\{\{/.test(req.spec.executor.js.payloadJson)) {
        sample = { ...sample, executor: { $case: "js", js: { ...sample.executor.js, payloadJson: "" } } };
      }
      try {
        validateJobSpec(sample, `template ${name}`, defaults());
      } catch (err) {
        if (err instanceof InvalidJobSpecError) throw new InvalidArgumentError(err.message);
        throw err;
      }
      const row = await putTemplate(pool, name, JobSpec.toJSON(req.spec), req.params.map((p) => TemplateParam.toJSON(p)));
      return toTemplate(row);
    }),

    getTemplate: unary(async (req) => {
      const name = checkName(req.name);
      if (!Number.isInteger(req.version) || req.version < 0) throw new InvalidArgumentError("version must be 0 (the latest) or a version number");
      const row = await getTemplate(pool, name, req.version);
      if (!row) throw new NotFoundError(`template ${JSON.stringify(name)}${req.version ? ` version ${req.version}` : ""} not found`);
      return toTemplate(row);
    }),

    listTemplates: unary(async () => ({ templates: (await listTemplates(pool)).map(toTemplate) })),

    deleteTemplate: unary(async (req) => {
      const name = checkName(req.name);
      const versionsDeleted = await deleteTemplate(pool, name);
      if (versionsDeleted === 0) throw new NotFoundError(`template ${JSON.stringify(name)} not found`);
      return { versionsDeleted };
    }),
  };
}
