import assert from "node:assert/strict";
import { createHmac } from "node:crypto";
import { describe, it } from "node:test";
import type { WebhookConfig } from "../../src/config/types.js";
import { type ObserveConfig, observe } from "../../src/domain/observe.js";
import type { DomainEvent, EventType, ServerState } from "../../src/domain/types.js";
import { eventSummaryLine } from "../../src/notify/formats/event-line.js";
import type { PlatformError } from "../../src/notify/formats/format.js";
import { WEBHOOK_FORMATS, type WebhookFormat, webhookFormat } from "../../src/notify/formats/index.js";
import { buildRequest } from "../../src/notify/payload.js";
import { CONFIG, MIN, NOT_FOUND, ok, PROJECT, SERVER } from "../helpers/observe-fixtures.js";

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

describe("eventSummaryLine", () => {
  const cases: Array<[string, DomainEvent, string]> = [
    [
      "status_changed",
      event("image_server.status_changed", {
        previous_status: "BUILDING",
        previous_status_duration_seconds: 3000,
      }),
      "build-7 (srv-1): BUILDING → ACTIVE after 50m 0s",
    ],
    [
      "discovered",
      event("image_server.discovered", { status: "BUILDING" }),
      "build-7 (srv-1): discovered in status BUILDING",
    ],
    [
      "stuck",
      event("image_server.stuck", { status: "BUILDING", stuck_seconds: 3720, stuck_threshold_seconds: 3600 }),
      "build-7 (srv-1): stuck in BUILDING for 1h 2m (threshold 1h 0m)",
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
    it(name, () => assert.equal(eventSummaryLine(e), line));
  }
});

describe("chat formats", () => {
  const changed = event("image_server.status_changed", { previous_status: "BUILDING" });

  it("slack: {text}", () => {
    const req = buildRequest(changed, webhook("slack"), AT, "1.0.0");
    assert.deepEqual(JSON.parse(req.body), { text: "🔵 [imagewatch] build-7 (srv-1): BUILDING → ACTIVE" });
    assert.equal(req.headers["content-type"], "application/json");
    assert.equal(req.headers["x-extra"], "1");
    assert.equal(req.url, undefined);
  });

  it("wecom: {msgtype: text, text: {content}}", () => {
    const req = buildRequest(changed, webhook("wecom"), AT);
    assert.deepEqual(JSON.parse(req.body), {
      msgtype: "text",
      text: { content: "🔵 [imagewatch] build-7 (srv-1): BUILDING → ACTIVE" },
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
    assert.equal(body.content.text, "🔵 [imagewatch] build-7 (srv-1): BUILDING → ACTIVE");
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
          previous_status_since: "2026-11-27T09:00:00.000Z",
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

describe("platformError of each format", () => {
  const cases: Array<[WebhookFormat, string, PlatformError | undefined]> = [
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
        message: "feishu error 19021: sign match fail or timestamp is not within one hour from current time",
        retryable: false,
      },
    ],
    [
      "feishu",
      '{"code":9499,"msg":"too many request"}',
      { message: "feishu error 9499: too many request", retryable: true },
    ],
    ["feishu", "not json", undefined],
    ["slack", "ok", undefined],
    ["slack", '{"ok":true}', undefined],
    [
      "slack",
      '{"ok":false,"error":"invalid_token"}',
      { message: "slack error: invalid_token", retryable: false },
    ],
    [
      "slack",
      '{"ok":false,"error":"rate_limited"}',
      { message: "slack error: rate_limited", retryable: true },
    ],
    ["slack", '{"errcode":1}', undefined],
    ["standard", '{"errcode":1}', undefined],
    ["alertmanager", '{"errcode":1}', undefined],
  ];
  for (const [format, body, want] of cases) {
    it(`${format} ${body}`, () => assert.deepEqual(webhookFormat(format).platformError(body), want));
  }
});

/**
 * Every registered format, end to end: a row per format (the Record type makes a new format without a row
 * a type error), built, its body parsed, and a sample 200 answer of its platform read as success.
 */
const REGISTRY_CASES: Record<WebhookFormat, { secret?: string; ok200: string; refused200?: string }> = {
  standard: { secret: `whsec_${Buffer.alloc(32, 7).toString("base64")}`, ok200: "" },
  slack: { ok200: "ok", refused200: '{"ok":false,"error":"no_service"}' },
  teams: { ok200: "", refused200: '{"error":{"code":"InvalidRequestContent","message":"bad card"}}' },
  feishu: {
    secret: "fsecret",
    ok200: '{"code":0,"msg":"success"}',
    refused200: '{"code":19001,"msg":"param invalid"}',
  },
  dingtalk: {
    secret: "SECdemo",
    ok200: '{"errcode":0,"errmsg":"ok"}',
    refused200: '{"errcode":300001,"errmsg":"token is not exist"}',
  },
  wecom: {
    ok200: '{"errcode":0,"errmsg":"ok"}',
    refused200: '{"errcode":93000,"errmsg":"invalid webhook url"}',
  },
  alertmanager: { ok200: "" },
};

describe("format registry", () => {
  it("names every format once, and every format has a row in this table", () => {
    assert.deepEqual([...WEBHOOK_FORMATS].sort(), Object.keys(REGISTRY_CASES).sort());
    assert.equal(new Set(WEBHOOK_FORMATS).size, WEBHOOK_FORMATS.length);
    for (const name of WEBHOOK_FORMATS) assert.equal(webhookFormat(name).name, name);
  });

  for (const name of WEBHOOK_FORMATS) {
    it(`${name}: build → parse body → platformError on a 200 body`, () => {
      const row = REGISTRY_CASES[name];
      const hook = webhook(name, row.secret !== undefined ? { secret: row.secret } : {});
      const format = webhookFormat(name);
      assert.equal(format.secret.problem?.(row.secret), undefined, "the sample secret is valid");
      const req = buildRequest(
        event("image_server.status_changed", { previous_status: "BUILDING" }),
        hook,
        AT,
      );
      const body = JSON.parse(req.body) as Record<string, unknown>;
      assert.ok(body !== null && typeof body === "object", "the body is a JSON object");
      assert.match(req.body, /build-7/, "the body names the server");
      assert.equal(req.headers["content-type"], "application/json");
      assert.equal(req.headers["x-extra"], "1", "static headers are sent");
      assert.equal(format.platformError(row.ok200), undefined, "a 200 success body is success");
      if (row.refused200 !== undefined) {
        assert.equal(format.platformError(row.refused200)?.retryable, false, "a 200 error body is refused");
      }
    });
  }

  it("defaults per format: digests for chat formats and alertmanager, rate limits per platform", () => {
    const defaults = Object.fromEntries(WEBHOOK_FORMATS.map((n) => [n, webhookFormat(n).defaults]));
    const digest = { wait: 5000, max: 50 };
    assert.deepEqual(defaults, {
      standard: { group: { wait: 0, max: 1 }, rateLimit: null },
      slack: { group: digest, rateLimit: { count: 1, per: 1000 } },
      teams: { group: digest, rateLimit: { count: 4, per: 1000 } },
      feishu: { group: digest, rateLimit: { count: 5, per: 1000 } },
      dingtalk: { group: digest, rateLimit: { count: 20, per: 60_000 } },
      wecom: { group: digest, rateLimit: { count: 20, per: 60_000 } },
      alertmanager: { group: digest, rateLimit: null },
    });
  });

  it("secret rules: standard requires whsec_<base64>; others accept any or none", () => {
    const standard = webhookFormat("standard").secret;
    assert.equal(standard.problem?.(undefined), "required for format standard (whsec_<base64>)");
    assert.equal(standard.problem?.("whsec_!!"), "must look like whsec_<base64>");
    assert.match(standard.advice?.("whsec_c2hvcnQ=") ?? "", /only 5 bytes/);
    for (const name of WEBHOOK_FORMATS.filter((n) => n !== "standard")) {
      assert.equal(webhookFormat(name).secret.problem?.(undefined), undefined, name);
    }
    assert.deepEqual(
      WEBHOOK_FORMATS.filter((n) => webhookFormat(n).urlPathIsCredential),
      ["slack", "teams", "feishu"],
    );
  });
});

describe("alertmanager startsAt of a stuck alert (defect 5)", () => {
  // BUILDING since 10:00; stuck after 60 min; resolved at 11:30.
  const since = Date.parse("2026-11-27T10:00:00.000Z");
  const ctx = (now: number, config: ObserveConfig = CONFIG) => ({
    projectId: PROJECT,
    serverId: SERVER,
    now,
    config,
  });

  function stuckState(): { state: ServerState; firing: DomainEvent } {
    const first = observe(undefined, ok("BUILDING", since), ctx(since));
    const stuck = observe(first.state, ok("BUILDING", since), ctx(since + 61 * MIN));
    const firing = stuck.events.find((e) => e.type === "image_server.stuck");
    assert.ok(firing, "the server is stuck");
    return { state: stuck.state, firing };
  }

  function startsAt(e: DomainEvent): { status: string; startsAt: string; fingerprint: string } {
    const body = JSON.parse(buildRequest(e, webhook("alertmanager"), e.occurredAt).body);
    return {
      status: body.status,
      startsAt: body.alerts[0].startsAt,
      fingerprint: body.alerts[0].fingerprint,
    };
  }

  const endings: Array<[string, (state: ServerState) => DomainEvent[]]> = [
    ["the server disappeared while stuck", (s) => observe(s, NOT_FOUND, ctx(since + 90 * MIN)).events],
    [
      "a reload removed the BUILDING threshold",
      (s) =>
        observe(
          s,
          ok("BUILDING", since),
          ctx(since + 90 * MIN, { ...CONFIG, thresholds: { CREATING: 60 * MIN } }),
        ).events,
    ],
    ["the status moved on", (s) => observe(s, ok("BUILT", since + 90 * MIN), ctx(since + 91 * MIN)).events],
  ];
  for (const [name, end] of endings) {
    it(`the resolving alert keeps the firing alert's startsAt when ${name}`, () => {
      const { state, firing } = stuckState();
      const resolving = end(state).find((e) => e.type === "image_server.stuck_resolved");
      assert.ok(resolving, "stuck_resolved was emitted");
      const fire = startsAt(firing);
      const resolve = startsAt(resolving);
      assert.equal(fire.startsAt, "2026-11-27T10:00:00.000Z");
      assert.deepEqual(resolve, { ...fire, status: "resolved" });
    });
  }
});
