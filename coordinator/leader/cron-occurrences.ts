// Pure cron arithmetic: parsing an expression in a time zone, the next occurrence after a time, and
// which due occurrences a schedule fires under its missed policy. No I/O, no clock reads.
import { CronExpressionParser } from "cron-parser";

export type MissedPolicyName = "skip" | "catch_up";

export class InvalidCronError extends Error {
  readonly code = "INVALID_ARGUMENT";
}

/** An IANA time zone name that this runtime knows (Intl's list, the one cron-parser's luxon uses). */
export function isTimeZone(tz: string): boolean {
  if (!tz) return false;
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

/**
 * Checks a cron expression (5 fields, or 6 with seconds first; @hourly-style aliases) and a time
 * zone, throwing an error that names the field at fault.
 */
export function validateCron(cron: string, timeZone: string): void {
  if (!isTimeZone(timeZone)) {
    throw new InvalidCronError(`time_zone ${JSON.stringify(timeZone)} is not an IANA time zone name (e.g. UTC, Europe/Paris, America/New_York)`);
  }
  const text = cron.trim();
  const fields = text.split(/\s+/).length;
  if (!text) throw new InvalidCronError("cron is empty: give 5 fields (minute hour day month weekday) or 6 with seconds first");
  if (!text.startsWith("@") && (fields < 5 || fields > 6)) {
    throw new InvalidCronError(`cron ${JSON.stringify(cron)} has ${fields} field(s): give 5 (minute hour day month weekday) or 6 with seconds first`);
  }
  try {
    CronExpressionParser.parse(text, { tz: timeZone, currentDate: new Date(0), strict: false }).next();
  } catch (err) {
    throw new InvalidCronError(`cron ${JSON.stringify(cron)} is not a valid cron expression: ${(err as Error).message}`);
  }
}

/** The first occurrence strictly after `afterMs` (epoch ms). */
export function nextOccurrence(cron: string, timeZone: string, afterMs: number): number {
  return CronExpressionParser.parse(cron.trim(), { tz: timeZone, currentDate: new Date(afterMs) }).next().getTime();
}

export interface FirePlan {
  /** occurrences to fire now, oldest first */
  fire: number[];
  /** due occurrences dropped (missed under SKIP, or past the CATCH_UP bound) */
  dropped: number;
  /** the first occurrence after now: the schedule's next_run_at once these are handled */
  nextRunAtMs: number;
}

export interface DueSchedule {
  cron: string;
  timeZone: string;
  /** the one occurrence not yet handled */
  nextRunAtMs: number;
  missedPolicy: MissedPolicyName;
  catchUpLimit: number;
}

/** Due occurrences are enumerated up to this many; past it the rest count as dropped without a walk. */
const MAX_WALK = 10_000;

/**
 * Which of a schedule's due occurrences (from next_run_at up to now) fire now. An occurrence later
 * than `graceMs` is missed: SKIP fires none of those, CATCH_UP fires the latest `catchUpLimit`
 * of them. Occurrences within the grace fire under both policies (a ticker that woke a little late).
 */
export function planFiring(s: DueSchedule, nowMs: number, graceMs: number): FirePlan {
  const due: number[] = [];
  const expr = CronExpressionParser.parse(s.cron.trim(), { tz: s.timeZone, currentDate: new Date(s.nextRunAtMs) });
  let t = s.nextRunAtMs;
  while (t <= nowMs && due.length < MAX_WALK) {
    due.push(t);
    t = expr.next().getTime();
  }
  let uncounted = 0;
  if (t <= nowMs) {
    // A very long outage of a very frequent schedule: jump to now rather than walk it all.
    uncounted = 1;
    t = nextOccurrence(s.cron, s.timeZone, nowMs);
  }
  const onTime = due.filter((o) => nowMs - o <= graceMs);
  const missed = due.filter((o) => nowMs - o > graceMs);
  const caughtUp = s.missedPolicy === "catch_up" ? missed.slice(Math.max(0, missed.length - s.catchUpLimit)) : [];
  return {
    fire: [...caughtUp, ...onTime],
    dropped: missed.length - caughtUp.length + uncounted,
    nextRunAtMs: t,
  };
}
