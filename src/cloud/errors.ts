/**
 * The cloud client's error type and its translation to the `PollError` that events and the JSON API
 * carry. Every failure of a cloud call is classified here once, at the boundary (STYLE rule 3).
 */
import type { PollError, RequestOutcome } from "../domain/types.js";
import { CREDENTIAL_FIELDS, CREDENTIAL_HEADERS } from "../lib/credential-fields.js";
import { AppError, type ErrorCode } from "../lib/errors.js";
import type { Failure } from "./classify.js";

/** The outcomes of a failed cloud request: every `RequestOutcome` but `success` and `not_found` (an answer). */
export type FailureOutcome = Exclude<RequestOutcome, "success" | "not_found">;

/** What a CloudError knows besides its classification and message. */
export interface CloudErrorDetails {
  httpStatus?: number;
  /** The API's `error_code` (`APIGW.0308`, `WKS.0001`…). */
  errorCode?: string;
  /** The API's `error_msg`, scrubbed of anything that looks like a credential. */
  errorMsg?: string;
  /** `X-Request-Id` of the response (or the body's `request_id`). */
  requestId?: string;
  /** Server-requested wait before the next try (parsed `Retry-After`), ms. */
  retryAfterMs?: number;
  /** Tries made so far; the retry loop sets the final count. */
  attempts?: number;
  cause?: unknown;
}

/**
 * A failed cloud call. `code`, `outcome` (the `poll_requests_total` outcome of the last try) and
 * `retryable` come from the classification table (classify.ts); `attempts` counts every try of the
 * call, the first included. The message names the method, path and API error, never a credential.
 */
export class CloudError extends AppError {
  readonly outcome: FailureOutcome;
  readonly httpStatus?: number;
  readonly errorCode?: string;
  readonly errorMsg?: string;
  readonly requestId?: string;
  readonly retryAfterMs?: number;
  attempts: number;

  constructor(failure: Failure, message: string, details: CloudErrorDetails = {}) {
    super(failure.code, message, {
      ...(details.cause === undefined ? {} : { cause: details.cause }),
      retryable: failure.retryable,
    });
    this.outcome = failure.outcome;
    if (details.httpStatus !== undefined) this.httpStatus = details.httpStatus;
    if (details.errorCode !== undefined) this.errorCode = details.errorCode;
    if (details.errorMsg !== undefined) this.errorMsg = details.errorMsg;
    if (details.requestId !== undefined) this.requestId = details.requestId;
    if (details.retryAfterMs !== undefined) this.retryAfterMs = details.retryAfterMs;
    this.attempts = details.attempts ?? 1;
  }
}

/** The outcome an AppError code stands for, for errors that are not CloudErrors. */
const OUTCOME_BY_CODE: Partial<Record<ErrorCode, FailureOutcome>> = {
  CLOUD_HTTP_4XX: "http_4xx",
  CLOUD_HTTP_5XX: "http_5xx",
  CLOUD_THROTTLED: "throttled",
  CLOUD_TIMEOUT: "timeout",
  CLOUD_NETWORK: "network",
  CLOUD_AUTH: "auth",
  CLOUD_INVALID_RESPONSE: "invalid_response",
};

/**
 * Turns what a cloud call threw into the `error` object of events and the JSON API (DESIGN §6):
 * `kind` is the outcome. Anything that is not a CloudError (an abort, a bug) becomes `network` with a
 * scrubbed, shortened message.
 */
export function toPollError(err: unknown): PollError {
  if (err instanceof CloudError) {
    const out: PollError = { kind: err.outcome };
    if (err.httpStatus !== undefined) out.http_status = err.httpStatus;
    if (err.errorCode !== undefined) out.error_code = err.errorCode;
    if (err.errorMsg !== undefined) out.error_msg = err.errorMsg;
    if (err.requestId !== undefined) out.request_id = err.requestId;
    return out;
  }
  if (err instanceof AppError) {
    return { kind: OUTCOME_BY_CODE[err.code] ?? "network", error_msg: excerpt(err.message) };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { kind: "network", error_msg: excerpt(message) };
}

/** A field name as it may be spelled in a body: `secretKey`, `secret_key`, `secretkey`, `SECRET-KEY`. */
function namePattern(name: string): string {
  return name.replace(/-|(?=[A-Z])/g, "[_-]?");
}

/** The names whose value is scrubbed: every credential field and header. */
const SCRUBBED_NAMES = [...CREDENTIAL_FIELDS, ...CREDENTIAL_HEADERS];

/** Patterns of credential-looking text removed from anything quoted from a response or an error. */
const SECRET_PATTERNS: readonly RegExp[] = [
  /(Signature|Access)=[^,\s"]+/gi,
  new RegExp(`("?(?:${SCRUBBED_NAMES.map(namePattern).join("|")})"?\\s*[:=]\\s*)("[^"]*"|[^\\s,}]+)`, "gi"),
  /\b(SDK-HMAC-SHA256|Bearer)\s+\S+/gi,
];

/**
 * Removes credential-looking text (`"token": "…"`, `Signature=…`, `Bearer …`) and every value of
 * `known` from `text`.
 */
export function scrubSecrets(text: string, known: readonly string[] = []): string {
  let out = text;
  for (const secret of known) {
    if (secret.length >= 4) out = out.split(secret).join("[redacted]");
  }
  out = out.replace(SECRET_PATTERNS[0]!, "$1=[redacted]");
  out = out.replace(SECRET_PATTERNS[1]!, "$1[redacted]");
  out = out.replace(SECRET_PATTERNS[2]!, "$1 [redacted]");
  return out;
}

/** The longest excerpt of a response body an error may quote. */
export const EXCERPT_MAX = 200;

/** A short (≤ 200 chars), single-line, credential-free excerpt of `text`. */
export function excerpt(text: string, known: readonly string[] = [], max = EXCERPT_MAX): string {
  // Scrub before cutting, so a secret cut in half cannot survive as a fragment.
  const clean = scrubSecrets(text, known).replace(/\s+/g, " ").trim();
  return clean.length <= max ? clean : `${clean.slice(0, max - 1)}…`;
}
