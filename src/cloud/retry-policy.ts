/**
 * The retry policy of cloud calls (API.md §5), as pure functions: which failures are retried, how long
 * to wait before the next try, and how `Retry-After` is read.
 */

/** Statuses retried with backoff; every other 4xx/5xx fails at once. */
export const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([429, 500, 502, 503, 504]);

/** The retry settings of `cloud.retry` (ms). */
export interface RetrySettings {
  attempts: number;
  minDelay: number;
  maxDelay: number;
}

/**
 * The wait before try number `failedAttempt + 1`: exponential from `minDelay` (doubling per failed
 * try), multiplied by a jitter factor in [1, 2) from `random`, capped at `maxDelay`. Always within
 * [minDelay, maxDelay].
 */
export function backoffDelay(failedAttempt: number, retry: RetrySettings, random: () => number): number {
  const exponent = Math.max(0, failedAttempt - 1);
  const base = retry.minDelay * 2 ** Math.min(exponent, 30);
  const jitter = 1 + Math.min(Math.max(random(), 0), 0.999_999);
  const delay = Math.round(base * jitter);
  return Math.max(Math.min(retry.minDelay, retry.maxDelay), Math.min(delay, retry.maxDelay));
}

export { parseRetryAfter } from "../lib/retry-after.js";
