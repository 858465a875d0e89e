/**
 * Content-derived event ids (DESIGN §6): `evt_` + 32 hex digits (128 bits) of the SHA-256 of a
 * canonical serialisation of what the event is about. The same change always gets the same id — on a
 * retry, after a restart, and on a second replica watching the same server — so the store and receivers
 * can drop duplicates by id.
 *
 * `observe()` decides which facts go into each id (see its TSDoc); this module only guarantees that
 * different parts give different ids and equal parts give equal ids.
 */
import { createHash } from "node:crypto";
import type { EventType } from "./types.js";

/** Bumped only if the serialisation below ever changes (it would change every id). */
const ID_SCHEME = "imagewatch/event-id/v1";

/** The facts an event id is derived from. */
export interface EventIdParts {
  type: EventType;
  projectId: string;
  serverId: string;
  /** The status before the change (status_changed), the status the event is about otherwise; null if none. */
  previousStatus: string | null;
  /** The status after the change; null when the event has no "new" status. */
  status: string | null;
  /** The API's `update_time` (ms since epoch) the event is anchored to, or null. Never an observation time. */
  updateTime: number | null;
  /**
   * Extra facts that tell apart events the fields above cannot (e.g. the start of a stuck episode and the
   * reminder number). Omitted = null.
   */
  discriminator?: string | number | null;
}

/**
 * Derives the id of an event from its parts. Pure and deterministic: equal parts → equal id. The
 * serialisation is a JSON array (unambiguous: strings are quoted and escaped, so no two different part
 * lists serialise alike); a non-finite `updateTime` counts as null.
 */
export function eventId(parts: EventIdParts): string {
  const updateTime = parts.updateTime != null && Number.isFinite(parts.updateTime) ? parts.updateTime : null;
  const canonical = JSON.stringify([
    ID_SCHEME,
    parts.type,
    parts.projectId,
    parts.serverId,
    parts.previousStatus,
    parts.status,
    updateTime,
    parts.discriminator ?? null,
  ]);
  return "evt_" + createHash("sha256").update(canonical, "utf8").digest("hex").slice(0, 32);
}
