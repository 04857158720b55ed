// OpenTelemetry for a Baton process, configured only by the standard OTEL_* variables and off
// unless an exporter is configured: with tracing off, every span helper below is a no-op.
import { NodeSDK } from "@opentelemetry/sdk-node";

let enabled = false;

/** True when this process exports traces (an OTLP endpoint or a traces exporter is configured). */
export function tracingEnabled(): boolean {
  return enabled;
}

export function otelConfigured(env: NodeJS.ProcessEnv = process.env): boolean {
  if ((env.OTEL_SDK_DISABLED ?? "").toLowerCase() === "true") return false;
  const exporter = (env.OTEL_TRACES_EXPORTER ?? "").trim();
  if (exporter && exporter !== "none") return true;
  return Boolean(env.OTEL_EXPORTER_OTLP_ENDPOINT || env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
}

export interface Telemetry {
  enabled: boolean;
  shutdown(): Promise<void>;
}

/**
 * Starts the SDK (traces and metrics over OTLP as the OTEL_* variables say) when configured.
 * `service` is the default service.name; OTEL_SERVICE_NAME wins.
 */
export function startTelemetry(service: string, env: NodeJS.ProcessEnv = process.env): Telemetry {
  if (!otelConfigured(env)) return { enabled: false, shutdown: async () => {} };
  const sdk = new NodeSDK({ serviceName: env.OTEL_SERVICE_NAME ?? service });
  sdk.start();
  enabled = true;
  return {
    enabled: true,
    shutdown: async () => {
      enabled = false;
      await sdk.shutdown().catch(() => {});
    },
  };
}
