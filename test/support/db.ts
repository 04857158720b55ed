// One fresh database per call, cloned from the migrated template (fast, isolated, real Postgres).
import { randomBytes } from "node:crypto";
import pg from "pg";
import { afterEach, beforeEach, inject } from "vitest";
import { createPool } from "../../coordinator/db/pool.js";
import { withDatabase } from "./urls.js";

export interface TestDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const serverUrl = inject("serverUrl");
  const templateDb = inject("templateDb");
  const templatePid = templateDb.replace("baton_tpl_", "");
  const name = `baton_t_${templatePid}_${randomBytes(4).toString("hex")}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name} TEMPLATE ${templateDb}`);
  } finally {
    await admin.end();
  }
  return {
    name,
    url: withDatabase(serverUrl, name),
    async drop() {
      const c = new pg.Client({ connectionString: serverUrl });
      await c.connect();
      try {
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      } finally {
        await c.end();
      }
    },
  };
}

/**
 * For each test of the file, a fresh database and a coordinator pool on it (registers the
 * beforeEach/afterEach hooks); read them as `t.pool` and `t.db` inside the tests.
 */
export function useTestPool(size: number): { readonly db: TestDatabase; readonly pool: pg.Pool } {
  const current = {} as { db: TestDatabase; pool: pg.Pool };
  beforeEach(async () => {
    current.db = await createTestDatabase();
    current.pool = createPool(current.db.url, size);
  });
  afterEach(async () => {
    await current.pool.end();
    await current.db.drop();
  });
  return current;
}
