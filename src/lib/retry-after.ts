/**
 * Parses a `Retry-After` header value (RFC 9110 §10.2.3): delay-seconds (`120`; a fraction such as `0.5`
 * is read too) or an HTTP date, relative to `now`. Returns the delay in ms (0 for a date in the past),
 * or undefined when absent or unreadable. Used by the cloud client and webhook delivery alike.
 */
export function parseRetryAfter(
  value: string | readonly string[] | undefined,
  now: number,
): number | undefined {
  const raw = typeof value === "string" ? value : value?.[0];
  if (raw === undefined) return undefined;
  const text = raw.trim();
  if (text === "") return undefined;
  if (/^\d+(\.\d+)?$/.test(text)) return Math.round(Number(text) * 1000);
  // An HTTP date names its weekday and month; this also keeps Date.parse from reading "-5" as a year.
  if (!/[a-z]/i.test(text)) return undefined;
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - now);
}
