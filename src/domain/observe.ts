/**
 * Observation (DESIGN §1): a pure function from the previous state of one server and what one poll
 * learned about it to the next state and the events to emit. No IO, no clock: `now` comes in the context.
 *
 * Rules, in the order events of one poll are emitted:
 * 1. `stuck_resolved` — the server was stuck and its status moved on, it disappeared, or its status no
 *    longer has a stuck threshold (removed by a reload). Always before the `status_changed`/`disappeared`.
 * 2. `discovered` (first sight, or back after `disappeared`; never `status_changed`), `status_changed`,
 *    or `disappeared` (a not_found of a present server; once, not again while absent; a server never
 *    seen that answers not_found emits nothing).
 * 3. `poll_recovered` — the first answer (ok or not_found) after a `poll_failed` was emitted; after the
 *    change that answer reports, whose data it already carries.
 * 4. `stuck` — time in the current status above `thresholds[status]`: once per episode, then again each
 *    time another `repeatEvery` has passed (when > 0). Evaluated only on successful polls.
 * A failed poll only counts: `poll_failed` once per failure streak, when the server's own failures reach
 * the threshold. Failures while the whole target fails (`ctx.targetFailing`, DESIGN §10) count in
 * `consecutiveFailures` but are the target's: they emit nothing, and do not count towards a later
 * `poll_failed` of the server alone (no burst of stale per-server events when the target recovers).
 * A not_found is an answer, not a failure: it ends the streak and sets `lastPollOk`/`lastSuccessAt`.
 *
 * Time in status: on first sight it starts at the API's `update_time` (or `now` when that is missing
 * or in the future). On an observed change it starts at the new `update_time` when that lies between
 * the previous answer and `now` (it is when the change was recorded, and every replica sees the same
 * value), else at `now` (a missing, stale or future `update_time`, or skew between the API's clock and
 * ours). Durations are never negative: a clock that goes backwards clamps them to 0, and stuck
 * reminders wait until the clock has passed the previous reminder's slot again (no duplicates).
 *
 * Event ids (see `eventId`) are derived from API facts, so replicas agree, with these anchors:
 * - status_changed: previous status, new status, new `update_time`, and the start of the previous status;
 * - discovered: status and `update_time` (back after disappearing: also the last status seen and its start);
 * - disappeared: the last status seen, its `update_time` and start, and the server's `generation` (how
 *   many times it disappeared before), so a flapping server gets fresh ids every cycle;
 * - stuck: status, start of the status, and the reminder slot `n` = ⌊(time in status − threshold) /
 *   repeatEvery⌋ (0 without reminders), so a replica that saw the episode later agrees on the slot;
 * - stuck_resolved: the stuck status and its start (one resolution per episode, however it ended);
 * - poll_failed / poll_recovered: the last status, its `update_time`, and the time of the last answer
 *   before the streak.
 * Limits: two replicas agree only while their status starts agree (both derived from `update_time`);
 * after a fallback to `now` their ids differ, so a receiver may get the same change twice, but it
 * never misses one. Poll failure ids are replica-specific by design: a failure is a fact about one replica's
 * polling, and nothing in the API tells two outages of an unchanged server apart. The `generation`
 * counter is replica-local history too: a replica that started after a server flapped counts fewer
 * cycles, so its disappeared/rediscovered ids differ from an older replica's (a duplicate, never a loss).
 */
import { toIsoOrNull } from "../lib/iso.js";
import { eventId } from "./event-id.js";
import type { JobRef } from "./observe-jobs.js";
import { normalizeStatus } from "./status.js";
import {
  type DomainEvent,
  type EventData,
  type EventType,
  type ImageServer,
  KNOWN_STATUSES,
  type PollError,
  type ServerPollResult,
  type ServerState,
} from "./types.js";

/** The parts of the config observation needs. All durations in ms. */
export interface ObserveConfig {
  /** Stuck threshold per status name; a status without a positive threshold is never stuck. */
  thresholds: Readonly<Record<string, number>>;
  /** Interval between stuck reminders; 0 = no reminders. */
  repeatEvery: number;
  /** Consecutive failed polls before `poll_failed` (values below 1 count as 1). */
  pollFailureThreshold: number;
}

