import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { describe, it } from "node:test";
import type { WebhookConfig } from "../../src/config/types.js";
import type { DomainEvent, EventType } from "../../src/domain/types.js";
import { describeEvent, platformError } from "../../src/notify/chat-formats.js";
import { buildRequest } from "../../src/notify/payload.js";

const AT = Date.parse("2026-11-27T10:00:00.000Z");

function webhook(format: WebhookConfig["format"], overrides: Partial<WebhookConfig> = {}): WebhookConfig {
  return {
    name: "chat",
    url: "https://oapi.example.com/robot/send?access_token=tok",
    format,
    events: ["status_changed"],
    statuses: [],
    headers: { "X-Extra": "1" },
    timeout: 10_000,
    retry: { minDelay: 1000, maxDelay: 300_000 },
    maxAge: 86_400_000,
    ...overrides,
  };
}

function event(type: EventType, data: Partial<DomainEvent["data"]> = {}): DomainEvent {
  return {
    id: "evt_1",
    type,
    occurredAt: AT,
    projectId: "proj-1",
    serverId: "srv-1",
    data: {
      event_id: "evt_1",
      project_id: "proj-1",
      server_id: "srv-1",
      name: "build-7",
      status: "ACTIVE",
      status_since: "2026-11-27T09:00:00.000Z",
      ...data,
    },
  };
}

describe("describeEvent", () => {
  const cases: Array<[string, DomainEvent, string]> = [
    [
      "status_changed",
      event("image_server.status_changed", {
        previous_status: "BUILDING",
        previous_status_duration_seconds: 3000,
      }),
      "build-7 (srv-1): BUILDING → ACTIVE after 50m",
    ],
    [
      "discovered",
      event("image_server.discovered", { status: "BUILDING" }),
      "build-7 (srv-1): discovered in status BUILDING",
    ],
    [
      "stuck",
      event("image_server.stuck", { status: "BUILDING", stuck_seconds: 3720, stuck_threshold_seconds: 3600 }),
      "build-7 (srv-1): stuck in BUILDING for 1h2m (threshold 1h)",
    ],
    [
      "stuck_resolved",
      event("image_server.stuck_resolved", { previous_status: "BUILDING", status: "BUILT" }),
      "build-7 (srv-1): no longer stuck in BUILDING, now BUILT",
    ],
    [
      "poll_failed",
      event("image_server.poll_failed", {
        consecutive_failures: 3,
        error: { kind: "http_5xx", http_status: 503 },
      }),
      "build-7 (srv-1): polling failed 3 times in a row: http_5xx HTTP 503",
    ],
    ["poll_recovered", event("image_server.poll_recovered"), "build-7 (srv-1): polling recovered"],
    [
      "disappeared",
      event("image_server.disappeared", { status: "DELETING" }),
      "build-7 (srv-1): disappeared (last status DELETING)",
    ],
    ["test", event("imagewatch.test", { webhook: "chat" }), "test event from imagewatch for webhook chat"],
  ];
  for (const [name, e, line] of cases) {
    it(name, () => assert.equal(describeEvent(e), line));
  }
});

