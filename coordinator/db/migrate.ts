// Numbered SQL migrations from migrations/, applied in order, each in its own transaction, under a
// session advisory lock so that concurrent coordinators starting at once apply each one once.
import { readdir, readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import pg from "pg";

export const MIGRATIONS_DIR = fileURLToPath(new URL("../../migrations/", import.meta.url));
const MIGRATION_LOCK_KEY = 0x6261746f6e; // "baton"

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export class SchemaTooNewError extends Error {
  readonly code = "SCHEMA_TOO_NEW";
  constructor(readonly databaseVersion: number, readonly knownVersion: number) {
    super(
      `database schema is at version ${databaseVersion} but this Baton knows only up to ${knownVersion}: ` +
        `upgrade Baton before starting it against this database`,
    );
  }
}

export async function loadMigrations(dir = MIGRATIONS_DIR): Promise<Migration[]> {
  const files = (await readdir(dir)).filter((f) => f.endsWith(".sql")).sort();
  const migrations: Migration[] = [];
  for (const file of files) {
    const m = /^(\d{4})_([a-z0-9_]+)\.sql$/.exec(file);
    if (!m) throw new Error(`migration file name ${file} must look like NNNN_name.sql`);
    const version = Number(m[1]);
    if (version !== migrations.length + 1) throw new Error(`migration ${file} is out of sequence`);
    migrations.push({ version, name: m[2]!, sql: await readFile(new URL(file, `file://${dir}/`), "utf8") });
  }
  return migrations;
}

/** Applies what is missing; returns the versions applied now. Refuses a newer schema than it knows. */
export async function migrate(connectionString: string, dir = MIGRATIONS_DIR): Promise<number[]> {
  const migrations = await loadMigrations(dir);
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    await client.query("SELECT pg_advisory_lock($1)", [MIGRATION_LOCK_KEY]);
    await client.query(
      `CREATE TABLE IF NOT EXISTS baton_migrations (
         version int PRIMARY KEY, name text NOT NULL, applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    const { rows } = await client.query<{ v: number | null }>("SELECT max(version) AS v FROM baton_migrations");
    const current = rows[0]?.v ?? 0;
    const known = migrations.length;
    if (current > known) throw new SchemaTooNewError(current, known);
    const applied: number[] = [];
    for (const m of migrations.slice(current)) {
      await client.query("BEGIN");
      try {
        await client.query(m.sql);
        await client.query("INSERT INTO baton_migrations (version, name) VALUES ($1, $2)", [m.version, m.name]);
        await client.query("COMMIT");
      } catch (err) {
        await client.query("ROLLBACK");
        throw new Error(`migration ${m.version}_${m.name} failed: ${(err as Error).message}`, { cause: err });
      }
      applied.push(m.version);
    }
    return applied;
  } finally {
    await client.query("SELECT pg_advisory_unlock($1)", [MIGRATION_LOCK_KEY]).catch(() => {});
    await client.end();
  }
}

/** The schema version of the database, and whether this Baton can run against it. */
export async function checkSchema(connectionString: string, dir = MIGRATIONS_DIR): Promise<number> {
  const known = (await loadMigrations(dir)).length;
  const client = new pg.Client({ connectionString });
  await client.connect();
  try {
    const { rows } = await client.query<{ v: number | null }>(
      "SELECT CASE WHEN to_regclass('baton_migrations') IS NULL THEN 0 ELSE (SELECT max(version) FROM baton_migrations) END AS v",
    );
    const current = rows[0]?.v ?? 0;
    if (current > known) throw new SchemaTooNewError(current, known);
    return current;
  } finally {
    await client.end();
  }
}
