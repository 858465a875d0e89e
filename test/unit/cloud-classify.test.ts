/** The one classification table of cloud answers: the same status means the same for every call. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  type CallKind,
  classifyStatus,
  FAILURES,
  type Failure,
  type Verdict,
} from "../../src/cloud/classify.js";
import type { FailureOutcome } from "../../src/cloud/errors.js";
import type { ErrorCode } from "../../src/lib/errors.js";

const verdict = (code: ErrorCode, outcome: FailureOutcome, retryable: boolean): Failure => ({
  code,
  outcome,
  retryable,
});
const AUTH = verdict("CLOUD_AUTH", "auth", false);
const HTTP_4XX = verdict("CLOUD_HTTP_4XX", "http_4xx", false);
const THROTTLED = verdict("CLOUD_THROTTLED", "throttled", true);
const RETRIED_5XX = verdict("CLOUD_HTTP_5XX", "http_5xx", true);
const FINAL_5XX = verdict("CLOUD_HTTP_5XX", "http_5xx", false);
const INVALID = verdict("CLOUD_INVALID_RESPONSE", "invalid_response", false);

describe("classifyStatus", () => {
  // [status, gateway code, get, list, iam]
  const table: [number, string | undefined, Verdict, Verdict, Verdict][] = [
    [200, "WKS.0003", INVALID, INVALID, INVALID],
    [301, undefined, INVALID, INVALID, INVALID],
    [400, undefined, HTTP_4XX, HTTP_4XX, AUTH],
    [401, "APIGW.0301", AUTH, AUTH, AUTH],
    [403, "APIGW.0310", AUTH, AUTH, AUTH],
    [404, "WKS.0004", "not_found", HTTP_4XX, AUTH],
    [404, undefined, "not_found", HTTP_4XX, AUTH],
    [404, "APIGW.0101", HTTP_4XX, HTTP_4XX, AUTH],
    [405, undefined, HTTP_4XX, HTTP_4XX, AUTH],
    [409, undefined, HTTP_4XX, HTTP_4XX, AUTH],
    [429, "APIGW.0308", THROTTLED, THROTTLED, THROTTLED],
    [500, undefined, RETRIED_5XX, RETRIED_5XX, RETRIED_5XX],
    [501, undefined, FINAL_5XX, FINAL_5XX, FINAL_5XX],
    [502, undefined, RETRIED_5XX, RETRIED_5XX, RETRIED_5XX],
    [503, "WKS.0003", RETRIED_5XX, RETRIED_5XX, RETRIED_5XX],
    [504, undefined, RETRIED_5XX, RETRIED_5XX, RETRIED_5XX],
    [505, undefined, FINAL_5XX, FINAL_5XX, FINAL_5XX],
    [599, undefined, FINAL_5XX, FINAL_5XX, FINAL_5XX],
    [600, undefined, INVALID, INVALID, INVALID],
  ];
  for (const [status, errorCode, ...byCall] of table) {
    it(`${status}${errorCode ? ` ${errorCode}` : ""}`, () => {
      (["get", "list", "iam"] as CallKind[]).forEach((call, i) => {
        assert.deepEqual(classifyStatus(status, call, errorCode), byCall[i], call);
      });
    });
  }
});

describe("FAILURES", () => {
  it("retries timeouts and network errors, never an invalid response or missing credentials", () => {
    assert.deepEqual(FAILURES.timeout, verdict("CLOUD_TIMEOUT", "timeout", true));
    assert.deepEqual(FAILURES.network, verdict("CLOUD_NETWORK", "network", true));
    assert.deepEqual(FAILURES.invalid_response, INVALID);
    assert.deepEqual(FAILURES.auth, AUTH);
  });
});
