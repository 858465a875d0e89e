/**
 * Status normalisation (API §1): a missing status, an empty one or the literal `"null"` (any case,
 * surrounding blanks ignored) is `UNKNOWN`; any other string is kept as the API returned it, trimmed.
 * The one implementation: the cloud parser and observe() both use it.
 */
import type { ServerStatus } from "./types.js";

/** The status imagewatch tracks for a raw API `status` value. Never throws: odd values are data. */
export function normalizeStatus(raw: unknown): ServerStatus {
  if (typeof raw !== "string") return "UNKNOWN";
  const trimmed = raw.trim();
  if (trimmed === "" || trimmed.toLowerCase() === "null") return "UNKNOWN";
  return trimmed;
}
