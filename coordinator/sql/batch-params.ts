// Batch parameters, encoded for the hot path: a value that repeats across the rows of a batch
// travels once, and numeric columns travel as array literals.

/**
 * Distinct values of a batch, each with its 1-based index: `($n::text[])[i]` reads `values`, and
 * `$n::jsonb ->> (i - 1)` reads `json()`. A text array is walked from its start to reach an
 * element, so a column that may hold thousands of distinct values (names, keys, messages) reads
 * the JSON form, whose elements are found in constant time; a handful (workers, queues) can be
 * either.
 */
export class Dictionary {
  readonly values: string[] = [];
  private readonly indexes = new Map<string, number>();

  index(value: string): number {
    let i = this.indexes.get(value);
    if (i === undefined) this.indexes.set(value, (i = this.values.push(value)));
    return i;
  }

  /** The values as a JSON array (for a `$n::jsonb` parameter). */
  json(): string {
    return JSON.stringify(this.values);
  }
}

/**
 * A numeric column as a Postgres array literal (`{1,2,NULL}`), for a `$n::bigint[]`, `int[]` or
 * `float8[]` parameter: several times cheaper than pg's generic array encoding, which escapes
 * every element. Strings must be integers already (ids as the database returned them).
 */
export function numericArray(values: readonly (number | string | null)[]): string {
  // join writes one flat string; a `+=` loop leaves a chain of pieces (garbage) to flatten
  if (values.includes(null)) return `{${values.map((v) => (v === null ? "NULL" : v)).join(",")}}`;
  return `{${values.join(",")}}`;
}

/**
 * The elements of a one-dimensional numeric array as Postgres writes it (`{1,2,3}`, e.g.
 * `array_agg(id)::text`), as strings: the inverse of numericArray, and far cheaper to read than
 * one result row per element. Empty for NULL (an aggregate over no rows) or `{}`.
 */
export function numericElements(text: string | null): string[] {
  return text === null || text.length <= 2 ? [] : text.slice(1, -1).split(",");
}

/**
 * Batches up to this many rows run as a prepared statement (planned once per connection: the
 * planning of a hot statement costs more than its execution for a row or two, which is what a
 * lone submit waits on). Larger batches are planned for their size each time: a generic plan
 * assumes a handful of rows and is far slower for a thousand.
 */
export const PREPARED_MAX_ROWS = 8;

/**
 * An array parameter as the statement reads it, `(SELECT $n::type[])`: a scalar subquery, so the
 * planner cannot see how long the array is, even in a custom plan. A batch of reports (`unnest` of
 * such arrays) then plans as a few rows, each job read by its primary key, whatever the table's
 * statistics say. Without it a custom plan trusts statistics taken while no job was active (an
 * idle cluster vacuumed, then a burst): it reads the "one" active job first and scans the whole
 * batch for each job it finds, quadratic in the batch (measured: 0.5 s for 1,000 reports).
 * Pair it with a state test that implies no partial index (see stillPending), or the planner
 * starts from the active-jobs index for the same reason.
 */
export const opaque = (param: string): string => `(SELECT ${param})`;
