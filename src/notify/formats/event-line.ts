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

/** The line as every chat format sends it: `[imagewatch] <summary>`. */
export function chatLine(event: DomainEvent): string {
  return `[imagewatch] ${eventSummaryLine(event)}`;
}
