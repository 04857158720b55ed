// The table of live settings (pure validation) and LiveConfig's re-reads against a scripted table.
import { describe, expect, it } from "vitest";
import { LiveConfig } from "../../coordinator/config/live-config.js";
import {
  crossCheck,
  defaultValues,
  effectiveValues,
  parseSettingText,
  SETTING_KEYS,
  settingKey,
  validateSetting,
} from "../../coordinator/config/settings.js";
import { compileCoordinatorOptions } from "../../coordinator/options.js";
import type { Queryable } from "../../coordinator/db/pool.js";

const opts = compileCoordinatorOptions({ databaseUrl: "postgres://x/y" }, {});

describe("setting definitions", () => {
  it("takes defaults from the compiled options (flags/env)", () => {
    const d = defaultValues(compileCoordinatorOptions({ databaseUrl: "postgres://x/y", defaultMaxAttempts: 4, strategy: "spread", logRetentionHours: 2 }, {}));
    expect(d.default_max_attempts).toBe(4);
    expect(d.scheduling_strategy).toBe("spread");
    expect(d.log_retention_hours).toBe(2);
    expect(d.lease_ms).toBe(10_000);
  });

  it("parses typed text: JSON, else a bare word", () => {
    expect(parseSettingText("3")).toBe(3);
    expect(parseSettingText("spread")).toBe("spread");
    expect(parseSettingText('"spread"')).toBe("spread");
    expect(parseSettingText('{"a":1}')).toEqual({ a: 1 });
  });

  it("accepts values of the right type and range", () => {
    expect(validateSetting("default_max_attempts", 3)).toBe(3);
    expect(validateSetting("scheduling_strategy", "spread")).toBe("spread");
    expect(validateSetting("log_retention_hours", 0)).toBe(0);
  });

  it.each([
    ["default_max_attempts", 0, /^default_max_attempts must be an integer from 1 to 100, got 0$/],
    ["default_max_attempts", 2.5, /default_max_attempts must be an integer/],
    ["default_max_attempts", "3", /default_max_attempts must be an integer .* got "3"/],
    ["heartbeat_interval_ms", 10, /heartbeat_interval_ms must be an integer from 50 to 60000/],
    ["default_timeout_ms", -1, /default_timeout_ms must be an integer from 0/],
    ["log_max_bytes_per_job", null, /log_max_bytes_per_job must be an integer/],
    ["scheduling_strategy", "roundrobin", /^scheduling_strategy must be one of binpack, spread, got "roundrobin"$/],
    ["scheduling_strategy", 1, /scheduling_strategy must be one of/],
  ] as const)("rejects %s = %j naming the key", (key, value, message) => {
    expect(() => validateSetting(key, value)).toThrow(message);
    try {
      validateSetting(key, value);
    } catch (err) {
      expect((err as { code?: string }).code).toBe("INVALID_ARGUMENT");
    }
  });

  it("rejects an unknown key listing the known ones", () => {
    expect(() => settingKey("max_attempts")).toThrow(/unknown setting "max_attempts": known settings are default_timeout_ms, default_max_attempts, scheduling_strategy/);
    expect(() => settingKey("toString")).toThrow(/unknown setting/);
    for (const k of SETTING_KEYS) expect(settingKey(k)).toBe(k);
  });

  it("checks lease_ms against heartbeat_interval_ms together", () => {
    const d = defaultValues(opts);
    expect(crossCheck(d)).toEqual([]);
    expect(crossCheck({ ...d, lease_ms: 1000, heartbeat_interval_ms: 600 })).toEqual([expect.stringMatching(/lease_ms \(1000\) must be at least twice heartbeat_interval_ms \(600\)/)]);
    expect(crossCheck({ ...d, lease_ms: 1200, heartbeat_interval_ms: 600 })).toEqual([]);
  });

  it("applies valid stored values, reports invalid ones and ignores unknown keys", () => {
    const bad: string[] = [];
    const v = effectiveValues(
      defaultValues(opts),
      new Map<string, unknown>([["default_max_attempts", 5], ["scheduling_strategy", "nope"], ["someone_elses_setting", 1]]),
      (key) => bad.push(key),
    );
    expect(v.default_max_attempts).toBe(5);
    expect(v.scheduling_strategy).toBe("binpack");
    expect(bad).toEqual(["scheduling_strategy"]);
  });
});

