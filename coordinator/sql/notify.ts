import type { Queryable } from "../db/pool.js";

/** Channels every coordinator listens on. */
export const CHANNELS = {
  /** work may be placeable now (jobs submitted, capacity freed, a worker joined): the leader wakes */
  wake: "baton_wake",
  /** placements were written for these worker ids: the coordinator holding each stream sends them */
  assign: "baton_assign",
  /** {"workerId","jobId","attempt"}: the coordinator holding the stream tells the worker to stop */
  cancel: "baton_cancel",
  /** comma-separated job ids whose state changed: WatchJob streams re-read them */
  jobChanged: "baton_job_changed",
  /** comma-separated job ids whose output grew: GetJobLogs streams that follow them read on */
  jobLogs: "baton_job_logs",
  /** a cluster setting key was stored or reset: every coordinator's LiveConfig re-reads */
  config: "baton_config",
  /** a cron schedule was created or resumed: the leader's cron ticker looks at once */
  schedules: "baton_schedules",
} as const;

const MAX_PAYLOAD = 7900; // Postgres refuses NOTIFY payloads of 8000 bytes or more

/** Sends ids as comma lists, split to fit the payload limit. */
export async function notifyIds(db: Queryable, channel: string, ids: readonly string[]): Promise<void> {
  if (ids.length === 0) return;
  const chunks: string[] = [];
  let current = "";
  for (const id of ids) {
    if (current.length + id.length + 1 > MAX_PAYLOAD) {
      chunks.push(current);
      current = "";
    }
    current = current ? `${current},${id}` : id;
  }
  if (current) chunks.push(current);
  await db.query("SELECT pg_notify($1, c) FROM unnest($2::text[]) AS c", [channel, chunks]);
}

export async function notify(db: Queryable, channel: string, payload = ""): Promise<void> {
  await db.query("SELECT pg_notify($1, $2)", [channel, payload]);
}
