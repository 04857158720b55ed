import pg from "pg";

// bigint ids travel as decimal strings (pg's default for int8), timestamps as Date.
export type Pool = pg.Pool;
export type Queryable = pg.Pool | pg.PoolClient | pg.Client;

/**
 * Startup options of every pooled connection: no JIT. Every statement here is short, and once a
 * table's estimates pass jit_above_cost (a large jobs table, or one without statistics yet)
 * compiling a hot statement costs hundreds of milliseconds (seen: an 800 ms scheduler snapshot).
 * PGOPTIONS, if set, is kept (this replaces it otherwise); `options` in the URL replaces both.
 */
const NO_JIT = [process.env.PGOPTIONS, "-c jit=off"].filter(Boolean).join(" ");

export function createPool(connectionString: string, max: number): pg.Pool {
  const pool = new pg.Pool({ connectionString, max, application_name: "baton-coordinator", options: NO_JIT });
  // An idle client's error (server restart, killed backend) must not crash the process.
  pool.on("error", () => {});
  return pool;
}

/** Runs fn in a transaction on one pooled client. */
export async function withTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    const result = await fn(client);
    await client.query("COMMIT");
    return result;
  } catch (err) {
    await client.query("ROLLBACK").catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}
