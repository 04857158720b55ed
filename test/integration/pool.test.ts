// The coordinator's pool: settings every connection gets.
import { afterEach, beforeEach, expect, it } from "vitest";
import type pg from "pg";
import { createPool } from "../../coordinator/db/pool.js";
import { createTestDatabase, type TestDatabase } from "../support/db.js";

let db: TestDatabase;
let pool: pg.Pool;

beforeEach(async () => {
  db = await createTestDatabase();
  pool = createPool(db.url, 3);
});

afterEach(async () => {
  await pool.end();
  await db.drop();
});

it("runs every connection without JIT, whatever the server's default", async () => {
  const clients = await Promise.all([pool.connect(), pool.connect(), pool.connect()]);
  try {
    const settings = await Promise.all(clients.map((c) => c.query<{ jit: string }>("SHOW jit")));
    expect(settings.map((r) => r.rows[0]!.jit)).toEqual(["off", "off", "off"]);
  } finally {
    for (const c of clients) c.release();
  }
});
