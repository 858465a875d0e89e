/**
 * Every configuration default, in one place (DESIGN §2). Values are written the way the YAML writes
 * them (durations as strings); the schema parses them exactly like user input.
 */
import type { EventName } from "../domain/types.js";

/** Events a webhook receives when its `events` list is not given; `discovered` is opt-in. */
export const DEFAULT_WEBHOOK_EVENTS: readonly EventName[] = [
  "status_changed",
  "stuck",
  "stuck_resolved",
  "poll_failed",
  "poll_recovered",
  "disappeared",
  "target.poll_failed",
  "target.poll_recovered",
  "image_job.failed",
  "image_job.stuck",
];

/** The defaults of every optional key, as YAML input. */
export const CONFIG_DEFAULTS = {
  cloud: {
    requestTimeout: "10s",
    maxRequestsPerSecond: 5,
    retry: { attempts: 4, minDelay: "2s", maxDelay: "2m" },
  },
  target: { serverIds: [] as string[], discover: false, jobs: true },
  schedule: { interval: "30s", steadyInterval: "5m", concurrency: 4 },
  /** Stuck thresholds per status; the user's entries are merged over these. */
  stuck: { thresholds: { CREATING: "60m", BUILDING: "60m", DELETING: "20m" }, repeatEvery: "0s" },
  alerts: { pollFailureThreshold: 3 },
  /** Job stuck thresholds: Terraform's waits for create, build and delete (the API notes §6). */
  jobs: { stuck: { CREATE_SERVER: "60m", CREATE_SERVER_IMAGE: "60m", DELETE_SERVER: "20m" } },
  webhook: {
    format: "standard",
    events: DEFAULT_WEBHOOK_EVENTS,
    statuses: [] as string[],
    headers: {} as Record<string, string>,
    timeout: "10s",
    retry: { minDelay: "1s", maxDelay: "5m" },
    maxAge: "24h",
  },
  alertmanager: { resendEvery: "1m", timeout: "10s" },
  server: { listen: "0.0.0.0:9478", host: "0.0.0.0" },
  state: { path: "data/imagewatch.db", retention: "14d" },
  log: { level: "info", format: "json" },
  sharding: { count: 1, index: 0 },
} as const;

/** Regions served by `appstream.{region}.myhuaweicloud.com` (API §3). */
export const APPSTREAM_REGIONS: readonly string[] = [
  "cn-north-4",
  "cn-north-9",
  "cn-east-3",
  "cn-south-1",
  "cn-southwest-2",
];

/** Regions served by `workspace.{region}.myhuaweicloud.com` (API §3, the Go SDK's region table). */
export const WORKSPACE_REGIONS: readonly string[] = [
  "ap-southeast-1",
  "ap-southeast-2",
  "ap-southeast-3",
  "af-south-1",
  "af-north-1",
  "la-south-2",
  "la-north-2",
  "sa-brazil-1",
  "me-east-1",
  "tr-west-1",
  "cn-east-5",
  "cn-north-11",
];

/** The Workspace API endpoint of a region, or `undefined` when the region is not in the known tables. */
export function defaultEndpoint(region: string): string | undefined {
  if (APPSTREAM_REGIONS.includes(region)) return `https://appstream.${region}.myhuaweicloud.com`;
  if (WORKSPACE_REGIONS.includes(region)) return `https://workspace.${region}.myhuaweicloud.com`;
  return undefined;
}

/** The IAM endpoint of a region (the same host pattern everywhere). */
export function defaultIamEndpoint(region: string): string {
  return `https://iam.${region}.myhuaweicloud.com`;
}
