// Benchmark task handlers: what is measured is scheduling, not work.

/** Does nothing (the throughput scenario). */
export function noop() {}

/**
 * Writes the time it was entered (epoch ms, sub-millisecond) to its output: the latency scenario
 * reads it, as graphile-worker's contender reads its handler's entry time.
 */
export function stamp(_payload, ctx) {
  ctx.log(String(performance.timeOrigin + performance.now()));
}
