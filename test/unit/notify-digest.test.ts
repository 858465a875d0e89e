/** Digest titles and the shared decision of a digest attempt (DESIGN §10). Pure. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { DomainEvent } from "../../src/domain/types.js";
import { chatText, digestTitle } from "../../src/notify/formats/event-line.js";
import { decideAfterDigestAttempt } from "../../src/notify/retry-policy.js";

function failed(n: number, code = "WKS.0003"): DomainEvent {
  const id = `srv-${n}`;
  return {
    id: `evt_${n}`,
    type: "image_server.poll_failed",
    occurredAt: 0,
    projectId: "p",
    serverId: id,
    data: {
      event_id: `evt_${n}`,
      project_id: "p",
      server_id: id,
      name: `build-${n}`,
      status: "BUILDING",
      consecutive_failures: 3,
      error: { kind: "http_5xx", http_status: 503, error_code: code },
    },
  };
}

describe("digest text", () => {
  it("counts the events and names their shared cause", () => {
    const seven = Array.from({ length: 7 }, (_, i) => failed(i));
    assert.equal(digestTitle(seven), "7 image servers: poll failed — http_5xx 503 WKS.0003");
    assert.equal(digestTitle([failed(1), failed(2, "WKS.0009")]), "2 image servers: poll failed");
    const changed = { ...failed(3), type: "image_server.status_changed" as const };
    assert.equal(digestTitle([failed(1), changed]), "2 events");
  });

  it("one event is its plain line; a digest is the title then one line per event", () => {
    assert.equal(chatText([failed(1)]).split("\n").length, 1);
    const lines = chatText([failed(1), failed(2)]).split("\n");
    assert.equal(lines[0], "🟠 [imagewatch] 2 image servers: poll failed — http_5xx 503 WKS.0003");
    assert.match(lines[1] ?? "", /^• build-1 \(srv-1\): polling failed 3 times in a row/);
    assert.equal(lines.length, 3);
  });
});

describe("decideAfterDigestAttempt", () => {
  const webhook = { retry: { minDelay: 1000, maxDelay: 60_000 }, maxAge: 10_000 };
  it("one shared retry time from the most-tried row; a row past its maxAge dead-letters alone", () => {
    const decisions = decideAfterDigestAttempt({
      result: { kind: "response", status: 503, body: "" },
      rows: [
        { attempts: 1, createdAt: 0 },
        { attempts: 3, createdAt: 0 },
        { attempts: 1, createdAt: -9000 },
      ],
      now: 1000,
      webhook,
      random: () => 0.5,
    });
    // attempts 3 → ceiling 4000, half of it: 2000 ms.
    assert.deepEqual(decisions, [
      { action: "retry", nextAttemptAt: 3000, error: "HTTP 503" },
      { action: "retry", nextAttemptAt: 3000, error: "HTTP 503" },
      { action: "dead", error: "max age exceeded: HTTP 503" },
    ]);
  });

  it("success and rejection apply to every row", () => {
    const rows = [
      { attempts: 1, createdAt: 0 },
      { attempts: 1, createdAt: 0 },
    ];
    const base = { rows, now: 1, webhook, random: () => 0 };
    assert.deepEqual(
      decideAfterDigestAttempt({ ...base, result: { kind: "response", status: 200, body: "" } }).map(
        (d) => d.action,
      ),
      ["delivered", "delivered"],
    );
    assert.deepEqual(
      decideAfterDigestAttempt({ ...base, result: { kind: "response", status: 404, body: "" } }).map(
        (d) => d.action,
      ),
      ["dead", "dead"],
    );
  });
});
