/**
 * Showing a resolved config without its secrets: `maskConfig()` replaces every credential with `***`,
 * and `renderConfigYaml()` prints it back in the file's own shape (durations as `30s`, stuck as a flat
 * map), so the output of `check-config` reads like — and loads like — the input.
 */
import { stringify } from "yaml";
import { authKindOf } from "../cloud/auth/kinds.js";
import { MASK } from "../lib/credential-fields.js";
import { formatDuration } from "../lib/duration.js";
import { webhookFormat } from "../notify/formats/index.js";
import { CONFIG_DEFAULTS } from "./defaults.js";
import {
  type AuthConfig,
  type CloudConfig,
  type Config,
  DEFAULT_CLOUD,
  type WebhookConfig,
} from "./types.js";

/**
 * Hides the credentials a URL may carry: userinfo and query values always; with `maskPath`, the path
 * too, beyond its first segment (webhook formats whose URL path is the credential, such as slack).
 */
export function maskUrl(value: string, maskPath = false): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return value;
  }
  const pathSegments = url.pathname.split("/").filter((s) => s !== "");
  const pathIsSecret = maskPath && pathSegments.length > 1;
  if (url.username === "" && url.password === "" && url.search === "" && !pathIsSecret) return value;
  const userinfo = url.username !== "" || url.password !== "" ? `${MASK}@` : "";
  // Keep "no path" as written: URL() reports it as "/".
  const noPath = url.pathname === "/" && !/^[a-z]+:\/\/[^/?#]*\//i.test(value);
  const path = pathIsSecret ? `/${pathSegments[0]}/${MASK}` : noPath ? "" : url.pathname;
  const query = [...url.searchParams.keys()].map((k) => `${encodeURIComponent(k)}=${MASK}`).join("&");
  return `${url.protocol}//${userinfo}${url.host}${path}${query ? `?${query}` : ""}`;
}

/** `auth` with its credentials masked, by its kind's module. */
function maskAuth(auth: AuthConfig): AuthConfig {
  return authKindOf(auth).mask(auth);
}

function maskCloud(cloud: CloudConfig): CloudConfig {
  return {
    ...cloud,
    endpoint: maskUrl(cloud.endpoint),
    iamEndpoint: maskUrl(cloud.iamEndpoint),
    auth: maskAuth(cloud.auth),
    retry: { ...cloud.retry },
  };
}

/** One cloud in the file's shape (durations as strings; `ca` is never printed, `caFile` is). */
function cloudDocument(cloud: CloudConfig): Record<string, unknown> {
  const d = formatDuration;
  const auth: Record<string, unknown> = { ...cloud.auth };
  if (cloud.auth.kind === "agency") auth.duration = d(cloud.auth.duration);
  return {
    ...(cloud.region !== undefined ? { region: cloud.region } : {}),
    endpoint: cloud.endpoint,
    iamEndpoint: cloud.iamEndpoint,
    auth,
    requestTimeout: d(cloud.requestTimeout),
    maxRequestsPerSecond: cloud.maxRequestsPerSecond,
    retry: {
      attempts: cloud.retry.attempts,
      minDelay: d(cloud.retry.minDelay),
      maxDelay: d(cloud.retry.maxDelay),
    },
    ...(cloud.caFile !== undefined ? { caFile: cloud.caFile } : {}),
  };
}

function maskWebhook(w: WebhookConfig): WebhookConfig {
  const headers: Record<string, string> = {};
  for (const name of Object.keys(w.headers)) headers[name] = MASK;
  return {
    ...w,
    url: maskUrl(w.url, webhookFormat(w.format).urlPathIsCredential),
    ...(w.secret !== undefined ? { secret: MASK } : {}),
    events: [...w.events],
    statuses: [...w.statuses],
    headers,
    retry: { ...w.retry },
    ...(w.group !== undefined ? { group: { ...w.group } } : {}),
    ...(w.rateLimit !== undefined ? { rateLimit: w.rateLimit && { ...w.rateLimit } } : {}),
  };
}

/**
 * A copy of `config` with every secret replaced by `***`: access and secret keys, security token, token,
 * password (of every cloud, an agency's source included), webhook secrets and header values, the bearer token, and credentials inside URLs. Pure.
 */
