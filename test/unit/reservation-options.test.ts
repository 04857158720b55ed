import { describe, expect, it } from "vitest";
import { compileCoordinatorOptions, OptionError } from "../../coordinator/options.js";

const base = { databaseUrl: "postgres://x/y" };

describe("--reserved-share / --reserved-priority", () => {
  it("is off by default", () => {
    expect(compileCoordinatorOptions(base, {}).reservation).toBeUndefined();
  });

  it("compiles from flags or BATON_* variables, flags winning", () => {
    expect(compileCoordinatorOptions({ ...base, reservedShare: "0.2", reservedPriority: "100" }, {}).reservation).toEqual({ share: 0.2, minPriority: 100 });
    const env = { BATON_RESERVED_SHARE: "0.25", BATON_RESERVED_PRIORITY: "50" };
    expect(compileCoordinatorOptions(base, env).reservation).toEqual({ share: 0.25, minPriority: 50 });
    expect(compileCoordinatorOptions({ ...base, reservedShare: "0.1" }, env).reservation).toEqual({ share: 0.1, minPriority: 50 });
    expect(compileCoordinatorOptions({ ...base, reservedShare: "0", reservedPriority: "5" }, {}).reservation).toBeUndefined();
  });

  it("refuses a share outside [0, 1) and a share without a priority", () => {
    for (const share of ["1", "-0.1", "abc", "20%"]) {
      expect(() => compileCoordinatorOptions({ ...base, reservedShare: share, reservedPriority: "1" }, {})).toThrow(/--reserved-share must be a fraction/);
    }
    expect(() => compileCoordinatorOptions({ ...base, reservedShare: "0.2" }, {})).toThrow(OptionError);
    expect(() => compileCoordinatorOptions({ ...base, reservedShare: "0.2" }, {})).toThrow(/needs --reserved-priority/);
    expect(() => compileCoordinatorOptions({ ...base, reservedPriority: "100" }, {})).toThrow(/--reserved-share must be a fraction/);
  });
});