/** Who is observed, when, and with which settings. */
export interface ObserveContext {
  projectId: string;
  serverId: string;
  /** The observation time (ms since epoch); the events' `occurredAt`. */
  now: number;
  config: ObserveConfig;
  /** The server's latest image job, when one is known: `status_changed` carries it (DESIGN §11). */
  job?: JobRef | undefined;
  /** True when this tick failed as a whole for the server's target: its failure is the target's. */
  targetFailing?: boolean;
}

/** The result of one observation. */
export interface Observation {
  state: ServerState;
  events: DomainEvent[];
}

/** The state of a server never seen: no status, not present, every counter 0. */
export function initialState(projectId: string, serverId: string): ServerState {
  return {
    projectId,
    serverId,
    name: "",
    status: null,
    statusSince: 0,
    present: false,
    stuck: false,
    stuckNotifiedAt: null,
    stuckCount: 0,
    consecutiveFailures: 0,
    pollFailedNotified: false,
    lastPollAt: null,
    lastPollOk: null,
    lastSuccessAt: null,
    lastError: null,
    server: null,
  };
}

/**
 * Folds one poll result into the state of one server. Pure: `prev` is not modified; the same inputs
 * always give the same state, events and event ids. `prev` undefined = never seen.
 */
export function observe(
  prev: ServerState | undefined,
  result: ServerPollResult,
  ctx: ObserveContext,
): Observation {
  const before: ServerState = prev ?? initialState(ctx.projectId, ctx.serverId);
  const events: DomainEvent[] = [];
  const emitter = createEmitter(ctx, events);

  if (result.kind === "failed") {
    return { state: observeFailure(before, result.error, ctx, emitter), events };
  }

  // An answer (ok or not_found) ends a failure streak.
  const { targetFailures: _ended, ...rest } = before;
  const answered: ServerState = {
    ...rest,
    projectId: ctx.projectId,
    serverId: ctx.serverId,
    lastPollAt: ctx.now,
    lastPollOk: true,
    lastSuccessAt: ctx.now,
    lastError: null,
    consecutiveFailures: 0,
    pollFailedNotified: false,
  };

  if (result.kind === "not_found") {
    const gone = observeNotFound(before, answered, ctx, emitter);
    if (before.pollFailedNotified) emitter.pollRecovered(before, gone);
    return { state: gone, events };
  }

  const server = withNormalizedStatus(result.server);
  const seen: ServerState = { ...answered, server, name: server.name, status: server.status, present: true };

  let next: ServerState;
  if (before.status === null || !before.present) {
    next = observeAppearance(before, seen, server, ctx, emitter);
  } else if (before.status !== server.status) {
    next = observeChange(before, seen, server, ctx, emitter);
  } else {
    next = seen;
  }
  // After the change it reports, so a receiver taking events in order never sees the new status first.
  if (before.pollFailedNotified) emitter.pollRecovered(before, next);
  return { state: evaluateStuck(next, ctx, emitter), events };
}

/** Statuses `normalizeStatus` keeps as they are, known without calling it (which builds strings). */
const NORMAL_STATUSES: ReadonlySet<string> = new Set([...KNOWN_STATUSES, "UNKNOWN"]);

function isNormalStatus(status: string): boolean {
  return NORMAL_STATUSES.has(status) || normalizeStatus(status) === status;
}

/**
 * True when `observe(prev, { kind: "ok", server }, ctx)` would emit nothing and return `prev` with only
 * `lastPollAt` and `lastSuccessAt` moved to `now`: the server answered with the very API object `prev`
 * holds (the cloud client hands back the held object for an unchanged answer), `prev` is a present,
 * healthy server (its last poll succeeded, no failure streak), and stuck detection keeps it as it is.
 * A cheap test for the common case of a steady poll: no state object is built. When it returns false,
 * call `observe`, which handles every case (including the steady ones this test does not recognise).
 */
