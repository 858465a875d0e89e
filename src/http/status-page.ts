/**
 * The HTML status page served at `GET /` (DESIGN §14): server-rendered and complete without JavaScript
 * (`/static/refresh.js` only refreshes it in place), every value escaped, no inline script or style.
 */
import type { TargetState } from "../domain/target-health.js";
import { EVENT_TYPES, type ServerState } from "../domain/types.js";
import { formatHumanDuration } from "../lib/duration.js";
import type { DeliveryRecord, JobResult, StatusChange, StoredEvent } from "../store/types.js";
import {
  describeError,
  describeJob,
  escapeHtml,
  renderEventItem,
  renderShell,
  renderStrip,
  serverHref,
  serverKey,
  statusBadge,
  statusFamily,
  stripSegments,
  timeTag,
} from "./pages/common.js";

export { escapeHtml } from "./pages/common.js";

/** Servers per page; beyond it the page links to the next one. */
export const SERVERS_PER_PAGE = 200;
/** How often the refresh script reloads the page's live regions (s). */
export const REFRESH_SECONDS = 30;

/** How much a server needs attention, most first (DESIGN §14). */
export type Attention = "failing" | "error" | "stuck" | "transitional" | "steady";
const ATTENTION_ORDER: readonly Attention[] = ["failing", "error", "stuck", "transitional", "steady"];

/** The attention class of a server: poll failing, ERROR, stuck, transitional, steady. */
export function attentionOf(s: ServerState): Attention {
  if (s.lastPollOk === false) return "failing";
  if (s.status === "ERROR") return "error";
  if (s.stuck) return "stuck";
  if (statusFamily(s.status) !== "steady") return "transitional";
  return "steady";
}

/** Servers ordered by attention, then name, project and id. */
export function orderByAttention(servers: readonly ServerState[]): ServerState[] {
  const rank = new Map(servers.map((s) => [s, ATTENTION_ORDER.indexOf(attentionOf(s))]));
  return [...servers].sort(
    (a, b) =>
      (rank.get(a) ?? 0) - (rank.get(b) ?? 0) ||
      a.name.localeCompare(b.name) ||
      a.projectId.localeCompare(b.projectId) ||
      a.serverId.localeCompare(b.serverId),
  );
}

/** The events filter of the page's form (the same names as `/api/v1/events`). */
export interface PageEventFilter {
  type?: string;
  project_id?: string;
  server_id?: string;
}

/** What the page shows. */
export interface StatusPageInput {
  servers: readonly ServerState[];
  /** The health of every configured target; a banner for each one that is down or never answered. */
  targets?: readonly TargetState[];
  /** Newest first, already narrowed by `filter`. */
  events: ReadonlyArray<StoredEvent & { deliveries: DeliveryRecord[] }>;
  now: number;
  version: string;
  stuckThresholdFor?: (status: string) => number | undefined;
  /** Status changes of the last 24 hours (any servers; oldest first). */
  statusChanges?: readonly StatusChange[];
  /** The newest job result per server. */
  jobs?: readonly JobResult[];
  /** BUILDING→BUILT durations of the last 7 days (s). */
  buildDurations?: readonly number[];
  /** The events filter as given (shown in the form). */
  filter?: PageEventFilter;
  /** A problem with the filter, shown above the events. */
  filterError?: string;
  /** `steady`: list the steady servers (paged) instead of the ones that need attention. */
  view?: "attention" | "steady";
  /** 1-based page of the current view. */
  page?: number;
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

/** The median and 90th percentile (nearest rank) of `values`, or undefined when there are none. */
export function medianAndP90(values: readonly number[]): { median: number; p90: number } | undefined {
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] as number;
  return { median: at(0.5), p90: at(0.9) };
}

interface RowContext {
  now: number;
  root: string;
  changes: ReadonlyMap<string, StatusChange[]>;
  jobs: ReadonlyMap<string, JobResult>;
  downTargets: ReadonlySet<string>;
  manyProjects: boolean;
  stuckThresholdFor?: (status: string) => number | undefined;
}

