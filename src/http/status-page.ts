/**
 * The HTML status page served at `GET /`: server-rendered, no scripts, every value escaped.
 */
import type { TargetState } from "../domain/target-health.js";
import type { ServerState } from "../domain/types.js";
import { formatHumanDuration } from "../lib/duration.js";
import type { DeliveryRecord, StoredEvent } from "../store/types.js";

/** What the page shows. */
export interface StatusPageInput {
  servers: readonly ServerState[];
  /** The health of every configured target; a banner for each one that is down or never answered. */
  targets?: readonly TargetState[];
  /** Newest first. */
  events: ReadonlyArray<StoredEvent & { deliveries: DeliveryRecord[] }>;
  now: number;
  version: string;
  stuckThresholdFor?: (status: string) => number | undefined;
}

/** Escapes text for HTML element content and double-quoted attribute values. */
export function escapeHtml(text: string): string {
  return text
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&#39;");
}

function describeError(err: ServerState["lastError"]): string {
  if (!err) return "";
  const parts: string[] = [err.kind];
  if (err.http_status !== undefined) parts.push(String(err.http_status));
  if (err.error_code) parts.push(err.error_code);
  if (err.error_msg) parts.push(err.error_msg);
  return parts.join(" ");
}

/** The banner of a target that is down or never answered (DESIGN §10); "" for a target that is up. */
export function targetBanner(t: TargetState, now: number): string {
  if (t.up) return "";
  const error = describeError(t.lastError);
  const since = t.downSince ?? t.lastTickAt;
  const when =
    since === null
      ? "not polled yet"
      : `since ${new Date(since).toISOString()} (${formatHumanDuration(now - since)})`;
  const what =
    t.lastSuccessAt === null
      ? "has never answered"
      : `is down, ${t.consecutiveFailures} failed tick(s) in a row; last answer ${new Date(t.lastSuccessAt).toISOString()}`;
  return (
    `<div class="banner" role="alert"><strong>Project <code>${escapeHtml(t.projectId)}</code> ${escapeHtml(what)}</strong> ` +
    `${escapeHtml(when)}${error ? `: <code>${escapeHtml(error)}</code>` : ""}</div>`
  );
}

const STYLE = `body{font-family:system-ui,sans-serif;margin:1.5rem;color:#222}
table{border-collapse:collapse;font-size:.9rem}th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:left}
th{background:#f3f3f3}tr.stuck td{background:#fff3cd}tr.failing td{background:#f8d7da}
code{font-size:.85rem}.muted{color:#777}
.banner{background:#f8d7da;color:#58151c;border:1px solid #f1aeb5;padding:.5rem .75rem;margin:.5rem 0}`;

/** Renders the whole page. */
export function renderStatusPage(input: StatusPageInput): string {
  const servers = [...input.servers].sort(
    (a, b) =>
      a.projectId.localeCompare(b.projectId) ||
      a.name.localeCompare(b.name) ||
      a.serverId.localeCompare(b.serverId),
  );
  const rows = servers.map((s) => {
    const threshold = s.status === null ? undefined : input.stuckThresholdFor?.(s.status);
    const stuck = s.stuck
      ? `yes${threshold !== undefined ? ` (&gt; ${escapeHtml(formatHumanDuration(threshold))})` : ""}`
      : "no";
    const cls = s.stuck ? ' class="stuck"' : s.lastPollOk === false ? ' class="failing"' : "";
    return (
      `<tr${cls}><td><code>${escapeHtml(s.projectId)}</code></td><td><code>${escapeHtml(s.serverId)}</code></td>` +
      `<td>${escapeHtml(s.name)}</td><td>${escapeHtml(s.status ?? "")}</td>` +
      `<td>${escapeHtml(formatHumanDuration(input.now - s.statusSince))}</td><td>${stuck}</td>` +
      `<td>${escapeHtml(describeError(s.lastError))}</td></tr>`
    );
  });
  // A target that never answered has no servers to show: say why rather than "no servers".
  const neverAnswered = (input.targets ?? []).some((t) => t.lastSuccessAt === null);
  const events = input.events.map((e) => {
    const status = typeof e.data.status === "string" ? e.data.status : "";
    const prev = typeof e.data.previous_status === "string" ? `${e.data.previous_status} → ` : "";
    const states = e.deliveries.map((d) => `${d.webhook}: ${d.state}`).join(", ");
    return (
      `<li><code>${escapeHtml(new Date(e.occurredAt).toISOString())}</code> ${escapeHtml(e.type)} ` +
      `<code>${escapeHtml(e.serverId)}</code> ${escapeHtml(String(e.data.name ?? ""))} ${escapeHtml(prev + status)}` +
      (states ? ` <span class="muted">(${escapeHtml(states)})</span>` : "") +
      `</li>`
    );
  });
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta http-equiv="refresh" content="30">
<title>imagewatch</title><style>${STYLE}</style></head>
<body><h1>imagewatch</h1>
${(input.targets ?? [])
  .map((t) => targetBanner(t, input.now))
  .filter((b) => b !== "")
  .join("\n")}
<p class="muted">version ${escapeHtml(input.version)} · ${servers.length} server(s) · ${escapeHtml(new Date(input.now).toISOString())}</p>
<table><thead><tr><th>project</th><th>server id</th><th>name</th><th>status</th><th>time in status</th><th>stuck</th><th>last error</th></tr></thead>
<tbody>
${rows.length > 0 ? rows.join("\n") : `<tr><td colspan="7" class="muted">${neverAnswered ? "no answer from the cloud API yet (see above)" : "no servers yet"}</td></tr>`}
</tbody></table>
<h2>Recent events</h2>
${events.length > 0 ? `<ul>\n${events.join("\n")}\n</ul>` : '<p class="muted">none yet</p>'}
<p class="muted"><a href="metrics">metrics</a> · <a href="api/v1/servers">servers (JSON)</a> · <a href="api/v1/events">events (JSON)</a></p>
</body></html>
`;
}
