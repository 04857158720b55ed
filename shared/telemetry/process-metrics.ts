// The process's default metrics (CPU, memory, event loop lag, GC, handles: prom-client's
// process_* and nodejs_*) live in one registry per process. Each coordinator or worker keeps its
// own baton_* metrics in a registry of its own (a test may run several in one process) and
// serves both in one /metrics body.
import { collectDefaultMetrics, Registry } from "prom-client";

// Gauges that prom-client names with a "_total" suffix, which Prometheus reserves for counters
// (`promtool check metrics` rejects them); the same numbers by type remain (nodejs_active_handles
// {type} and so on: sum() them for the total).
const LINT_FAILING_DEFAULTS = ["nodejs_active_handles_total", "nodejs_active_requests_total", "nodejs_active_resources_total"];

let processRegistry: Registry | undefined;

function defaults(): Registry {
  if (!processRegistry) {
    processRegistry = new Registry();
    collectDefaultMetrics({ register: processRegistry });
    for (const name of LINT_FAILING_DEFAULTS) processRegistry.removeSingleMetric(name);
  }
  return processRegistry;
}

export interface MetricsBody {
  contentType: string;
  body: string;
}

/** The text exposition of the process metrics followed by `own`'s. */
export async function exposition(own: Registry): Promise<MetricsBody> {
  const [processText, ownText] = await Promise.all([defaults().metrics(), own.metrics()]);
  return { contentType: Registry.PROMETHEUS_CONTENT_TYPE, body: `${processText.trimEnd()}\n${ownText}` };
}
