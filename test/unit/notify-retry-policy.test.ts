import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseRetryAfter } from "../../src/lib/retry-after.js";
import {
  type AttemptResult,
  decideAfterAttempt,
  isRetryableWebhookStatus,
  webhookRetryDelay,
} from "../../src/notify/retry-policy.js";

const NOW = Date.parse("2026-11-27T10:00:00.000Z");
const WEBHOOK = { retry: { minDelay: 1000, maxDelay: 60_000 }, maxAge: 3_600_000 };

function decide(
  result: AttemptResult,
  over: { attempts?: number; createdAt?: number; random?: number } = {},
) {
  return decideAfterAttempt({
    result,
    attempts: over.attempts ?? 1,
    createdAt: over.createdAt ?? NOW,
    now: NOW,
    webhook: WEBHOOK,
    random: () => over.random ?? 0.5,
  });
}

describe("webhookRetryDelay (full jitter)", () => {
  it("doubles the ceiling from minDelay per attempt and caps it at maxDelay", () => {
    const top = () => 0.999_999;
    assert.equal(webhookRetryDelay(1, WEBHOOK.retry, top), 999);
    assert.equal(webhookRetryDelay(2, WEBHOOK.retry, top), 1999);
    assert.equal(webhookRetryDelay(4, WEBHOOK.retry, top), 7999);
    assert.equal(webhookRetryDelay(20, WEBHOOK.retry, top), 59_999);
    assert.equal(webhookRetryDelay(5000, WEBHOOK.retry, top), 59_999);
  });
  it("scales with random() and is floored at 100 ms (or minDelay when smaller)", () => {
    assert.equal(
      webhookRetryDelay(3, WEBHOOK.retry, () => 0.25),
      1000,
    );
    assert.equal(
      webhookRetryDelay(3, WEBHOOK.retry, () => 0),
      100,
    );
    assert.equal(
      webhookRetryDelay(1, { minDelay: 20, maxDelay: 1000 }, () => 0),
      20,
    );
  });
});

describe("parseRetryAfter", () => {
  it("reads delay-seconds and HTTP dates, ignores junk", () => {
    assert.equal(parseRetryAfter("120", NOW), 120_000);
    assert.equal(parseRetryAfter(" 0 ", NOW), 0);
    assert.equal(parseRetryAfter(new Date(NOW + 90_000).toUTCString(), NOW), 90_000);
    assert.equal(parseRetryAfter(new Date(NOW - 90_000).toUTCString(), NOW), 0);
    assert.equal(parseRetryAfter("soon", NOW), undefined);
    assert.equal(parseRetryAfter("-5", NOW), undefined);
    assert.equal(parseRetryAfter(undefined, NOW), undefined);
  });
});

describe("decideAfterAttempt", () => {
  it("2xx is delivered", () => {
    for (const status of [200, 201, 202, 204, 299]) {
      assert.deepEqual(decide({ kind: "response", status, body: "" }), { action: "delivered" });
    }
  });

  const retried: Array<[string, AttemptResult]> = [
    ["network error", { kind: "network", message: "ECONNRESET: other side closed" }],
    ["timeout", { kind: "timeout", timeoutMs: 5000 }],
    ["408", { kind: "response", status: 408, body: "" }],
    ["425", { kind: "response", status: 425, body: "" }],
    ["429", { kind: "response", status: 429, body: "slow down" }],
    ["500", { kind: "response", status: 500, body: "boom" }],
    ["503", { kind: "response", status: 503, body: "" }],
    ["599", { kind: "response", status: 599, body: "" }],
  ];
  for (const [name, result] of retried) {
    it(`${name} is retried after the jittered backoff`, () => {
      const d = decide(result, { attempts: 2, random: 0.5 });
      assert.equal(d.action, "retry");
      assert.equal(d.action === "retry" && d.nextAttemptAt, NOW + 1000);
    });
  }

  const rejected = [400, 401, 403, 404, 405, 410, 413, 422, 301, 302];
  for (const status of rejected) {
    it(`HTTP ${status} is dead-lettered at once`, () => {
      const d = decide({ kind: "response", status, body: "nope" });
      assert.deepEqual(d, { action: "dead", error: `rejected: HTTP ${status}: nope` });
    });
  }

  it("isRetryableWebhookStatus agrees with the classification", () => {
    assert.deepEqual([408, 425, 429, 500, 503, 400, 404, 409].map(isRetryableWebhookStatus), [
      true,
      true,
      true,
      true,
      true,
      false,
      false,
      false,
    ]);
  });

  it("honours Retry-After on 429 and 503, even beyond maxDelay", () => {
    assert.deepEqual(decide({ kind: "response", status: 429, body: "", retryAfter: "7" }), {
      action: "retry",
      nextAttemptAt: NOW + 7000,
      error: "HTTP 429",
    });
    const d = decide({
      kind: "response",
      status: 503,
      body: "",
      retryAfter: new Date(NOW + 120_000).toUTCString(),
    });
    assert.equal(d.action === "retry" && d.nextAttemptAt, NOW + 120_000);
  });

  it("ignores Retry-After on other statuses and when unparseable", () => {
    const on500 = decide({ kind: "response", status: 500, body: "", retryAfter: "30" }, { random: 0.5 });
    assert.equal(on500.action === "retry" && on500.nextAttemptAt, NOW + 500);
    const junk = decide({ kind: "response", status: 429, body: "", retryAfter: "later" }, { random: 0.5 });
    assert.equal(junk.action === "retry" && junk.nextAttemptAt, NOW + 500);
  });

  it("dead-letters when the next attempt would fall after createdAt + maxAge", () => {
    const d = decide(
      { kind: "response", status: 503, body: "down" },
      { createdAt: NOW - 3_600_000 + 100, random: 0.5 },
    );
    assert.deepEqual(d, { action: "dead", error: "max age exceeded: HTTP 503: down" });
    const ok = decide(
      { kind: "response", status: 503, body: "down" },
      { createdAt: NOW - 3_600_000 + 600, random: 0.5 },
    );
    assert.equal(ok.action, "retry");
  });

  it("keeps only a short one-line prefix of the body in the error", () => {
    const d = decide({ kind: "response", status: 500, body: `line1\n${"x".repeat(1000)}` });
    assert.equal(d.action, "retry");
    const error = d.action === "retry" ? d.error : "";
    assert.ok(error.startsWith("HTTP 500: line1 xxx"));
    assert.ok(error.length < 230, `error length ${error.length}`);
    assert.ok(!error.includes("\n"));
  });
});
