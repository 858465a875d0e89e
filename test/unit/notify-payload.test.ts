import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { describe, it } from "node:test";
import { Webhook } from "standardwebhooks";
import type { WebhookConfig } from "../../src/config/types.js";
import type { DomainEvent } from "../../src/domain/types.js";
import { AppError } from "../../src/lib/errors.js";
import { buildRequest } from "../../src/notify/payload.js";

const SECRET = `whsec_${randomBytes(32).toString("base64")}`;

function webhook(overrides: Partial<WebhookConfig> = {}): WebhookConfig {
  return {
    name: "ops",
    url: "http://127.0.0.1:1/hook",
    format: "standard",
    secret: SECRET,
    events: ["status_changed"],
    statuses: [],
    headers: {},
    timeout: 10_000,
    retry: { minDelay: 1000, maxDelay: 300_000 },
    maxAge: 86_400_000,
    ...overrides,
  };
}

const EVENT: DomainEvent = {
  id: "evt_0123456789abcdef",
  type: "image_server.status_changed",
  occurredAt: Date.parse("2026-11-27T10:00:00.000Z"),
  projectId: "proj-1",
  serverId: "srv-1",
  data: {
    event_id: "evt_0123456789abcdef",
    project_id: "proj-1",
    server_id: "srv-1",
    name: "build-1",
    previous_status: "BUILDING",
    status: "ACTIVE",
    status_since: "2026-11-27T09:59:30.000Z",
    previous_status_duration_seconds: 3000,
    image_server: { id: "srv-1", status: "ACTIVE" },
  },
};

describe("buildRequest, format standard", () => {
  it("signs what the standardwebhooks library verifies, and the body is {type, timestamp, data}", () => {
    const now = Date.now();
    const req = buildRequest(EVENT, webhook(), now, "1.2.3");
    const verified = new Webhook(SECRET).verify(req.body, req.headers) as Record<string, unknown>;
    assert.deepEqual(verified, {
      type: "image_server.status_changed",
      timestamp: "2026-11-27T10:00:00.000Z",
      data: EVENT.data,
    });
    assert.equal(req.headers["webhook-id"], EVENT.id);
    assert.equal(req.headers["webhook-timestamp"], String(Math.floor(now / 1000)));
    assert.match(req.headers["webhook-signature"] ?? "", /^v1,[A-Za-z0-9+/]+=*$/);
    assert.equal(req.headers["content-type"], "application/json");
    assert.equal(req.headers["user-agent"], "imagewatch/1.2.3");
    assert.equal(req.url, undefined);
  });

  it("signs each attempt afresh: new timestamp and signature, same id and body", () => {
    const first = Date.now() - 60_000;
    const second = first + 37_000;
    const a = buildRequest(EVENT, webhook(), first);
    const b = buildRequest(EVENT, webhook(), second);
    assert.equal(a.body, b.body);
    assert.equal(a.headers["webhook-id"], b.headers["webhook-id"]);
    assert.notEqual(a.headers["webhook-timestamp"], b.headers["webhook-timestamp"]);
    assert.equal(Number(b.headers["webhook-timestamp"]) - Number(a.headers["webhook-timestamp"]), 37);
    assert.notEqual(a.headers["webhook-signature"], b.headers["webhook-signature"]);
    // Both verify on their own.
    new Webhook(SECRET).verify(a.body, a.headers);
    new Webhook(SECRET).verify(b.body, b.headers);
  });

  it("a signature made with another secret does not verify", () => {
    const req = buildRequest(EVENT, webhook(), Date.now());
    const other = new Webhook(`whsec_${randomBytes(32).toString("base64")}`);
    assert.throws(() => other.verify(req.body, req.headers), /No matching signature/);
  });

  it("includes the static headers but never lets them replace the signature headers", () => {
    const req = buildRequest(
      EVENT,
      webhook({ headers: { Authorization: "Bearer abc", "X-Team": "infra", "Webhook-Id": "forged" } }),
      Date.now(),
    );
    assert.equal(req.headers.authorization, "Bearer abc");
    assert.equal(req.headers["x-team"], "infra");
    assert.equal(req.headers["webhook-id"], EVENT.id);
    new Webhook(SECRET).verify(req.body, req.headers);
  });

  it("keeps the event's data object unchanged, extra fields included", () => {
    const event: DomainEvent = { ...EVENT, data: { ...EVENT.data, custom_field: [1, 2] } };
    const body = JSON.parse(buildRequest(event, webhook(), Date.now()).body);
    assert.deepEqual(body.data, event.data);
  });

  it("refuses a missing or malformed secret without quoting it", () => {
    assert.throws(
      () => buildRequest(EVENT, webhook({ secret: undefined }), Date.now()),
      (err: unknown) => err instanceof AppError && /needs a secret/.test(err.message),
    );
    assert.throws(
      () => buildRequest(EVENT, webhook({ secret: "whsec_!!!not-base64!!!" }), Date.now()),
      (err: unknown) => err instanceof AppError && !err.message.includes("not-base64"),
    );
  });
});
