/**
 * Client-side flow control: one limiter per cloud client, shared by every request to the endpoint,
 * whatever target it serves. A token bucket (burst of one second's worth) computed as a GCRA: each
 * request reserves the next slot and sleeps once until it, so waiters never spin.
 *
 * A 429 throttles the whole endpoint, not one request: every request waits until a "not before" time,
 * then the rate stays halved (again for each further 429, down to 1/16) and bursts are off until the
 * cooldown has passed without a new 429.
 */

/** Sleeps `ms`, rejecting with the signal's reason when it aborts. */
export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

/** The shared limiter of a client. */
export interface RateLimiter {
  /** Waits for this request's slot; resolves with the ms waited (0 when a slot was free). */
  acquire(signal?: AbortSignal): Promise<number>;
  /** Reports a 429: no request starts before `now + pauseMs`, and the rate is reduced for a while. */
  throttled(pauseMs: number): void;
  /** The rate currently applied, requests per second (for logs and tests). */
  currentRate(): number;
}

/** Options of `createRateLimiter`. */
export interface RateLimiterOptions {
  /** Requests per second when not throttled (> 0). */
  ratePerSecond: number;
  /** How long the reduced rate lasts after the pause of the last 429, ms. */
  cooldownMs: number;
  /** A monotonic ms time source (performance.now in production). */
  now: () => number;
  sleep: Sleep;
}

/** The deepest a run of 429s may cut the rate: 1/16 of the configured one. */
const MAX_PENALTY = 16;

/** Creates the shared limiter (see the module comment for the policy). */
export function createRateLimiter(options: RateLimiterOptions): RateLimiter {
  const rate =
    options.ratePerSecond > 0 && Number.isFinite(options.ratePerSecond) ? options.ratePerSecond : 1;
  const baseInterval = 1000 / rate;
  // Burst of one second's worth of requests (at least one): the bucket's capacity.
  const tolerance = (Math.max(1, Math.floor(rate)) - 1) * baseInterval;
  let tat = Number.NEGATIVE_INFINITY; // theoretical arrival time of the next request
  let pauseUntil = Number.NEGATIVE_INFINITY;
  let cooldownUntil = Number.NEGATIVE_INFINITY;
  let penalty = 1;

  function penaltyAt(now: number): number {
    if (now >= cooldownUntil) penalty = 1;
    return penalty;
  }

  return {
    async acquire(signal) {
      signal?.throwIfAborted();
      const now = options.now();
      const factor = penaltyAt(now);
      const interval = baseInterval * factor;
      const allowedBurst = factor === 1 ? tolerance : 0;
      const at = Math.max(now, tat - allowedBurst, pauseUntil);
      tat = Math.max(tat, at) + interval;
      const wait = at - now;
      if (wait > 0) await options.sleep(wait, signal);
      return Math.max(0, wait);
    },
    throttled(pauseMs) {
      const now = options.now();
      const pause = Math.max(0, pauseMs);
      pauseUntil = Math.max(pauseUntil, now + pause);
      penalty = Math.min(MAX_PENALTY, penaltyAt(now) * 2);
      cooldownUntil = Math.max(cooldownUntil, now + pause + options.cooldownMs);
      // Slots already handed out stay valid; new ones start after the pause at the reduced rate.
      tat = Math.max(tat, pauseUntil);
    },
    currentRate() {
      return rate / penaltyAt(options.now());
    },
  };
}

/** The real sleep: a timer that an AbortSignal cancels. */
export function realSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
