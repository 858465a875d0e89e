/**
 * The HTTP server (DESIGN §4): metrics, health, readiness, reload, the JSON API and the HTML status and
 * server pages (§14), on node:http or node:https (`server.tls`, mTLS with a client CA) with no framework.
 * It only reads what its deps hand it: a scrape never calls the cloud.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer, type Server as HttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import type { ServerTlsConfig } from "../config/types.js";
import { type JobRecord, jobView } from "../domain/observe-jobs.js";
import type { TargetState } from "../domain/target-health.js";
import type { ServerState } from "../domain/types.js";
import type { Clock } from "../lib/clock.js";
import { coerceError } from "../lib/errors.js";
import { toIsoOrNull } from "../lib/iso.js";
import type { Logger } from "../lib/logger.js";
import type { Metrics } from "../metrics/metrics.js";
import {
  type Parsed,
  parseDeliveryState,
  parseEventType,
  parseLimit,
  parseSince,
} from "../store/event-filter.js";
import { jobResultOf, statusChangeOf } from "../store/page-data.js";
import type {
  DeliveryRecord,
  EventFilter,
  EventWithDeliveries,
  JobFilter,
  JobResult,
  StatusChange,
  StoredEvent,
} from "../store/types.js";
import { FAVICON_SVG, REFRESH_JS, STATUS_CSS } from "./pages/assets.js";
import { STRIP_WINDOW_MS } from "./pages/common.js";
import { renderServerPage } from "./pages/server-page.js";
import { type PageEventFilter, renderStatusPage } from "./status-page.js";

/** Largest request body accepted (no endpoint needs one; this only bounds what a client can push). */
export const MAX_BODY_BYTES = 64 * 1024;
/** `limit` of `/api/v1/events` when not given, and its bounds. */
export const EVENTS_DEFAULT_LIMIT = 100;
export const EVENTS_MAX_LIMIT = 1000;
/** `limit` of `/api/v1/jobs` when not given, and its maximum. */
export const JOBS_DEFAULT_LIMIT = 100;
export const JOBS_MAX_LIMIT = 1000;
/** Events and jobs `/api/v1/servers/{project_id}/{server_id}` shows. */
const SERVER_DETAIL_LIMIT = 20;
const SERVER_PREFIX = "/api/v1/servers/";
const JOB_STATES = ["active", "finished", "failed"] as const;

/** Parses the query of `/api/v1/jobs` (`state`, `limit`); unknown or malformed parameters are errors. */
export function parseJobsQuery(
  params: URLSearchParams,
): { ok: true; filter: JobFilter; limit: number } | { ok: false; errors: string[] } {
  const errors: string[] = [];
  const filter: JobFilter = {};
  let limit = JOBS_DEFAULT_LIMIT;
  for (const [name, value] of params) {
    if (name === "limit") {
      const p = parseLimit(value, JOBS_MAX_LIMIT);
      if (p.ok) limit = p.value;
      else errors.push(`limit: ${p.error}`);
    } else if (name === "state") {
      const state = JOB_STATES.find((x) => x === value);
      if (state) filter.state = state;
      else errors.push(`state: must be one of ${JOB_STATES.join(", ")}`);
    } else {
      errors.push(`unknown parameter "${name}" (known: state, limit)`);
    }
  }
  return errors.length > 0 ? { ok: false, errors } : { ok: true, filter, limit };
}

/** How long `stop()` lets requests in flight finish before it cuts the remaining connections. */
const STOP_GRACE_MS = 2000;

