// Job templates: every read and write of job_templates and job_template_versions.
import type { Queryable } from "../db/pool.js";

export interface TemplateRow {
  name: string;
  version: number;
  /** JobSpec in proto JSON */
  spec: unknown;
  /** TemplateParam[] in proto JSON */
  params: unknown[];
  created_at: Date;
}

const COLUMNS = "v.name, v.version, v.spec, v.params, v.created_at";

/** Stores the next version of `name` (1 for a new name; numbers are never reused, even after a delete). */
export async function putTemplate(db: Queryable, name: string, spec: unknown, params: unknown[]): Promise<TemplateRow> {
  const { rows } = await db.query<TemplateRow>(
    `WITH t AS (
       INSERT INTO job_templates (name, latest_version) VALUES ($1, 1)
       ON CONFLICT (name) DO UPDATE SET latest_version = job_templates.latest_version + 1
       RETURNING latest_version
     )
     INSERT INTO job_template_versions AS v (name, version, spec, params)
     SELECT $1, latest_version, $2::jsonb, $3::jsonb FROM t
     RETURNING ${COLUMNS}`,
    [name, JSON.stringify(spec), JSON.stringify(params)],
  );
  return rows[0]!;
}

export interface TemplateKey {
  name: string;
  /** 0: the latest */
  version: number;
}

/** The versions asked for, in one query; `asked` is the version as asked (0 for the latest). */
export async function loadTemplates(db: Queryable, keys: TemplateKey[]): Promise<(TemplateRow & { asked: number })[]> {
  if (keys.length === 0) return [];
  const { rows } = await db.query<TemplateRow & { asked: number }>(
    `SELECT k.version AS asked, ${COLUMNS}
     FROM json_to_recordset($1::json) AS k(name text, version int)
     JOIN LATERAL (
       SELECT * FROM job_template_versions v
       WHERE v.name = k.name AND (k.version = 0 OR v.version = k.version)
       ORDER BY v.version DESC LIMIT 1
     ) v ON true`,
    [JSON.stringify(keys)],
  );
  return rows;
}

export async function getTemplate(db: Queryable, name: string, version: number): Promise<TemplateRow | undefined> {
  return (await loadTemplates(db, [{ name, version }]))[0];
}

/** The latest version of each template, by name. */
export async function listTemplates(db: Queryable): Promise<TemplateRow[]> {
  const { rows } = await db.query<TemplateRow>(
    `SELECT DISTINCT ON (v.name) ${COLUMNS} FROM job_template_versions v ORDER BY v.name, v.version DESC`,
  );
  return rows;
}

/** Deletes every version of `name`; the version counter stays. Returns how many were deleted. */
export async function deleteTemplate(db: Queryable, name: string): Promise<number> {
  const { rowCount } = await db.query("DELETE FROM job_template_versions WHERE name = $1", [name]);
  return rowCount ?? 0;
}