export function isSteadyAnswer(
  prev: ServerState,
  server: ImageServer,
  now: number,
  config: ObserveConfig,
): boolean {
  return (
    prev.server === server &&
    prev.present &&
    prev.status === server.status &&
    prev.name === server.name &&
    isNormalStatus(server.status) &&
    prev.lastPollOk === true &&
    prev.lastError === null &&
    prev.consecutiveFailures === 0 &&
    !prev.pollFailedNotified &&
    prev.targetFailures === undefined &&
    stuckVerdict(prev, now, config) === "keep"
  );
}

/**
 * A failed poll: count it; `poll_failed` once per streak when the server's own failures (those while
 * its target did not fail as a whole) reach the threshold.
 */
function observeFailure(before: ServerState, error: PollError, ctx: ObserveContext, emitter: Emitter) {
  const targetFailures = (before.targetFailures ?? 0) + (ctx.targetFailing ? 1 : 0);
  const next: ServerState = {
    ...before,
    projectId: ctx.projectId,
    serverId: ctx.serverId,
    lastPollAt: ctx.now,
    lastPollOk: false,
    lastError: error,
    consecutiveFailures: before.consecutiveFailures + 1,
    ...(targetFailures > 0 ? { targetFailures } : {}),
  };
  const threshold = Math.max(1, ctx.config.pollFailureThreshold);
  const own = next.consecutiveFailures - targetFailures;
  if (!ctx.targetFailing && !before.pollFailedNotified && own >= threshold) {
    next.pollFailedNotified = true;
    emitter.pollFailed(before, next, error);
  }
  return next;
}

/** 404 / absent from a complete list: `disappeared` once for a present server; nothing for one never seen. */
function observeNotFound(before: ServerState, answered: ServerState, ctx: ObserveContext, emitter: Emitter) {
  if (!before.present) return answered;
  const gone: ServerState = {
    ...answered,
    present: false,
    stuck: false,
    stuckNotifiedAt: null,
    stuckCount: 0,
    generation: (before.generation ?? 0) + 1,
  };
  if (before.stuck) emitter.stuckResolved(before, gone, ctx.now);
  emitter.disappeared(before, gone);
  return gone;
}

/** `seen` at the start of a status that began at `statusSince`: no stuck episode yet. */
function inNewStatus(seen: ServerState, statusSince: number): ServerState {
  return { ...seen, statusSince, stuck: false, stuckNotifiedAt: null, stuckCount: 0 };
}

/** First sight, or back after disappearing: `discovered`; time in status from `update_time`. */
function observeAppearance(
  before: ServerState,
  seen: ServerState,
  server: ImageServer,
  ctx: ObserveContext,
  emitter: Emitter,
): ServerState {
  const unchanged =
    before.status === server.status &&
    server.updateTime != null &&
    before.server?.updateTime === server.updateTime;
  // An unchanged object coming back keeps its status start: the status never changed.
  const statusSince = unchanged ? before.statusSince : firstSightStart(server.updateTime, ctx.now);
  const next = inNewStatus(seen, statusSince);
  emitter.discovered(before, next);
  return next;
}

/** A status change of a present server: `stuck_resolved` first if it was stuck, then `status_changed`. */
function observeChange(
  before: ServerState,
  seen: ServerState,
  server: ImageServer,
  ctx: ObserveContext,
  emitter: Emitter,
): ServerState {
  const statusSince = changeStart(before, server.updateTime, ctx.now);
  const next = inNewStatus(seen, statusSince);
  if (before.stuck) emitter.stuckResolved(before, next, statusSince);
  emitter.statusChanged(before, next);
  return next;
}

