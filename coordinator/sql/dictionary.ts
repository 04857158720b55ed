// Batch parameters: a value that repeats across the rows of a batch travels once.

/** Distinct values of a batch, each with its 1-based index (what `($n::text[])[i]` reads). */
export class Dictionary {
  readonly values: string[] = [];
  private readonly indexes = new Map<string, number>();

  index(value: string): number {
    let i = this.indexes.get(value);
    if (i === undefined) this.indexes.set(value, (i = this.values.push(value)));
    return i;
  }
}
