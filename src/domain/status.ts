/**
 * Status normalisation (API.md §1): a missing status, an empty one or the literal `"null"` is `UNKNOWN`;
 * any other string is kept exactly as the API returned it.
 */
import type { ServerStatus } from "./types.js";

/** The status imagewatch tracks for a raw API `status` value. Never throws: odd values are data. */
export function normalizeStatus(raw: unknown): ServerStatus {
  if (typeof raw !== "string") return "UNKNOWN";
  if (raw === "" || raw === "null") return "UNKNOWN";
  return raw;
}
