/**
 * What to do after one delivery attempt: pure functions of the attempt's result, the webhook's retry
 * settings, the delivery's age and `now`.
 */
import { parseRetryAfter } from "../lib/retry-after.js";
import type { PlatformError } from "./formats/format.js";

/** The smallest delay between two attempts (ms), unless `retry.minDelay` is smaller still. */
const MIN_RETRY_DELAY_MS = 100;

/** How many characters of a response body (or error) a `last_error` keeps. */
const LAST_ERROR_BODY_CHARS = 200;

/** The result of one HTTP attempt, as the classifier sees it. */
export type AttemptResult =
  | {
      kind: "response";
      status: number;
      body: string;
      retryAfter?: string | undefined;
      /** A chat platform's error code in a 2xx body (the format's `platformError`). */
      platformError?: PlatformError | undefined;
    }
  | { kind: "network"; message: string }
  | { kind: "timeout"; timeoutMs: number };

/** What the delivery worker does next. */
export type AttemptDecision =
  | { action: "delivered" }
  | { action: "retry"; nextAttemptAt: number; error: string }
  | { action: "dead"; error: string };

/** HTTP statuses that are worth another webhook attempt (besides every 5xx). */
const RETRYABLE_WEBHOOK_STATUSES: ReadonlySet<number> = new Set([408, 425, 429]);
/** Statuses whose `Retry-After` header is honoured. */
const RETRY_AFTER_STATUSES: ReadonlySet<number> = new Set([429, 503]);

/** True when an HTTP status means "try again later": 408, 425, 429 and every 5xx. */
export function isRetryableWebhookStatus(status: number): boolean {
  return RETRYABLE_WEBHOOK_STATUSES.has(status) || (status >= 500 && status <= 599);
}

/**
 * Exponential backoff with full jitter: `random() * min(maxDelay, minDelay * 2^(attempts-1))`, where
 * `attempts` counts the attempts made so far (1 after the first failure). The result is floored at
 * `min(MIN_RETRY_DELAY_MS, minDelay)` so an unlucky draw near 0 never turns into a hot retry loop.
 */
export function webhookRetryDelay(
  attempts: number,
  retry: { minDelay: number; maxDelay: number },
  random: () => number,
): number {
  const exponent = Math.max(0, attempts - 1);
  // 2^exponent overflows to Infinity for huge attempt counts; min() keeps it at maxDelay.
  const ceiling = Math.min(retry.maxDelay, retry.minDelay * 2 ** exponent);
  const floor = Math.min(MIN_RETRY_DELAY_MS, retry.minDelay);
  return Math.max(floor, Math.floor(random() * ceiling));
}

/** Shortens text for a `last_error`: one line, at most `max` characters. */
function truncateForError(text: string, max = LAST_ERROR_BODY_CHARS): string {
  const oneLine = text.replace(/\s+/g, " ").trim();
  return oneLine.length > max ? `${oneLine.slice(0, max)}…` : oneLine;
}

/** The `last_error` text of a failed attempt. Never holds the URL, headers or signature. */
export function describeAttemptFailure(result: AttemptResult): string {
  switch (result.kind) {
    case "response": {
      if (result.platformError) return result.platformError.message;
      const body = truncateForError(result.body);
      return body === "" ? `HTTP ${result.status}` : `HTTP ${result.status}: ${body}`;
    }
    case "network":
      return `network error: ${truncateForError(result.message)}`;
    case "timeout":
      return `timeout after ${result.timeoutMs} ms`;
  }
}

/** Inputs of {@link decideAfterAttempt}. */
export interface DecisionInput {
  result: AttemptResult;
  /** Attempts made so far, this one included. */
  attempts: number;
  /** When the delivery row was created (ms): the start of `maxAge`. */
  createdAt: number;
  now: number;
  webhook: { retry: { minDelay: number; maxDelay: number }; maxAge: number };
  random: () => number;
}

/**
 * Classifies an attempt (DESIGN §6):
 * - 2xx → delivered, unless a chat platform reported an error in the body: a rate limit is retried,
 *   anything else is dead at once;
 * - network error, timeout, 408, 425, 429, 5xx → retry after the backoff delay; on 429 and 503 a valid
 *   `Retry-After` replaces the backoff. It is honoured as given, NOT capped at `maxDelay` (retrying
 *   earlier than the receiver asked only earns another 429), but floored like the backoff;
 * - a retry that would fall after `createdAt + maxAge` → dead (`max age exceeded: …`);
 * - any other status (other 4xx, and 1xx/3xx, which undici does not follow) → dead at once
 *   (`rejected: HTTP 404 …`).
 */
export function decideAfterAttempt(input: DecisionInput): AttemptDecision {
  const { result, attempts, createdAt, now, webhook, random } = input;
  if (result.kind === "response" && result.status >= 200 && result.status <= 299) {
    const platform = result.platformError;
    if (platform === undefined) return { action: "delivered" };
    if (!platform.retryable) return { action: "dead", error: `rejected: ${platform.message}` };
  }
  const error = describeAttemptFailure(result);
  if (result.kind === "response" && !result.platformError && !isRetryableWebhookStatus(result.status)) {
    return { action: "dead", error: `rejected: ${error}` };
  }
  let delay = webhookRetryDelay(attempts, webhook.retry, random);
  if (result.kind === "response" && RETRY_AFTER_STATUSES.has(result.status)) {
    const asked = parseRetryAfter(result.retryAfter, now);
    if (asked !== undefined) delay = Math.max(asked, Math.min(MIN_RETRY_DELAY_MS, webhook.retry.minDelay));
  }
  const nextAttemptAt = now + delay;
  if (nextAttemptAt > createdAt + webhook.maxAge) {
    return { action: "dead", error: `max age exceeded: ${error}` };
  }
  return { action: "retry", nextAttemptAt, error };
}

/**
 * True when an attempt hit the receiver's own frequency limit (DESIGN §10): HTTP 429, or a chat platform's
 * rate-limit code in a 2xx body (the only platform errors that are retryable). The whole webhook then
 * backs off, not just the rows of that message.
 */
export function isFrequencyLimit(result: AttemptResult): boolean {
  return result.kind === "response" && (result.status === 429 || result.platformError?.retryable === true);
}

/**
 * Classifies an attempt that carried several delivery rows in one message (a digest, DESIGN §10): it
 * succeeds or fails as a whole, so every row gets the same outcome and, on a retry, the same next attempt
 * time (computed from the most attempts among them, so the digest backs off as its most-tried row would).
 * Each row dead-letters on its own `maxAge`. Returns one decision per row, in order.
 */
export function decideAfterDigestAttempt(
  input: Omit<DecisionInput, "attempts" | "createdAt"> & {
    rows: ReadonlyArray<{ attempts: number; createdAt: number }>;
  },
): AttemptDecision[] {
  const { rows, ...rest } = input;
  const attempts = Math.max(1, ...rows.map((r) => r.attempts));
  // maxAge is judged per row below; the shared decision only picks the outcome and the next attempt time.
  const shared = decideAfterAttempt({
    ...rest,
    attempts,
    createdAt: rest.now,
    webhook: { ...rest.webhook, maxAge: Number.POSITIVE_INFINITY },
  });
  return rows.map((row): AttemptDecision => {
    if (shared.action !== "retry" || shared.nextAttemptAt <= row.createdAt + rest.webhook.maxAge)
      return shared;
    return { action: "dead", error: `max age exceeded: ${shared.error}` };
  });
}
