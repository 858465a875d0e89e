/**
 * One target's poll: plan (pure, domain/poll-plan) → fetch (the list or the GETs the plan chose) → observe
 * → ONE commit → after the commit, update the in-memory state, metrics and wake delivery. The scheduler
 * only calls this.
 */
import { type CloudClient, LIST_LIMIT } from "../cloud/client.js";
import { toPollError } from "../cloud/errors.js";
import type { Config, TargetConfig } from "../config/types.js";
import { isSteadyAnswer, observe } from "../domain/observe.js";
import type { JobObservation, JobServerRef } from "../domain/observe-jobs.js";
import {
  type ListFilter,
  listResults,
  type PlanSettings,
  planTick,
  reusableResults,
  type TargetMemory,
  type TickPlan,
} from "../domain/poll-plan.js";
import { ownsServer } from "../domain/sharding.js";
import {
  DEFAULT_CLOUD,
  failsAsWhole,
  initialTargetState,
  observeTarget,
  type TargetState,
  type TickOutcome,
  tickOutcomeOf,
} from "../domain/target-health.js";
import type { DomainEvent, ImageServer, PollError, ServerPollResult, ServerState } from "../domain/types.js";
import type { Clock } from "../lib/clock.js";
import { mapLimit } from "../lib/concurrency.js";
import { AppError } from "../lib/errors.js";
import type { Logger } from "../lib/logger.js";
import { YIELD_EVERY, yieldToLoop } from "../lib/yield.js";
import { matchesWebhook } from "../notify/match.js";
import type { Store } from "../store/types.js";
import type { JobBook } from "./job-book.js";
import { fetchJobs } from "./watch-jobs.js";

/**
 * The in-memory view of every server's state, indexed by project (a target reads its own servers without
 * scanning the others). Owned by the app. A state object is replaced whenever anything but its poll
 * times changes; a steady poll only moves `lastPollAt`/`lastSuccessAt` of the stored object in place
 * (see `commitResults`), so holders of a state see current poll times and an unchanged identity.
 */
export class ServerStates {
  readonly #byProject = new Map<string, Map<string, ServerState>>();
  #size = 0;

  static key(projectId: string, serverId: string): string {
    return `${projectId}/${serverId}`;
  }

  get(projectId: string, serverId: string): ServerState | undefined {
    return this.#byProject.get(projectId)?.get(serverId);
  }

  set(state: ServerState): void {
    let project = this.#byProject.get(state.projectId);
    if (!project) {
      project = new Map();
      this.#byProject.set(state.projectId, project);
    }
    const before = project.size;
    project.set(state.serverId, state);
    this.#size += project.size - before;
  }

  delete(projectId: string, serverId: string): void {
    const project = this.#byProject.get(projectId);
    if (!project?.delete(serverId)) return;
    this.#size--;
    if (project.size === 0) this.#byProject.delete(projectId);
  }

  /** Every state of one project. */
  ofProject(projectId: string): ServerState[] {
    const project = this.#byProject.get(projectId);
    return project ? [...project.values()] : [];
  }

  all(): ServerState[] {
    const out: ServerState[] = [];
    for (const project of this.#byProject.values()) for (const s of project.values()) out.push(s);
    return out;
  }

  get size(): number {
    return this.#size;
  }
}

/** The in-memory view of every target's health, keyed by cloud and project id. Owned by the app. */
export class TargetStates {
  readonly #map = new Map<string, TargetState>();

  static key(cloud: string, projectId: string): string {
    return `${cloud}/${projectId}`;
  }

  /** The state of a target; a target never ticked is down and never answered. */
  get(projectId: string, cloud: string = DEFAULT_CLOUD): TargetState {
    return this.#map.get(TargetStates.key(cloud, projectId)) ?? initialTargetState(projectId, cloud);
  }

