/**
 * Digests and rate limits (DESIGN §10) against a real loopback receiver and the real SQLite store, on a
 * manual clock: the service's clock is moved by hand, never slept on.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { afterEach, describe, it } from "node:test";
import type { WebhookConfig } from "../../src/config/types.js";
import type { DomainEvent } from "../../src/domain/types.js";
import { createSilentLogger } from "../../src/lib/logger.js";
import { createDeliveryService, type DeliveryOutcome } from "../../src/notify/delivery-service.js";
import { openSqliteStore } from "../../src/store/sqlite-store.js";
import type { DeliveryRecord, Store } from "../../src/store/types.js";
import { createManualClock, type ManualClock } from "../helpers/manual-clock.js";
import { type Receiver, type ReceiverOptions, startReceiver, waitUntil } from "../helpers/receiver.js";

const SECRET = `whsec_${randomBytes(32).toString("base64")}`;
const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

function event(n: number, name = `build-${n}`): DomainEvent {
  const serverId = `srv-${String(n).padStart(4, "0")}`;
  return {
    id: `evt_${serverId}`,
    type: "image_server.status_changed",
    occurredAt: Date.parse("2026-11-27T09:00:00Z"),
    projectId: "proj-1",
    serverId,
    data: {
      event_id: `evt_${serverId}`,
      project_id: "proj-1",
      server_id: serverId,
      name,
      previous_status: "BUILDING",
      status: "BUILT",
    },
  };
}

async function setup(webhook: Partial<WebhookConfig>, receiverOptions: ReceiverOptions = {}) {
  // Real time as the start: the standard receiver checks webhook-timestamp against its own clock.
  const clock: ManualClock = createManualClock(Date.now());
  const store: Store = openSqliteStore(":memory:");
  cleanups.push(() => store.close());
  const receiver: Receiver = await startReceiver(receiverOptions);
  cleanups.push(() => receiver.close());
  /** The manual clock's time at each request's arrival. */
  const arrivals: number[] = [];
  const respond = receiverOptions.respond;
  receiver.setResponder((req) => {
    arrivals.push(clock.now());
    return respond?.(req);
  });
  const hook: WebhookConfig = {
    name: "chat",
    url: receiver.url,
    format: "wecom",
    events: ["status_changed"],
    statuses: [],
    headers: {},
    timeout: 5000,
    retry: { minDelay: 10_000, maxDelay: 60_000 },
    maxAge: 3_600_000,
    ...webhook,
  };
  const outcomes: DeliveryOutcome[] = [];
  let rounds = 0;
  const service = createDeliveryService({
    store,
    getWebhooks: () => [hook],
    clock,
    logger: createSilentLogger(),
    random: () => 0.5,
    version: "test",
    pollIntervalMs: 5,
    onOutcome: (_w, o) => outcomes.push(o),
    onQueue: () => {
      rounds++;
    },
  });
  cleanups.push(() => service.stop(0));
  const commit = (events: DomainEvent[]) =>
    store.commitPoll({
      servers: [],
      events,
      deliveries: events.map((e) => ({ eventId: e.id, webhook: hook.name })),
      now: clock.now(),
    });
  /** Lets the service run rounds until nothing is in flight and two more rounds changed nothing. */
  const settle = async () => {
    for (let quiet = 0; quiet < 2; ) {
      const seen = receiver.requests.length;
      await waitUntil(() => service.inFlight().size === 0 && receiver.open() === 0, 10_000, "idle");
      const r = rounds;
      service.wake();
      await waitUntil(() => rounds > r, 10_000, "a round");
      quiet = receiver.requests.length === seen && service.inFlight().size === 0 ? quiet + 1 : 0;
    }
  };
  const rowsOf = (): DeliveryRecord[] => store.listEvents(100_000).flatMap((e) => e.deliveries);
  return { hook, clock, store, receiver, service, arrivals, outcomes, commit, settle, rowsOf };
}

/** A WeCom/DingTalk text message's lines. */
function linesOf(body: string): string[] {
  return String((JSON.parse(body) as { text: { content: string } }).text.content).split("\n");
}

