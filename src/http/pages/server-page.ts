/**
 * `GET /servers/{project_id}/{server_id}` (DESIGN §14): one server's state, its 24-hour strip, its events
 * (job events among them) and the API object as last seen.
 */
import type { ServerState } from "../../domain/types.js";
import { formatHumanDuration } from "../../lib/duration.js";
import type { EventWithDeliveries, JobResult, StatusChange } from "../../store/types.js";
import {
  describeError,
  describeJob,
  escapeHtml,
  renderEventItem,
  renderShell,
  renderStrip,
  serverKey,
  statusBadge,
  stripSegments,
  timeTag,
} from "./common.js";

/** What the server page shows. */
export interface ServerPageInput {
  server: ServerState;
  /** Its events, newest first. */
  events: readonly EventWithDeliveries[];
  /** Its status changes of the last 24 hours, oldest first. */
  statusChanges: readonly StatusChange[];
  job?: JobResult;
  now: number;
  stuckThreshold?: number;
}

/** Renders the server page (two levels below `/`, so links start with `../../`). */
export function renderServerPage(input: ServerPageInput): string {
  const root = "../../";
  const s = input.server;
  const fact = (term: string, value: string) => `<dt>${term}</dt><dd>${value}</dd>`;
  const facts = [
    fact(
      "status",
      `${statusBadge(s.status)} for ${escapeHtml(formatHumanDuration(input.now - s.statusSince))}, since ${timeTag(s.statusSince)}`,
    ),
    fact("server id", `<code>${escapeHtml(s.serverId)}</code>`),
    fact("project", `<code>${escapeHtml(s.projectId)}</code>`),
    fact(
      "stuck",
      s.stuck && input.stuckThreshold !== undefined
        ? `stuck since ${timeTag(s.statusSince + input.stuckThreshold)}`
        : s.stuck
          ? "yes"
          : "no",
    ),
    fact(
      "last poll",
      s.lastPollAt === null
        ? "not yet"
        : `${timeTag(s.lastPollAt)} ${s.lastPollOk === false ? `<span class="flag flag-failing">failed</span> ${escapeHtml(describeError(s.lastError))} (${s.consecutiveFailures} in a row)` : "ok"}`,
    ),
    fact("last job", input.job ? escapeHtml(describeJob(input.job)) : "—"),
    fact("last 24 h", renderStrip(stripSegments(s, input.statusChanges, input.now), input.now)),
  ];
  const names = new Map([[serverKey(s.projectId, s.serverId), s.name]]);
  const events = input.events.map((e) => renderEventItem(e, root, names));
  const jobEvents = input.events.filter(
    (e) => e.type.startsWith("image_job.") || typeof e.data.job === "object",
  );
  const body = `<header class="top"><h1>${escapeHtml(s.name || s.serverId)}</h1><p><a href="${root}">all servers</a></p></header>
<main>
<dl class="facts">${facts.join("")}</dl>
<h2>Jobs</h2>
${jobEvents.length > 0 ? `<ul class="events">${jobEvents.map((e) => renderEventItem(e, root, names)).join("\n")}</ul>` : '<p class="muted">no job seen</p>'}
<h2>History</h2>
${events.length > 0 ? `<ul class="events">\n${events.join("\n")}\n</ul>` : '<p class="muted">no events</p>'}
<h2>API object</h2>
<pre>${escapeHtml(JSON.stringify(s.server?.raw ?? s.server ?? null, null, 2))}</pre>
</main>`;
  return renderShell({ title: `${s.name || s.serverId} · imagewatch`, root, body });
}
