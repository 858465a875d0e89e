/**
 * What the status page reads out of stored events: the job result an event tells, and a status change.
 * Pure; the SQLite store uses them for its fleet-wide queries, the server page on one server's events.
 */
import type { JobResult, StatusChange, StoredEvent } from "./types.js";

const str = (v: unknown): string => (typeof v === "string" ? v : "");
const reasonOf = (o: Record<string, unknown> | undefined): string =>
  o ? [str(o.error_code), str(o.error_message)].filter((x) => x !== "").join(": ") : "";

/**
 * The job result an `image_job.*` event (its first failure's reason) or a status change's `job` field
 * tells (DESIGN §11); undefined for any other event.
 */
export function jobResultOf(e: StoredEvent): JobResult | undefined {
  const base = { projectId: e.projectId, serverId: e.serverId, occurredAt: e.occurredAt, eventType: e.type };
  const data = e.data as Record<string, unknown>;
  if (e.type.startsWith("image_job.")) {
    const failures = Array.isArray(data.failures) ? (data.failures as Array<Record<string, unknown>>) : [];
    return { ...base, jobType: str(data.job_type), status: str(data.status), reason: reasonOf(failures[0]) };
  }
  if (e.type !== "image_server.status_changed") return undefined;
  const job = data.job;
  if (typeof job !== "object" || job === null || Array.isArray(job)) return undefined;
  const j = job as Record<string, unknown>;
  return { ...base, jobType: str(j.job_type), status: str(j.status), reason: reasonOf(j) };
}

/** The status change an `image_server.status_changed` event records; undefined for any other event. */
export function statusChangeOf(e: StoredEvent): StatusChange | undefined {
  if (e.type !== "image_server.status_changed") return undefined;
  const prevSeconds = e.data.previous_status_duration_seconds;
  return {
    projectId: e.projectId,
    serverId: e.serverId,
    occurredAt: e.occurredAt,
    previousStatus: typeof e.data.previous_status === "string" ? e.data.previous_status : null,
    previousSince: typeof prevSeconds === "number" ? e.occurredAt - prevSeconds * 1000 : null,
    status: typeof e.data.status === "string" ? e.data.status : null,
  };
}
