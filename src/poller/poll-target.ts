/**
 * One target's poll: fetch (list or GETs, whichever costs fewer API calls) → observe → ONE commit → after
 * the commit, update the in-memory state, metrics and wake delivery. The scheduler only calls this.
 */
import { type CloudClient, LIST_LIMIT } from "../cloud/client.js";
import { toPollError } from "../cloud/errors.js";
import type { Config, TargetConfig } from "../config/types.js";
import { observe } from "../domain/observe.js";
import { ownsServer } from "../domain/sharding.js";
import type { DomainEvent, ImageServer, PollError, ServerPollResult, ServerState } from "../domain/types.js";
import { isTransitional } from "../domain/types.js";
import type { Clock } from "../lib/clock.js";
import { mapLimit } from "../lib/concurrency.js";
import { AppError } from "../lib/errors.js";
import type { Logger } from "../lib/logger.js";
import { YIELD_EVERY, yieldToLoop } from "../lib/yield.js";
import { matchesWebhook } from "../notify/index.js";
import type { Store } from "../store/types.js";

/** The in-memory view of every server's state, keyed by `projectId/serverId`. Owned by the app. */
export class ServerStates {
  readonly #map = new Map<string, ServerState>();

  static key(projectId: string, serverId: string): string {
    return `${projectId}/${serverId}`;
  }

  get(projectId: string, serverId: string): ServerState | undefined {
    return this.#map.get(ServerStates.key(projectId, serverId));
  }

  set(state: ServerState): void {
    this.#map.set(ServerStates.key(state.projectId, state.serverId), state);
  }

  delete(projectId: string, serverId: string): void {
    this.#map.delete(ServerStates.key(projectId, serverId));
  }

