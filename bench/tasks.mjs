// Benchmark task handlers: a no-op, so that what is measured is scheduling, not work.
export function noop() {}
