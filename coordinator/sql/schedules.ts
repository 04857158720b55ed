// Every statement on the schedules table, and the tagging of the jobs an occurrence made.
import type { Queryable } from "../db/pool.js";
import type { MissedPolicyName } from "../leader/cron-occurrences.js";

export interface ScheduleRow {
  id: string;
  name: string;
  cron: string;
  time_zone: string;
  job_spec: unknown; // JobSpec as proto JSON
  missed_policy: MissedPolicyName;
  catch_up_limit: number;
  paused: boolean;
  next_run_at: Date;
  last_run_at: Date | null;
  created_at: Date;
}

export interface NewSchedule {
  name: string;
  cron: string;
  timeZone: string;
  jobSpec: unknown;
  missedPolicy: MissedPolicyName;
  catchUpLimit: number;
  paused: boolean;
  nextRunAtMs: number;
}

export class ScheduleExistsError extends Error {
  readonly code = "ALREADY_EXISTS";
}

const COLUMNS = "id, name, cron, time_zone, job_spec, missed_policy, catch_up_limit, paused, next_run_at, last_run_at, created_at";

export async function insertSchedule(db: Queryable, s: NewSchedule): Promise<ScheduleRow> {
  try {
    const { rows } = await db.query<ScheduleRow>(
      `INSERT INTO schedules (name, cron, time_zone, job_spec, missed_policy, catch_up_limit, paused, next_run_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING ${COLUMNS}`,
      [s.name, s.cron, s.timeZone, JSON.stringify(s.jobSpec), s.missedPolicy, s.catchUpLimit, s.paused, new Date(s.nextRunAtMs)],
    );
    return rows[0]!;
  } catch (err) {
    if ((err as { code?: string }).code === "23505") {
      throw new ScheduleExistsError(`schedule ${JSON.stringify(s.name)} already exists: delete it first (baton cron rm ${s.name}) or pick another name`);
    }
    throw err;
  }
}

export async function listSchedules(db: Queryable): Promise<ScheduleRow[]> {
  const { rows } = await db.query<ScheduleRow>(`SELECT ${COLUMNS} FROM schedules ORDER BY name`);
  return rows;
}

export async function getScheduleByName(db: Queryable, name: string): Promise<ScheduleRow | undefined> {
  const { rows } = await db.query<ScheduleRow>(`SELECT ${COLUMNS} FROM schedules WHERE name = $1`, [name]);
  return rows[0];
}

export async function pauseSchedule(db: Queryable, name: string): Promise<ScheduleRow | undefined> {
  const { rows } = await db.query<ScheduleRow>(`UPDATE schedules SET paused = true WHERE name = $1 RETURNING ${COLUMNS}`, [name]);
  return rows[0];
}

/** Un-pauses and restarts from `nextRunAtMs` (the first occurrence after now): nothing paused is caught up. */
export async function resumeSchedule(db: Queryable, name: string, nextRunAtMs: number): Promise<ScheduleRow | undefined> {
  const { rows } = await db.query<ScheduleRow>(
    `UPDATE schedules SET paused = false, next_run_at = CASE WHEN paused THEN $2 ELSE next_run_at END
     WHERE name = $1 RETURNING ${COLUMNS}`,
    [name, new Date(nextRunAtMs)],
  );
  return rows[0];
}

export async function deleteSchedule(db: Queryable, name: string): Promise<boolean> {
  const { rowCount } = await db.query("DELETE FROM schedules WHERE name = $1", [name]);
  return (rowCount ?? 0) > 0;
}

/** Unpaused schedules with an occurrence at or before now, the most overdue first. */
export async function loadDueSchedules(db: Queryable, nowMs: number, limit: number): Promise<ScheduleRow[]> {
  const { rows } = await db.query<ScheduleRow>(
    `SELECT ${COLUMNS} FROM schedules WHERE NOT paused AND next_run_at <= $1 ORDER BY next_run_at LIMIT $2`,
    [new Date(nowMs), limit],
  );
  return rows;
}

/** When the ticker must wake next: the earliest occurrence of an unpaused schedule (ms), if any. */
export async function earliestNextRun(db: Queryable): Promise<number | undefined> {
  const { rows } = await db.query<{ t: Date | null }>("SELECT min(next_run_at) AS t FROM schedules WHERE NOT paused");
  return rows[0]?.t?.getTime();
}

/**
 * The claim of an occurrence: moves next_run_at from what the ticker read to the next occurrence
 * after the ones it fires. False when someone else moved it first (another leader's ticker, a
 * pause, a resume, a delete): then this ticker must fire nothing.
 */
export async function advanceSchedule(
  tx: Queryable,
  id: string,
  expectedNextRunAtMs: number,
  nextRunAtMs: number,
  lastRunAtMs: number | undefined,
): Promise<boolean> {
  const { rowCount } = await tx.query(
    `UPDATE schedules SET next_run_at = $3, last_run_at = COALESCE($4, last_run_at)
     WHERE id = $1 AND next_run_at = $2 AND NOT paused`,
    [id, new Date(expectedNextRunAtMs), new Date(nextRunAtMs), lastRunAtMs === undefined ? null : new Date(lastRunAtMs)],
  );
  return rowCount === 1;
}

/** Records which schedule and occurrence each job came from (unique per occurrence). */
export async function tagScheduledJobs(tx: Queryable, scheduleId: string, jobIds: string[], occurrencesMs: number[]): Promise<void> {
  await tx.query(
    `UPDATE jobs j SET schedule_id = $1, scheduled_at = to_timestamp(x.at / 1000.0)
     FROM unnest($2::bigint[], $3::float8[]) AS x(id, at) WHERE j.id = x.id`,
    [scheduleId, jobIds, occurrencesMs],
  );
}