  set(state: TargetState): void {
    this.#map.set(TargetStates.key(state.cloud, state.projectId), state);
  }
}

/** What pollTarget needs; every field is injected by app.ts. */
export interface PollDeps {
  cloud: CloudClient;
  store: Store;
  states: ServerStates;
  /** Image-job records and cursors (DESIGN §11), updated after each commit like `states`. */
  jobBook: JobBook;
  /** Target health (DESIGN §10), updated after each commit like `states`. */
  targets: TargetStates;
  clock: Clock;
  logger: Logger;
  config: () => Readonly<Config>;
  memory: Map<string, TargetMemory>;
  /**
   * Called after a successful commit with every state observed (for metrics), the events newly inserted
   * (for delivery), the status changes observed, inserted or not (for the transitions counter), and the
   * target's health and, when jobs were watched, the job observation.
   */
  onCommitted?: (
    states: readonly ServerState[],
    events: readonly DomainEvent[],
    transitions: ReadonlyArray<Transition>,
    target: TargetState,
    jobs?: JobObservation,
  ) => void;
  /** Poll even servers that are not yet due (the first poll after start, `once`). */
  force?: boolean;
  signal?: AbortSignal;
}

/** One observed status change, with the time spent in the status it left (seconds). */
export interface Transition {
  from: string;
  to: string;
  seconds?: number | undefined;
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

/** The plan's view of the config: the two intervals and this replica's shard. */
export function planSettings(config: Readonly<Config>): PlanSettings {
  return {
    interval: config.schedule.interval,
    steadyInterval: config.schedule.steadyInterval,
    sharding: config.sharding,
  };
}

/**
 * Polls one target once: plans the tick (which servers are due, list or GETs), fetches, observes each
 * server, and commits states, events and delivery rows in one transaction before anything is sent.
 */
export async function pollTarget(target: TargetConfig, deps: PollDeps): Promise<PollSummary> {
  const config = deps.config();
  const { projectId } = target;
  const now = deps.clock.now();
  const memory = deps.memory.get(targetKey(target)) ?? {};
  deps.memory.set(targetKey(target), memory);

  const plan = planTick(
    target,
    deps.states.ofProject(projectId),
    now,
    planSettings(config),
    memory,
    deps.force ?? false,
  );
  // Jobs are fetched while the servers are listed (neither needs the other's answers); only their
  // observation waits for the servers, to attach each job to one.
  const jobsFetched = fetchJobs(target, config, now, deps);
  let list: "ok" | { error: PollError } | undefined;
  let results: ReadonlyMap<string, ServerPollResult> = new Map();
  const listed: { servers?: readonly ImageServer[] } = {};
  if (plan.kind === "list") {
    const answer = await listAll(deps, projectId, plan.filter, memory, now, listed);
    list = "kind" in answer ? { error: answer.error } : "ok";
    results = reusableResults(memory.listed, plan, answer) ?? listResults(plan, answer);
    memory.listed = "kind" in answer ? undefined : { plan, servers: answer, results };
  } else if (plan.kind === "get") {
    results = await getAll(deps, projectId, plan.ids, config.schedule.concurrency);
  }
  const mode = plan.kind;
  const observeJobs = await jobsFetched;
  const jobs = observeJobs?.(() => jobServers(target, deps.states, results, listed));

  // Nothing due and no jobs; or stopping: answers cut short by our own abort are not failures of the cloud.
  if ((plan.kind === "none" && !jobs) || deps.signal?.aborted)
    return { projectId, observed: 0, events: 0, failed: 0, mode };
  // A tick that polled no server (only jobs) says nothing about the target's health.
  const outcome =
    plan.kind === "none"
      ? undefined
      : tickOutcomeOf(results.values(), {
          ...(list === undefined ? {} : { list }),
          discover: target.discover,
          servers: coveredServers(target, plan, results, config),
        });
  return await commitResults(
    projectId,
    target.cloud ?? DEFAULT_CLOUD,
    results,
    outcome,
    deps,
    config,
    now,
    mode,
    jobs,
  );
}

/**
 * How many servers a target covers (this shard's share): the configured ids, or in discover mode the
 * servers of a complete list (the known ones when the list failed).
 */
function coveredServers(
  target: TargetConfig,
  plan: TickPlan,
  results: ReadonlyMap<string, ServerPollResult>,
  config: Readonly<Config>,
): number {
  if (!target.discover) return target.serverIds.filter((id) => ownsServer(id, config.sharding)).length;
  if (plan.kind !== "list") return 0;
  let n = 0;
  for (const r of results.values()) if (r.kind !== "not_found") n++;
  return n;
}

/**
 * The complete list of a project (auto-paginated by the client), or the failure every server of the
 * poll shares. Remembers what the list cost, to choose between list and GETs next time.
 */
async function listAll(
  deps: PollDeps,
  projectId: string,
  filter: ListFilter,
  memory: TargetMemory,
  now: number,
  listed: { servers?: readonly ImageServer[] },
): Promise<readonly ImageServer[] | { kind: "failed"; error: PollError }> {
  try {
    const servers = await deps.cloud.listImageServers(projectId, filter, {
      signal: deps.signal,
      held: (id) => deps.states.get(projectId, id)?.server ?? undefined,
    });
    listed.servers = servers;
    memory.listPages = Math.max(1, Math.ceil(servers.length / LIST_LIMIT));
    memory.lastListAt = now;
    return servers;
  } catch (err) {
    const error = toPollError(err);
    logPollFailure(deps.logger, projectId, undefined, error, err);
    return { kind: "failed", error };
  }
}

/** One GET per id, at most `concurrency` at once. */
async function getAll(
  deps: PollDeps,
  projectId: string,
  ids: readonly string[],
  concurrency: number,
): Promise<Map<string, ServerPollResult>> {
  const results = new Map<string, ServerPollResult>();
  await mapLimit(ids, concurrency, async (id) => {
    results.set(id, await getOne(deps, projectId, id));
  });
  return results;
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

/**
 * The servers a job may belong to: the configured ids, every server known in the project, this tick's
 * answers and the whole list (other shards' servers too, so every replica attaches a job alike).
 */
function jobServers(
  target: TargetConfig,
  states: ServerStates,
  results: ReadonlyMap<string, ServerPollResult>,
  listed: { servers?: readonly ImageServer[] },
): JobServerRef[] {
  const out = new Map<string, JobServerRef>();
  for (const id of target.serverIds) out.set(id, { id, name: "", imageId: "" });
  for (const s of states.ofProject(target.projectId)) {
    out.set(s.serverId, { id: s.serverId, name: s.name, imageId: s.server?.imageId ?? "" });
  }
  for (const srv of listed.servers ?? [])
    out.set(srv.id, { id: srv.id, name: srv.name, imageId: srv.imageId });
  for (const [id, r] of results) {
    if (r.kind === "ok") out.set(id, { id, name: r.server.name, imageId: r.server.imageId });
  }
  return [...out.values()];
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
    (prev.targetFailures ?? 0) !== (next.targetFailures ?? 0) ||
    prev.lastPollOk !== next.lastPollOk ||
    prev.generation !== next.generation ||
    !sameJson(prev.lastError, next.lastError)
  ) {
    return true;
  }
  if (prev.server === next.server) return false;
  if (!prev.server || !next.server) return true;
  return !sameServer(prev.server, next.server);
}

/** Whether two API objects are field-wise equal (the typed fields are derived from `raw`). */
function sameServer(a: ImageServer, b: ImageServer): boolean {
  return a.status === b.status && sameRecord(a.raw, b.raw);
}

/** Deep equality of JSON values, field by field (no stringify: a steady poll compares 10,000 of them). */
function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (a === null || b === null || typeof a !== "object" || typeof b !== "object") return false;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    for (let i = 0; i < a.length; i++) if (!sameJson(a[i], b[i])) return false;
    return true;
  }
  if (Array.isArray(b)) return false;
  return sameRecord(a as Record<string, unknown>, b as Record<string, unknown>);
}

