// Queue settings (cap, paused) and the counts that go with them. Every change wakes the leader in
// the same statement, since a raised cap or a resume may make jobs placeable.
import type { Queryable } from "../db/pool.js";
import { PENDING_COUNT } from "./cluster-status.js";
import { CHANNELS } from "./notify.js";

export interface QueueRow {
  name: string;
  concurrency_cap: number | null;
  paused: boolean;
  configured: boolean;
  pending: number;
  running: number;
  created_at: Date | null;
  updated_at: Date | null;
}

export interface QueueChange {
  /** undefined: keep; null: unlimited */
  cap?: number | null;
  /** undefined: keep */
  paused?: boolean;
}

const COUNTS = `${PENDING_COUNT("AND queue = q.name")}::int AS pending,
  (SELECT count(*) FROM jobs j WHERE j.queue = q.name AND j.state IN ('assigned', 'running'))::int AS running`;

export async function setQueue(db: Queryable, name: string, change: QueueChange): Promise<QueueRow> {
  const { rows } = await db.query<QueueRow>(
    `WITH q AS (
       INSERT INTO queues AS q (name, concurrency_cap, paused) VALUES ($1, CASE WHEN $2 THEN $3::int END, coalesce($4, false))
       ON CONFLICT (name) DO UPDATE
         SET concurrency_cap = CASE WHEN $2 THEN $3::int ELSE q.concurrency_cap END,
             paused = coalesce($4, q.paused), updated_at = now()
       RETURNING q.*),
     wake AS (SELECT pg_notify('${CHANNELS.wake}', '') FROM q)
     SELECT q.name, q.concurrency_cap, q.paused, true AS configured, q.created_at, q.updated_at, ${COUNTS},
            (SELECT count(*) FROM wake) AS woken
     FROM q`,
    [name, change.cap !== undefined, change.cap ?? null, change.paused ?? null],
  );
  return rows[0]!;
}

/** The queue's settings and counts; a queue without settings reads as unlimited and active. */
export async function getQueue(db: Queryable, name: string): Promise<QueueRow> {
  const { rows } = await db.query<QueueRow>(
    `SELECT q.name, s.concurrency_cap, coalesce(s.paused, false) AS paused, s.name IS NOT NULL AS configured,
            s.created_at, s.updated_at, ${COUNTS}
     FROM (SELECT $1::text AS name) q LEFT JOIN queues s ON s.name = q.name`,
    [name],
  );
  return rows[0]!;
}

/** Queues with settings, and queues with jobs pending or active, by name. */
export async function listQueues(db: Queryable): Promise<QueueRow[]> {
  const { rows } = await db.query<QueueRow>(
    `WITH c AS (SELECT queue, sum(pending)::int AS pending, sum(running)::int AS running FROM (
                  SELECT queue, count(*) AS pending, 0 AS running FROM jobs WHERE state = 'pending' AND NOT delayed GROUP BY queue
                  UNION ALL
                  SELECT queue, count(*), 0 FROM jobs WHERE state = 'pending' AND delayed GROUP BY queue
                  UNION ALL
                  SELECT queue, 0, count(*) FROM jobs WHERE state IN ('assigned', 'running') GROUP BY queue) u
                GROUP BY queue)
     SELECT coalesce(s.name, c.queue) AS name, s.concurrency_cap, coalesce(s.paused, false) AS paused,
            s.name IS NOT NULL AS configured, s.created_at, s.updated_at,
            coalesce(c.pending, 0) AS pending, coalesce(c.running, 0) AS running
     FROM queues s FULL JOIN c ON c.queue = s.name
     ORDER BY 1`,
  );
  return rows;
}

/** Removes a queue's settings; true when it had some. */
export async function deleteQueue(db: Queryable, name: string): Promise<boolean> {
  const { rows } = await db.query<{ deleted: boolean }>(
    `WITH d AS (DELETE FROM queues WHERE name = $1 RETURNING name),
     wake AS (SELECT pg_notify('${CHANNELS.wake}', '') FROM d)
     SELECT EXISTS (SELECT 1 FROM d) AS deleted, (SELECT count(*) FROM wake) AS woken`,
    [name],
  );
  return rows[0]!.deleted;
}
