/**
 * Which webhooks an event goes to. Pure: the poller calls it when it commits an event, to write one
 * delivery row per matching webhook.
 */
import type { DomainEvent } from "../domain/types.js";

/** The subset of a webhook's config that filtering reads. */
export interface WebhookFilter {
  /** Event names without the `image_server.` prefix (`status_changed`, `stuck`, …). */
  events: readonly string[];
  /** Empty = every status. */
  statuses: readonly string[];
}

const PREFIX = "image_server.";

/**
 * Event types the `statuses` filter applies to: those that say which status a server went into
 * (`status_changed`: the new status; `discovered`: the status it was first seen in). The other events
 * (stuck, stuck_resolved, poll_failed, poll_recovered, disappeared) are alarms about the server or the
 * poller rather than "changes into a status"; they are selected by `events` alone, so a webhook that
 * narrows `statuses: [BUILT, ERROR]` still hears that a build is stuck or that polling fails.
 */
const STATUS_FILTERED_TYPES: ReadonlySet<string> = new Set([
  "image_server.status_changed",
  "image_server.discovered",
]);

/**
 * True when `event` should be delivered to `webhook`:
 * - `imagewatch.test` always matches (it is sent on request, to one webhook);
 * - otherwise the event's name (its type without `image_server.`; other types in full) must be in
 *   `webhook.events`;
 * - and, for `status_changed` and `discovered` only, a non-empty `webhook.statuses` must contain the
 *   event's `data.status` (see {@link STATUS_FILTERED_TYPES}).
 */
export function matchesWebhook(event: DomainEvent, webhook: WebhookFilter): boolean {
  if (event.type === "imagewatch.test") return true;
  // image_server events are named without their prefix, the others in full (`target.poll_failed`).
  const name = event.type.startsWith(PREFIX) ? event.type.slice(PREFIX.length) : event.type;
  if (!webhook.events.includes(name)) return false;
  if (webhook.statuses.length > 0 && STATUS_FILTERED_TYPES.has(event.type)) {
    const status = event.data.status;
    return typeof status === "string" && webhook.statuses.includes(status);
  }
  return true;
}