export function maskConfig(config: Readonly<Config>): Config {
  const { server } = config;
  const clouds: Record<string, CloudConfig> = {};
  for (const [name, c] of Object.entries(config.clouds ?? { [DEFAULT_CLOUD]: config.cloud }))
    clouds[name] = maskCloud(c);
  return {
    cloud: clouds[DEFAULT_CLOUD] ?? maskCloud(config.cloud),
    clouds,
    targets: config.targets.map((t) => ({ ...t, serverIds: [...t.serverIds] })),
    schedule: { ...config.schedule },
    stuck: { thresholds: { ...config.stuck.thresholds }, repeatEvery: config.stuck.repeatEvery },
    jobs: { stuck: { ...config.jobs.stuck } },
    alerts: { ...config.alerts },
    webhooks: config.webhooks.map(maskWebhook),
    alertmanagers: (config.alertmanagers ?? []).map((a) => ({
      ...a,
      url: maskUrl(a.url),
      labels: { ...a.labels },
      headers: Object.fromEntries(Object.keys(a.headers).map((name) => [name, MASK])),
    })),
    server: {
      ...server,
      ...(server.bearerToken !== undefined ? { bearerToken: MASK } : {}),
      ...(server.tls
        ? { tls: { ...server.tls, ...(server.tls.key !== undefined ? { key: MASK } : {}) } }
        : {}),
    },
    state: { ...config.state },
    log: { ...config.log },
    sharding: { ...config.sharding },
  };
}

/**
 * The config in the file's shape, ready to print as YAML: durations as strings, `stuck` as a flat map
 * (a default status switched off shows as `0s`), `server` as `listen` (+ token). Does not mask: pass
 * `maskConfig(config)` for anything shown to a person.
 */
export function toConfigDocument(config: Readonly<Config>): Record<string, unknown> {
  const d = formatDuration;
  const stuck: Record<string, string> = {};
  for (const status of Object.keys(CONFIG_DEFAULTS.stuck.thresholds)) {
    if (!(status in config.stuck.thresholds)) stuck[status] = "0s";
  }
  for (const [status, ms] of Object.entries(config.stuck.thresholds)) stuck[status] = d(ms);
  stuck.repeatEvery = d(config.stuck.repeatEvery);
  const others = Object.entries(config.clouds ?? {}).filter(([name]) => name !== DEFAULT_CLOUD);
  return {
    cloud: cloudDocument(config.cloud),
    ...(others.length > 0
      ? { clouds: Object.fromEntries(others.map(([n, c]) => [n, cloudDocument(c)])) }
      : {}),
    targets: config.targets.map((t) => ({ ...t, serverIds: [...t.serverIds] })),
    schedule: {
      interval: d(config.schedule.interval),
      steadyInterval: d(config.schedule.steadyInterval),
      concurrency: config.schedule.concurrency,
    },
    stuck,
    jobs: {
      stuck: {
        CREATE_SERVER: d(config.jobs.stuck.CREATE_SERVER),
        CREATE_SERVER_IMAGE: d(config.jobs.stuck.CREATE_SERVER_IMAGE),
        DELETE_SERVER: d(config.jobs.stuck.DELETE_SERVER),
      },
    },
    alerts: { ...config.alerts },
    webhooks: config.webhooks.map((w) => ({
      name: w.name,
      url: w.url,
      format: w.format,
      ...(w.secret !== undefined ? { secret: w.secret } : {}),
      events: [...w.events],
      statuses: [...w.statuses],
      headers: { ...w.headers },
      timeout: d(w.timeout),
      retry: { minDelay: d(w.retry.minDelay), maxDelay: d(w.retry.maxDelay) },
      maxAge: d(w.maxAge),
      ...(w.group !== undefined ? { group: { wait: d(w.group.wait), max: w.group.max } } : {}),
      ...(w.rateLimit !== undefined
        ? { rateLimit: w.rateLimit ? { count: w.rateLimit.count, per: d(w.rateLimit.per) } : false }
        : {}),
    })),
    alertmanagers: (config.alertmanagers ?? []).map((a) => ({
      name: a.name,
      url: a.url,
      resendEvery: d(a.resendEvery),
      timeout: d(a.timeout),
      labels: { ...a.labels },
      headers: { ...a.headers },
    })),
    server: {
      listen: config.server.listen,
      ...(config.server.bearerToken !== undefined ? { bearerToken: config.server.bearerToken } : {}),
      ...(config.server.externalURL !== undefined ? { externalURL: config.server.externalURL } : {}),
      ...(config.server.tls
        ? {
            tls: {
              certFile: config.server.tls.certFile,
              keyFile: config.server.tls.keyFile,
              ...(config.server.tls.clientCAFile !== undefined
                ? { clientCAFile: config.server.tls.clientCAFile }
                : {}),
            },
          }
        : {}),
    },
    state: { path: config.state.path, retention: d(config.state.retention) },
    log: { ...config.log },
    sharding: { ...config.sharding },
  };
}

/** The config as YAML with every secret masked: what `check-config` prints. */
export function renderConfigYaml(config: Readonly<Config>): string {
  return stringify(toConfigDocument(maskConfig(config)), { lineWidth: 0 });
}
