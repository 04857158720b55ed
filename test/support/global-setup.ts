// Runs once before the suite: finds a Postgres server (BATON_TEST_DATABASE_URL, or an embedded one
// started here when unset) and builds a migrated template database that each test file clones.
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import type { TestProject } from "vitest/node";
import { migrate } from "../../coordinator/db/migrate.js";
import { startEmbeddedPostgres, type EmbeddedDatabase } from "../../coordinator/db/embedded-postgres.js";
import { withDatabase } from "./urls.js";

declare module "vitest" {
  export interface ProvidedContext {
    serverUrl: string;
    templateDb: string;
  }
}

let embedded: EmbeddedDatabase | undefined;
let tmpDir: string | undefined;

export async function setup(project: TestProject) {
  let serverUrl = process.env.BATON_TEST_DATABASE_URL;
  if (!serverUrl) {
    tmpDir = await mkdtemp(path.join(os.tmpdir(), "baton-test-pg-"));
    embedded = await startEmbeddedPostgres(path.join(tmpDir, "data"), { persistent: false });
    serverUrl = embedded.url;
  }
  const templateDb = `baton_tpl_${process.pid}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${templateDb}`);
  await admin.query(`CREATE DATABASE ${templateDb}`);
  await admin.end();
  await migrate(withDatabase(serverUrl, templateDb));
  project.provide("serverUrl", serverUrl);
  project.provide("templateDb", templateDb);

  return async () => {
    const c = new pg.Client({ connectionString: serverUrl });
    await c.connect();
    const { rows } = await c.query<{ datname: string }>(
      "SELECT datname FROM pg_database WHERE datname LIKE $1 OR datname = $2",
      [`baton_t_${process.pid}_%`, templateDb],
    );
    for (const { datname } of rows) await c.query(`DROP DATABASE IF EXISTS ${datname} WITH (FORCE)`).catch(() => {});
    await c.end();
    if (embedded) await embedded.stop();
    if (tmpDir) await rm(tmpDir, { recursive: true, force: true });
  };
}
