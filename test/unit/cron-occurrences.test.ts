// Next-occurrence arithmetic and missed-occurrence plans: seconds field, time zones, DST, policies.
import { describe, expect, it } from "vitest";
import { nextOccurrence, planFiring, validateCron } from "../../coordinator/leader/cron-occurrences.js";

const t = (iso: string) => new Date(iso).getTime();
const iso = (ms: number) => new Date(ms).toISOString();

describe("nextOccurrence", () => {
  it("reads a 6-field expression with seconds first, strictly after the given time", () => {
    expect(iso(nextOccurrence("*/5 * * * * *", "UTC", t("2026-01-01T00:00:00.000Z")))).toBe("2026-01-01T00:00:05.000Z");
    expect(iso(nextOccurrence("*/5 * * * * *", "UTC", t("2026-01-01T00:00:04.999Z")))).toBe("2026-01-01T00:00:05.000Z");
    expect(iso(nextOccurrence("* * * * * *", "UTC", t("2026-01-01T00:00:05.500Z")))).toBe("2026-01-01T00:00:06.000Z");
  });

  it("reads a 5-field expression as minute-level (second 0)", () => {
    expect(iso(nextOccurrence("*/15 * * * *", "UTC", t("2026-01-01T10:07:30Z")))).toBe("2026-01-01T10:15:00.000Z");
    expect(iso(nextOccurrence("@hourly", "UTC", t("2026-01-01T10:07:30Z")))).toBe("2026-01-01T11:00:00.000Z");
  });

  it("reads the fields in the schedule's time zone", () => {
    // 09:00 in Paris is 08:00 UTC in winter, 07:00 UTC in summer
    expect(iso(nextOccurrence("0 9 * * *", "Europe/Paris", t("2026-01-10T12:00:00Z")))).toBe("2026-01-11T08:00:00.000Z");
    expect(iso(nextOccurrence("0 9 * * *", "Europe/Paris", t("2026-07-10T12:00:00Z")))).toBe("2026-07-11T07:00:00.000Z");
    expect(iso(nextOccurrence("0 9 * * 1", "America/New_York", t("2026-01-01T00:00:00Z")))).toBe("2026-01-05T14:00:00.000Z");
  });

  it("is DST-safe: a time the spring change skips runs once, shifted an hour; a repeated time runs once", () => {
    // Europe/Paris 2026-03-29: 02:00 → 03:00. 02:30 does not exist that day: it runs at 03:30 CEST.
    expect(iso(nextOccurrence("30 2 * * *", "Europe/Paris", t("2026-03-29T00:00:00Z")))).toBe("2026-03-29T01:30:00.000Z");
    // America/New_York 2026-11-01: 01:30 happens twice; the schedule fires at the first only.
    const first = nextOccurrence("30 1 * * *", "America/New_York", t("2026-11-01T04:00:00Z"));
    expect(iso(first)).toBe("2026-11-01T05:30:00.000Z");
    expect(iso(nextOccurrence("30 1 * * *", "America/New_York", first))).toBe("2026-11-02T06:30:00.000Z");
    // Hourly across the autumn change: every UTC hour appears once, none twice.
    let at = t("2026-10-25T00:00:00Z");
    const seen: string[] = [];
    for (let i = 0; i < 4; i++) seen.push(iso((at = nextOccurrence("0 * * * *", "Europe/Paris", at))));
    expect(new Set(seen).size).toBe(4);
  });
});

describe("validateCron", () => {
  it("names the field at fault", () => {
    expect(() => validateCron("*/5 * * * *", "UTC")).not.toThrow();
    expect(() => validateCron("*/5 * * * * *", "Europe/Paris")).not.toThrow();
    expect(() => validateCron("* * * * *", "Mars/Olympus")).toThrow(/time_zone "Mars\/Olympus" is not an IANA time zone/);
    expect(() => validateCron("61 * * * *", "UTC")).toThrow(/^cron "61 \* \* \* \*" is not a valid cron expression/);
    expect(() => validateCron("* * *", "UTC")).toThrow(/cron "\* \* \*" has 3 field\(s\): give 5/);
    expect(() => validateCron("* * * * * * *", "UTC")).toThrow(/has 7 field\(s\)/);
    expect(() => validateCron("", "UTC")).toThrow(/cron is empty/);
    expect(() => validateCron("*/0 * * * *", "UTC")).toThrow(/^cron /);
  });
});

