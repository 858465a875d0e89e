/**
 * Pieces the HTML pages share: escaping, the page shell, status classes, the 24-hour strip, job results
 * and event lines. Pure functions of their inputs; every value that came from the API or the config is
 * escaped here.
 */
import { isTransitional, type ServerState } from "../../domain/types.js";
import { formatHumanDuration } from "../../lib/duration.js";
import type { DeliveryRecord, JobResult, StatusChange, StoredEvent } from "../../store/types.js";

/** The span the strip shows (ms). */
export const STRIP_WINDOW_MS = 24 * 3_600_000;

/** Escapes text for HTML element content and double-quoted attribute values. */
export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

/** A time for people: `2026-11-27 10:00:00 UTC`, in a `<time>` element. */
export function timeTag(ms: number): string {
  const iso = new Date(ms).toISOString();
  return `<time datetime="${iso}">${iso.slice(0, 10)} ${iso.slice(11, 19)} UTC</time>`;
}

/** The colour family of a status: error, transitional, steady or unknown. */
export function statusFamily(status: string | null): "error" | "transitional" | "steady" | "unknown" {
  if (status === null || status === "UNKNOWN") return "unknown";
  if (status === "ERROR") return "error";
  if (isTransitional(status)) return "transitional";
  return "steady";
}

/** A status badge. */
export function statusBadge(status: string | null): string {
  return `<span class="status status-${statusFamily(status)}">${escapeHtml(status ?? "not seen yet")}</span>`;
}

/** A poll error on one line: kind, HTTP status, API code and message. */
export function describeError(err: ServerState["lastError"]): string {
  if (!err) return "";
  const parts: string[] = [err.kind];
  if (err.http_status !== undefined) parts.push(String(err.http_status));
  if (err.error_code) parts.push(err.error_code);
  if (err.error_msg) parts.push(err.error_msg);
  return parts.join(" ");
}

/** The key of a server in the page's maps. */
export function serverKey(projectId: string, serverId: string): string {
  return `${projectId}\u0000${serverId}`;
}

/** The relative link to a server's page from a page `root` away from `/`. */
export function serverHref(root: string, projectId: string, serverId: string): string {
  return `${root}servers/${encodeURIComponent(projectId)}/${encodeURIComponent(serverId)}`;
}

/** One stretch of the strip. */
export interface StripSegment {
  from: number;
  to: number;
  status: string | null;
}

/**
 * The statuses of a server over `[now - 24h, now]` from its status changes (oldest first): before the
 * first change it was in that change's previous status (since `previousSince` when known); with no
 * change, in its current status since `statusSince`. Before that: nothing known (`status` null).
 */
export function stripSegments(
  server: Pick<ServerState, "status" | "statusSince">,
  changes: readonly StatusChange[],
  now: number,
): StripSegment[] {
  const start = now - STRIP_WINDOW_MS;
  const inWindow = changes.filter((c) => c.occurredAt >= start && c.occurredAt <= now);
  const segments: StripSegment[] = [];
  let from = start;
  const first = inWindow[0];
  let status: string | null | undefined = first?.previousStatus;
  const known = first ? (first.previousSince ?? start) : server.statusSince;
  if (known > start) segments.push({ from: start, to: Math.min(known, now), status: null });
  from = Math.min(Math.max(start, known), now);
  if (!first) status = server.status;
  for (const c of inWindow) {
    if (c.occurredAt > from) segments.push({ from, to: c.occurredAt, status: status ?? null });
    from = c.occurredAt;
    status = c.status;
  }
  if (now > from) segments.push({ from, to: now, status: status ?? null });
  return segments;
}

/** The 24-hour strip as inline SVG (240 units wide: 10 per hour), with a text equivalent. */
export function renderStrip(segments: readonly StripSegment[], now: number): string {
  const start = now - STRIP_WINDOW_MS;
  const x = (t: number) => ((t - start) / STRIP_WINDOW_MS) * 240;
  const rects = segments.map((s) => {
    const family = s.status === null ? "none" : statusFamily(s.status);
    const label = `${s.status ?? "no data"} ${formatHumanDuration(s.to - s.from)}`;
    // At least 1.5 of 240 units, so a status of a few seconds (the current one, often) stays visible.
    const w = Math.max(1.5, x(s.to) - x(s.from));
    const x0 = Math.min(x(s.from), 240 - w);
    return `<rect class="seg-${family}" data-status="${escapeHtml(s.status ?? "")}" x="${x0.toFixed(2)}" y="0" width="${w.toFixed(2)}" height="10"><title>${escapeHtml(label)}</title></rect>`;
  });
  const summary = segments
    .filter((s) => s.status !== null)
    .map((s) => `${s.status} ${formatHumanDuration(s.to - s.from)}`)
    .join(", ");
  const label = `last 24 hours: ${summary || "no data"}`;
  return `<svg class="strip" viewBox="0 0 240 10" preserveAspectRatio="none" role="img" aria-label="${escapeHtml(label)}">${rects.join("")}</svg>`;
}

/** A job result on one line: `CREATE_SERVER_IMAGE FAILED: CODE: message`. */
export function describeJob(job: JobResult | undefined): string {
  if (!job) return "";
  const what = [job.jobType, job.status].filter((x) => x !== "").join(" ") || job.eventType;
  return job.reason ? `${what}: ${job.reason}` : what;
}

/** One event as a list item; dead deliveries are marked. */
export function renderEventItem(
  e: StoredEvent & { deliveries: DeliveryRecord[] },
  root: string,
  names: ReadonlyMap<string, string>,
): string {
  const status = typeof e.data.status === "string" ? e.data.status : "";
  const prev = typeof e.data.previous_status === "string" ? `${e.data.previous_status} → ` : "";
  const name =
    names.get(serverKey(e.projectId, e.serverId)) ?? (typeof e.data.name === "string" ? e.data.name : "");
  const who =
    e.serverId === ""
      ? `project <code>${escapeHtml(e.projectId)}</code>`
      : `<a href="${escapeHtml(serverHref(root, e.projectId, e.serverId))}">${escapeHtml(name || e.serverId)}</a>`;
  const deliveries = e.deliveries.map(
    (d) =>
      `<span class="delivery delivery-${d.state}">${escapeHtml(d.webhook)}: ${d.state}${d.state === "dead" ? ` after ${d.attempts} attempt(s)` : ""}</span>`,
  );
  const dead = e.deliveries.some((d) => d.state === "dead");
  return (
    `<li class="event${dead ? " has-dead" : ""}">${timeTag(e.occurredAt)} <code>${escapeHtml(e.type)}</code> ${who}` +
    `${prev || status ? ` ${escapeHtml(prev + status)}` : ""}${deliveries.length > 0 ? ` ${deliveries.join(" ")}` : ""}</li>`
  );
}

/** The page shell: stylesheet and script from /static (the CSP forbids inline ones). */
export function renderShell(opts: {
  title: string;
  root: string;
  body: string;
  refreshSeconds?: number;
}): string {
  const refresh = opts.refreshSeconds !== undefined ? ` data-refresh-seconds="${opts.refreshSeconds}"` : "";
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(opts.title)}</title><link rel="stylesheet" href="${opts.root}static/status.css">
<link rel="icon" href="${opts.root}static/favicon.svg" type="image/svg+xml">
${opts.refreshSeconds !== undefined ? `<script src="${opts.root}static/refresh.js" defer></script>\n` : ""}</head>
<body${refresh}>
${opts.body}
</body></html>
`;
}
