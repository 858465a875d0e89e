/**
 * Small value helpers of the simulator: API timestamps, relative scenario times and ids derived from
 * seeds (so a scenario gives the same ids on every run).
 */
import { createHash } from "node:crypto";
import { parseDuration } from "../lib/duration.js";

/** Formats ms as the API does: `2022-03-07T10:40:43.858Z`. */
export function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}

/** Parses an API timestamp leniently (space for `T`, zone-less as UTC); NaN when unparseable. */
export function parseApiTime(value: unknown): number {
  if (typeof value !== "string") return Number.NaN;
  let s = value.trim().replace(" ", "T");
  if (!/(Z|[+-]\d{2}:?\d{2})$/i.test(s)) s += "Z";
  return Date.parse(s);
}

/** A time field as given: `-10m` is relative to `base`, a number is ms since epoch, a string is kept. */
export function resolveTime(value: unknown, base: number): unknown {
  if (typeof value === "number") return isoTime(value);
  if (typeof value === "string" && /^-\d/.test(value)) {
    const ms = parseDuration(value.slice(1));
    if (ms !== undefined) return isoTime(base - ms);
  }
  return value;
}

/** A stable UUID derived from a seed, so scenario servers without ids keep them across runs. */
export function derivedUuid(seed: string): string {
  const h = createHash("sha1").update(seed).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-a${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

const EIGHTEEN_DIGITS = 10n ** 17n;

/** A stable 18-digit job id (as the API's `773698274006671360`) derived from a seed. */
export function derivedJobId(seed: string): string {
  const h = BigInt(`0x${createHash("sha256").update(seed).digest("hex").slice(0, 20)}`);
  return String(EIGHTEEN_DIGITS + (h % (9n * EIGHTEEN_DIGITS)));
}