function sameRecord(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  const keys = Object.keys(a);
  if (keys.length !== Object.keys(b).length) return false;
  for (const k of keys) if (!Object.hasOwn(b, k) || !sameJson(a[k], b[k])) return false;
  return true;
}

async function commitResults(
  projectId: string,
  cloud: string,
  results: ReadonlyMap<string, ServerPollResult>,
  outcome: TickOutcome | undefined,
  deps: PollDeps,
  config: Readonly<Config>,
  now: number,
  mode: PollSummary["mode"],
  jobs: JobObservation | undefined,
): Promise<PollSummary> {
  const observeConfig = {
    thresholds: config.stuck.thresholds,
    repeatEvery: config.stuck.repeatEvery,
    pollFailureThreshold: config.alerts.pollFailureThreshold,
  };
  const states: ServerState[] = [];
  const toWrite: ServerState[] = [];
  const transitions: Transition[] = [];
  // Target health first: while the whole target fails, its servers' failures are the target's (DESIGN §10).
  const prevHealth = deps.targets.get(projectId, cloud);
  const health = outcome
    ? observeTarget(prevHealth, outcome, { now, threshold: config.alerts.pollFailureThreshold })
    : { state: prevHealth, events: [] };
  const targetFailing = outcome ? failsAsWhole(outcome) : false;
  const events: DomainEvent[] = [...health.events];
  let failed = 0;
  let n = 0;
  // Steady servers: only their poll times moved. They keep their stored object (and its API object),
  // whose poll times are set after the commit, so a steady cycle allocates no new state per server.
  // Their new poll times are kept as numbers, so the observed copies die young.
  const touched: ServerState[] = [];
  /** New state objects (the others are the stored ones, already in `deps.states`). */
  const fresh: ServerState[] = [];
  const touchedPollAt: Array<number | null> = [];
  const touchedSuccessAt: Array<number | null> = [];
  for (const [serverId, result] of results) {
    const prev = deps.states.get(projectId, serverId);
    // The common case, recognised without building a state: the held API object came back unchanged.
    if (prev && result.kind === "ok" && isSteadyAnswer(prev, result.server, now, observeConfig)) {
      states.push(prev);
      touched.push(prev);
      touchedPollAt.push(now);
      touchedSuccessAt.push(now);
      if (++n % YIELD_EVERY === 0) await yieldToLoop();
      continue;
    }
    if (result.kind === "failed") failed++;
    const job = jobs?.jobOfServer.get(serverId);
    const out = observe(prev, result, {
      projectId,
      serverId,
      now,
      config: observeConfig,
      targetFailing,
      job,
    });
    if (prev && out.events.length === 0 && !needsWrite(prev, out.state)) {
      states.push(prev);
      touched.push(prev);
      touchedPollAt.push(out.state.lastPollAt);
      touchedSuccessAt.push(out.state.lastSuccessAt);
      if (++n % YIELD_EVERY === 0) await yieldToLoop();
      continue;
    }
    states.push(out.state);
    fresh.push(out.state);
    if (out.events.length > 0 || needsWrite(prev, out.state)) toWrite.push(out.state);
    for (const e of out.events) {
      events.push(e);
      if (e.type === "image_server.status_changed" && e.data.previous_status && e.data.status) {
        transitions.push({
          from: e.data.previous_status,
          to: e.data.status,
          seconds: e.data.previous_status_duration_seconds,
        });
      }
    }
    if (++n % YIELD_EVERY === 0) await yieldToLoop();
  }
  if (jobs) events.push(...jobs.events);
  const webhooks = config.webhooks;
  const deliveries: Array<{ eventId: string; webhook: string }> = [];
  for (const event of events) {
    for (const w of webhooks)
      if (matchesWebhook(event, w)) deliveries.push({ eventId: event.id, webhook: w.name });
  }
  // Commit before notify: states, events and delivery rows in one transaction.
  const inserted = new Set(
    deps.store.commitPoll({
      servers: toWrite,
      events,
      deliveries,
      now,
      targets: outcome ? [health.state] : [],
      jobs: jobs && { cursor: jobs.cursor, records: jobs.records },
    }),
  );
  for (let i = 0; i < touched.length; i++) {
    const stored = touched[i] as ServerState;
    stored.lastPollAt = touchedPollAt[i] ?? null;
    stored.lastSuccessAt = touchedSuccessAt[i] ?? null;
  }
  for (const s of fresh) deps.states.set(s);
  if (jobs) deps.jobBook.committed(jobs.cursor, jobs.records, now);
  if (outcome) deps.targets.set(health.state);
  const newEvents = events.filter((e) => inserted.has(e.id));
  deps.onCommitted?.(states, newEvents, transitions, health.state, jobs);
  return { projectId, observed: states.length, events: newEvents.length, failed, mode };
}
