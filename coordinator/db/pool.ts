import pg from "pg";

// bigint ids travel as decimal strings (pg's default for int8), timestamps as Date.
export type Pool = pg.Pool;
export type Queryable = pg.Pool | pg.PoolClient | pg.Client;

/**
 * Startup options of every pooled connection:
 * - no JIT. Every statement here is short, and once a table's estimates pass jit_above_cost (a
 *   large jobs table, or one without statistics yet) compiling a hot statement costs hundreds of
 *   milliseconds (seen: an 800 ms scheduler snapshot);
 * - work_mem of 32 MB, so that a batch sorts in memory. A 20,000-job submit with idempotency keys
 *   sorts its rows (ids are drawn in row order): about 5 MB, which at the server's default of 4 MB
 *   goes to disk (an external merge; seen: 30 ms of a 190 ms insert). Memory is taken only as a
 *   statement needs it.
 * PGOPTIONS, if set, is kept (these replace it where they overlap); `options` in the URL replaces all.
 */
const SESSION_OPTIONS = [process.env.PGOPTIONS, "-c jit=off -c work_mem=32MB"].filter(Boolean).join(" ");

export function createPool(connectionString: string, max: number): pg.Pool {
  const pool = new pg.Pool({ connectionString, max, application_name: "baton-coordinator", options: SESSION_OPTIONS });
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