/** What the HTTP server reads from the rest of the daemon. */
export interface HttpServerDeps {
  metrics: Metrics;
  /** The component's logger (the composition root passes a `component: "http"` child). */
  logger: Logger;
  clock: Clock;
  /** The current config's `server.bearerToken` (read per request, so a reload applies); empty = no auth. */
  getBearerToken(): string | undefined;
  /** The servers currently present, in memory. */
  listServers(): ServerState[];
  /** The health of every configured target with its cloud's region (none when not given). */
  listTargets?(): TargetHealthEntry[];
  /** Newest first, each with its deliveries, narrowed by `filter` (the store's `listEvents`). */
  listEvents(limit: number, filter?: EventFilter): EventWithDeliveries[];
  /** One event with its deliveries, or undefined (the store's `getEvent`): checks a `before` cursor. */
  getEvent(eventId: string): EventWithDeliveries | undefined;
  /** Job records, newest first (the store's `listJobs`); absent = no jobs. */
  listJobs?(limit: number, filter?: JobFilter): JobRecord[];
  /** One server's state (present or not), or undefined; absent = looked up in `listServers()`. */
  getServer?(projectId: string, serverId: string): ServerState | undefined;
  /** The stuck threshold (ms) of a status, for the status page; undefined when the status has none. */
  stuckThresholdFor?(status: string): number | undefined;
  /** True once the first poll of every target finished and the database is writable. */
  isReady(): boolean;
  /** Reloads the config like SIGHUP; on failure the old config stays and `errors` say why. */
  reload(): Promise<{ ok: true } | { ok: false; errors: string[] }>;
  /** imagewatch's version, shown on the status page. */
  version: string;
  /** `server.tls` with its PEM material, read at `start()`; undefined = plain HTTP. */
  getTls?(): ServerTlsConfig | undefined;
  /** Status changes at or after `since` (ms), oldest first (the store's `statusChangesSince`): the strips. */
  statusChangesSince?(since: number): StatusChange[];
  /** BUILDING→BUILT durations (s) at or after `since` (the store's `buildDurationsSince`). */
  buildDurationsSince?(since: number): number[];
  /** The newest job result per server at or after `since` (the store's `lastJobResults`). */
  lastJobResults?(since: number): JobResult[];
}

/** The Content-Security-Policy of the HTML pages: scripts and styles from this origin only, nothing inline. */
export const PAGE_CSP =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
  "form-action 'self'; base-uri 'none'; frame-ancestors 'none'";
/** How far back the status page looks for build durations and job results (ms). */
const BUILD_WINDOW_MS = 7 * 86_400_000;

/** The HTTP server's lifecycle. */
export interface HttpServer {
  /** Listens on `host:port` (port 0 = any free port) and resolves with the bound port and base URL. */
  start(host: string, port: number): Promise<{ port: number; url: string }>;
  /** Stops accepting, closes idle keep-alive connections, and cuts the rest after a short grace. */
  stop(): Promise<void>;
  /**
   * Swaps the certificate of an HTTPS listener (after a reload validated it): connections open keep the
   * old one, new handshakes get the new one. Returns false (nothing changed) when the switch needs a
   * restart: HTTP ↔ HTTPS, or mTLS turned on or off (or the listener is stopped).
   */
  updateTls(tls: ServerTlsConfig | undefined): boolean;
}

/** The JSON shape of one server in `/api/v1/servers`. */
export interface ServerView {
  project_id: string;
  server_id: string;
  name: string;
  status: string | null;
  status_since: string;
  stuck: boolean;
  last_poll_at: string | null;
  last_poll_ok: boolean | null;
  consecutive_failures: number;
  last_error: ServerState["lastError"];
}

/** One target's health as the HTTP server gets it: its state and its cloud's region ("" when none). */
export type TargetHealthEntry = TargetState & { region: string };

/** The JSON shape of one target in `/api/v1/targets` (DESIGN §4). */
export interface TargetView {
  project_id: string;
  cloud: string;
  region: string;
  up: boolean;
  last_success_at: string | null;
  consecutive_failures: number;
  last_error: TargetState["lastError"];
  servers: number;
}

/** The JSON shape of one event in `/api/v1/events`. */
export interface EventView {
  event_id: string;
  type: string;
  occurred_at: string;
  project_id: string;
  server_id: string;
  data: StoredEvent["data"];
  deliveries: Array<{
    webhook: string;
    state: DeliveryRecord["state"];
    attempts: number;
    next_attempt_at: string | null;
    last_error: string | null;
  }>;
}

type Handler = (ctx: RequestContext) => Promise<void> | void;

interface Route {
  /** Methods other than HEAD; HEAD is allowed wherever GET is. */
  methods: readonly string[];
  /** Whether `server.bearerToken` guards this path. */
  guarded: boolean;
  handler: Handler;
}

interface RequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
}

/** The query parameters of `/api/v1/events` and what each becomes, given the current time. */
const EVENT_PARAMS: Record<string, (value: string, now: number) => Parsed<Partial<EventFilter>>> = {
  state: (v) => mapParsed(parseDeliveryState(v), (state) => ({ state })),
  type: (v) => mapParsed(parseEventType(v), (type) => ({ type })),
  project_id: (v) => nonEmpty(v, (projectId) => ({ projectId })),
  server_id: (v) => nonEmpty(v, (serverId) => ({ serverId })),
  webhook: (v) => nonEmpty(v, (webhook) => ({ webhook })),
  since: (v, now) => mapParsed(parseSince(v, now), (since) => ({ since })),
  before: (v) => nonEmpty(v, (before) => ({ before })),
};