/** Stuck detection on a successful poll of a present server. */
function evaluateStuck(state: ServerState, ctx: ObserveContext, emitter: Emitter): ServerState {
  const verdict = stuckVerdict(state, ctx.now, ctx.config);
  if (verdict === "keep") return state;
  if (verdict === "resolve") {
    // The threshold was removed (config reload): nothing holds the server stuck any more.
    const next: ServerState = { ...state, stuck: false, stuckNotifiedAt: null, stuckCount: 0 };
    emitter.stuckResolved(state, next, ctx.now);
    return next;
  }
  const next: ServerState = {
    ...state,
    stuck: true,
    stuckNotifiedAt: ctx.now,
    stuckCount: state.stuckCount + 1,
  };
  emitter.stuck(next, verdict.threshold, verdict.slot);
  return next;
}

/**
 * What stuck detection does to a present server's state at `now`: keep it, resolve its stuck episode
 * (its status no longer has a threshold), or emit `stuck` (first time, or a reminder) for `slot`.
 */
function stuckVerdict(
  state: ServerState,
  now: number,
  config: ObserveConfig,
): "keep" | "resolve" | { threshold: number; slot: number } {
  const threshold = thresholdFor(config.thresholds, state.status as string);
  if (threshold === undefined) return state.stuck ? "resolve" : "keep";
  const repeatEvery = config.repeatEvery;
  const slot = stuckSlot(now - state.statusSince, threshold, repeatEvery);
  if (slot < 0) return "keep";
  if (state.stuck) {
    // Reminder when the clock has entered a later slot than the last notification's. A clock that went
    // backwards gives an earlier or equal slot: no duplicate.
    const notifiedSlot =
      state.stuckNotifiedAt === null
        ? -1
        : stuckSlot(state.stuckNotifiedAt - state.statusSince, threshold, repeatEvery);
    if (slot <= notifiedSlot) return "keep";
  }
  return { threshold, slot };
}

/**
 * The stuck slot of a time in status: -1 while not above the threshold, then 0, 1, 2… for each further
 * `repeatEvery` (always 0 without reminders).
 */
function stuckSlot(inStatusMs: number, threshold: number, repeatEvery: number): number {
  // Thresholds are positive, so a negative time (clock went backwards) is never above one.
  if (!(inStatusMs > threshold)) return -1;
  if (!(repeatEvery > 0)) return 0;
  return Math.floor((inStatusMs - threshold) / repeatEvery);
}

/** The configured positive threshold of `status`, or undefined. Own keys only (statuses are free strings). */
function thresholdFor(thresholds: Readonly<Record<string, number>>, status: string): number | undefined {
  if (!Object.hasOwn(thresholds, status)) return undefined;
  const t = thresholds[status];
  return typeof t === "number" && Number.isFinite(t) && t > 0 ? t : undefined;
}

/** Start of the current status on first sight: `update_time`, unless missing or in the future. */
function firstSightStart(updateTime: number | null, now: number): number {
  return updateTime != null && Number.isFinite(updateTime) && updateTime <= now ? updateTime : now;
}

/**
 * Start of a status whose change was just observed: the new `update_time` when it lies between the
 * previous answer (and the previous status's start) and `now`, else `now`.
 */
function changeStart(before: ServerState, updateTime: number | null, now: number): number {
  if (updateTime == null || !Number.isFinite(updateTime)) return now;
  const lower = Math.max(before.statusSince, before.lastSuccessAt ?? Number.NEGATIVE_INFINITY);
  return updateTime >= lower && updateTime <= now ? updateTime : now;
}

function withNormalizedStatus(server: ImageServer): ImageServer {
  const status = normalizeStatus(server.status);
  return status === server.status ? server : { ...server, status };
}

function seconds(ms: number): number {
  return Math.floor(Math.max(0, ms) / 1000);
}

/** Builds the events of one observation, ids and payload data together. */
interface Emitter {
  pollRecovered(before: ServerState, after: ServerState): void;
  pollFailed(before: ServerState, after: ServerState, error: PollError): void;
  discovered(before: ServerState, after: ServerState): void;
  statusChanged(before: ServerState, after: ServerState): void;
  disappeared(before: ServerState, after: ServerState): void;
  stuck(state: ServerState, threshold: number, slot: number): void;
  /** `endedAt`: when the stuck status ended (the new status's start, or now). */
  stuckResolved(before: ServerState, after: ServerState, endedAt: number): void;
}