  /** Every state of one project. */
  ofProject(projectId: string): ServerState[] {
    const out: ServerState[] = [];
    for (const s of this.#map.values()) if (s.projectId === projectId) out.push(s);
    return out;
  }

  all(): ServerState[] {
    return [...this.#map.values()];
  }

  get size(): number {
    return this.#map.size;
  }
}

/** Per-target memory the poller keeps between ticks (not persisted: it only tunes API-call choices). */
export interface TargetMemory {
  /** Pages the last full list of this project took; undefined before the first list. */
  listPages?: number;
  /** When the last complete list succeeded (discover mode's steady refresh). */
  lastListAt?: number;
}

/** What pollTarget needs; every field is injected by app.ts. */
export interface PollDeps {
  cloud: CloudClient;
  store: Store;
  states: ServerStates;
  clock: Clock;
  logger: Logger;
  config: () => Readonly<Config>;
  memory: Map<string, TargetMemory>;
  /**
   * Called after a successful commit with every state observed (for metrics), the events newly inserted
   * (for delivery) and the status changes observed, inserted or not (for the transitions counter).
   */
  onCommitted?: (
    states: readonly ServerState[],
    events: readonly DomainEvent[],
    transitions: ReadonlyArray<{ from: string; to: string }>,
  ) => void;
  /** Poll even servers that are not yet due (the first poll after start, `once`). */
  force?: boolean;
  signal?: AbortSignal;
}

/** What one poll did. */
export interface PollSummary {
  projectId: string;
  /** Servers observed in this poll. */
  observed: number;
  /** Events newly committed. */
  events: number;
  /** Servers whose poll failed. */
  failed: number;
  /** How the servers were fetched: list, get, or none (nothing due). */
  mode: "list" | "get" | "none";
}

/** A stable id for a target: its project id plus what selects servers in it. */
export function targetKey(target: TargetConfig): string {
  return [
    target.projectId,
    target.discover ? "discover" : target.serverIds.join(","),
    target.serverName ?? "",
    target.enterpriseProjectId ?? "",
  ].join("|");
}

/** How long a server may go unpolled given its last known status. */
function pollPeriod(state: ServerState | undefined, config: Readonly<Config>): number {
  if (!state || state.status === null) return config.schedule.interval;
  // A failing server is retried every interval, so poll_failed does not wait threshold × steadyInterval.
  if (state.consecutiveFailures > 0) return config.schedule.interval;
  if (!state.present) return config.schedule.steadyInterval;
  return isTransitional(state.status) ? config.schedule.interval : config.schedule.steadyInterval;
}

/**
 * Whether a known server belongs to a discover target: the list filters it by `serverName` (partial
 * match) and `enterpriseProjectId`, so only servers matching them can be "absent from its list". Other
 * servers of the same project may belong to another target.
 */
export function matchesTargetFilter(target: TargetConfig, state: ServerState): boolean {
  if (target.serverName && !state.name.includes(target.serverName)) return false;
  if (target.enterpriseProjectId !== undefined) {
    const epid = state.server?.raw.enterprise_project_id;
    if (epid !== undefined && epid !== target.enterpriseProjectId) return false;
  }
  return true;
}

/**
 * Due when the period elapsed, with a slack of a quarter interval so a tick that fires a little early
 * (croner's second granularity, a slow previous poll) does not push the poll a whole period later.
 */
function isDue(state: ServerState | undefined, now: number, config: Readonly<Config>): boolean {
  if (!state || state.lastPollAt === null) return true;
  const slack = config.schedule.interval / 4;
  // A clock that went backwards makes now - lastPollAt negative: poll, rather than wait for the clock to catch up.
  const elapsed = now - state.lastPollAt;
  return elapsed < 0 || elapsed + slack >= pollPeriod(state, config);
}

/**
 * Polls one target once: decides which servers are due, fetches them with the fewest API calls, observes
 * each, and commits states, events and delivery rows in one transaction before anything is sent.
 */
export async function pollTarget(target: TargetConfig, deps: PollDeps): Promise<PollSummary> {
  const config = deps.config();
  const { projectId } = target;
  const sharding = config.sharding;
  const now = deps.clock.now();
  const memory = deps.memory.get(targetKey(target)) ?? {};
  deps.memory.set(targetKey(target), memory);

  const results = new Map<string, ServerPollResult>();
  let mode: PollSummary["mode"] = "none";

  if (target.discover) {
    const known = deps.states
      .ofProject(projectId)
      .filter((s) => s.present && ownsServer(s.serverId, sharding) && matchesTargetFilter(target, s));
    const listDue =
      deps.force ||
      memory.lastListAt === undefined ||
      known.some((s) => isDue(s, now, config)) ||
      now - memory.lastListAt + config.schedule.interval / 4 >= config.schedule.steadyInterval;
    if (listDue) {
      mode = "list";
      const filter = { serverName: target.serverName, enterpriseProjectId: target.enterpriseProjectId };
      const listed = await listAll(deps, projectId, filter, memory, now);
      if (Array.isArray(listed)) {
        const seen = new Set<string>();
        for (const server of listed) {
          if (!ownsServer(server.id, sharding)) continue;
          seen.add(server.id);
          results.set(server.id, { kind: "ok", server });
        }
        // Absent from a complete list: disappeared. Only a successful, complete list can say so.
        for (const s of known) if (!seen.has(s.serverId)) results.set(s.serverId, { kind: "not_found" });
      } else {
        for (const s of known) results.set(s.serverId, listed);
      }
    }
  } else {
    const ids = target.serverIds.filter((id) => ownsServer(id, sharding));
    const due = ids.filter((id) => deps.force || isDue(deps.states.get(projectId, id), now, config));
    if (due.length > 0) {
      // A list costs its pages; GETs cost one call per due server. Learn the list's cost the first time
      // more than one server is due, then choose by it.
      const listCost = memory.listPages ?? 1;
      if (due.length > 1 && listCost < due.length) {
        mode = "list";
        const listed = await listAll(
          deps,
          projectId,
          { enterpriseProjectId: target.enterpriseProjectId },
          memory,
          now,
        );
        if (Array.isArray(listed)) {
          const byId = new Map(listed.map((s) => [s.id, s] as const));
          for (const id of due) {
            const server = byId.get(id);
            results.set(id, server ? { kind: "ok", server } : { kind: "not_found" });
          }
        } else {
          for (const id of due) results.set(id, listed);
        }
      } else {
        mode = "get";
        await mapLimit(due, config.schedule.concurrency, async (id) => {
          results.set(id, await getOne(deps, projectId, id));
        });
      }
    }
  }

  // Stopping: answers cut short by our own abort are not failures of the cloud; commit nothing.
  if (results.size === 0 || deps.signal?.aborted)
    return { projectId, observed: 0, events: 0, failed: 0, mode };
  return await commitResults(projectId, results, deps, config, now, mode);
}

/**
 * The complete list of a project (auto-paginated by the client), or the failure every server of the
 * poll shares. Remembers what the list cost, to choose between list and GETs next time.
 */
async function listAll(
  deps: PollDeps,
  projectId: string,
  filter: { serverName?: string; enterpriseProjectId?: string },
  memory: TargetMemory,
  now: number,
): Promise<ImageServer[] | { kind: "failed"; error: PollError }> {
  try {
    const servers = await deps.cloud.listImageServers(projectId, filter, { signal: deps.signal });
    memory.listPages = Math.max(1, Math.ceil(servers.length / LIST_LIMIT));
    memory.lastListAt = now;
    return servers;
  } catch (err) {
    const error = toPollError(err);
    logPollFailure(deps.logger, projectId, undefined, error, err);
    return { kind: "failed", error };
  }
}

async function getOne(deps: PollDeps, projectId: string, serverId: string): Promise<ServerPollResult> {
  try {
    return await deps.cloud.getImageServer(projectId, serverId, { signal: deps.signal });
  } catch (err) {
    const error = toPollError(err);
    logPollFailure(deps.logger, projectId, serverId, error, err);
    return { kind: "failed", error };
  }
}

/** One warn line per failed request, with its request id (a bad answer is logged once, then polling goes on). */
function logPollFailure(
  logger: Logger,
  projectId: string,
  serverId: string | undefined,
  e: PollError,
  err: unknown,
): void {
  logger.warn(
    {
      projectId,
      serverId,
      kind: e.kind,
      httpStatus: e.http_status,
      errorCode: e.error_code,
      requestId: e.request_id,
      code: err instanceof AppError ? err.code : undefined,
    },
    "poll failed",
  );
}

/**
 * Whether a new state must be written. Poll bookkeeping alone (lastPollAt, lastSuccessAt) is not worth
 * a row write on every poll of 10,000 steady servers: after a restart it only makes the first poll come
 * sooner. Everything else — status, stuck and failure tracking, the API object — is written when it moves.
 */
export function needsWrite(prev: ServerState | undefined, next: ServerState): boolean {
  if (!prev) return true;
  if (
    prev.name !== next.name ||
    prev.status !== next.status ||
    prev.statusSince !== next.statusSince ||
    prev.present !== next.present ||
    prev.stuck !== next.stuck ||
    prev.stuckNotifiedAt !== next.stuckNotifiedAt ||
    prev.stuckCount !== next.stuckCount ||
    prev.consecutiveFailures !== next.consecutiveFailures ||
    prev.pollFailedNotified !== next.pollFailedNotified ||
    prev.lastPollOk !== next.lastPollOk ||
    prev.generation !== next.generation ||
    !sameJson(prev.lastError, next.lastError)
  ) {
    return true;
  }
  if (prev.server === next.server) return false;
  if (!prev.server || !next.server) return true;
  return !sameRecord(prev.server.raw, next.server.raw);
}

/** Deep equality of JSON values, stringifying only nested objects (the API object is mostly scalars). */
function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== "object" || typeof b !== "object") return false;
  return JSON.stringify(a) === JSON.stringify(b);
}

