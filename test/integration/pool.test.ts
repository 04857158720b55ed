// The coordinator's pool: settings every connection gets.
import { expect, it } from "vitest";
import { useTestPool } from "../support/db.js";

const t = useTestPool(3);

it("runs every connection without JIT, whatever the server's default", async () => {
  const clients = await Promise.all([t.pool.connect(), t.pool.connect(), t.pool.connect()]);
  try {
    const settings = await Promise.all(clients.map((c) => c.query<{ jit: string }>("SHOW jit")));
    expect(settings.map((r) => r.rows[0]!.jit)).toEqual(["off", "off", "off"]);
  } finally {
    for (const c of clients) c.release();
  }
});
