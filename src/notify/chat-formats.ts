/**
 * The non-standard webhook formats (DESIGN.md §6): chat platforms get one readable line per event in
 * their body shape and signing scheme; `alertmanager` gets an Alertmanager webhook v4 body. Pure.
 */
import { createHash, createHmac } from "node:crypto";
import type { WebhookConfig } from "../config/types.js";
import type { DomainEvent } from "../domain/types.js";
import { formatDuration } from "../lib/duration.js";

/** A built request for a non-standard format (`url` set when the format signs the URL). */
export interface FormattedRequest {
  body: string;
  url?: string;
}

function str(value: unknown, fallback = "?"): string {
  return typeof value === "string" && value !== "" ? value : fallback;
}

function seconds(value: unknown): string | undefined {
  return typeof value === "number" && Number.isFinite(value) ? formatDuration(value * 1000) : undefined;
}

/** One human-readable line describing `event`, as the chat formats send it. */
export function describeEvent(event: DomainEvent): string {
  const d = event.data;
  const who = `${str(d.name, d.server_id || "image server")} (${str(d.server_id)})`;
  switch (event.type) {
    case "image_server.status_changed": {
      const took = seconds(d.previous_status_duration_seconds);
      return `${who}: ${str(d.previous_status)} → ${str(d.status)}${took ? ` after ${took}` : ""}`;
    }
    case "image_server.discovered":
      return `${who}: discovered in status ${str(d.status)}`;
    case "image_server.stuck": {
      const stuck = seconds(d.stuck_seconds);
      const limit = seconds(d.stuck_threshold_seconds);
      return `${who}: stuck in ${str(d.status)}${stuck ? ` for ${stuck}` : ""}${limit ? ` (threshold ${limit})` : ""}`;
    }
    case "image_server.stuck_resolved":
      return `${who}: no longer stuck in ${str(d.previous_status)}, now ${str(d.status)}`;
    case "image_server.poll_failed": {
      const e = d.error;
      const cause = e
        ? `${e.kind}${e.http_status ? ` HTTP ${e.http_status}` : ""}${e.error_code ? ` ${e.error_code}` : ""}`
        : "";
      const n = typeof d.consecutive_failures === "number" ? ` ${d.consecutive_failures} times in a row` : "";
      return `${who}: polling failed${n}${cause ? `: ${cause}` : ""}`;
    }
    case "image_server.poll_recovered":
      return `${who}: polling recovered`;
    case "image_server.disappeared":
      return `${who}: disappeared (last status ${str(d.status)})`;
    case "imagewatch.test":
      return `test event from imagewatch${typeof d.webhook === "string" ? ` for webhook ${d.webhook}` : ""}`;
  }
}

/** The line with its prefix, as every chat format sends it. */
export function chatLine(event: DomainEvent): string {
  return `[imagewatch] ${describeEvent(event)}`;
}

/** Slack incoming webhook: `{"text": …}`. */
export function buildSlack(event: DomainEvent): FormattedRequest {
  return { body: JSON.stringify({ text: chatLine(event) }) };
}

/** WeCom (企业微信) group robot: `{"msgtype":"text","text":{"content":…}}`. */
export function buildWecom(event: DomainEvent): FormattedRequest {
  return { body: JSON.stringify({ msgtype: "text", text: { content: chatLine(event) } }) };
}

/**
 * DingTalk custom robot. With a secret ("加签"), the URL gets `timestamp` (ms) and
 * `sign = base64(HMAC-SHA256(secret, timestamp + "\n" + secret))`.
 */
export function buildDingtalk(
  event: DomainEvent,
  webhook: WebhookConfig,
  attemptAtMs: number,
): FormattedRequest {
  const body = JSON.stringify({ msgtype: "text", text: { content: chatLine(event) } });
  if (!webhook.secret) return { body };
  const timestamp = String(Math.floor(attemptAtMs));
  const sign = createHmac("sha256", webhook.secret)
    .update(`${timestamp}\n${webhook.secret}`)
    .digest("base64");
  const url = new URL(webhook.url);
  url.searchParams.set("timestamp", timestamp);
  url.searchParams.set("sign", sign);
  return { body, url: url.toString() };
}

/**
 * Feishu / Lark custom bot. With a secret, the body gets `timestamp` (seconds) and
 * `sign = base64(HMAC-SHA256(key = timestamp + "\n" + secret, message = ""))`.
 */
export function buildFeishu(
  event: DomainEvent,
  webhook: WebhookConfig,
  attemptAtMs: number,
): FormattedRequest {
  const message = { msg_type: "text", content: { text: chatLine(event) } };
  if (!webhook.secret) return { body: JSON.stringify(message) };
  const timestamp = String(Math.floor(attemptAtMs / 1000));
  const sign = createHmac("sha256", `${timestamp}\n${webhook.secret}`).update("").digest("base64");
  return { body: JSON.stringify({ timestamp, sign, ...message }) };
}

