import type { MetricsConfig } from "./metrics.js";

/** The parts of a config `metricsConfigOf` reads (a `Config` is one). */
export interface MetricsConfigSource {
  cloud: { region?: string };
  /** Every cloud by name (absent: only `cloud`, named "default"). */
  clouds?: Readonly<Record<string, { region?: string }>>;
  targets: readonly { projectId: string; cloud?: string }[];
  webhooks: readonly { name: string }[];
  alertmanagers?: readonly { name: string }[];
}

/**
 * What `Metrics.configure` needs from a config: every target with its cloud and region, and the webhook
 * names. A target is on the cloud it names, or on "default" (`cloud:`).
 */
export function metricsConfigOf(config: MetricsConfigSource): MetricsConfig {
  return {
    targets: config.targets.map((t) => {
      const cloud = t.cloud ?? "default";
      const region = (cloud === "default" ? config.cloud : config.clouds?.[cloud])?.region;
      return { projectId: t.projectId, cloud, region: region ?? "" };
    }),
    webhooks: config.webhooks.map((w) => w.name),
    alertmanagers: (config.alertmanagers ?? []).map((a) => a.name),
  };
}
