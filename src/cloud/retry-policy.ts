/**
 * The wait between tries of a cloud call (API §5), as a pure function. Which failures are retried
 * is the classification table's business (classify.ts).
 */

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
export function cloudRetryDelay(failedAttempt: number, retry: RetrySettings, random: () => number): number {
  const exponent = Math.max(0, failedAttempt - 1);
  const base = retry.minDelay * 2 ** Math.min(exponent, 30);
  const jitter = 1 + Math.min(Math.max(random(), 0), 0.999_999);
  const delay = Math.round(base * jitter);
  return Math.max(Math.min(retry.minDelay, retry.maxDelay), Math.min(delay, retry.maxDelay));
}
