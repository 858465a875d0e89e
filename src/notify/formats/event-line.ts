/** The readable line of an event that the chat formats send and alertmanager puts in its summary. Pure. */
import type { DomainEvent } from "../../domain/types.js";
import { formatHumanDuration } from "../../lib/duration.js";

function str(value: unknown, fallback = "?"): string {
  return typeof value === "string" && value !== "" ? value : fallback;
}

function seconds(value: unknown): string | undefined {
  return typeof value === "number" && Number.isFinite(value) ? formatHumanDuration(value * 1000) : undefined;
}

/** "polling failed 3 times in a row: http_5xx HTTP 503 WKS.0003", for a server's or a target's failure. */
function pollFailure(d: DomainEvent["data"]): string {
  const e = d.error;
  const cause = e
    ? `${e.kind}${e.http_status ? ` HTTP ${e.http_status}` : ""}${e.error_code ? ` ${e.error_code}` : ""}`
    : "";
  const n = typeof d.consecutive_failures === "number" ? ` ${d.consecutive_failures} times in a row` : "";
  return `polling failed${n}${cause ? `: ${cause}` : ""}`;
}

/** One human-readable line summarising `event`: names before ids, durations for people. */
export function eventSummaryLine(event: DomainEvent): string {
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
    case "image_server.poll_failed":
      return `${who}: ${pollFailure(d)}`;
    case "image_server.poll_recovered":
      return `${who}: polling recovered`;
    case "image_server.disappeared":
      return `${who}: disappeared (last status ${str(d.status)})`;
    case "target.poll_failed":
      return `project ${event.projectId}: ${pollFailure(d)}`;
    case "target.poll_recovered":
      return `project ${event.projectId}: polling recovered`;
    case "image_job.failed":
    case "image_job.succeeded":
    case "image_job.stuck":
      return jobLine(event);
    case "imagewatch.test":
      return `test event from imagewatch${typeof d.webhook === "string" ? ` for webhook ${d.webhook}` : ""}`;
  }
}

/** What a job of each type does, for people. */
const JOB_WORDS: Record<string, string> = {
  CREATE_SERVER: "image server creation",
  CREATE_SERVER_IMAGE: "image build",
  DELETE_SERVER: "image server deletion",
};

/** `build-office-2026: image build FAILED after 23m — WKS.0127 disk quota exceeded`. */
function jobLine(event: DomainEvent): string {
  const d = event.data;
  const who = str(d.name, d.server_id || `project ${str(d.project_id)}`);
  const what = JOB_WORDS[str(d.job_type)] ?? `job ${str(d.job_type)}`;
  const took = seconds(d.duration_seconds);
  if (event.type === "image_job.stuck") {
    const limit = seconds(d.stuck_threshold_seconds);
    return `${who}: ${what} still ${str(d.status)}${took ? ` after ${took}` : ""}${limit ? ` (threshold ${limit})` : ""} — job ${str(d.job_id)}`;
  }
  const failures = Array.isArray(d.failures) ? (d.failures as Array<Record<string, unknown>>) : [];
  const reason = failures
    .map((f) => [f.error_code, f.error_message].filter((x) => typeof x === "string" && x !== "").join(" "))
    .find((r) => r !== "");
  const status = event.type === "image_job.failed" ? "FAILED" : str(d.status);
  return `${who}: ${what} ${status}${took ? ` after ${took}` : ""}${reason ? ` — ${reason}` : ""}`;
}

/** The server page of `event` under `externalURL`, or undefined (no base URL, or not a server's event). */
export function eventLink(event: DomainEvent, externalURL: string | undefined): string | undefined {
  if (externalURL === undefined || !event.projectId || !event.serverId) return undefined;
  return `${externalURL}/servers/${encodeURIComponent(event.projectId)}/${encodeURIComponent(event.serverId)}`;
}

/** How serious an event is, for a platform's colour or emoji. */
export type EventSeverity = "critical" | "warning" | "ok" | "info";

/** The severity of one event: failures and stuck are warnings, ERROR critical, recoveries ok. */
export function eventSeverity(event: DomainEvent): EventSeverity {
  switch (event.type) {
    case "image_server.stuck":
    case "image_server.poll_failed":
    case "image_server.disappeared":
      return "warning";
    case "image_server.status_changed":
      return event.data.status === "ERROR" ? "critical" : "info";
    case "target.poll_failed":
      return "critical";
    case "image_job.failed":
    case "image_job.stuck":
      return "warning";
    case "image_server.stuck_resolved":
    case "image_server.poll_recovered":
    case "target.poll_recovered":
    case "image_job.succeeded":
      return "ok";
    default:
      return "info";
  }
}

