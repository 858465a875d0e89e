/** Instants as the JSON API, events and `once` write them: ISO 8601 in UTC. */

/** Formats ms since the epoch as ISO 8601 (`2026-11-27T09:00:00.000Z`); null (or a non-finite number) stays null. */
export function toIsoOrNull(ms: number): string;
export function toIsoOrNull(ms: number | null): string | null;
export function toIsoOrNull(ms: number | null): string | null {
  return ms === null || !Number.isFinite(ms) ? null : new Date(ms).toISOString();
}