function sameRecord(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  for (const k of keys) if (!sameJson(a[k], b[k])) return false;
  return true;
}

async function commitResults(
  projectId: string,
  results: Map<string, ServerPollResult>,
  deps: PollDeps,
  config: Readonly<Config>,
  now: number,
  mode: PollSummary["mode"],
): Promise<PollSummary> {
  const observeConfig = {
    thresholds: config.stuck.thresholds,
    repeatEvery: config.stuck.repeatEvery,
    pollFailureThreshold: config.alerts.pollFailureThreshold,
  };
  const states: ServerState[] = [];
  const toWrite: ServerState[] = [];
  const events: DomainEvent[] = [];
  const transitions: Array<{ from: string; to: string }> = [];
  let failed = 0;
  let n = 0;
  for (const [serverId, result] of results) {
    const prev = deps.states.get(projectId, serverId);
    if (result.kind === "failed") failed++;
    const out = observe(prev, result, { projectId, serverId, now, config: observeConfig });
    states.push(out.state);
    if (out.events.length > 0 || needsWrite(prev, out.state)) toWrite.push(out.state);
    for (const e of out.events) {
      events.push(e);
      if (e.type === "image_server.status_changed" && e.data.previous_status && e.data.status) {
        transitions.push({ from: e.data.previous_status, to: e.data.status });
      }
    }
    if (++n % YIELD_EVERY === 0) await yieldToLoop();
  }
  const webhooks = config.webhooks;
  const deliveries: Array<{ eventId: string; webhook: string }> = [];
  for (const event of events) {
    for (const w of webhooks)
      if (matchesWebhook(event, w)) deliveries.push({ eventId: event.id, webhook: w.name });
  }
  // Commit before notify: states, events and delivery rows in one transaction.
  const inserted = new Set(deps.store.commitPoll({ servers: toWrite, events, deliveries, now }));
  for (const s of states) deps.states.set(s);
  const newEvents = events.filter((e) => inserted.has(e.id));
  deps.onCommitted?.(states, newEvents, transitions);
  return { projectId, observed: states.length, events: newEvents.length, failed, mode };
}
