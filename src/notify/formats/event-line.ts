/** The readable line of an event that the chat formats send and alertmanager puts in its summary. Pure. */
import type { DomainEvent } from "../../domain/types.js";
import { formatDuration } from "../../lib/duration.js";

function str(value: unknown, fallback = "?"): string {
  return typeof value === "string" && value !== "" ? value : fallback;
}

function seconds(value: unknown): string | undefined {
  return typeof value === "number" && Number.isFinite(value) ? formatDuration(value * 1000) : undefined;
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
    case "target.poll_failed": {
      const e = d.error;
      const cause = e
        ? `${e.kind}${e.http_status ? ` HTTP ${e.http_status}` : ""}${e.error_code ? ` ${e.error_code}` : ""}`
        : "";
      const n = typeof d.consecutive_failures === "number" ? ` ${d.consecutive_failures} times in a row` : "";
      return `project ${event.projectId}: polling failed${n}${cause ? `: ${cause}` : ""}`;
    }
    case "target.poll_recovered":
      return `project ${event.projectId}: polling recovered`;
    case "imagewatch.test":
      return `test event from imagewatch${typeof d.webhook === "string" ? ` for webhook ${d.webhook}` : ""}`;
  }
}

/** The line as every chat format sends it: `[imagewatch] <summary>`. */
export function chatLine(event: DomainEvent): string {
  return `[imagewatch] ${eventSummaryLine(event)}`;
}
