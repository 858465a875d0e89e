/**
 * Parsing of the event filters that `imagewatch events list` and `GET /api/v1/events` share: one rule for
 * each value, one message for each mistake (prefixed by the caller with the option or parameter name).
 */
import { EVENT_TYPES, type EventType } from "../domain/types.js";
import { parseDuration } from "../lib/duration.js";
import type { DeliveryState } from "./types.js";

/** The delivery states, as filters name them. */
export const DELIVERY_STATES: readonly DeliveryState[] = ["pending", "delivered", "dead"];

/** A parsed value, or the reason it is not one (a sentence without the option name). */
export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

/** `pending`, `delivered` or `dead`. */
export function parseDeliveryState(text: string): Parsed<DeliveryState> {
  const state = DELIVERY_STATES.find((s) => s === text);
  return state === undefined
    ? { ok: false, error: `must be one of ${DELIVERY_STATES.join(", ")}` }
    : { ok: true, value: state };
}

/**
 * An event type, full (`image_server.stuck`) or as the config's `events:` list names it (`stuck` for an
 * `image_server.` type).
 */
export function parseEventType(text: string): Parsed<EventType> {
  const type = EVENT_TYPES.find((t) => t === text || t === `image_server.${text}`);
  return type === undefined
    ? { ok: false, error: `unknown event type "${text}" (one of ${EVENT_TYPES.join(", ")})` }
    : { ok: true, value: type };
}

/** A point in time (ms): a duration before `now` (`1h`, `30m`) or an ISO 8601 time (`2026-11-27T10:00:00Z`). */
export function parseSince(text: string, now: number): Parsed<number> {
  const ms = parseDuration(text);
  if (ms !== undefined) return { ok: true, value: now - ms };
  const at = /^\d{4}-\d{2}-\d{2}/.test(text) ? Date.parse(text) : Number.NaN;
  return Number.isFinite(at)
    ? { ok: true, value: at }
    : { ok: false, error: "must be a duration such as 1h or an ISO time" };
}

/** An integer from 1 to `max`. */
export function parseLimit(text: string, max: number): Parsed<number> {
  const n = /^\d{1,7}$/.test(text) ? Number(text) : Number.NaN;
  return n >= 1 && n <= max
    ? { ok: true, value: n }
    : { ok: false, error: `must be an integer from 1 to ${max}` };
}