describe("chat formats", () => {
  const changed = event("image_server.status_changed", { previous_status: "BUILDING" });

  it("slack: {text}", () => {
    const req = buildRequest(changed, webhook("slack"), AT, "1.0.0");
    assert.deepEqual(JSON.parse(req.body), { text: "[imagewatch] build-7 (srv-1): BUILDING → ACTIVE" });
    assert.equal(req.headers["content-type"], "application/json");
    assert.equal(req.headers["x-extra"], "1");
    assert.equal(req.url, undefined);
  });

  it("wecom: {msgtype: text, text: {content}}", () => {
    const req = buildRequest(changed, webhook("wecom"), AT);
    assert.deepEqual(JSON.parse(req.body), {
      msgtype: "text",
      text: { content: "[imagewatch] build-7 (srv-1): BUILDING → ACTIVE" },
    });
  });

  it("dingtalk: signs the URL with timestamp (ms) and sign, keeping access_token", () => {
    const req = buildRequest(changed, webhook("dingtalk", { secret: "SECdemo" }), AT + 123);
    assert.deepEqual(JSON.parse(req.body).msgtype, "text");
    const url = new URL(req.url ?? "");
    assert.equal(url.searchParams.get("access_token"), "tok");
    assert.equal(url.searchParams.get("timestamp"), String(AT + 123));
    const expected = createHmac("sha256", "SECdemo")
      .update(`${AT + 123}\nSECdemo`)
      .digest("base64");
    assert.equal(url.searchParams.get("sign"), expected);
    // Unsigned without a secret.
    assert.equal(buildRequest(changed, webhook("dingtalk"), AT).url, undefined);
  });

  it("feishu: body carries timestamp (s) and sign = HMAC(key=timestamp\\nsecret, '')", () => {
    const req = buildRequest(changed, webhook("feishu", { secret: "fsecret" }), AT + 1500);
    const body = JSON.parse(req.body);
    const ts = String(Math.floor((AT + 1500) / 1000));
    assert.equal(body.timestamp, ts);
    assert.equal(body.sign, createHmac("sha256", `${ts}\nfsecret`).update("").digest("base64"));
    assert.equal(body.msg_type, "text");
    assert.equal(body.content.text, "[imagewatch] build-7 (srv-1): BUILDING → ACTIVE");
    assert.equal(JSON.parse(buildRequest(changed, webhook("feishu"), AT).body).sign, undefined);
  });

  it("alertmanager: stuck fires and stuck_resolved resolves the same alert (v4 body)", () => {
    const fire = JSON.parse(
      buildRequest(event("image_server.stuck", { status: "BUILDING" }), webhook("alertmanager"), AT).body,
    );
    const resolve = JSON.parse(
      buildRequest(
        event("image_server.stuck_resolved", {
          previous_status: "BUILDING",
          status: "BUILT",
          // BUILDING from 09:00:00 until BUILT began at 10:30:00.
          status_since: "2026-11-27T10:30:00.000Z",
          stuck_seconds: 5400,
        }),
        webhook("alertmanager"),
        AT,
      ).body,
    );
    assert.equal(fire.version, "4");
    assert.equal(fire.status, "firing");
    assert.equal(fire.receiver, "chat");
    assert.equal(fire.alerts.length, 1);
    assert.equal(fire.alerts[0].labels.alertname, "ImageServerStuck");
    assert.equal(fire.alerts[0].labels.status, "BUILDING");
    assert.equal(fire.alerts[0].startsAt, "2026-11-27T09:00:00.000Z");
    assert.equal(fire.alerts[0].endsAt, "0001-01-01T00:00:00Z");
    assert.equal(resolve.status, "resolved");
    assert.equal(resolve.alerts[0].status, "resolved");
    assert.deepEqual(resolve.alerts[0].labels, fire.alerts[0].labels);
    assert.equal(resolve.alerts[0].fingerprint, fire.alerts[0].fingerprint);
    assert.equal(resolve.alerts[0].endsAt, new Date(AT).toISOString());
    assert.equal(resolve.alerts[0].startsAt, fire.alerts[0].startsAt, "the resolved alert keeps its start");
    assert.equal(resolve.groupKey, fire.groupKey);
  });

  it("alertmanager: poll_failed fires ImageServerPollFailing; a status change is a one-off info alert", () => {
    const failed = JSON.parse(
      buildRequest(event("image_server.poll_failed"), webhook("alertmanager"), AT).body,
    );
    assert.equal(failed.alerts[0].labels.alertname, "ImageServerPollFailing");
    assert.equal(failed.alerts[0].labels.severity, "warning");
    const info = JSON.parse(buildRequest(changed, webhook("alertmanager"), AT).body);
    assert.equal(info.alerts[0].labels.severity, "info");
    assert.equal(info.alerts[0].endsAt, new Date(AT).toISOString());
    assert.equal(info.alerts[0].annotations.event_id, "evt_1");
  });
});

describe("platformError", () => {
  const cases: Array<[WebhookConfig["format"], string, { message: string; retryable: boolean } | undefined]> =
    [
      ["dingtalk", '{"errcode":0,"errmsg":"ok"}', undefined],
      [
        "dingtalk",
        '{"errcode":310000,"errmsg":"sign not match"}',
        { message: "dingtalk error 310000: sign not match", retryable: false },
      ],
      [
        "dingtalk",
        '{"errcode":130101,"errmsg":"send too fast"}',
        { message: "dingtalk error 130101: send too fast", retryable: true },
      ],
      [
        "wecom",
        '{"errcode":45009,"errmsg":"api freq out of limit"}',
        { message: "wecom error 45009: api freq out of limit", retryable: true },
      ],
      ["wecom", '{"errcode":0,"errmsg":"ok"}', undefined],
      ["feishu", '{"code":0,"msg":"success","data":{}}', undefined],
      ["feishu", '{"StatusCode":0,"StatusMessage":"success"}', undefined],
      [
        "feishu",
        '{"code":19021,"msg":"sign match fail or timestamp is not within one hour from current time"}',
        {
          message:
            "feishu error 19021: sign match fail or timestamp is not within one hour from current time",
          retryable: false,
        },
      ],
      ["feishu", "not json", undefined],
      ["slack", '{"errcode":1}', undefined],
      ["standard", '{"errcode":1}', undefined],
    ];
  for (const [format, body, want] of cases) {
    it(`${format} ${body}`, () => assert.deepEqual(platformError(format, body), want));
  }
});