describe("planFiring", () => {
  const every = (cron: string, from: string, policy: "skip" | "catch_up", limit = 10) => ({
    cron, timeZone: "UTC", nextRunAtMs: t(from), missedPolicy: policy, catchUpLimit: limit,
  });

  it("fires the one due occurrence on time and moves next_run_at to the following one", () => {
    const p = planFiring(every("* * * * * *", "2026-01-01T00:00:10Z", "skip"), t("2026-01-01T00:00:10.004Z"), 5000);
    expect(p.fire.map(iso)).toEqual(["2026-01-01T00:00:10.000Z"]);
    expect(iso(p.nextRunAtMs)).toBe("2026-01-01T00:00:11.000Z");
    expect(p.dropped).toBe(0);
  });

  it("fires nothing before next_run_at", () => {
    const p = planFiring(every("* * * * * *", "2026-01-01T00:00:10Z", "skip"), t("2026-01-01T00:00:09.999Z"), 5000);
    expect(p.fire).toEqual([]);
    expect(iso(p.nextRunAtMs)).toBe("2026-01-01T00:00:10.000Z");
  });

  it("SKIP: after downtime fires none of the missed occurrences and goes on from the next future one", () => {
    const p = planFiring(every("*/5 * * * *", "2026-01-01T00:00:00Z", "skip"), t("2026-01-01T01:02:00Z"), 5000);
    expect(p.fire).toEqual([]);
    expect(p.dropped).toBe(13); // 00:00 … 01:00
    expect(iso(p.nextRunAtMs)).toBe("2026-01-01T01:05:00.000Z");
  });

  it("SKIP: occurrences within the grace still fire (a ticker that woke a little late)", () => {
    const p = planFiring(every("* * * * * *", "2026-01-01T00:00:00Z", "skip"), t("2026-01-01T00:00:10.5Z"), 2000);
    expect(p.fire.map(iso)).toEqual(["2026-01-01T00:00:09.000Z", "2026-01-01T00:00:10.000Z"]);
    expect(p.dropped).toBe(9);
  });

  it("CATCH_UP: fires every missed occurrence oldest first when within the bound", () => {
    const p = planFiring(every("*/5 * * * *", "2026-01-01T00:00:00Z", "catch_up"), t("2026-01-01T00:17:00Z"), 5000);
    expect(p.fire.map(iso)).toEqual(["00", "05", "10", "15"].map((m) => `2026-01-01T00:${m}:00.000Z`));
    expect(p.dropped).toBe(0);
    expect(iso(p.nextRunAtMs)).toBe("2026-01-01T00:20:00.000Z");
  });

  it("CATCH_UP: past the bound fires the latest missed occurrences, oldest first, and drops the older ones", () => {
    const p = planFiring(every("0 * * * *", "2026-01-01T00:00:00Z", "catch_up", 3), t("2026-01-01T10:30:00Z"), 5000);
    expect(p.fire.map(iso)).toEqual(["08", "09", "10"].map((h) => `2026-01-01T${h}:00:00.000Z`));
    expect(p.dropped).toBe(8);
    expect(iso(p.nextRunAtMs)).toBe("2026-01-01T11:00:00.000Z");
  });

  it("jumps over a very long outage of a very frequent schedule without walking all of it", () => {
    const p = planFiring(every("* * * * * *", "2020-01-01T00:00:00Z", "catch_up", 2), t("2026-01-01T00:00:00.5Z"), 0);
    expect(p.fire).toHaveLength(2);
    expect(p.nextRunAtMs).toBe(t("2026-01-01T00:00:01Z"));
  });
});
