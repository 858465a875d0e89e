/**
 * Messages people read (DESIGN §6): golden bodies of every chat format for one event and for a digest —
 * names before ids, human durations, `BUILDING → BUILT`, links to the status page — and the Teams card
 * of a 500-event digest sent to a loopback receiver.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Agent } from "undici";
import type { WebhookConfig } from "../../src/config/types.js";
import type { DomainEvent } from "../../src/domain/types.js";
import { webhookFormat } from "../../src/notify/formats/index.js";
import { TEAMS_MAX_BODY_BYTES } from "../../src/notify/formats/teams.js";
import { sendWebhookRequest } from "../../src/notify/send.js";
import { startReceiver } from "../helpers/receiver.js";

const AT = Date.parse("2026-11-27T10:00:00.000Z");
const BASE = "https://imagewatch.example.com";

function webhook(format: WebhookConfig["format"]): WebhookConfig {
  return {
    name: "chat",
    url: "https://chat.example.com/hook/tok",
    format,
    events: ["status_changed"],
    statuses: [],
    headers: {},
    timeout: 10_000,
    retry: { minDelay: 1000, maxDelay: 300_000 },
    maxAge: 86_400_000,
    externalURL: BASE,
  };
}

function built(i: number): DomainEvent {
  const serverId = `srv-${String(i).padStart(4, "0")}-0123456789abcdef`;
  return {
    id: `evt_${i}`,
    type: "image_server.status_changed",
    occurredAt: AT,
    projectId: "proj-1",
    serverId,
    data: {
      event_id: `evt_${i}`,
      project_id: "proj-1",
      server_id: serverId,
      name: `build-${i}`,
      previous_status: "BUILDING",
      status: "BUILT",
      previous_status_duration_seconds: 2 * 86_400 + 3 * 3600 + 35,
    },
  };
}

const LINE_0 = "build-0 (srv-0000-0123456789abcdef): BUILDING → BUILT after 2d 3h";
const LINK_0 = `${BASE}/servers/proj-1/srv-0000-0123456789abcdef`;

/** The readable text of each chat format's body. */
const TEXT_OF: Record<string, (body: Record<string, unknown>) => string> = {
  slack: (b) => b.text as string,
  feishu: (b) => (b.content as { text: string }).text,
  dingtalk: (b) => (b.text as { content: string }).content,
  wecom: (b) => (b.text as { content: string }).content,
};

describe("chat messages: golden bodies", () => {
  for (const [format, textOf] of Object.entries(TEXT_OF)) {
    it(`${format}: one event reads name, id, arrow, human duration, link`, () => {
      const f = webhookFormat(format as WebhookConfig["format"]);
      const body = JSON.parse(f.build(built(0), webhook(format as WebhookConfig["format"]), AT).body);
      assert.equal(textOf(body), `🔵 [imagewatch] ${LINE_0} ${LINK_0}`);
    });
    it(`${format}: a digest is a title, then one linked line per event`, () => {
      const f = webhookFormat(format as WebhookConfig["format"]);
      const req = f.buildDigest?.([built(0), built(1)], webhook(format as WebhookConfig["format"]), AT);
      assert.ok(req);
      assert.deepEqual(textOf(JSON.parse(req.body)).split("\n"), [
        "🔵 [imagewatch] 2 image servers: status changed",
        `• ${LINE_0} ${LINK_0}`,
        `• build-1 (srv-0001-0123456789abcdef): BUILDING → BUILT after 2d 3h ${BASE}/servers/proj-1/srv-0001-0123456789abcdef`,
      ]);
    });
  }

  it("teams: one event is an Adaptive Card with the line as its title and a link to the server", () => {
    const body = JSON.parse(webhookFormat("teams").build(built(0), webhook("teams"), AT).body);
    assert.equal(body.type, "message");
    assert.equal(body.attachments[0].contentType, "application/vnd.microsoft.card.adaptive");
    const card = body.attachments[0].content;
    assert.equal(card.type, "AdaptiveCard");
    assert.deepEqual(
      card.body.map((b: { text: string }) => b.text),
      [`[imagewatch] ${LINE_0}`, `[build-0](${LINK_0})`],
    );
  });

  it("without server.externalURL there is no link", () => {
    const hook = { ...webhook("slack") };
    delete hook.externalURL;
    const body = JSON.parse(webhookFormat("slack").build(built(0), hook, AT).body);
    assert.equal(body.text, `🔵 [imagewatch] ${LINE_0}`);
  });
});

describe("teams: a digest of 500 events", () => {
  it("is one card under 28 KB that ends with 'and N more', accepted by a loopback receiver answering 202", async (t) => {
    const receiver = await startReceiver({ respond: () => ({ status: 202, body: "" }) });
    t.after(() => receiver.close());
    const dispatcher = new Agent();
    t.after(() => dispatcher.close());
    const events = Array.from({ length: 500 }, (_, i) => built(i));
    const f = webhookFormat("teams");
    const req = f.buildDigest?.(events, webhook("teams"), AT);
    assert.ok(req);
    assert.ok(Buffer.byteLength(req.body) < TEAMS_MAX_BODY_BYTES, `${Buffer.byteLength(req.body)} bytes`);
    const result = await sendWebhookRequest(
      receiver.url,
      { body: req.body, headers: { "content-type": "application/json" } },
      { dispatcher, timeoutMs: 5000 },
    );
    assert.equal(result.kind, "response");
    assert.ok(result.kind === "response" && result.status === 202);
    assert.equal(f.platformError(result.kind === "response" ? result.body : "x"), undefined);

    const got = JSON.parse(receiver.requests[0]?.body ?? "{}");
    const blocks: { text: string }[] = got.attachments[0].content.body;
    assert.equal(blocks[0]?.text, "[imagewatch] 500 image servers: status changed");
    assert.equal(blocks[1]?.text, `• ${LINE_0} [open](${LINK_0})`);
    const shown = blocks.length - 2;
    assert.ok(shown > 10 && shown < 500, `${shown} lines shown`);
    assert.equal(blocks.at(-1)?.text, `… and ${500 - shown} more`);
  });
});

describe("severity in chat text", () => {
  const withStatus = (status: string, type: DomainEvent["type"] = "image_server.status_changed") => {
    const e = built(1);
    return { ...e, type, data: { ...e.data, status } };
  };
  const cases: Array<[string, DomainEvent[], string]> = [
    ["a build into ERROR is red", [withStatus("ERROR")], "🔴"],
    ["a stuck server is orange", [withStatus("BUILDING", "image_server.stuck")], "🟠"],
    ["a recovery is green", [withStatus("ACTIVE", "image_server.poll_recovered")], "🟢"],
    ["a plain change is blue", [withStatus("BUILT")], "🔵"],
    ["a digest takes its worst event's colour", [withStatus("BUILT"), withStatus("ERROR")], "🔴"],
  ];
  for (const [name, events, emoji] of cases) {
    it(name, () => {
      for (const format of ["slack", "feishu", "dingtalk", "wecom"] as const) {
        const module = webhookFormat(format);
        const req =
          events.length === 1
            ? module.build(events[0] as DomainEvent, webhook(format), AT)
            : module.buildDigest?.(events, webhook(format), AT);
        assert.ok(req, format);
        const text = TEXT_OF[format]?.(JSON.parse(req.body)) ?? "";
        assert.ok(text.startsWith(`${emoji} [imagewatch] `), `${format}: ${text}`);
      }
    });
  }
});
