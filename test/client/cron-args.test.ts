// `baton cron create` flags → CreateScheduleRequest: every accepted form and error message.
import { describe, expect, it } from "vitest";
import { buildCreateSchedule } from "../../client/cli/cron-args.js";
import { MissedPolicy } from "../../shared/gen/baton/v1/schedules.js";

describe("buildCreateSchedule", () => {
  it("takes the cron, zone, missed policy and a command with the job flags of submit", () => {
    const r = buildCreateSchedule("tick", { cron: " */5 * * * * * ", tz: "Europe/Paris", missed: "catch-up", catchUpLimit: "3", cpu: "250m" }, ["sh", "-c", "date"]);
    expect(r).toMatchObject({
      name: "tick", cron: "*/5 * * * * *", timeZone: "Europe/Paris", missedPolicy: MissedPolicy.MISSED_POLICY_CATCH_UP,
      catchUpLimit: 3, paused: false,
    });
    expect(r.job?.executor).toEqual({ $case: "exec", exec: { argv: ["sh", "-c", "date"], env: {}, cwd: "" } });
    expect(r.job?.resources?.cpuMillis).toBe(250);
    expect(buildCreateSchedule("t", { cron: "* * * * *" }, ["true"])).toMatchObject({
      timeZone: "", missedPolicy: MissedPolicy.MISSED_POLICY_SKIP, catchUpLimit: 0,
    });
  });

  it("with --template sets only the flags given, so the template fills the rest", () => {
    const r = buildCreateSchedule("rep", { cron: "0 * * * *", template: "report", param: ["day=today", "q=a=b"], queue: "batch" }, []);
    expect(r.job?.template).toEqual({ name: "report", version: 0, params: { day: "today", q: "a=b" } });
    expect(r.job?.executor).toBeUndefined();
    expect(r.job?.resources).toBeUndefined();
    expect(r.job?.queue).toBe("batch");
  });

  it("says what is wrong", () => {
    expect(() => buildCreateSchedule("x", {}, ["true"])).toThrow(/--cron is required/);
    expect(() => buildCreateSchedule("x", { cron: "* * * * *", missed: "later" }, ["true"])).toThrow(/--missed 'later' must be skip or catch-up/);
    expect(() => buildCreateSchedule("x", { cron: "* * * * *" }, [])).toThrow(/nothing to run/);
    expect(() => buildCreateSchedule("x", { cron: "* * * * *", param: ["a=1"] }, ["true"])).toThrow(/--param goes with --template/);
    expect(() => buildCreateSchedule("x", { cron: "* * * * *", template: "t", param: ["nokey"] }, [])).toThrow(/--param 'nokey' must look like name=value/);
    expect(() => buildCreateSchedule("x", { cron: "* * * * *", catchUpLimit: "0" }, ["true"])).toThrow(/--catch-up-limit '0' must be at least 1/);
  });
});
