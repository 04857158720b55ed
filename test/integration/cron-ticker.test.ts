// The cron ticker against a real Postgres: each occurrence fires once (two tickers, a repeated
// pass), a deposed leader's ticker is fenced, missed occurrences follow SKIP or CATCH_UP, and the
// ScheduleService validates what it stores.
import type { ServerUnaryCall } from "@grpc/grpc-js";
import pg from "pg";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { prepareBatch } from "../../coordinator/api/prepare-batch.js";
import { BUILTIN_DEFAULT_RETRY } from "../../coordinator/api/retry-policy.js";
import { scheduleService } from "../../coordinator/api/schedule-service.js";
import { createPool } from "../../coordinator/db/pool.js";
import { CronTicker, type PrepareJobs } from "../../coordinator/leader/cron-ticker.js";
import { insertSchedule } from "../../coordinator/sql/schedules.js";
import { getJob } from "../../coordinator/sql/read-jobs.js";
import { putTemplate } from "../../coordinator/sql/templates.js";
import { toJob } from "../../coordinator/api/job-mapper.js";
import { bumpTerm, FencedError } from "../../coordinator/sql/term.js";
import { MissedPolicy, type CreateScheduleRequest, type Schedule } from "../../shared/gen/baton/v1/schedules.js";
import { JobSpec } from "../../shared/gen/baton/v1/types.js";
import { createTestDatabase, type TestDatabase } from "../support/db.js";

let db: TestDatabase;
let pool: pg.Pool;
const tickers: CronTicker[] = [];

beforeEach(async () => {
  db = await createTestDatabase();
  pool = createPool(db.url, 6);
});

afterEach(async () => {
  await Promise.all(tickers.splice(0).map((t) => t.stop()));
  await pool.end();
  await db.drop();
});

const prepare: PrepareJobs = (db, specs) =>
  prepareBatch(specs, { db, defaults: { maxAttempts: 1, retry: BUILTIN_DEFAULT_RETRY, idempotencyWindowS: 3600 } });

const spec = (argv: string[] = ["echo", "tick"]) =>
  JobSpec.fromPartial({
    resources: { cpuMillis: 100, memoryMb: 64, gpus: 0 },
    executor: { $case: "exec", exec: { argv, env: { A: "1" }, cwd: "" } },
  });

function ticker(term: number, log: string[] = []): CronTicker {
  const t = new CronTicker(pool, {
    term, maxSleepMs: 60_000, misfireGraceMs: 2000, prepare,
    fired: () => {}, onError: () => {}, log: (l) => log.push(l),
  });
  tickers.push(t);
  return t;
}

async function schedule(name: string, cron: string, nextRunAt: string, missedPolicy: "skip" | "catch_up" = "skip", catchUpLimit = 10) {
  return insertSchedule(pool, {
    name, cron, timeZone: "UTC", jobSpec: JobSpec.toJSON(spec()), missedPolicy, catchUpLimit, paused: false,
    nextRunAtMs: new Date(nextRunAt).getTime(),
  });
}

async function scheduledJobs(scheduleId: string) {
  const { rows } = await pool.query<{ id: string; scheduled_at: Date; payload: { argv: string[]; env: Record<string, string> } }>(
    "SELECT id, scheduled_at, payload FROM jobs WHERE schedule_id = $1 ORDER BY id", [scheduleId],
  );
  return rows;
}

const t = (iso: string) => new Date(iso).getTime();