/** A cluster_config table in memory, counting reads. */
function table() {
  const rows = new Map<string, unknown>();
  let reads = 0;
  const db = {
    query: async () => {
      reads++;
      return { rows: [...rows].map(([key, value]) => ({ key, value, updated_at: new Date(1000), updated_by: "me via c1" })) };
    },
  } as unknown as Queryable;
  return { rows, db, reads: () => reads };
}

describe("LiveConfig", () => {
  it("starts from the defaults, applies stored values on re-read and says what changed", async () => {
    const t = table();
    const lines: string[] = [];
    const changed: string[] = [];
    const live = new LiveConfig(t.db, defaultValues(opts), (l) => lines.push(l));
    live.onChange((k) => changed.push(k));
    await live.start();
    const maxAttempts = live.getter("default_max_attempts");
    expect(maxAttempts()).toBe(1);
    expect(live.list().find((s) => s.key === "default_max_attempts")?.source).toBe("default");

    t.rows.set("default_max_attempts", 3);
    await live.refresh();
    expect(maxAttempts()).toBe(3);
    expect(lines).toContain("config changed: key=default_max_attempts value=3 (stored)");
    expect(changed).toEqual(["default_max_attempts"]);
    const s = live.list().find((x) => x.key === "default_max_attempts")!;
    expect(s).toMatchObject({ value: 3, source: "stored", defaultValue: 1, updatedBy: "me via c1" });

    t.rows.delete("default_max_attempts");
    await live.refresh();
    expect(maxAttempts()).toBe(1);
    expect(lines).toContain("config changed: key=default_max_attempts value=1 (default)");
    live.stop();
  });

  it("reports a flag default as flag", async () => {
    const t = table();
    const live = new LiveConfig(t.db, defaultValues(compileCoordinatorOptions({ databaseUrl: "postgres://x/y", strategy: "spread" }, {})), () => {});
    await live.start();
    expect(live.list().find((s) => s.key === "scheduling_strategy")).toMatchObject({ value: "spread", source: "flag" });
    live.stop();
  });

  it("coalesces a burst of invalidations into at most one more read", async () => {
    const t = table();
    const live = new LiveConfig(t.db, defaultValues(opts), () => {});
    await live.start();
    const before = t.reads();
    const all = Promise.all([live.refresh(), live.refresh(), live.refresh(), live.refresh()]);
    await all;
    expect(t.reads() - before).toBe(2); // the one in flight, then one that saw every call
    live.stop();
  });
});

describe("baton config get (table)", () => {
  it("shows value, source, default and who stored it", async () => {
    const { describeSettings } = await import("../../client/cli/commands/config.js");
    const now = Date.parse("2026-01-01T12:00:00Z");
    const out = describeSettings(
      [
        { key: "default_max_attempts", value: "3", source: "stored", defaultValue: "1", type: "integer 1..100", description: "", updatedAtMs: now - 60_000, updatedBy: "ann@h via c1" },
        { key: "scheduling_strategy", value: '"binpack"', source: "default", defaultValue: '"binpack"', type: "binpack|spread", description: "", updatedAtMs: 0, updatedBy: "" },
      ],
      now,
    );
    const lines = out.split("\n");
    expect(lines[0]).toMatch(/^KEY\s+VALUE\s+SOURCE\s+DEFAULT\s+UPDATED$/);
    expect(lines[1]).toMatch(/^default_max_attempts\s+3\s+stored\s+1\s+2026-01-01T11:59:00.000Z \(1m ago\) by ann@h via c1$/);
    expect(lines[2]).toMatch(/^scheduling_strategy\s+"binpack"\s+default\s+"binpack"\s+-$/);
  });
});