/** One server's table row (a card below 700 px). */
function renderServerRow(s: ServerState, ctx: RowContext): string {
  const attention = attentionOf(s);
  const key = serverKey(s.projectId, s.serverId);
  const threshold = s.status === null ? undefined : ctx.stuckThresholdFor?.(s.status);
  const flags: string[] = [];
  if (s.lastPollOk === false) flags.push('<span class="flag flag-failing">poll failing</span>');
  if (s.stuck) flags.push('<span class="flag flag-stuck">stuck</span>');
  const stuckSince =
    s.stuck && threshold !== undefined
      ? `stuck since ${timeTag(s.statusSince + threshold)} (over ${escapeHtml(formatHumanDuration(threshold))})`
      : s.stuck
        ? "stuck"
        : "—";
  const problem =
    s.lastPollOk === false
      ? ctx.downTargets.has(s.projectId)
        ? "target down (see the banner above)"
        : `${escapeHtml(describeError(s.lastError))}${s.consecutiveFailures > 0 ? ` (${s.consecutiveFailures} failed poll(s))` : ""}`
      : "";
  const job = describeJob(ctx.jobs.get(key));
  const project = ctx.manyProjects
    ? ` <span class="muted">project <code>${escapeHtml(s.projectId)}</code></span>`
    : "";
  return (
    `<tr class="server attn-${attention}" data-attention="${attention}">` +
    `<td class="name"><a href="${escapeHtml(serverHref(ctx.root, s.projectId, s.serverId))}">${escapeHtml(s.name || s.serverId)}</a><br><code class="muted">${escapeHtml(s.serverId)}</code>${project}</td>` +
    `<td data-label="status">${statusBadge(s.status)} ${flags.join(" ")}</td>` +
    `<td data-label="in status">${escapeHtml(formatHumanDuration(ctx.now - s.statusSince))}</td>` +
    `<td data-label="stuck" class="stuck-since">${stuckSince}</td>` +
    `<td data-label="last job">${job ? escapeHtml(job) : "—"}</td>` +
    `<td data-label="problem">${problem || "—"}</td>` +
    `<td data-label="24 h">${renderStrip(stripSegments(s, ctx.changes.get(key) ?? [], ctx.now), ctx.now)}</td></tr>`
  );
}

function groupChanges(changes: readonly StatusChange[]): Map<string, StatusChange[]> {
  const out = new Map<string, StatusChange[]>();
  for (const c of changes) {
    const key = serverKey(c.projectId, c.serverId);
    const list = out.get(key);
    if (list) list.push(c);
    else out.set(key, [c]);
  }
  return out;
}

function pageHref(view: "attention" | "steady", page: number, filter: PageEventFilter): string {
  const q = new URLSearchParams();
  if (view === "steady") q.set("view", "steady");
  if (page > 1) q.set("page", String(page));
  for (const [k, v] of Object.entries(filter)) if (v) q.set(k, v);
  const s = q.toString();
  return s ? `?${s}` : "./";
}

function renderEventsForm(filter: PageEventFilter, error: string | undefined): string {
  const options = ["", ...EVENT_TYPES].map(
    (t) =>
      `<option value="${escapeHtml(t)}"${filter.type === t ? " selected" : ""}>${t === "" ? "any type" : escapeHtml(t)}</option>`,
  );
  return (
    `<form class="filters" method="get" action="./#events">` +
    `<label for="f-type">type<select id="f-type" name="type">${options.join("")}</select></label>` +
    `<label for="f-project">project<input id="f-project" name="project_id" value="${escapeHtml(filter.project_id ?? "")}"></label>` +
    `<label for="f-server">server id<input id="f-server" name="server_id" value="${escapeHtml(filter.server_id ?? "")}"></label>` +
    `<button type="submit">Filter</button> <a href="./#events">clear</a></form>` +
    (error ? `<p class="banner" role="status">${escapeHtml(error)}</p>` : "")
  );
}