function createEmitter(ctx: ObserveContext, events: DomainEvent[]): Emitter {
  const { projectId, serverId, now } = ctx;

  const push = (
    type: EventType,
    id: {
      previousStatus: string | null;
      status: string | null;
      updateTime: number | null;
      discriminator?: string;
    },
    state: ServerState,
    extra: Omit<Partial<EventData>, "event_id" | "project_id" | "server_id">,
  ): void => {
    const event_id = eventId({ type, projectId, serverId, ...id });
    const data: EventData = {
      event_id,
      project_id: projectId,
      server_id: serverId,
      name: state.name,
      status: state.status,
      ...(state.status !== null ? { status_since: toIsoOrNull(state.statusSince) } : {}),
      ...extra,
      image_server: state.server ? state.server.raw : null,
    };
    events.push({ id: event_id, type, occurredAt: now, projectId, serverId, data });
  };

  const failureAnchor = (before: ServerState) => ({
    previousStatus: null,
    status: before.status,
    updateTime: before.server?.updateTime ?? null,
    discriminator: `after:${before.lastSuccessAt ?? "never"}`,
  });

  return {
    pollRecovered(before, after) {
      push("image_server.poll_recovered", failureAnchor(before), after, {
        consecutive_failures: before.consecutiveFailures,
      });
    },
    pollFailed(before, after, error) {
      push("image_server.poll_failed", failureAnchor(before), after, {
        consecutive_failures: after.consecutiveFailures,
        error,
      });
    },
    discovered(before, after) {
      const again = before.status !== null;
      push(
        "image_server.discovered",
        again
          ? {
              previousStatus: before.status,
              status: after.status,
              updateTime: after.server?.updateTime ?? null,
              discriminator: `again:${before.server?.updateTime ?? "none"}:${before.statusSince}:gen:${before.generation ?? 0}`,
            }
          : { previousStatus: null, status: after.status, updateTime: after.server?.updateTime ?? null },
        after,
        { previous_status: null },
      );
    },
    statusChanged(before, after) {
      push(
        "image_server.status_changed",
        {
          previousStatus: before.status,
          status: after.status,
          updateTime: after.server?.updateTime ?? null,
          discriminator: `since:${before.statusSince}`,
        },
        after,
        {
          previous_status: before.status,
          previous_status_duration_seconds: seconds(after.statusSince - before.statusSince),
          ...(ctx.job ? { job: ctx.job } : {}),
        },
      );
    },
    disappeared(before, after) {
      push(
        "image_server.disappeared",
        {
          previousStatus: before.status,
          status: null,
          updateTime: before.server?.updateTime ?? null,
          discriminator: `since:${before.statusSince}:gen:${before.generation ?? 0}`,
        },
        after,
        {},
      );
    },
    stuck(state, threshold, slot) {
      push(
        "image_server.stuck",
        {
          previousStatus: null,
          status: state.status,
          updateTime: null,
          discriminator: `since:${state.statusSince}:n:${slot}`,
        },
        state,
        {
          stuck_threshold_seconds: threshold / 1000,
          stuck_seconds: seconds(now - state.statusSince),
        },
      );
    },
    stuckResolved(before, after, endedAt) {
      const threshold = thresholdFor(ctx.config.thresholds, before.status as string);
      push(
        "image_server.stuck_resolved",
        {
          previousStatus: before.status,
          status: null,
          updateTime: null,
          discriminator: `since:${before.statusSince}`,
        },
        after,
        {
          previous_status: before.status,
          // When the stuck status began, whatever ended it (status_since is the new state's).
          previous_status_since: toIsoOrNull(before.statusSince),
          ...(threshold !== undefined ? { stuck_threshold_seconds: threshold / 1000 } : {}),
          stuck_seconds: seconds(endedAt - before.statusSince),
        },
      );
    },
  };
}
