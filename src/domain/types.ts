/**
 * Core data types shared by every part of imagewatch. Pure data: no IO, no imports.
 */

/** The six statuses the Workspace API documents (the API notes §1), in the order metrics list them. */
export const KNOWN_STATUSES = ["CREATING", "ACTIVE", "BUILDING", "BUILT", "ERROR", "DELETING"] as const;
/** One of the six documented statuses. */
export type KnownStatus = (typeof KNOWN_STATUSES)[number];
/**
 * A server status as imagewatch tracks it: a known status, `UNKNOWN` (missing or the literal `"null"`),
 * or any other string the API returned, kept as it is.
 */
export type ServerStatus = KnownStatus | "UNKNOWN" | (string & {});
/** Statuses polled every `schedule.interval`; all others every `schedule.steadyInterval`. */
export const TRANSITIONAL_STATUSES: ReadonlySet<string> = new Set(["CREATING", "BUILDING", "DELETING"]);

/** True when `status` is one of the transitional statuses. */
export function isTransitional(status: string | null | undefined): boolean {
  return status != null && TRANSITIONAL_STATUSES.has(status);
}

/** An image server as the cloud client returns it: parsed fields plus the API object as it came. */
export interface ImageServer {
  /** The image server's own id (`{server_id}` of the API path). */
  id: string;
  name: string;
  /** Normalised: `UNKNOWN` for a missing status or the literal `"null"`; any other string as returned. */
  status: ServerStatus;
  /** `update_time` in ms since epoch, or null when absent or unparseable. */
  updateTime: number | null;
  /** `create_time` in ms since epoch, or null. */
  createTime: number | null;
  /** `image_id` (the produced image), "" when absent. */
  imageId: string;
  /** `image_ref.image_type`, "" when absent. */
  imageType: string;
  serverGroupId: string;
  appGroupId: string;
  /** The API body's `server_id` field: the APS instance id. */
  apsServerId: string;
  /** `instance_id`: the ECS instance. */
  instanceId: string;
  /** The API object exactly as returned (extra fields kept). Never holds credentials. */
  raw: Record<string, unknown>;
}

/** The outcome classes of one API request (DESIGN §5 `poll_requests_total{outcome}`). */
export type RequestOutcome =
  | "success"
  | "not_found"
  | "http_4xx"
  | "http_5xx"
  | "throttled"
  | "timeout"
  | "network"
  | "invalid_response"
  | "auth";

/** A failed poll, as events and the JSON API report it (DESIGN §6 `error`). */
export interface PollError {
  kind: Exclude<RequestOutcome, "success">;
  http_status?: number;
  error_code?: string;
  error_msg?: string;
  request_id?: string;
}

/** What one poll learned about one server. */
export type ServerPollResult =
  | { kind: "ok"; server: ImageServer }
  /** 404 on a GET, or absent from a complete list. */
  | { kind: "not_found"; requestId?: string }
  | { kind: "failed"; error: PollError };

/** Everything imagewatch remembers about one server between polls (persisted in the store). */
export interface ServerState {
  projectId: string;
  serverId: string;
  name: string;
  /** Current status; null before the server was ever seen. */
  status: ServerStatus | null;
  /** When the current status began (ms). On first sight: the API's update_time. */
  statusSince: number;
  /** False once the server disappeared (404 or absent from a complete list). */
  present: boolean;
  /** True while time in status is above its stuck threshold. */
  stuck: boolean;
  /** When the last stuck event or reminder was emitted for this episode (ms), null if none. */
  stuckNotifiedAt: number | null;
  /** How many stuck events (first + reminders) this episode emitted. */
  stuckCount: number;
  /** Consecutive failed polls of this server. */
  consecutiveFailures: number;
  /** True once poll_failed was emitted for the current failure streak. */
  pollFailedNotified: boolean;
  /**
   * How many failures of the current streak happened while the whole target failed (DESIGN §10): they
   * count in `consecutiveFailures` but not towards this server's own `poll_failed`. Absent = 0.
   */
  targetFailures?: number;
  lastPollAt: number | null;
  lastPollOk: boolean | null;
  lastSuccessAt: number | null;
  lastError: PollError | null;
  /** The API object as last seen, null before first sight. */
  server: ImageServer | null;
  /**
   * How many times this server disappeared. Part of the ids of `disappeared` and of the `discovered`
   * that follows, so a server that flaps with an unchanged API object still gets fresh ids each cycle.
   * Absent in states written before it existed (= 0).
   */
  generation?: number;
}

/** Event types (DESIGN §6). */
export const EVENT_TYPES = [
  "image_server.status_changed",
  "image_server.stuck",
  "image_server.stuck_resolved",
  "image_server.poll_failed",
  "image_server.poll_recovered",
  "image_server.discovered",
  "image_server.disappeared",
  "target.poll_failed",
  "target.poll_recovered",
  "image_job.failed",
  "image_job.succeeded",
  "image_job.stuck",
  "imagewatch.test",
] as const;
export type EventType = (typeof EVENT_TYPES)[number];

/**
 * The names the config's `webhooks[].events` list uses: the `image_server.` types without their prefix,
 * the others in full (DESIGN §6).
 */
export const EVENT_NAMES = [
  "status_changed",
  "stuck",
  "stuck_resolved",
  "poll_failed",
  "poll_recovered",
  "discovered",
  "disappeared",
  "target.poll_failed",
  "target.poll_recovered",
  "image_job.failed",
  "image_job.succeeded",
  "image_job.stuck",
] as const;
export type EventName = (typeof EVENT_NAMES)[number];

/**
 * One event. `data` is exactly the webhook payload's `data` object (DESIGN §6). Target events
 * (`target.*`) have `serverId` "" and a data object of their own ({@link TargetEventData}).
 */
export interface DomainEvent {
  /** `evt_…`, derived from content: the same change never gets two ids. */
  id: string;
  type: EventType;
  /** When imagewatch observed it (ms); the payload's `timestamp`. */
  occurredAt: number;
  projectId: string;
  serverId: string;
  data: EventData;
}

/**
 * The payload `data` of an event (DESIGN §6). Optional fields appear only on the events that have
 * them; `server_id`, `name` and `status` are on every image_server event and absent from target events.
 */
export interface EventData {
  event_id: string;
  project_id: string;
  server_id?: string;
  name?: string;
  status?: string | null;
  previous_status?: string | null;
  status_since?: string;
  previous_status_duration_seconds?: number;
  stuck_threshold_seconds?: number;
  stuck_seconds?: number;
  consecutive_failures?: number;
  error?: PollError;
  image_server?: Record<string, unknown> | null;
  [extra: string]: unknown;
}

/** The payload `data` of `target.poll_failed` / `target.poll_recovered` (DESIGN §10). */
export interface TargetEventData extends EventData {
  /** The name of the target's cloud ("default" for `cloud:`). */
  cloud: string;
  consecutive_failures: number;
  /** The failure that made the tick fail (poll_failed), or the last one of the streak (poll_recovered). */
  error: PollError;
  /** How many servers the target covers. */
  servers: number;
}