/** Alert names of the alertmanager format, per event type. */
const ALERT_NAMES: Record<DomainEvent["type"], string> = {
  "image_server.stuck": "ImageServerStuck",
  "image_server.stuck_resolved": "ImageServerStuck",
  "image_server.poll_failed": "ImageServerPollFailing",
  "image_server.poll_recovered": "ImageServerPollFailing",
  "image_server.status_changed": "ImageServerStatusChanged",
  "image_server.discovered": "ImageServerDiscovered",
  "image_server.disappeared": "ImageServerDisappeared",
  "imagewatch.test": "ImagewatchTest",
};

/** Events that fire an alert lasting until its resolving event. */
const FIRING: ReadonlySet<string> = new Set(["image_server.stuck", "image_server.poll_failed"]);
const RESOLVING: ReadonlySet<string> = new Set([
  "image_server.stuck_resolved",
  "image_server.poll_recovered",
]);
const WARNING: ReadonlySet<string> = new Set([...FIRING, ...RESOLVING, "image_server.disappeared"]);
/** Alertmanager's "no end" time for a firing alert. */
const NO_END = "0001-01-01T00:00:00Z";

/**
 * Alertmanager webhook v4 body, so existing Alertmanager receivers work unchanged. Stuck and poll
 * failures are real alerts: `stuck`/`poll_failed` fire, `stuck_resolved`/`poll_recovered` resolve the same
 * alert (same labels and fingerprint). Every other event is a one-off alert (`disappeared`: warning, the
 * rest: info), firing, with `endsAt` = its time so Alertmanager-style receivers expire it.
 */
/**
 * When the stuck status began, so the resolving alert carries the firing one's `startsAt`: the firing
 * event's `status_since`; for `stuck_resolved`, the end of the stuck status (the new status's start, or
 * the event time when the server disappeared) minus `stuck_seconds`.
 */
function stuckStartedAt(event: DomainEvent, resolved: boolean): string | undefined {
  const d = event.data;
  if (!resolved) return typeof d.status_since === "string" ? d.status_since : undefined;
  if (typeof d.stuck_seconds !== "number") return undefined;
  const end =
    typeof d.status_since === "string" && d.status !== null ? Date.parse(d.status_since) : event.occurredAt;
  return new Date(end - d.stuck_seconds * 1000).toISOString();
}

export function buildAlertmanager(event: DomainEvent, webhook: WebhookConfig): FormattedRequest {
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
  const startsAt = alertname === "ImageServerStuck" ? (stuckStartedAt(event, resolved) ?? at) : at;
  const alert = {
    status: resolved ? "resolved" : "firing",
    labels,
    annotations: { summary: describeEvent(event), event_id: event.id, event_type: event.type },
    startsAt,
    endsAt: FIRING.has(event.type) ? NO_END : at,
    generatorURL: "",
    fingerprint,
  };
  const body = {
    version: "4",
    groupKey: `imagewatch:${webhook.name}:${alertname}`,
    truncatedAlerts: 0,
    status: alert.status,
    receiver: webhook.name,
    groupLabels: { alertname },
    commonLabels: labels,
    commonAnnotations: alert.annotations,
    externalURL: "",
    alerts: [alert],
  };
  return { body: JSON.stringify(body) };
}

/**
 * Chat platforms answer 200 with an error code in the body. Returns the error text when a 2xx body
 * reports failure (and whether a retry may help: rate limits), or undefined when it reports success.
 */
export function platformError(
  format: WebhookConfig["format"],
  body: string,
): { message: string; retryable: boolean } | undefined {
  if (format !== "feishu" && format !== "dingtalk" && format !== "wecom") return undefined;
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(body) as Record<string, unknown>;
  } catch {
    return undefined; // not JSON: nothing to check; the 2xx stands
  }
  if (parsed === null || typeof parsed !== "object") return undefined;
  const code = format === "feishu" ? (parsed.code ?? parsed.StatusCode) : parsed.errcode;
  if (code === undefined || code === 0 || code === "0") return undefined;
  const msg = format === "feishu" ? (parsed.msg ?? parsed.StatusMessage) : parsed.errmsg;
  // Frequency limits: DingTalk 130101, WeCom 45009, Feishu 9499 / 11232.
  const retryable = [130101, 45009, 9499, 11232].includes(Number(code));
  return {
    message: `${format} error ${String(code)}: ${typeof msg === "string" ? msg : ""}`.trim(),
    retryable,
  };
}
