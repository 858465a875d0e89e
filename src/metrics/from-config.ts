import type { MetricsConfig } from "./metrics.js";

/** The parts of a config `metricsConfigOf` reads (a `Config` is one). */
export interface MetricsConfigSource {
  cloud: { region?: string };
  targets: readonly { projectId: string }[];
  webhooks: readonly { name: string }[];
  alertmanagers?: readonly { name: string }[];
}

/**
 * What `Metrics.configure` needs from a config: every target with its cloud and region, and the webhook
 * names. Every target is on the cloud named "default" (`cloud:`) until a target can name another one.
 */
export function metricsConfigOf(config: MetricsConfigSource): MetricsConfig {
  return {
    targets: config.targets.map((t) => ({
      projectId: t.projectId,
      cloud: "default",
      region: config.cloud.region ?? "",
    })),
    webhooks: config.webhooks.map((w) => w.name),
    alertmanagers: (config.alertmanagers ?? []).map((a) => a.name),
  };
}