/** The worst severity of several events. */
export function worstSeverity(events: readonly DomainEvent[]): EventSeverity {
  const order: EventSeverity[] = ["critical", "warning", "info", "ok"];
  const seen = new Set(events.map(eventSeverity));
  return order.find((s) => seen.has(s)) ?? "info";
}

/** An emoji per severity, for platforms whose text shows them. */
export const SEVERITY_EMOJI: Readonly<Record<EventSeverity, string>> = {
  critical: "🔴",
  warning: "🟠",
  ok: "🟢",
  info: "🔵",
};

/** The line as every chat format sends it: `[imagewatch] <summary>`. */
export function chatLine(event: DomainEvent): string {
  return `[imagewatch] ${eventSummaryLine(event)}`;
}

/** What a digest title calls one event type (DESIGN §10); a type missing here reads as its last segment. */
const TYPE_TITLES: Readonly<Record<string, string>> = {
  "image_server.status_changed": "status changed",
  "image_server.stuck": "stuck",
  "image_server.stuck_resolved": "no longer stuck",
  "image_server.poll_failed": "poll failed",
  "image_server.poll_recovered": "poll recovered",
  "image_server.discovered": "discovered",
  "image_server.disappeared": "disappeared",
  "imagewatch.test": "test events",
};

/** What a digest title counts, per event-type prefix ("7 image servers: …"). */
const SUBJECTS: Readonly<Record<string, string>> = {
  image_server: "image servers",
  target: "targets",
  image_job: "image jobs",
};

/** Whole titles for types that read better as a phrase ("3 builds finished"). */
const PHRASES: Readonly<Record<string, string>> = {
  "image_job.succeeded": "builds finished",
  "image_job.failed": "builds failed",
};

/** The cause every poll failure of a digest shares ("http_5xx 503 WKS.0003"), or "" when they differ. */
function commonCause(events: readonly DomainEvent[]): string {
  const causes = new Set(
    events.map((e) => {
      const err = e.data.error;
      return err ? [err.kind, err.http_status, err.error_code].filter((x) => x).join(" ") : "";
    }),
  );
  const [only] = causes;
  return causes.size === 1 && only ? only : "";
}

/**
 * The title line of a digest of `events` (two or more): their count and, when they share one type, what
 * happened ("7 image servers: poll failed — http_5xx 503 WKS.0003", "3 builds finished"); else "N events".
 */
export function digestTitle(events: readonly DomainEvent[]): string {
  const n = events.length;
  const types = new Set(events.map((e) => e.type));
  const [type] = types;
  if (types.size !== 1 || type === undefined) return `${n} events`;
  const phrase = PHRASES[type];
  if (phrase !== undefined) return `${n} ${phrase}`;
  const dot = type.indexOf(".");
  const subject = SUBJECTS[type.slice(0, dot)] ?? "events";
  const what = TYPE_TITLES[type] ?? type.slice(dot + 1).replace(/_/g, " ");
  const cause = type.endsWith(".poll_failed") ? commonCause(events) : "";
  return `${n} ${subject}: ${what}${cause ? ` — ${cause}` : ""}`;
}

/**
 * The text every chat format sends for `events`, led by the emoji of the worst severity: one event is
 * its {@link chatLine}; a digest is the `[imagewatch] <title>` line, then one `• <summary>` line per
 * event, in order.
 */
export function chatText(events: readonly DomainEvent[], externalURL?: string): string {
  const [first] = events;
  if (first === undefined) return "";
  const withLink = (line: string, e: DomainEvent) => {
    const link = eventLink(e, externalURL);
    return link === undefined ? line : `${line} ${link}`;
  };
  const emoji = SEVERITY_EMOJI[worstSeverity(events)];
  if (events.length === 1) return `${emoji} ${withLink(chatLine(first), first)}`;
  return [
    `${emoji} [imagewatch] ${digestTitle(events)}`,
    ...events.map((e) => withLink(`• ${eventSummaryLine(e)}`, e)),
  ].join("\n");
}