function mapParsed<T, U>(p: Parsed<T>, f: (value: T) => U): Parsed<U> {
  return p.ok ? { ok: true, value: f(p.value) } : p;
}

function nonEmpty<U>(v: string, f: (value: string) => U): Parsed<U> {
  return v === "" ? { ok: false, error: "must not be empty" } : { ok: true, value: f(v) };
}

/**
 * Parses the query of `/api/v1/events`: the filter and limit, or every problem found, each naming its
 * parameter (unknown ones included).
 */
export function parseEventsQuery(
  params: URLSearchParams,
  now: number,
): { ok: true; filter: EventFilter; limit: number } | { ok: false; errors: string[] } {
  const errors: string[] = [];
  const filter: EventFilter = {};
  let limit = EVENTS_DEFAULT_LIMIT;
  const seen = new Set<string>();
  for (const [name, value] of params) {
    if (seen.has(name)) {
      if (!errors.some((e) => e.startsWith(`${name}:`))) errors.push(`${name}: given more than once`);
      continue;
    }
    seen.add(name);
    if (name === "limit") {
      const p = parseLimit(value, EVENTS_MAX_LIMIT);
      if (p.ok) limit = p.value;
      else errors.push(`limit: ${p.error}`);
      continue;
    }
    const parse = EVENT_PARAMS[name];
    if (parse === undefined) {
      const known = ["limit", ...Object.keys(EVENT_PARAMS)].join(", ");
      errors.push(`${name}: unknown parameter (known: ${known})`);
      continue;
    }
    const p = parse(value, now);
    if (p.ok) Object.assign(filter, p.value);
    else errors.push(`${name}: ${p.error}`);
  }
  return errors.length > 0 ? { ok: false, errors } : { ok: true, filter, limit };
}

/** Maps a state to its `/api/v1/servers` entry. */
export function toServerView(s: ServerState): ServerView {
  return {
    project_id: s.projectId,
    server_id: s.serverId,
    name: s.name,
    status: s.status,
    status_since: toIsoOrNull(s.statusSince) ?? "",
    stuck: s.stuck,
    last_poll_at: toIsoOrNull(s.lastPollAt),
    last_poll_ok: s.lastPollOk,
    consecutive_failures: s.consecutiveFailures,
    last_error: s.lastError,
  };
}

/** Maps a target's health to its `/api/v1/targets` entry. */
export function toTargetView(t: TargetHealthEntry): TargetView {
  return {
    project_id: t.projectId,
    cloud: t.cloud,
    region: t.region,
    up: t.up,
    last_success_at: toIsoOrNull(t.lastSuccessAt),
    consecutive_failures: t.consecutiveFailures,
    last_error: t.lastError,
    servers: t.servers,
  };
}

/** Maps a stored event to its `/api/v1/events` entry. */
export function toEventView(e: StoredEvent & { deliveries: DeliveryRecord[] }): EventView {
  return {
    event_id: e.id,
    type: e.type,
    occurred_at: toIsoOrNull(e.occurredAt) ?? "",
    project_id: e.projectId,
    server_id: e.serverId,
    data: e.data,
    deliveries: e.deliveries.map((d) => ({
      webhook: d.webhook,
      state: d.state,
      attempts: d.attempts,
      next_attempt_at: d.state === "pending" ? toIsoOrNull(d.nextAttemptAt) : null,
      last_error: d.lastError,
    })),
  };
}

/** Constant-time comparison of a presented token with the configured one (SHA-256 first to equalise lengths). */
function tokenMatches(presented: string, expected: string): boolean {
  const a = createHash("sha256").update(presented, "utf8").digest();
  const b = createHash("sha256").update(expected, "utf8").digest();
  return timingSafeEqual(a, b);
}

/**
 * The token a request presents: `Authorization: Bearer <token>`, or the password of HTTP Basic (any user
 * name), so a browser can open the status page (DESIGN §4). Undefined when neither.
 */
