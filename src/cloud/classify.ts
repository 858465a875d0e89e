/**
 * The one classification table of cloud answers (API §5): for an HTTP status (and the gateway's
 * error code) of the Workspace API calls and of IAM's token call, what the answer is — the error code,
 * the `poll_requests_total` outcome and whether it is retried — and the same for transport failures.
 * Every CloudError's code, outcome and `retryable` come from here.
 */
import type { ErrorCode } from "../lib/errors.js";
import type { FailureOutcome } from "./errors.js";

/** Which call answered: the single GET, the list, or IAM's `POST /v3/auth/tokens`. */
export type CallKind = "get" | "list" | "iam";

/** What a failed try is: its error code, its outcome and whether another try may succeed. */
export interface Failure {
  code: ErrorCode;
  outcome: FailureOutcome;
  retryable: boolean;
}

/** What an answer is: a failure, or (single GET only) "this server does not exist" — an answer, not an error. */
export type Verdict = Failure | "not_found";

const fail = (code: ErrorCode, outcome: FailureOutcome, retryable = false): Failure => ({
  code,
  outcome,
  retryable,
});

const AUTH = fail("CLOUD_AUTH", "auth");
const HTTP_4XX = fail("CLOUD_HTTP_4XX", "http_4xx");
const THROTTLED = fail("CLOUD_THROTTLED", "throttled", true);
const HTTP_5XX_RETRIED = fail("CLOUD_HTTP_5XX", "http_5xx", true);
const HTTP_5XX_FINAL = fail("CLOUD_HTTP_5XX", "http_5xx");
const INVALID = fail("CLOUD_INVALID_RESPONSE", "invalid_response");

/** One row: which statuses (and, optionally, which gateway error code) it covers, and the verdict per call. */
interface Row {
  statuses: (status: number) => boolean;
  errorCode?: string;
  get: Verdict;
  list: Failure;
  iam: Failure;
}

const is =
  (...statuses: number[]) =>
  (s: number) =>
    statuses.includes(s);
const range = (from: number, to: number) => (s: number) => s >= from && s <= to;

/**
 * First matching row wins. Retried: 429 and 500/502/503/504 (and every transport failure); no other
 * status. A 4xx of IAM means the credentials were refused. A 404 of the single GET is "not found"
 * unless the gateway says the path is wrong (`APIGW.0101`).
 */
const STATUS_TABLE: readonly Row[] = [
  { statuses: range(200, 299), get: INVALID, list: INVALID, iam: INVALID }, // an error object in a 2xx
  { statuses: is(401, 403), get: AUTH, list: AUTH, iam: AUTH },
  { statuses: is(404), errorCode: "APIGW.0101", get: HTTP_4XX, list: HTTP_4XX, iam: AUTH },
  { statuses: is(404), get: "not_found", list: HTTP_4XX, iam: AUTH },
  { statuses: is(429), get: THROTTLED, list: THROTTLED, iam: THROTTLED },
  { statuses: is(500, 502, 503, 504), get: HTTP_5XX_RETRIED, list: HTTP_5XX_RETRIED, iam: HTTP_5XX_RETRIED },
  { statuses: range(500, 599), get: HTTP_5XX_FINAL, list: HTTP_5XX_FINAL, iam: HTTP_5XX_FINAL },
  { statuses: range(400, 499), get: HTTP_4XX, list: HTTP_4XX, iam: AUTH },
];

/**
 * The verdict on an answer that is not a success: a non-2xx status, or a 2xx carrying an error object.
 * Statuses outside every row (1xx, 3xx, ≥ 600) are invalid responses.
 */
export function classifyStatus<K extends CallKind>(
  status: number,
  call: K,
  errorCode?: string,
): K extends "get" ? Verdict : Failure {
  const row = STATUS_TABLE.find(
    (r) => r.statuses(status) && (r.errorCode === undefined || r.errorCode === errorCode),
  );
  // Only the `get` column holds "not_found", so the narrower return type of list and iam holds.
  return (row?.[call] ?? INVALID) as K extends "get" ? Verdict : Failure;
}

/**
 * Failures that are not judged by a status, by outcome: no answer in time and no connection (retried),
 * an unusable body (never retried), credentials that cannot be obtained (never retried).
 */
export const FAILURES = {
  timeout: fail("CLOUD_TIMEOUT", "timeout", true),
  network: fail("CLOUD_NETWORK", "network", true),
  invalid_response: INVALID,
  auth: AUTH,
} as const satisfies Partial<Record<FailureOutcome, Failure>>;
