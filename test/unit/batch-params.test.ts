// Batch parameters as Postgres reads them: numeric array literals, their inverse, and dictionaries.
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Dictionary, numericArray, numericElements } from "../../coordinator/sql/batch-params.js";

describe("numericArray", () => {
  it("writes a Postgres array literal, NULL for null, ids as given", () => {
    expect(numericArray([])).toBe("{}");
    expect(numericArray([1, null, -3, 2.5])).toBe("{1,NULL,-3,2.5}");
    expect(numericArray(["9007199254740993", "10"])).toBe("{9007199254740993,10}");
  });

  it("is read back element for element by numericElements", () => {
    fc.assert(
      fc.property(fc.array(fc.oneof(fc.integer(), fc.double({ noNaN: true, noDefaultInfinity: true }))), (values) => {
        expect(numericElements(numericArray(values)).map(Number)).toEqual(values.map((v) => (Object.is(v, -0) ? 0 : v)));
      }),
    );
    expect(numericElements(null)).toEqual([]);
  });
});

describe("Dictionary", () => {
  it("numbers distinct values from 1 in order of first use, and writes them as a JSON array", () => {
    const d = new Dictionary();
    expect(["a", 'q"uote', "a", "", "\\"].map((v) => d.index(v))).toEqual([1, 2, 1, 3, 4]);
    expect(JSON.parse(d.json())).toEqual(["a", 'q"uote', "", "\\"]);
  });
});
