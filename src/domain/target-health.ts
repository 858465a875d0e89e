/**
 * Target health (DESIGN §10): a pure function from the previous state of one target (one project of one
 * cloud) and what one tick learnt to the next state and the target events to emit. No IO, no clock.
 *
 * A tick *answered* when at least one call got an answer from the API (a server, a list, a 404). A tick
 * that did not *fails as a whole* when it concerned more than one server, or when it could not be sent
 * at all (the list call of a discover target failed, credentials could not be had). After
 * `threshold` ticks in a row without an answer, a whole failure emits one `target.poll_failed`; the next
 * tick with an answer emits `target.poll_recovered`. A failure of a tick that concerned one server alone
 * (and could be sent) is that server's own failure: it makes the target down, but its event is the
 * server's `image_server.poll_failed`.
 *
 * Event ids: the target (project and cloud), the type, and the time of the last answer before the
 * streak, so two replicas watching the same target agree on the outage they both saw start.
 */
import { eventId } from "./event-id.js";
import type { DomainEvent, EventType, PollError, ServerPollResult, TargetEventData } from "./types.js";

/** The name of the cloud configured as `cloud:`; every target is on it until targets can name another. */
export const DEFAULT_CLOUD = "default";

/** Everything imagewatch remembers about one target between ticks (persisted in the store). */
export interface TargetState {
  projectId: string;
  /** The name of the target's cloud ("default" for `cloud:`). */
  cloud: string;
  /** Whether the last tick got at least one answer; false before the first tick. */
  up: boolean;
  /** When the last tick ran (ms), null before the first. */
  lastTickAt: number | null;
  /** When the last tick with an answer ran (ms); null = the target never answered. */
  lastSuccessAt: number | null;
  /** Ticks in a row without any answer. */
  consecutiveFailures: number;
  /** When the first tick of the current streak without an answer ran (ms); null while up. */
  downSince: number | null;
  /** True while the last tick failed as a whole (its servers' own poll_failed are then held back). */
  failingAsWhole: boolean;
  /** True once `target.poll_failed` was emitted for the current streak. */
  pollFailedNotified: boolean;
  /** The failure of the last tick without an answer; null after an answer. */
  lastError: PollError | null;
  /** How many servers the target covered at its last tick. */
  servers: number;
}

/** What one tick of a target learnt, as observeTarget needs it. */
export interface TickOutcome {
  /** At least one call got an answer (ok or not_found; a complete list). */
  answered: boolean;
  /** How many servers the tick asked about. */
  concerned: number;
  /** The tick could not be sent: the list call of a discover target failed, or credentials could not be had. */
  unsent: boolean;
  /** The failure of the tick when it got no answer (the list's, or the first GET's); else null. */
  error: PollError | null;
  /** How many servers the target covers. */
  servers: number;
}

/** Who is observed, when, and with which threshold. */
export interface TargetObserveContext {
  /** The observation time (ms since epoch); the events' `occurredAt`. */
  now: number;
  /** `alerts.pollFailureThreshold` (values below 1 count as 1). */
  threshold: number;
}

/** The result of one target observation. */
export interface TargetObservation {
  state: TargetState;
  events: DomainEvent[];
}

/** The state of a target before its first tick: down, never answered. */
export function initialTargetState(projectId: string, cloud: string): TargetState {
  return {
    projectId,
    cloud,
    up: false,
    lastTickAt: null,
    lastSuccessAt: null,
    consecutiveFailures: 0,
    downSince: null,
    failingAsWhole: false,
    pollFailedNotified: false,
    lastError: null,
    servers: 0,
  };
}

/** True when a tick without an answer is a failure of the whole target rather than of its one server. */
export function failsAsWhole(outcome: TickOutcome): boolean {
  return !outcome.answered && (outcome.concerned > 1 || outcome.unsent);
}

/**
 * The outcome of a tick from its per-server results. `list`: the tick made a list call, which answered
 * (`ok`, an answer even when it listed nothing) or failed (every result then shares its error; in
 * discover mode that tick could not be sent). A tick whose every failure is `auth` could not be sent
 * either (credentials could not be had, or were refused).
 */
export function tickOutcomeOf(
  results: Iterable<ServerPollResult>,
  opts: { list?: "ok" | { error: PollError }; discover: boolean; servers: number },
): TickOutcome {
  const listError = typeof opts.list === "object" ? opts.list.error : undefined;
  let concerned = 0;
  let answered = opts.list === "ok";
  let error: PollError | null = listError ?? null;
  let allAuth = true;
  for (const r of results) {
    concerned++;
    if (r.kind !== "failed") {
      answered = true;
      continue;
    }
    error ??= r.error;
    if (r.error.kind !== "auth") allAuth = false;
  }
  if (listError !== undefined) {
    return {
      answered: false,
      concerned,
      unsent: opts.discover || listError.kind === "auth",
      error: listError,
      servers: opts.servers,
    };
  }
  if (answered) return { answered, concerned, unsent: false, error: null, servers: opts.servers };
  return { answered, concerned, unsent: concerned > 0 && allAuth, error, servers: opts.servers };
}

/**
 * Folds one tick's outcome into the state of one target. Pure: `prev` is not modified; the same inputs
 * always give the same state, events and ids.
 */
export function observeTarget(
  prev: TargetState,
  outcome: TickOutcome,
  ctx: TargetObserveContext,
): TargetObservation {
  const events: DomainEvent[] = [];
  if (outcome.answered) {
    const next: TargetState = {
      ...prev,
      up: true,
      lastTickAt: ctx.now,
      lastSuccessAt: ctx.now,
      consecutiveFailures: 0,
      downSince: null,
      failingAsWhole: false,
      pollFailedNotified: false,
      lastError: null,
      servers: outcome.servers,
    };
    if (prev.pollFailedNotified) {
      events.push(
        targetEvent("target.poll_recovered", prev, ctx.now, {
          consecutive_failures: prev.consecutiveFailures,
          error: prev.lastError ?? { kind: "network" },
          servers: outcome.servers,
        }),
      );
    }
    return { state: next, events };
  }
  const whole = failsAsWhole(outcome);
  const error = outcome.error ?? prev.lastError ?? { kind: "network" };
  const next: TargetState = {
    ...prev,
    up: false,
    lastTickAt: ctx.now,
    consecutiveFailures: prev.consecutiveFailures + 1,
    downSince: prev.downSince ?? ctx.now,
    failingAsWhole: whole,
    lastError: error,
    servers: outcome.servers,
  };
  if (whole && !prev.pollFailedNotified && next.consecutiveFailures >= Math.max(1, ctx.threshold)) {
    next.pollFailedNotified = true;
    events.push(
      targetEvent("target.poll_failed", prev, ctx.now, {
        consecutive_failures: next.consecutiveFailures,
        error,
        servers: outcome.servers,
      }),
    );
  }
  return { state: next, events };
}

/** A target event; its id is anchored to the target and the last answer before the streak. */
function targetEvent(
  type: Extract<EventType, `target.${string}`>,
  prev: TargetState,
  now: number,
  extra: Pick<TargetEventData, "consecutive_failures" | "error" | "servers">,
): DomainEvent {
  const id = eventId({
    type,
    projectId: prev.projectId,
    serverId: "",
    previousStatus: null,
    status: null,
    updateTime: null,
    discriminator: `target:${prev.cloud}:after:${prev.lastSuccessAt ?? "never"}`,
  });
  const data: TargetEventData = {
    event_id: id,
    project_id: prev.projectId,
    cloud: prev.cloud,
    ...extra,
  };
  return { id, type, occurredAt: now, projectId: prev.projectId, serverId: "", data };
}
