// Reads and writes of cluster_config. Every write announces the key on baton_config in the same
// statement, so a committed change always reaches every coordinator's LiveConfig.
import type { PoolClient } from "pg";
import type { Queryable } from "../db/pool.js";
import { CHANNELS } from "./notify.js";

export interface StoredSetting {
  key: string;
  value: unknown;
  updated_at: Date;
  updated_by: string;
}

export async function readStoredSettings(db: Queryable): Promise<StoredSetting[]> {
  const { rows } = await db.query<StoredSetting>("SELECT key, value, updated_at, updated_by FROM cluster_config ORDER BY key");
  return rows;
}

/** Serializes config writes, so that rules between settings are checked against committed values. */
export async function lockClusterConfig(tx: PoolClient): Promise<void> {
  await tx.query("SELECT pg_advisory_xact_lock(hashtext('baton_cluster_config'))");
}

export async function storeSetting(tx: PoolClient, key: string, value: unknown, updatedBy: string): Promise<StoredSetting> {
  const { rows } = await tx.query<StoredSetting>(
    `WITH up AS (
       INSERT INTO cluster_config (key, value, updated_by) VALUES ($1, $2::jsonb, $3)
       ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value, updated_at = now(), updated_by = EXCLUDED.updated_by
       RETURNING key, value, updated_at, updated_by)
     SELECT up.key, up.value, up.updated_at, up.updated_by, pg_notify($4, up.key)::text AS notified FROM up`,
    [key, JSON.stringify(value), updatedBy, CHANNELS.config],
  );
  const { key: k, value: v, updated_at, updated_by } = rows[0]!;
  return { key: k, value: v, updated_at, updated_by };
}

/** Removes the stored value; true when there was one. */
export async function deleteSetting(tx: PoolClient, key: string): Promise<boolean> {
  const { rows } = await tx.query<{ n: number }>(
    `WITH d AS (DELETE FROM cluster_config WHERE key = $1 RETURNING key)
     SELECT (SELECT count(*)::int FROM d) AS n, pg_notify($2, $1)::text AS notified`,
    [key, CHANNELS.config],
  );
  return rows[0]!.n > 0;
}