describe("cron ticker", () => {
  it("fires a due occurrence once: a second pass and a second ticker at the same time make no other job", async () => {
    const term = await bumpTerm(pool, "c1");
    const s = await schedule("every-second", "* * * * * *", "2026-01-01T00:00:10Z");
    const a = ticker(term);
    const b = ticker(term);
    const now = t("2026-01-01T00:00:10.200Z");
    const [ra, rb] = await Promise.all([a.step(now), b.step(now)]);
    expect(ra.jobIds.length + rb.jobIds.length).toBe(1);
    expect((await a.step(now)).jobIds).toEqual([]);

    const jobs = await scheduledJobs(s.id);
    expect(jobs).toHaveLength(1);
    expect(jobs[0]!.scheduled_at.toISOString()).toBe("2026-01-01T00:00:10.000Z");
    expect(jobs[0]!.payload.argv).toEqual(["echo", "tick"]);
    expect(jobs[0]!.payload.env).toEqual({
      A: "1", BATON_SCHEDULED_AT: "2026-01-01T00:00:10.000Z", BATON_SCHEDULE_ID: s.id, BATON_SCHEDULE_NAME: "every-second",
    });
    const found = await getJob(pool, jobs[0]!.id);
    expect(toJob(found!.job).scheduleId).toBe(s.id);
    const { rows } = await pool.query("SELECT next_run_at, last_run_at FROM schedules WHERE id = $1", [s.id]);
    expect(rows[0]).toEqual({ next_run_at: new Date("2026-01-01T00:00:11Z"), last_run_at: new Date("2026-01-01T00:00:10Z") });

    // The next second fires the next occurrence, once.
    const later = t("2026-01-01T00:00:11.050Z");
    await Promise.all([a.step(later), b.step(later)]);
    expect((await scheduledJobs(s.id)).map((j) => j.scheduled_at.toISOString())).toEqual([
      "2026-01-01T00:00:10.000Z", "2026-01-01T00:00:11.000Z",
    ]);
  });

  it("a deposed leader's ticker is fenced: no job, and the occurrence stays for the new leader", async () => {
    const oldTerm = await bumpTerm(pool, "old");
    const newTerm = await bumpTerm(pool, "new");
    const s = await schedule("fenced", "* * * * * *", "2026-01-01T00:00:10Z");
    const now = t("2026-01-01T00:00:10.100Z");
    await expect(ticker(oldTerm).step(now)).rejects.toBeInstanceOf(FencedError);
    expect(await scheduledJobs(s.id)).toEqual([]);
    const r = await ticker(newTerm).step(now);
    expect(r.jobIds).toHaveLength(1);
    expect((await scheduledJobs(s.id))[0]!.scheduled_at.toISOString()).toBe("2026-01-01T00:00:10.000Z");
  });

  it("SKIP: after downtime fires none of the missed occurrences and goes on from the next future one", async () => {
    const term = await bumpTerm(pool, "c1");
    const s = await schedule("skip", "*/5 * * * *", "2026-01-01T00:00:00Z", "skip");
    const log: string[] = [];
    const r = await ticker(term, log).step(t("2026-01-01T01:02:00Z"));
    expect(r.jobIds).toEqual([]);
    const { rows } = await pool.query("SELECT next_run_at FROM schedules WHERE id = $1", [s.id]);
    expect(rows[0].next_run_at).toEqual(new Date("2026-01-01T01:05:00Z"));
    expect(log.join("\n")).toMatch(/schedule skip: 13 missed occurrence\(s\) not fired \(missed policy SKIP\)/);
  });

  it("CATCH_UP: fires the missed occurrences oldest first, at most its bound (the latest ones)", async () => {
    const term = await bumpTerm(pool, "c1");
    const s = await schedule("catch", "*/5 * * * *", "2026-01-01T00:00:00Z", "catch_up", 3);
    const r = await ticker(term).step(t("2026-01-01T00:27:00Z"));
    expect(r.jobIds).toHaveLength(3);
    expect((await scheduledJobs(s.id)).map((j) => j.scheduled_at.toISOString())).toEqual([
      "2026-01-01T00:15:00.000Z", "2026-01-01T00:20:00.000Z", "2026-01-01T00:25:00.000Z",
    ]);
    const small = await schedule("catch-all", "*/5 * * * *", "2026-01-01T00:00:00Z", "catch_up", 10);
    await ticker(term).step(t("2026-01-01T00:12:00Z"));
    expect((await scheduledJobs(small.id)).map((j) => j.scheduled_at.toISOString())).toEqual([
      "2026-01-01T00:00:00.000Z", "2026-01-01T00:05:00.000Z", "2026-01-01T00:10:00.000Z",
    ]);
  });

  it("runs on its own: wakes at the earliest occurrence and fires it (timer, no pass asked for)", async () => {
    const term = await bumpTerm(pool, "c1");
    const soon = new Date(Math.ceil((Date.now() + 300) / 1000) * 1000);
    const s = await schedule("soon", "* * * * * *", soon.toISOString());
    const jobs = new Promise<string[]>((resolve) => {
      const tk = new CronTicker(pool, {
        term, maxSleepMs: 60_000, misfireGraceMs: 2000, prepare, fired: resolve, onError: () => {}, log: () => {},
      });
      tickers.push(tk);
      tk.start();
    });
    expect(await jobs).toHaveLength(1);
    expect((await scheduledJobs(s.id))[0]!.scheduled_at).toEqual(soon);
  });
});

/** Calls a unary handler of the service as grpc-js would. */
function call<Req, Res>(handler: unknown, request: Req): Promise<Res> {
  return new Promise((resolve, reject) => {
    (handler as (c: ServerUnaryCall<Req, Res>, cb: (e: Error | null, r?: Res) => void) => void)(
      { request } as ServerUnaryCall<Req, Res>,
      (e, r) => (e ? reject(e) : resolve(r!)),
    );
  });
}

