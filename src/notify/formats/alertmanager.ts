/**
 * `format: alertmanager`: the body Alertmanager sends to its receivers (webhook v4), so receivers written
 * for Alertmanager work unchanged (DESIGN §6).
 */
import { createHash } from "node:crypto";
import type { DomainEvent } from "../../domain/types.js";
import { eventSummaryLine } from "./event-line.js";
import { DIGEST_GROUP, type WebhookFormatModule } from "./format.js";

/** Alert names, per event type. */
const ALERT_NAMES: Record<DomainEvent["type"], string> = {
  "image_server.stuck": "ImageServerStuck",
  "image_server.stuck_resolved": "ImageServerStuck",
  "image_server.poll_failed": "ImageServerPollFailing",
  "image_server.poll_recovered": "ImageServerPollFailing",
  "image_server.status_changed": "ImageServerStatusChanged",
  "image_server.discovered": "ImageServerDiscovered",
  "image_server.disappeared": "ImageServerDisappeared",
  "target.poll_failed": "ImagewatchTargetDown",
  "target.poll_recovered": "ImagewatchTargetDown",
  "image_job.failed": "ImageJobFailed",
  "image_job.succeeded": "ImageJobSucceeded",
  "image_job.stuck": "ImageJobStuck",
  "imagewatch.test": "ImagewatchTest",
};

/** Events that fire an alert lasting until its resolving event. */
const FIRING: ReadonlySet<string> = new Set([
  "image_server.stuck",
  "image_server.poll_failed",
  "target.poll_failed",
]);
const RESOLVING: ReadonlySet<string> = new Set([
  "image_server.stuck_resolved",
  "image_server.poll_recovered",
  "target.poll_recovered",
]);
const WARNING: ReadonlySet<string> = new Set([...FIRING, ...RESOLVING, "image_server.disappeared"]);
/** Alertmanager's "no end" time for a firing alert. */
const NO_END = "0001-01-01T00:00:00Z";

/**
 * When the stuck status began (DESIGN §13: startsAt of a stuck alert), so the resolving alert carries the
 * firing one's `startsAt` however the episode ended: `status_since` of `stuck`, `previous_status_since` of
 * `stuck_resolved` (the stuck status's start, also when the server disappeared or its threshold was removed).
 */
function stuckSince(event: DomainEvent): unknown {
  return event.type === "image_server.stuck_resolved"
    ? event.data.previous_status_since
    : event.data.status_since;
}

/** One event as an Alertmanager alert. */
function toAlert(event: DomainEvent) {
  const d = event.data;
  const alertname = ALERT_NAMES[event.type];
  const resolved = RESOLVING.has(event.type);
  const at = new Date(event.occurredAt).toISOString();
  const labels: Record<string, string> = {
    alertname,
    severity: WARNING.has(event.type) ? "warning" : "info",
    project_id: event.projectId,
    server_id: event.serverId,
  };
  if (typeof d.name === "string" && d.name !== "") labels.name = d.name;
  // The stuck alert is per status; keep the label the firing and the resolving events share.
  const stuckStatus = event.type === "image_server.stuck_resolved" ? d.previous_status : d.status;
  if (alertname === "ImageServerStuck" && typeof stuckStatus === "string") labels.status = stuckStatus;
  if (alertname === "ImageServerStatusChanged" && typeof d.status === "string") labels.status = d.status;
  const fingerprint = createHash("sha256")
    .update(JSON.stringify(Object.entries(labels).sort()))
    .digest("hex")
    .slice(0, 16);
  const since = alertname === "ImageServerStuck" ? stuckSince(event) : undefined;
  const annotations: Record<string, string> = {
    summary: eventSummaryLine(event),
    event_id: event.id,
    event_type: event.type,
  };
  return {
    status: resolved ? "resolved" : "firing",
    labels,
    annotations,
    startsAt: typeof since === "string" ? since : at,
    endsAt: FIRING.has(event.type) ? NO_END : at,
    generatorURL: "",
    fingerprint,
  };
}

/** The entries every record shares (Alertmanager's commonLabels / commonAnnotations). */
function common(records: ReadonlyArray<Record<string, string>>): Record<string, string> {
  const [first, ...rest] = records;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(first ?? {})) if (rest.every((r) => r[k] === v)) out[k] = v;
  return out;
}

/**
 * The webhook v4 body of `events` (one, or a digest). Alerts are grouped by alertname, in the order each
 * alertname first appears; the group labels are `{alertname}` when one alertname covers them all, else `{}`.
 * The body is firing when any alert fires, as Alertmanager's is.
 */
function buildAlertmanagerBody(events: readonly DomainEvent[], receiver: string): string {
  const byName = new Map<string, ReturnType<typeof toAlert>[]>();
  for (const event of events) {
    const alert = toAlert(event);
    const name = alert.labels.alertname as string;
    const list = byName.get(name);
    if (list) list.push(alert);
    else byName.set(name, [alert]);
  }
  const alerts = [...byName.values()].flat();
  const [only] = byName.keys();
  const groupLabels: Record<string, string> =
    byName.size === 1 && only !== undefined ? { alertname: only } : {};
  return JSON.stringify({
    version: "4",
    groupKey: `imagewatch:${receiver}:${only !== undefined && byName.size === 1 ? only : "digest"}`,
    truncatedAlerts: 0,
    status: alerts.some((a) => a.status === "firing") ? "firing" : "resolved",
    receiver,
    groupLabels,
    commonLabels: common(alerts.map((a) => a.labels)),
    commonAnnotations: common(alerts.map((a) => a.annotations)),
    externalURL: "",
    alerts,
  });
}

/**
 * Alertmanager webhook v4. Stuck and poll failures are real alerts: `stuck`/`poll_failed` fire,
 * `stuck_resolved`/`poll_recovered` resolve the same alert (same labels and fingerprint). Every other
 * event is a one-off alert (`disappeared`: warning, the rest: info), firing, with `endsAt` = its time so
 * Alertmanager-style receivers expire it. A digest carries its alerts grouped by alertname.
 */
export const alertmanagerFormat: WebhookFormatModule<"alertmanager"> = {
  name: "alertmanager",
  build: (event, webhook) => ({ body: buildAlertmanagerBody([event], webhook.name) }),
  buildDigest: (events, webhook) => ({ body: buildAlertmanagerBody(events, webhook.name) }),
  platformError: () => undefined,
  secret: { use: "unused" },
  urlPathIsCredential: false,
  defaults: { group: DIGEST_GROUP, rateLimit: null },
};