describe("digests and rate limits", () => {
  it("wecom: 300 events due at once go out as counted digests, at most 20 messages a minute, none lost", async () => {
    // Long names: each line is ~150 bytes, so the 2048-byte limit cuts digests to about a dozen events.
    const h = await setup({});
    const events = Array.from({ length: 300 }, (_, i) =>
      event(i, `nightly-image-build-${"x".repeat(100)}-${i}`),
    );
    h.commit(events);
    h.service.start();
    await h.settle();
    assert.equal(h.receiver.requests.length, 20, "the first minute: 20 messages, then the limit holds");
    await h.clock.advance(59_999);
    await h.settle();
    assert.equal(h.receiver.requests.length, 20, "still within the first minute");
    assert.ok(
      h.rowsOf().some((r) => r.state === "pending" && r.attempts === 0),
      "the rest wait, untouched",
    );

    for (let minute = 1; h.rowsOf().some((r) => r.state === "pending"); minute++) {
      assert.ok(minute < 30, "drains");
      await h.clock.advance(minute === 1 ? 1 : 60_000);
      await h.settle();
    }
    const seen = new Map<string, number>();
    for (const req of h.receiver.requests) {
      assert.ok(Buffer.byteLength(req.body) <= 2048, "within WeCom's size limit");
      const [title, ...lines] = linesOf(req.body);
      assert.equal(title, `🔵 [imagewatch] ${lines.length} image servers: status changed`);
      assert.ok(lines.length > 1);
      for (const line of lines) {
        const id = /\((srv-\d+)\)/.exec(line)?.[1] ?? "";
        seen.set(id, (seen.get(id) ?? 0) + 1);
      }
    }
    assert.equal(seen.size, 300, "every event was sent");
    assert.ok(
      [...seen.values()].every((n) => n === 1),
      "each once",
    );
    const rows = h.rowsOf();
    assert.ok(rows.every((r) => r.state === "delivered" && r.attempts === 1));
    assert.equal(h.outcomes.filter((o) => o === "delivered").length, 300, "one outcome per row");
    for (const at of h.arrivals) {
      const inWindow = h.arrivals.filter((t) => t >= at && t < at + 60_000).length;
      assert.ok(inWindow <= 20, `at most 20 messages in any minute, saw ${inWindow}`);
    }
  });

  it("slack: one message per second; a new event waits group.wait for company", async () => {
    const h = await setup({ format: "slack", group: { wait: 5000, max: 50 } });
    h.commit([event(1)]);
    h.service.start();
    await h.settle();
    assert.equal(h.receiver.requests.length, 0, "held for group.wait");
    await h.clock.advance(2000);
    h.commit([event(2), event(3)]);
    await h.clock.advance(2999);
    await h.settle();
    assert.equal(h.receiver.requests.length, 0);
    await h.clock.advance(1);
    await h.settle();
    assert.equal(h.receiver.requests.length, 1);
    const text = String((JSON.parse(h.receiver.requests[0]?.body ?? "") as { text: string }).text);
    assert.match(text, /^🔵 \[imagewatch\] 3 image servers: status changed\n• build-1 \(srv-0001\)/);

    // Three retried-at-once rows (no wait) still go one message per second.
    const s = await setup({ format: "slack", group: { wait: 0, max: 1 } });
    s.commit([event(1), event(2), event(3)]);
    s.service.start();
    await s.settle();
    assert.equal(s.receiver.requests.length, 1);
    await s.clock.advance(999);
    await s.settle();
    assert.equal(s.receiver.requests.length, 1);
    await s.clock.advance(1);
    await s.settle();
    await s.clock.advance(1000);
    await s.settle();
    assert.deepEqual(
      s.arrivals.map((t) => t - (s.arrivals[0] ?? 0)),
      [0, 1000, 2000],
    );
  });

  it("standard: one event per request, signed, even when many are due", async () => {
    const h = await setup({ format: "standard", secret: SECRET }, { secret: SECRET });
    h.commit([event(1), event(2), event(3), event(4), event(5)]);
    h.service.start();
    await h.settle();
    const ids = h.receiver.accepted().map((r) => r.id);
    assert.deepEqual(ids.sort(), [
      "evt_srv-0001",
      "evt_srv-0002",
      "evt_srv-0003",
      "evt_srv-0004",
      "evt_srv-0005",
    ]);
    assert.ok(h.receiver.requests.every((r) => r.verified && r.payload?.data.server_id !== undefined));
  });

  it("a platform frequency error backs the whole webhook off; rows that waited are not charged", async () => {
    let limited = true;
    const h = await setup(
      { group: { wait: 0, max: 2 }, rateLimit: null },
      {
        respond: () => {
          const body = limited ? '{"errcode":45009,"errmsg":"api freq out of limit"}' : '{"errcode":0}';
          limited = false;
          return { status: 200, body };
        },
      },
    );
    const t0 = h.clock.now();
    h.commit([event(1), event(2), event(3), event(4)]);
    h.service.start();
    await h.settle();
    assert.equal(h.receiver.requests.length, 1, "one digest of two, refused; nothing else sent");
    const byId = () => new Map(h.rowsOf().map((r) => [r.eventId, r]));
    let rows = byId();
    // random 0.5 × minDelay 10 s = 5 s backoff for the two refused rows; the others wait with them.
    assert.deepEqual(
      ["evt_srv-0001", "evt_srv-0002"].map((id) => [rows.get(id)?.attempts, rows.get(id)?.nextAttemptAt]),
      [
        [1, t0 + 5000],
        [1, t0 + 5000],
      ],
    );
    assert.match(rows.get("evt_srv-0001")?.lastError ?? "", /wecom error 45009/);
    assert.deepEqual(
      ["evt_srv-0003", "evt_srv-0004"].map((id) => [rows.get(id)?.attempts, rows.get(id)?.state]),
      [
        [0, "pending"],
        [0, "pending"],
      ],
    );
    await h.clock.advance(4999);
    await h.settle();
    assert.equal(h.receiver.requests.length, 1, "the webhook is paused as a whole");
    await h.clock.advance(1);
    await h.settle();
    rows = byId();
    assert.deepEqual([...rows.values()].map((r) => [r.eventId, r.state, r.attempts]).sort(), [
      ["evt_srv-0001", "delivered", 2],
      ["evt_srv-0002", "delivered", 2],
      ["evt_srv-0003", "delivered", 1],
      ["evt_srv-0004", "delivered", 1],
    ]);
    assert.deepEqual(h.outcomes, ["retried", "retried", "delivered", "delivered", "delivered", "delivered"]);
  });

  it("alertmanager: a digest groups its alerts by alertname; a crash mid-digest re-sends the same event ids", async () => {
    const h = await setup(
      { format: "alertmanager", group: { wait: 0, max: 10 } },
      { script: [{ hold: true }] },
    );
    const stuck = (n: number): DomainEvent => ({
      ...event(n),
      id: `evt_stuck_${n}`,
      type: "image_server.stuck",
      data: {
        event_id: `evt_stuck_${n}`,
        project_id: "proj-1",
        server_id: `srv-s${n}`,
        name: `s${n}`,
        status: "BUILDING",
      },
      serverId: `srv-s${n}`,
    });
    h.commit([event(1), stuck(1), event(2), stuck(2)]);
    h.service.start();
    await waitUntil(() => h.receiver.open() === 1, 10_000, "the digest held by the receiver");
    await h.service.stop(0);
    assert.ok(
      h.rowsOf().every((r) => r.state === "pending" && r.attempts === 0),
      "an aborted digest records nothing",
    );

    const again = createDeliveryService({
      store: h.store,
      getWebhooks: () => [h.hook],
      clock: h.clock,
      logger: createSilentLogger(),
      version: "test",
      pollIntervalMs: 5,
    });
    cleanups.push(() => again.stop(0));
    again.start();
    await waitUntil(
      () => h.rowsOf().every((r) => r.state === "delivered"),
      10_000,
      "delivered after restart",
    );
    const bodies = h.receiver.requests.map(
      (r) =>
        JSON.parse(r.body) as {
          groupLabels: object;
          alerts: Array<{ labels: { alertname: string }; annotations: { event_id: string } }>;
        },
    );
    assert.equal(bodies.length, 2);
    const [aborted, resent] = bodies;
    const ids = (b: typeof aborted) => b?.alerts.map((a) => a.annotations.event_id);
    assert.deepEqual(ids(resent), ids(aborted), "the same event ids, again");
    assert.deepEqual(
      resent?.alerts.map((a) => a.labels.alertname),
      ["ImageServerStatusChanged", "ImageServerStatusChanged", "ImageServerStuck", "ImageServerStuck"],
    );
    assert.deepEqual(resent?.groupLabels, {});
  });
});