function tokenOf(req: IncomingMessage): string | undefined {
  const h = req.headers.authorization;
  if (!h) return undefined;
  const bearer = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(h);
  if (bearer) return bearer[1];
  const basic = /^Basic[ \t]+([A-Za-z0-9+/=]+)[ \t]*$/i.exec(h);
  if (!basic) return undefined;
  const decoded = Buffer.from(basic[1] as string, "base64").toString("utf8");
  const colon = decoded.indexOf(":");
  return colon === -1 ? undefined : decoded.slice(colon + 1);
}

/** True when the request's `Accept` names text/html (a browser navigating), so a 401 offers Basic. */
function acceptsHtml(req: IncomingMessage): boolean {
  return /\btext\/html\b/i.test(req.headers.accept ?? "");
}

/** The TLS options of `server.tls`: mTLS (a client certificate signed by the CA) when it has a client CA. */
function tlsOptions(tls: ServerTlsConfig): {
  cert?: string;
  key?: string;
  ca?: string;
  requestCert: boolean;
  rejectUnauthorized: boolean;
} {
  const mtls = tls.clientCA !== undefined;
  return {
    ...(tls.cert !== undefined ? { cert: tls.cert } : {}),
    ...(tls.key !== undefined ? { key: tls.key } : {}),
    ...(mtls ? { ca: tls.clientCA } : {}),
    requestCert: mtls,
    rejectUnauthorized: mtls,
  };
}

/** True when the client accepts gzip (`Accept-Encoding` lists gzip or `*` with a non-zero q). */
export function acceptsGzip(header: string | string[] | undefined): boolean {
  if (!header) return false;
  const value = Array.isArray(header) ? header.join(",") : header;
  for (const part of value.split(",")) {
    const [coding, ...params] = part.trim().split(";");
    const name = coding?.trim().toLowerCase();
    if (name !== "gzip" && name !== "*") continue;
    const q = params.map((p) => p.trim()).find((p) => p.toLowerCase().startsWith("q="));
    if (q === undefined || Number(q.slice(2)) > 0) return true;
  }
  return false;
}

function send(
  res: ServerResponse,
  status: number,
  contentType: string,
  body: string | Buffer,
  headers: Record<string, string> = {},
): void {
  const buf = typeof body === "string" ? Buffer.from(body, "utf8") : body;
  res.writeHead(status, { "Content-Type": contentType, "Content-Length": String(buf.length), ...headers });
  res.end(buf);
}

function sendJson(
  res: ServerResponse,
  status: number,
  value: unknown,
  headers: Record<string, string> = {},
): void {
  send(res, status, "application/json; charset=utf-8", JSON.stringify(value), {
    "Cache-Control": "no-store",
    ...headers,
  });
}

function sendText(
  res: ServerResponse,
  status: number,
  text: string,
  headers: Record<string, string> = {},
): void {
  send(res, status, "text/plain; charset=utf-8", text, headers);
}

/**
 * Reads and discards the request body, up to `MAX_BODY_BYTES`. Resolves false when it is larger (the caller
 * answers 413 and the connection is closed), true otherwise.
 */
function drainBody(req: IncomingMessage): Promise<boolean> {
  const declared = req.headers["content-length"];
  if (declared !== undefined && Number(declared) > MAX_BODY_BYTES) return Promise.resolve(false);
  if (req.complete) return Promise.resolve(true);
  return new Promise((resolve) => {
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        cleanup();
        resolve(false);
      }
    };
    const onEnd = (): void => {
      cleanup();
      resolve(true);
    };
    const cleanup = (): void => {
      req.off("data", onData);
      req.off("end", onEnd);
      req.off("error", onEnd);
    };
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onEnd);
  });
}