describe("ScheduleService", () => {
  const req = (over: Partial<CreateScheduleRequest> = {}): CreateScheduleRequest => ({
    name: "nightly", cron: "0 3 * * *", timeZone: "Europe/Paris", job: spec(),
    missedPolicy: MissedPolicy.MISSED_POLICY_UNSPECIFIED, catchUpLimit: 0, paused: false, ...over,
  });

  it("creates, lists with next run times, pauses, resumes and deletes", async () => {
    const now = t("2026-01-10T12:00:00Z");
    const svc = scheduleService({ pool, prepare, now: () => now });
    const created = await call<CreateScheduleRequest, Schedule>(svc.createSchedule, req());
    expect(created).toMatchObject({
      name: "nightly", cron: "0 3 * * *", timeZone: "Europe/Paris", missedPolicy: MissedPolicy.MISSED_POLICY_SKIP,
      catchUpLimit: 10, paused: false, nextRunAtMs: t("2026-01-11T02:00:00Z"), lastRunAtMs: 0,
    });
    expect(created.job?.executor).toEqual({ $case: "exec", exec: { argv: ["echo", "tick"], env: { A: "1" }, cwd: "" } });
    const listed = await call<object, { schedules: Schedule[] }>(svc.listSchedules, {});
    expect(listed.schedules.map((s) => [s.name, s.nextRunAtMs])).toEqual([["nightly", t("2026-01-11T02:00:00Z")]]);

    const paused = await call<{ name: string }, Schedule>(svc.pauseSchedule, { name: "nightly" });
    expect(paused).toMatchObject({ paused: true, nextRunAtMs: 0 });
    const term = await bumpTerm(pool, "c1");
    expect((await ticker(term).step(t("2026-01-12T00:00:00Z"))).jobIds).toEqual([]);
    const resumed = await call<{ name: string }, Schedule>(svc.resumeSchedule, { name: "nightly" });
    expect(resumed).toMatchObject({ paused: false, nextRunAtMs: t("2026-01-11T02:00:00Z") });

    await call(svc.deleteSchedule, { name: "nightly" });
    await expect(call(svc.deleteSchedule, { name: "nightly" })).rejects.toMatchObject({ code: 5, details: expect.stringMatching(/schedule "nightly" not found/) });
  });

  it("rejects what it cannot fire, naming the field", async () => {
    const svc = scheduleService({ pool, prepare });
    const bad = async (over: Partial<CreateScheduleRequest>) =>
      call(svc.createSchedule, req(over)).then(() => "accepted", (e: { code: number; details: string }) => `${e.code} ${e.details}`);
    expect(await bad({ cron: "61 * * * *" })).toMatch(/^3 cron "61 \* \* \* \*" is not a valid cron expression/);
    expect(await bad({ cron: "* * *" })).toMatch(/^3 cron "\* \* \*" has 3 field/);
    expect(await bad({ timeZone: "Europe/Atlantis" })).toMatch(/^3 time_zone "Europe\/Atlantis" is not an IANA time zone/);
    expect(await bad({ name: "no spaces" })).toMatch(/^3 name "no spaces" must be/);
    expect(await bad({ catchUpLimit: -1 })).toMatch(/^3 catch_up_limit must be from 1/);
    expect(await bad({ job: undefined })).toMatch(/^3 job is missing/);
    expect(await bad({ job: { ...spec(), executor: undefined } })).toMatch(/^3 job: no executor/);
    expect(await bad({ job: { ...spec(), idempotencyKey: "k" } })).toMatch(/^3 job.idempotency_key must be empty/);
    expect(await bad({ job: JobSpec.fromPartial({ template: { name: "nope", version: 0, params: {} } }) })).toMatch(/^5 job: template "nope" not found/);
    expect(await bad({})).toBe("accepted");
    expect(await bad({})).toMatch(/^6 schedule "nightly" already exists/);
  });

  it("a schedule may submit from a template: each occurrence expands it", async () => {
    // A key or run_at in the template must not fold occurrences into one job or delay them.
    const base = { ...spec(["sh", "-c", "make report"]), idempotencyKey: "report", runAtMs: Date.now() + 3_600_000 };
    await putTemplate(pool, "report", JobSpec.toJSON(base), []);
    const svc = scheduleService({ pool, prepare });
    const s = await call<CreateScheduleRequest, Schedule>(svc.createSchedule, req({
      name: "tpl", cron: "* * * * * *", timeZone: "UTC",
      job: JobSpec.fromPartial({ template: { name: "report", version: 0, params: {} } }),
    }));
    const term = await bumpTerm(pool, "c1");
    await pool.query("UPDATE schedules SET next_run_at = '2026-01-01T00:00:00Z' WHERE id = $1", [s.id]);
    const r = await ticker(term).step(t("2026-01-01T00:00:01.100Z"));
    expect(r.jobIds).toHaveLength(2);
    const jobs = await scheduledJobs(s.id);
    expect(jobs.map((j) => j.payload.argv)).toEqual([["sh", "-c", "make report"], ["sh", "-c", "make report"]]);
    expect(jobs.map((j) => j.payload.env.BATON_SCHEDULED_AT)).toEqual(["2026-01-01T00:00:00.000Z", "2026-01-01T00:00:01.000Z"]);
    const { rows } = await pool.query("SELECT count(*)::int AS n FROM jobs WHERE schedule_id = $1 AND run_at <= now() AND idempotency_key IS NULL", [s.id]);
    expect(rows[0].n).toBe(2);
  });
});
