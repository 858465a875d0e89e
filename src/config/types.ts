/**
 * The resolved configuration, as `loadConfig()` returns it (frozen). Keys are those of DESIGN §2;
 * every duration is a number of milliseconds under the same key name.
 */
import type { AuthConfig } from "../cloud/auth/kinds.js";
import type { EventName } from "../domain/types.js";
import type { WebhookFormat } from "../notify/formats/index.js";

/** `cloud.auth`: the config of one registered auth kind (cloud/auth/kinds.ts). */
export type { AuthConfig };

export interface CloudConfig {
  region?: string;
  /** Always set after load: configured, or derived from region (API §3). No trailing slash. */
  endpoint: string;
  /** Always set after load. No trailing slash. */
  iamEndpoint: string;
  auth: AuthConfig;
  requestTimeout: number;
  maxRequestsPerSecond: number;
  /** attempts = total tries of one request, the first included. */
  retry: { attempts: number; minDelay: number; maxDelay: number };
  caFile?: string;
  /**
   * The PEM certificates of `caFile`, read and checked at load (set exactly when `caFile` is): the cloud
   * client trusts these and never reads the file itself.
   */
  ca?: string;
}

/** The name of `cloud:` among the clouds (`clouds:` holds the others). */
export const DEFAULT_CLOUD = "default";

export interface TargetConfig {
  projectId: string;
  /** The name of its cloud; absent = `default` (`cloud:`). */
  cloud?: string;
  serverIds: string[];
  discover: boolean;
  serverName?: string;
  enterpriseProjectId?: string;
  /** Also watch this project's image jobs (DESIGN §11); default true. */
  jobs: boolean;
}

/** `jobs:` (DESIGN §11). */
export interface JobsConfig {
  /** WAITING/RUNNING longer than this (ms) since begin_time → image_job.stuck; 0 = never. */
  stuck: { CREATE_SERVER: number; CREATE_SERVER_IMAGE: number; DELETE_SERVER: number };
}

export interface ScheduleConfig {
  interval: number;
  steadyInterval: number;
  concurrency: number;
}

export interface StuckConfig {
  /** Threshold per status name (ms). Defaults: CREATING 60m, BUILDING 60m, DELETING 20m. */
  thresholds: Readonly<Record<string, number>>;
  /** 0 = no reminders. */
  repeatEvery: number;
}

export interface WebhookConfig {
  name: string;
  url: string;
  format: WebhookFormat;
  secret?: string;
  events: EventName[];
  /** Empty = every status. */
  statuses: string[];
  headers: Record<string, string>;
  timeout: number;
  retry: { minDelay: number; maxDelay: number };
  maxAge: number;
  /**
   * Digests (DESIGN §10): a newly due event waits up to `wait` (ms) for others, then up to `max` go in one
   * message. Always set after load (the format's default fills what is not given); absent = the default.
   */
  group?: { wait: number; max: number };
  /**
   * At most `count` messages per `per` ms; null = no limit (`rateLimit: false` in the file). Always set
   * after load; absent = the format's default.
   */
  rateLimit?: { count: number; per: number } | null;
  /** `server.externalURL`, copied here at load: chat formats link to the server's page under it. */
  externalURL?: string;
}

/** `alertmanagers[]` (DESIGN §13): an Alertmanager that gets the alert set, as from Prometheus. */
export interface AlertmanagerConfig {
  name: string;
  /** Base URL, no trailing slash; alerts go to `{url}/api/v2/alerts`. */
  url: string;
  /** How often the whole set is pushed again (ms). */
  resendEvery: number;
  /** Timeout of one push (ms). */
  timeout: number;
  /** Added to every alert. */
  labels: Record<string, string>;
  /** Sent with every push (e.g. Authorization); masked when printed. */
  headers: Record<string, string>;
}

export interface Config {
  /** The cloud named `default`. */
  cloud: CloudConfig;
  /** Every cloud by name, `default` (the same object as `cloud`) included. */
  clouds: Readonly<Record<string, CloudConfig>>;
  targets: TargetConfig[];
  schedule: ScheduleConfig;
  stuck: StuckConfig;
  jobs: JobsConfig;
  alerts: { pollFailureThreshold: number };
  webhooks: WebhookConfig[];
  alertmanagers: AlertmanagerConfig[];
  /** listen is `host:port` as written; host and port are parsed from it. */
  server: {
    listen: string;
    host: string;
    port: number;
    bearerToken?: string;
    externalURL?: string;
    tls?: ServerTlsConfig;
  };
  state: { path: string; retention: number };
  log: {
    level: "trace" | "debug" | "info" | "warn" | "error" | "fatal" | "silent";
    format: "json" | "pretty";
  };
  /** index is resolved (from HOSTNAME when `auto` was given). */
  sharding: { count: number; index: number };
}

/** What loading produced: the frozen config and the warnings to print on stderr. */
export interface LoadedConfig {
  config: Readonly<Config>;
  warnings: string[];
  /** The file it came from. */
  path: string;
}

/**
 * `server.tls` (DESIGN §2): HTTPS, and mTLS with `clientCAFile`. The PEM material is read and checked at
 * load (like `cloud.caFile`), so a reload swaps in only certificates that parse and match their key.
 */
export interface ServerTlsConfig {
  certFile: string;
  keyFile: string;
  clientCAFile?: string;
  /** The PEM text of `certFile` (set at load). */
  cert?: string;
  /** The PEM text of `keyFile` (set at load; a secret). */
  key?: string;
  /** The PEM text of `clientCAFile` (set at load when it is given). */
  clientCA?: string;
}