/** Creates the HTTP server. Nothing listens until `start()`. */
export function createHttpServer(deps: HttpServerDeps): HttpServer {
  const log = deps.logger;
  let server: Server | HttpsServer | null = null;
  let secure = false;
  let mtls = false;

  const routes = new Map<string, Route>([
    ["/", { methods: ["GET"], guarded: true, handler: handleStatusPage }],
    ["/metrics", { methods: ["GET"], guarded: true, handler: handleMetrics }],
    [
      "/-/healthy",
      { methods: ["GET"], guarded: false, handler: ({ res }) => sendText(res, 200, "Healthy.\n") },
    ],
    ["/-/ready", { methods: ["GET"], guarded: false, handler: handleReady }],
    ["/-/reload", { methods: ["POST"], guarded: true, handler: handleReload }],
    ["/api/v1/servers", { methods: ["GET"], guarded: true, handler: handleServers }],
    ["/api/v1/targets", { methods: ["GET"], guarded: true, handler: handleTargets }],
    ["/api/v1/events", { methods: ["GET"], guarded: true, handler: handleEvents }],
    ["/api/v1/jobs", { methods: ["GET"], guarded: true, handler: handleJobs }],
    [
      "/static/status.css",
      { methods: ["GET"], guarded: false, handler: staticAsset("text/css", STATUS_CSS) },
    ],
    [
      "/static/favicon.svg",
      { methods: ["GET"], guarded: false, handler: staticAsset("image/svg+xml", FAVICON_SVG) },
    ],
    [
      "/static/refresh.js",
      { methods: ["GET"], guarded: false, handler: staticAsset("text/javascript", REFRESH_JS) },
    ],
  ]);
  const serverRoute: Route = { methods: ["GET"], guarded: true, handler: handleServer };
  const serverPageRoute: Route = { methods: ["GET"], guarded: true, handler: handleServerPage };

  function staticAsset(type: string, text: string): Handler {
    const body = Buffer.from(text, "utf8");
    return ({ res }) =>
      send(res, 200, `${type}; charset=utf-8`, body, {
        "Cache-Control": "no-cache",
        "X-Content-Type-Options": "nosniff",
      });
  }

  function sendHtml(res: ServerResponse, status: number, html: string): void {
    send(res, status, "text/html; charset=utf-8", html, {
      "Cache-Control": "no-store",
      "X-Content-Type-Options": "nosniff",
      "Referrer-Policy": "same-origin",
      "Content-Security-Policy": PAGE_CSP,
    });
  }

  async function handleMetrics({ req, res }: RequestContext): Promise<void> {
    const gzip = acceptsGzip(req.headers["accept-encoding"]);
    // gzip: cached gzip members of the unchanged segments, concatenated (one valid gzip body).
    const { contentType, chunks: body } = await deps.metrics.renderChunks({ gzip });
    const headers = { Vary: "Accept-Encoding", "Cache-Control": "no-store" };
    const encoding: Record<string, string> = gzip ? { "Content-Encoding": "gzip" } : {};
    // The cached family bytes go out as they are: no concatenation of a multi-megabyte body.
    let length = 0;
    for (const c of body) length += c.length;
    res.writeHead(200, {
      ...headers,
      ...encoding,
      "Content-Type": contentType,
      "Content-Length": String(length),
    });
    // Corked: the segments go to the socket in one writev, not one syscall each.
    res.cork();
    for (const c of body) res.write(c);
    res.end();
    res.uncork();
  }

  function handleReady({ res }: RequestContext): void {
    if (deps.isReady()) sendText(res, 200, "Ready.\n");
    else sendText(res, 503, "Not ready.\n");
  }

  async function handleReload({ res }: RequestContext): Promise<void> {
    const result = await deps.reload();
    if (result.ok) sendJson(res, 200, { status: "ok" });
    else sendJson(res, 400, { status: "error", errors: result.errors });
  }

  function handleServers({ res }: RequestContext): void {
    sendJson(res, 200, { servers: deps.listServers().map(toServerView) });
  }

  function handleTargets({ res }: RequestContext): void {
    sendJson(res, 200, { targets: (deps.listTargets?.() ?? []).map(toTargetView) });
  }

  /**
   * Newest first. Paging: when more events match, `next` is the id to pass as `before` for the next page
   * (null on the last page); pages never overlap, however many events are committed in between.
   */
  function handleEvents({ res, url }: RequestContext): void {
    const query = parseEventsQuery(url.searchParams, deps.clock.now());
    if (!query.ok) {
      sendJson(res, 400, { status: "error", errors: query.errors });
      return;
    }
    const { filter, limit } = query;
    if (filter.before !== undefined && deps.getEvent(filter.before) === undefined) {
      sendJson(res, 400, {
        status: "error",
        errors: [`before: no event with id "${filter.before}" (it may have been pruned)`],
      });
      return;
    }
    // One more than asked tells whether another page exists.
    const events = deps.listEvents(limit + 1, filter);
    const page = events.slice(0, limit);
    const next = events.length > limit ? (page[page.length - 1]?.id ?? null) : null;
    sendJson(res, 200, { events: page.map(toEventView), next });
  }

  /** Image jobs, newest begin time first (DESIGN §4). */
  function handleJobs({ res, url }: RequestContext): void {
    const query = parseJobsQuery(url.searchParams);
    if (!query.ok) {
      sendJson(res, 400, { status: "error", errors: query.errors });
      return;
    }
    const now = deps.clock.now();
    const jobs = deps.listJobs?.(query.limit, query.filter) ?? [];
    sendJson(res, 200, { jobs: jobs.map((j) => jobView(j, now)) });
  }

  /** One server: its state, its recent events and its jobs; 404 when imagewatch does not know it. */
  function handleServer({ res, url }: RequestContext): void {
    const parts = url.pathname.slice(SERVER_PREFIX.length).split("/");
    let ids: string[] = [];
    try {
      ids = parts.map((p) => decodeURIComponent(p));
    } catch {
      ids = [];
    }
    const [projectId, serverId] = ids;
    const state =
      ids.length === 2 && projectId && serverId
        ? deps.getServer
          ? deps.getServer(projectId, serverId)
          : deps.listServers().find((s) => s.projectId === projectId && s.serverId === serverId)
        : undefined;
    if (!state || !projectId || !serverId) {
      sendJson(res, 404, { status: "error", errors: ["no such server"] });
      return;
    }
    const now = deps.clock.now();
    sendJson(res, 200, {
      server: toServerView(state),
      events: deps.listEvents(SERVER_DETAIL_LIMIT, { projectId, serverId }).map(toEventView),
      jobs: (deps.listJobs?.(SERVER_DETAIL_LIMIT, { projectId, serverId }) ?? []).map((j) => jobView(j, now)),
    });
  }

  function handleStatusPage({ res, url }: RequestContext): void {
    const now = deps.clock.now();
    const q = url.searchParams;
    const filter: PageEventFilter = {};
    const storeFilter: EventFilter = {};
    let filterError: string | undefined;
    const type = q.get("type") ?? "";
    if (type !== "") {
      filter.type = type;
      const parsed = parseEventType(type);
      if (parsed.ok) storeFilter.type = parsed.value;
      else filterError = `type: ${parsed.error}`;
    }
    const project = (q.get("project_id") ?? "").trim();
    if (project !== "") storeFilter.projectId = filter.project_id = project;
    const serverId = (q.get("server_id") ?? "").trim();
    if (serverId !== "") storeFilter.serverId = filter.server_id = serverId;
    const page = Number(q.get("page") ?? "1");
    const html = renderStatusPage({
      servers: deps.listServers(),
      targets: deps.listTargets?.() ?? [],
      events: filterError ? [] : deps.listEvents(50, storeFilter),
      now,
      version: deps.version,
      ...(deps.stuckThresholdFor ? { stuckThresholdFor: deps.stuckThresholdFor } : {}),
      statusChanges: deps.statusChangesSince?.(now - STRIP_WINDOW_MS) ?? [],
      jobs: deps.lastJobResults?.(now - BUILD_WINDOW_MS) ?? [],
      buildDurations: deps.buildDurationsSince?.(now - BUILD_WINDOW_MS) ?? [],
      filter,
      ...(filterError ? { filterError } : {}),
      view: q.get("view") === "steady" ? "steady" : "attention",
      page: Number.isInteger(page) && page > 0 ? page : 1,
    });
    sendHtml(res, 200, html);
  }

  /** `/servers/{project_id}/{server_id}`: 404 (HTML) for a server not present. */
  function handleServerPage({ res, url }: RequestContext): void {
    const parts = url.pathname.split("/");
    let projectId = "";
    let serverId = "";
    try {
      projectId = decodeURIComponent(parts[2] ?? "");
      serverId = decodeURIComponent(parts[3] ?? "");
    } catch {
      // a malformed escape: no such server
    }
    const s = deps.listServers().find((x) => x.projectId === projectId && x.serverId === serverId);
    if (!s) {
      sendHtml(
        res,
        404,
        '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>not found · imagewatch</title></head><body><main><h1>No such server</h1><p><a href="../../">all servers</a></p></main></body></html>\n',
      );
      return;
    }
    const now = deps.clock.now();
    // Everything from this server's own events (newest first): no fleet-wide query for one server.
    const events = deps.listEvents(200, { projectId, serverId });
    const job = events.map(jobResultOf).find((j) => j !== undefined);
    const statusChanges = events
      .filter((e) => e.occurredAt >= now - STRIP_WINDOW_MS)
      .map(statusChangeOf)
      .filter((c) => c !== undefined)
      .reverse();
    const threshold = s.status === null ? undefined : deps.stuckThresholdFor?.(s.status);
    const html = renderServerPage({
      server: s,
      events,
      statusChanges,
      ...(job ? { job } : {}),
      now,
      ...(threshold !== undefined ? { stuckThreshold: threshold } : {}),
    });
    sendHtml(res, 200, html);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://localhost");
    const route =
      routes.get(url.pathname) ??
      (url.pathname.startsWith(SERVER_PREFIX)
        ? serverRoute
        : /^\/servers\/[^/]+\/[^/]+$/.test(url.pathname)
          ? serverPageRoute
          : undefined);
    const method = req.method ?? "GET";

    if (!(await drainBody(req))) {
      sendJson(
        res,
        413,
        { status: "error", errors: [`request body larger than ${MAX_BODY_BYTES} bytes`] },
        {
          Connection: "close",
        },
      );
      return;
    }
    if (!route) {
      sendJson(res, 404, { status: "error", errors: ["not found"] });
      return;
    }
    if (route.guarded) {
      const expected = deps.getBearerToken();
      if (expected) {
        const presented = tokenOf(req);
        if (presented === undefined || !tokenMatches(presented, expected)) {
          // A browser gets the Basic challenge (it then asks for the token as password); API clients Bearer.
          const challenge = acceptsHtml(req) ? 'Basic realm="imagewatch"' : 'Bearer realm="imagewatch"';
          sendJson(
            res,
            401,
            { status: "error", errors: ["unauthorized"] },
            { "WWW-Authenticate": challenge },
          );
          return;
        }
      }
    }
    const allowed = route.methods.includes("GET") ? [...route.methods, "HEAD"] : route.methods;
    if (!allowed.includes(method)) {
      sendJson(res, 405, { status: "error", errors: ["method not allowed"] }, { Allow: allowed.join(", ") });
      return;
    }
    await route.handler({ req, res, url });
  }

  function onRequest(req: IncomingMessage, res: ServerResponse): void {
    const started = deps.clock.now();
    // The path only: query strings may carry anything, and headers (Authorization) are never logged.
    const path = (req.url ?? "/").split("?")[0];
    res.on("finish", () => {
      log.debug(
        { method: req.method, path, status: res.statusCode, durationMs: deps.clock.now() - started },
        "http request",
      );
    });
    handle(req, res).catch((thrown: unknown) => {
      const err = coerceError(thrown);
      log.error({ err, method: req.method, path }, "http handler failed");
      if (!res.headersSent) sendJson(res, 500, { status: "error", errors: ["internal error"] });
      else res.destroy();
    });
  }

  return {
    start(host, port) {
      if (server) return Promise.reject(new Error("http server already started"));
      const tls = deps.getTls?.();
      const srv = tls ? createHttpsServer(tlsOptions(tls), onRequest) : createServer(onRequest);
      secure = tls !== undefined;
      mtls = tls?.clientCA !== undefined;
      srv.keepAliveTimeout = 15_000;
      srv.headersTimeout = 20_000;
      srv.requestTimeout = 60_000;
      server = srv;
      return new Promise((resolve, reject) => {
        const onError = (err: Error): void => {
          server = null;
          reject(err);
        };
        srv.once("error", onError);
        srv.listen(port, host, () => {
          srv.off("error", onError);
          srv.on("error", (err) => log.error({ err }, "http server error"));
          const bound = (srv.address() as AddressInfo).port;
          const shownHost = host.includes(":") ? `[${host}]` : host;
          log.info({ host, port: bound }, "http server listening");
          resolve({ port: bound, url: `${secure ? "https" : "http"}://${shownHost}:${bound}` });
        });
      });
    },
    updateTls(tls) {
      if (!server || secure !== (tls !== undefined) || mtls !== (tls?.clientCA !== undefined)) return false;
      if (tls) (server as HttpsServer).setSecureContext(tlsOptions(tls));
      return true;
    },
    async stop() {
      const srv = server;
      if (!srv) return;
      server = null;
      const closed = new Promise<void>((resolve) => srv.close(() => resolve()));
      srv.closeIdleConnections();
      const timer = setTimeout(() => srv.closeAllConnections(), STOP_GRACE_MS);
      timer.unref();
      await closed;
      clearTimeout(timer);
    },
  };
}
