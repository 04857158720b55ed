import { mkdtemp, writeFile, copyFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import pg from "pg";
import { afterEach, describe, expect, it } from "vitest";
import { checkSchema, loadMigrations, migrate, MIGRATIONS_DIR, SchemaTooNewError } from "../../coordinator/db/migrate.js";
import { createTestDatabase, type TestDatabase } from "../support/db.js";

let db: TestDatabase | undefined;
afterEach(async () => {
  await db?.drop();
  db = undefined;
});

describe("migrations", () => {
  it("are applied once and recorded; a second run applies nothing", async () => {
    db = await createTestDatabase();
    const known = (await loadMigrations()).length;
    expect(await migrate(db.url)).toEqual([]); // the template is already migrated
    expect(await checkSchema(db.url)).toBe(known);
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    const { rows } = await c.query("SELECT version FROM baton_migrations ORDER BY version");
    await c.end();
    expect(rows.map((r) => r.version)).toEqual(Array.from({ length: known }, (_, i) => i + 1));
  });

  it("concurrent migrators apply each migration exactly once", async () => {
    db = await createTestDatabase();
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    await c.query("DROP SCHEMA public CASCADE; CREATE SCHEMA public");
    await c.end();
    const results = await Promise.all([migrate(db.url), migrate(db.url), migrate(db.url)]);
    const applied = results.flat().sort((a, b) => a - b); // numerically: 10 after 9
    expect(applied).toEqual((await loadMigrations()).map((m) => m.version));
  });

  it("refuses a database whose schema is newer than this build knows", async () => {
    db = await createTestDatabase();
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    await c.query("INSERT INTO baton_migrations (version, name) VALUES (9999, 'from_the_future')");
    await c.end();
    await expect(migrate(db.url)).rejects.toBeInstanceOf(SchemaTooNewError);
    await expect(checkSchema(db.url)).rejects.toThrow(/version 9999/);
  });

  it("rolls back a failing migration and names it", async () => {
    db = await createTestDatabase();
    const dir = await mkdtemp(path.join(os.tmpdir(), "baton-mig-"));
    for (const m of await loadMigrations()) {
      const file = `${String(m.version).padStart(4, "0")}_${m.name}.sql`;
      await copyFile(path.join(MIGRATIONS_DIR, file), path.join(dir, file));
    }
    const next = (await loadMigrations()).length + 1;
    await writeFile(path.join(dir, `${String(next).padStart(4, "0")}_broken.sql`), "CREATE TABLE ok_table (x int); SELECT nope FROM nowhere;");
    await expect(migrate(db.url, dir)).rejects.toThrow(new RegExp(`migration ${next}_broken failed`));
    const c = new pg.Client({ connectionString: db.url });
    await c.connect();
    const { rows } = await c.query("SELECT to_regclass('ok_table') AS t");
    await c.end();
    expect(rows[0].t).toBeNull();
  });
});
