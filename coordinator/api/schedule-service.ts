// ScheduleService: create, list, pause, resume and delete cron schedules. The leader's cron ticker
// fires them; these writes only wake it.
import type pg from "pg";
import { MissedPolicy, type Schedule, type ScheduleServiceServer } from "../../shared/gen/baton/v1/schedules.js";
import { JobSpec } from "../../shared/gen/baton/v1/types.js";
import { isTimeZone, nextOccurrence, validateCron, type MissedPolicyName } from "../leader/cron-occurrences.js";
import type { PrepareJobs } from "../leader/cron-ticker.js";
import { CHANNELS, notify } from "../sql/notify.js";
import {
  deleteSchedule,
  insertSchedule,
  listSchedules,
  pauseSchedule,
  resumeSchedule,
  getScheduleByName,
  type ScheduleRow,
} from "../sql/schedules.js";
import { InvalidArgumentError, NotFoundError, unary } from "./grpc-errors.js";

export interface ScheduleServiceDeps {
  pool: pg.Pool;
  /** the same expansion and validation the ticker applies when an occurrence fires */
  prepare: PrepareJobs;
  now?: () => number;
}

const NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$/;
export const DEFAULT_CATCH_UP_LIMIT = 10;
const MAX_CATCH_UP_LIMIT = 1000;

function policyName(p: MissedPolicy): MissedPolicyName {
  switch (p) {
    case MissedPolicy.MISSED_POLICY_UNSPECIFIED:
    case MissedPolicy.MISSED_POLICY_SKIP:
      return "skip";
    case MissedPolicy.MISSED_POLICY_CATCH_UP:
      return "catch_up";
    default:
      throw new InvalidArgumentError(`missed_policy ${String(p)} is not one of SKIP, CATCH_UP`);
  }
}

export function toSchedule(row: ScheduleRow): Schedule {
  return {
    id: row.id,
    name: row.name,
    cron: row.cron,
    timeZone: row.time_zone,
    job: JobSpec.fromJSON(row.job_spec),
    missedPolicy: row.missed_policy === "catch_up" ? MissedPolicy.MISSED_POLICY_CATCH_UP : MissedPolicy.MISSED_POLICY_SKIP,
    catchUpLimit: row.catch_up_limit,
    paused: row.paused,
    nextRunAtMs: row.paused ? 0 : row.next_run_at.getTime(),
    lastRunAtMs: row.last_run_at?.getTime() ?? 0,
    createdAtMs: row.created_at.getTime(),
  };
}

function checkName(name: string): string {
  if (!NAME_RE.test(name)) throw new InvalidArgumentError(`name ${JSON.stringify(name)} must be 1-64 letters, digits, '_', '.', ':' or '-' (starting with a letter or digit)`);
  return name;
}

export function scheduleService(deps: ScheduleServiceDeps): ScheduleServiceServer {
  const { pool } = deps;
  const now = () => (deps.now ? deps.now() : Date.now());
  const wakeLeader = () => notify(pool, CHANNELS.schedules).catch(() => {});
  const found = (row: ScheduleRow | undefined, name: string): Schedule => {
    if (!row) throw new NotFoundError(`schedule ${JSON.stringify(name)} not found (baton cron ls lists them)`);
    return toSchedule(row);
  };

  return {
    createSchedule: unary(async (req) => {
      const name = checkName(req.name);
      const timeZone = req.timeZone.trim() || "UTC";
      if (!isTimeZone(timeZone)) {
        throw new InvalidArgumentError(`time_zone ${JSON.stringify(req.timeZone)} is not an IANA time zone name (e.g. UTC, Europe/Paris)`);
      }
      const cron = req.cron.trim().replace(/\s+/g, " ");
      validateCron(cron, timeZone);
      const missedPolicy = policyName(req.missedPolicy);
      const catchUpLimit = req.catchUpLimit === 0 ? DEFAULT_CATCH_UP_LIMIT : req.catchUpLimit;
      if (!Number.isInteger(catchUpLimit) || catchUpLimit < 1 || catchUpLimit > MAX_CATCH_UP_LIMIT) {
        throw new InvalidArgumentError(`catch_up_limit must be from 1 to ${MAX_CATCH_UP_LIMIT} (0: ${DEFAULT_CATCH_UP_LIMIT}), got ${req.catchUpLimit}`);
      }
      if (!req.job) throw new InvalidArgumentError("job is missing: give the job spec (or template) each occurrence submits");
      if (req.job.idempotencyKey) {
        throw new InvalidArgumentError("job.idempotency_key must be empty: a schedule makes one job per occurrence, and a shared key would fold them into one");
      }
      if (req.job.runAtMs !== 0) throw new InvalidArgumentError("job.run_at_ms must be 0: the schedule decides when each job runs");
      try {
        await deps.prepare(pool, [req.job]);
      } catch (err) {
        const e = err as Error & { code?: string };
        if (e.code === "INVALID_JOB_SPEC" || e.code === "INVALID_ARGUMENT" || e.code === "NOT_FOUND") {
          const message = `job: ${e.message.replace(/^jobs\[0\]: /, "")}`;
          throw e.code === "NOT_FOUND" ? new NotFoundError(message) : new InvalidArgumentError(message);
        }
        throw err;
      }
      const row = await insertSchedule(pool, {
        name,
        cron,
        timeZone,
        jobSpec: JobSpec.toJSON(req.job),
        missedPolicy,
        catchUpLimit,
        paused: req.paused,
        nextRunAtMs: nextOccurrence(cron, timeZone, now()),
      });
      if (!row.paused) await wakeLeader();
      return toSchedule(row);
    }),

    listSchedules: unary(async () => ({ schedules: (await listSchedules(pool)).map(toSchedule) })),

    pauseSchedule: unary(async (req) => found(await pauseSchedule(pool, req.name), req.name)),

    resumeSchedule: unary(async (req) => {
      const current = await getScheduleByName(pool, req.name);
      if (!current) return found(undefined, req.name);
      const row = await resumeSchedule(pool, req.name, nextOccurrence(current.cron, current.time_zone, now()));
      await wakeLeader();
      return found(row, req.name);
    }),

    deleteSchedule: unary(async (req) => {
      if (!(await deleteSchedule(pool, req.name))) found(undefined, req.name);
      return {};
    }),
  };
}