/** Renders the whole page. */
export function renderStatusPage(input: StatusPageInput): string {
  const root = "";
  const now = input.now;
  const targets = input.targets ?? [];
  const filter = input.filter ?? {};
  const view = input.view ?? "attention";
  const ordered = orderByAttention(input.servers);
  const attention = ordered.filter((s) => attentionOf(s) !== "steady");
  const steady = ordered.filter((s) => attentionOf(s) === "steady");
  // Small fleets show everyone at once; large ones list who needs attention, the steady ones on request.
  const all = ordered.length <= SERVERS_PER_PAGE;
  const list = all ? ordered : view === "steady" ? steady : attention;
  const pages = Math.max(1, Math.ceil(list.length / SERVERS_PER_PAGE));
  const page = Math.min(Math.max(1, input.page ?? 1), pages);
  const shown = list.slice((page - 1) * SERVERS_PER_PAGE, page * SERVERS_PER_PAGE);

  const shownKeys = new Set(shown.map((s) => serverKey(s.projectId, s.serverId)));
  const changes = groupChanges(
    (input.statusChanges ?? []).filter((c) => shownKeys.has(serverKey(c.projectId, c.serverId))),
  );
  const jobs = new Map((input.jobs ?? []).map((j) => [serverKey(j.projectId, j.serverId), j]));
  // Servers of a target that fails as a whole point at its banner instead of repeating its error.
  const downTargets = new Set(targets.filter((t) => !t.up && t.failingAsWhole).map((t) => t.projectId));
  const ctx: RowContext = {
    now,
    root,
    changes,
    jobs,
    downTargets,
    manyProjects: new Set(input.servers.map((s) => s.projectId)).size > 1,
    ...(input.stuckThresholdFor ? { stuckThresholdFor: input.stuckThresholdFor } : {}),
  };
  const rows = shown.map((s) => renderServerRow(s, ctx));
  const neverAnswered = targets.some((t) => t.lastSuccessAt === null);
  const empty = neverAnswered ? "no answer from the cloud API yet (see above)" : "no servers yet";

  const counts = ATTENTION_ORDER.map((a) => [a, ordered.filter((s) => attentionOf(s) === a).length] as const)
    .filter(([, n]) => n > 0)
    .map(([a, n]) => `${n} ${a}`)
    .join(" · ");
  const pager: string[] = [];
  if (!all) {
    pager.push(
      view === "steady"
        ? `Showing steady servers ${shown.length > 0 ? (page - 1) * SERVERS_PER_PAGE + 1 : 0}–${(page - 1) * SERVERS_PER_PAGE + shown.length} of ${steady.length}. <a href="${escapeHtml(pageHref("attention", 1, filter))}">Servers that need attention (${attention.length})</a>`
        : `${attention.length} server(s) need attention${pages > 1 ? ` (page ${page} of ${pages})` : ""}; <a href="${escapeHtml(pageHref("steady", 1, filter))}">${steady.length} steady server(s)</a> not listed.`,
    );
    if (page > 1)
      pager.push(`<a href="${escapeHtml(pageHref(view, page - 1, filter))}" rel="prev">previous page</a>`);
    if (page < pages)
      pager.push(`<a href="${escapeHtml(pageHref(view, page + 1, filter))}" rel="next">next page</a>`);
  }

  const builds = medianAndP90(input.buildDurations ?? []);
  const buildLine = builds
    ? `Builds (BUILDING → BUILT) in the last 7 days: median <strong>${escapeHtml(formatHumanDuration(builds.median * 1000))}</strong>, p90 <strong>${escapeHtml(formatHumanDuration(builds.p90 * 1000))}</strong> over ${(input.buildDurations ?? []).length} build(s).`
    : "No build finished (BUILDING → BUILT) in the last 7 days.";

  const names = new Map(input.servers.map((s) => [serverKey(s.projectId, s.serverId), s.name]));
  const events = input.events.map((e) => renderEventItem(e, root, names));

  const body = `<header class="top"><h1>imagewatch</h1>
<p><button type="button" id="refresh-toggle" hidden>Pause auto-refresh</button> <span id="refresh-status" class="muted"></span></p></header>
<div id="banners" data-live>${targets
    .map((t) => targetBanner(t, now))
    .filter((b) => b !== "")
    .join("\n")}</div>
<main>
<section id="servers" data-live aria-labelledby="servers-title">
<h2 id="servers-title">Servers</h2>
<p class="muted">${ordered.length} server(s)${counts ? `: ${counts}` : ""} · as of ${timeTag(now)} · version ${escapeHtml(input.version)}</p>
${pager.length > 0 ? `<p class="pager">${pager.join(" · ")}</p>` : ""}
<table><thead><tr><th scope="col">server</th><th scope="col">status</th><th scope="col">in status</th><th scope="col">stuck</th><th scope="col">last job</th><th scope="col">problem</th><th scope="col">last 24 h</th></tr></thead>
<tbody>
${rows.length > 0 ? rows.join("\n") : `<tr><td colspan="7" class="muted">${view === "steady" ? "no steady servers" : all ? empty : "no server needs attention"}</td></tr>`}
</tbody></table>
<p id="builds">${buildLine}</p>
</section>
<section id="events" aria-labelledby="events-title">
<h2 id="events-title">Recent events</h2>
${renderEventsForm(filter, input.filterError)}
<div id="event-list" data-live>${events.length > 0 ? `<ul class="events">\n${events.join("\n")}\n</ul>` : '<p class="muted">none</p>'}</div>
</section>
</main>
<footer><p class="muted"><a href="metrics">metrics</a> · <a href="api/v1/servers">servers (JSON)</a> · <a href="api/v1/targets">targets (JSON)</a> · <a href="api/v1/events">events (JSON)</a></p></footer>`;
  return renderShell({ title: "imagewatch", root, body, refreshSeconds: REFRESH_SECONDS });
}
