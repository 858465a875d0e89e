/**
 * The delivery workers against a real loopback receiver (which verifies every signature) and the real
 * SQLite store in a temp dir.
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, describe, it } from "node:test";
import type { WebhookConfig } from "../../src/config/types.js";
import type { DomainEvent } from "../../src/domain/types.js";
import { type Clock, systemClock } from "../../src/lib/clock.js";
import { createLogger, createSilentLogger } from "../../src/lib/logger.js";
import {
  createDeliveryService,
  type DeliveryOutcome,
  type DeliveryService,
} from "../../src/notify/delivery-service.js";
import { openSqliteStore } from "../../src/store/sqlite-store.js";
import type { DeliveryRecord, Store } from "../../src/store/types.js";
import { createManualClock } from "../helpers/manual-clock.js";
import {
  type Receiver,
  type ReceiverAction,
  type ReceiverOptions,
  startReceiver,
  waitUntil,
} from "../helpers/receiver.js";

const SECRET = `whsec_${randomBytes(32).toString("base64")}`;

function makeWebhook(url: string, overrides: Partial<WebhookConfig> = {}): WebhookConfig {
  return {
    name: "ops",
    url,
    format: "standard",
    secret: SECRET,
    events: ["status_changed"],
    statuses: [],
    headers: {},
    timeout: 5000,
    retry: { minDelay: 20, maxDelay: 50 },
    maxAge: 60_000,
    ...overrides,
  };
}

function makeEvent(id: string, serverId: string, at: number): DomainEvent {
  return {
    id,
    type: "image_server.status_changed",
    occurredAt: at,
    projectId: "proj-1",
    serverId,
    data: {
      event_id: id,
      project_id: "proj-1",
      server_id: serverId,
      name: `name-${serverId}`,
      previous_status: "BUILDING",
      status: "BUILT",
    },
  };
}

/** Commits events (in order: that is their seq order) with one delivery row per webhook, as the poller does. */
function commitEvents(store: Store, events: DomainEvent[], webhooks: string[], now: number): void {
  store.commitPoll({
    servers: [],
    events,
    deliveries: events.flatMap((e) => webhooks.map((webhook) => ({ eventId: e.id, webhook }))),
    now,
  });
}

function deliveryOf(store: Store, eventId: string, webhook = "ops"): DeliveryRecord {
  const event = store.listEvents(1000).find((e) => e.id === eventId);
  const d = event?.deliveries.find((x) => x.webhook === webhook);
  assert.ok(d, `delivery of ${eventId} to ${webhook}`);
  return d;
}

interface Harness {
  store: Store;
  file: string;
  receiver: Receiver;
  webhooks: WebhookConfig[];
  service: DeliveryService;
  outcomes: Array<[string, DeliveryOutcome]>;
  queue: Array<{ webhook: string; depth: number; age: number }>;
  /** Resolves after the service finished one more round (a round always reports the queues). */
  nextRound(): Promise<void>;
}

const cleanups: Array<() => Promise<void> | void> = [];
afterEach(async () => {
  while (cleanups.length > 0) await cleanups.pop()?.();
});

function tempFile(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "imagewatch-delivery-"));
  cleanups.unshift(() => fs.rmSync(dir, { recursive: true, force: true }));
  return path.join(dir, "state.db");
}

function openStore(file: string): Store {
  const store = openSqliteStore(file);
  cleanups.push(() => store.close());
  return store;
}

async function setup(
  options: {
    script?: ReceiverAction[];
    respond?: ReceiverOptions["respond"];
    webhook?: Partial<WebhookConfig>;
    clock?: Clock;
    random?: () => number;
    maxInFlight?: number;
    pollIntervalMs?: number;
    file?: string;
    receiver?: Receiver;
    logger?: ReturnType<typeof createLogger>;
  } = {},
): Promise<Harness> {
  const file = options.file ?? tempFile();
  const store = openStore(file);
  let receiver = options.receiver;
  if (!receiver) {
    const r = await startReceiver({ secret: SECRET, script: options.script, respond: options.respond });
    cleanups.push(() => r.close());
    receiver = r;
  }
  const webhooks = [makeWebhook(receiver.url, options.webhook)];
  const outcomes: Array<[string, DeliveryOutcome]> = [];
  const queue: Harness["queue"] = [];
  let rounds = 0;
  const service = createDeliveryService({
    store,
    getWebhooks: () => webhooks,
    clock: options.clock ?? systemClock,
    logger: options.logger ?? createSilentLogger(),
    random: options.random,
    version: "9.9.9-test",
    maxInFlight: options.maxInFlight,
    pollIntervalMs: options.pollIntervalMs ?? 200,
    onOutcome: (webhook, outcome) => outcomes.push([webhook, outcome]),
    onQueue: (webhook, depth, age) => {
      rounds++;
      queue.push({ webhook, depth, age });
    },
  });
  // Stop before the store closes (cleanups run last-in first-out).
  cleanups.push(() => service.stop(0));
  return {
    store,
    file,
    receiver,
    webhooks,
    service,
    outcomes,
    queue,
    nextRound: () => {
      const seen = rounds;
      service.wake();
      return waitUntil(() => rounds > seen, 10_000, "a delivery round");
    },
  };
}

function idsOf(receiver: Receiver): Array<string | undefined> {
  return receiver.requests.map((r) => r.id);
}

describe("delivery service", () => {
  it("delivers a committed event once, signed, with the event id as webhook-id", async () => {
    const h = await setup();
    const now = Date.now();
    commitEvents(h.store, [makeEvent("evt_a", "srv-a", now - 1000)], ["ops"], now);
    h.service.start();
    await waitUntil(() => deliveryOf(h.store, "evt_a").state === "delivered", 10_000, "delivered");

    const accepted = h.receiver.accepted();
    assert.equal(accepted.length, 1);
    const req = accepted[0];
    assert.equal(req?.id, "evt_a");
    assert.equal(req?.payload?.type, "image_server.status_changed");
    assert.equal(req?.payload?.timestamp, new Date(now - 1000).toISOString());
    assert.equal(req?.payload?.data.event_id, "evt_a");
    assert.equal(req?.headers["user-agent"], "imagewatch/9.9.9-test");
    assert.equal(deliveryOf(h.store, "evt_a").attempts, 1);
    assert.deepEqual(h.outcomes, [["ops", "delivered"]]);
    await h.nextRound();
    assert.deepEqual(h.queue.at(-1), { webhook: "ops", depth: 0, age: 0 });
  });

  const retryClasses: Array<{ name: string; action: ReceiverAction; error: RegExp }> = [
    { name: "network error (socket destroyed)", action: { destroy: true }, error: /^network error: / },
    { name: "timeout", action: { status: 200, delayMs: 2000 }, error: /^timeout after 300 ms$/ },
    { name: "HTTP 408", action: { status: 408 }, error: /^HTTP 408/ },
    { name: "HTTP 425", action: { status: 425 }, error: /^HTTP 425/ },
    { name: "HTTP 429", action: { status: 429 }, error: /^HTTP 429/ },
    { name: "HTTP 500", action: { status: 500, body: "internal" }, error: /^HTTP 500: internal$/ },
    { name: "HTTP 503", action: { status: 503 }, error: /^HTTP 503/ },
  ];
  for (const c of retryClasses) {
    it(`retries after ${c.name}, then delivers with the same id and body`, async () => {
      const errors: string[] = [];
      const h = await setup({ script: [c.action], webhook: { timeout: 300 } });
      const origMarkRetry = h.store.markRetry.bind(h.store);
      h.store.markRetry = (eventId, webhook, attempts, next, lastError, now) => {
        errors.push(lastError);
        origMarkRetry(eventId, webhook, attempts, next, lastError, now);
      };
      const now = Date.now();
      commitEvents(h.store, [makeEvent("evt_r", "srv-r", now)], ["ops"], now);
      h.service.start();
      await waitUntil(() => deliveryOf(h.store, "evt_r").state === "delivered", 10_000, "delivered");

      assert.equal(h.receiver.requests.length, 2);
      const [first, second] = h.receiver.requests;
      assert.equal(first?.id, "evt_r");
      assert.equal(second?.id, "evt_r");
      assert.equal(first?.body, second?.body);
      assert.ok(first?.verified && second?.verified, "both attempts are signed");
      assert.equal(deliveryOf(h.store, "evt_r").attempts, 2);
      assert.deepEqual(h.outcomes, [
        ["ops", "retried"],
        ["ops", "delivered"],
      ]);
      assert.equal(errors.length, 1);
      assert.match(errors[0] ?? "", c.error);
    });
  }

  it("honours Retry-After (seconds) on 429 and signs the next attempt with its own time", async () => {
    const clock = createManualClock(Date.now());
    const h = await setup({
      clock,
      random: () => 0.5,
      webhook: { retry: { minDelay: 1000, maxDelay: 10_000 }, maxAge: 3_600_000 },
      script: [{ status: 429, headers: { "retry-after": "120" } }],
    });
    const t0 = clock.now();
    commitEvents(h.store, [makeEvent("evt_ra", "srv-1", t0)], ["ops"], t0);
    h.service.start();
    await waitUntil(() => deliveryOf(h.store, "evt_ra").attempts === 1, 10_000, "first attempt");
    const d = deliveryOf(h.store, "evt_ra");
    assert.equal(d.state, "pending");
    assert.equal(d.nextAttemptAt, t0 + 120_000, "Retry-After beats the 10 s maxDelay and the 500 ms backoff");
    assert.match(d.lastError ?? "", /^HTTP 429/);

    // Not yet due: a round sends nothing.
    clock.advance(119_000);
    await h.nextRound();
    assert.equal(h.receiver.requests.length, 1);

    clock.advance(1000);
    await h.nextRound();
    await waitUntil(() => deliveryOf(h.store, "evt_ra").state === "delivered", 10_000, "delivered");
    const [first, second] = h.receiver.requests;
    assert.equal(
      Number(second?.headers["webhook-timestamp"]) - Number(first?.headers["webhook-timestamp"]),
      120,
    );
    assert.notEqual(first?.headers["webhook-signature"], second?.headers["webhook-signature"]);
    assert.equal(first?.body, second?.body);
  });

  it("honours Retry-After as an HTTP date on 503, and uses jittered backoff without it", async () => {
    const clock = createManualClock(Date.now());
    const retryAt = new Date(clock.now() + 90_000).toUTCString();
    const h = await setup({
      clock,
      random: () => 0.25,
      webhook: { retry: { minDelay: 4000, maxDelay: 60_000 }, maxAge: 3_600_000 },
      script: [{ status: 503, headers: { "retry-after": retryAt } }, { status: 500 }, { status: 500 }],
    });
    const t0 = clock.now();
    commitEvents(h.store, [makeEvent("evt_rd", "srv-1", t0)], ["ops"], t0);
    h.service.start();
    await waitUntil(() => deliveryOf(h.store, "evt_rd").attempts === 1, 10_000, "first attempt");
    assert.equal(deliveryOf(h.store, "evt_rd").nextAttemptAt, Date.parse(retryAt));

    clock.set(Date.parse(retryAt));
    await h.nextRound();
    await waitUntil(() => deliveryOf(h.store, "evt_rd").attempts === 2, 10_000, "second attempt");
    // attempts = 2 → ceiling minDelay * 2 = 8000; random 0.25 → 2000.
    assert.equal(deliveryOf(h.store, "evt_rd").nextAttemptAt, clock.now() + 2000);

    clock.advance(2000);
    await h.nextRound();
    await waitUntil(() => deliveryOf(h.store, "evt_rd").attempts === 3, 10_000, "third attempt");
    // attempts = 3 → ceiling 16000; random 0.25 → 4000.
    assert.equal(deliveryOf(h.store, "evt_rd").nextAttemptAt, clock.now() + 4000);
  });

  it("keeps per-server order through a receiver outage, without blocking other servers", async () => {
    let a1Failures = 0;
    const h = await setup({
      respond: (req) => {
        if (req.id === "evt_A1" && a1Failures < 3) {
          a1Failures++;
          return a1Failures === 3 ? { destroy: true } : { status: 503 };
        }
        return { status: 200 };
      },
      webhook: { retry: { minDelay: 40, maxDelay: 80 } },
    });
    const now = Date.now();
    commitEvents(
      h.store,
      [
        makeEvent("evt_A1", "srv-A", now),
        makeEvent("evt_A2", "srv-A", now),
        makeEvent("evt_B1", "srv-B", now),
      ],
      ["ops"],
      now,
    );
    h.service.start();
    await waitUntil(() => deliveryOf(h.store, "evt_A2").state === "delivered", 10_000, "A2 delivered");

    const ids = idsOf(h.receiver);
    const acceptedIds = h.receiver.accepted().map((r) => r.id);
    assert.deepEqual(
      acceptedIds.filter((id) => id !== "evt_B1"),
      ["evt_A1", "evt_A2"],
    );
    const a1Accepted = h.receiver.accepted().find((r) => r.id === "evt_A1")?.index ?? -1;
    assert.ok(ids.indexOf("evt_A2") > a1Accepted, `A2 first sent after A1 was accepted: ${ids.join(",")}`);
    // B1 went through during the outage of A1.
    assert.ok(ids.indexOf("evt_B1") < a1Accepted, `B1 not blocked by A1: ${ids.join(",")}`);
    assert.equal(ids.filter((id) => id === "evt_A1").length, 4);
    assert.equal(ids.filter((id) => id === "evt_A2").length, 1);
    assert.equal(deliveryOf(h.store, "evt_B1").attempts, 1);
  });

  it("dead-letters once the next attempt would fall after maxAge", async () => {
    const clock = createManualClock(Date.now());
    const h = await setup({
      clock,
      random: () => 0.99,
      webhook: { retry: { minDelay: 1000, maxDelay: 60_000 }, maxAge: 1000 },
      respond: () => ({ status: 503, body: "maintenance" }),
    });
    const t0 = clock.now();
    commitEvents(h.store, [makeEvent("evt_old", "srv-1", t0)], ["ops"], t0);
    h.service.start();
    await waitUntil(() => deliveryOf(h.store, "evt_old").attempts === 1, 10_000, "first attempt");
    assert.equal(deliveryOf(h.store, "evt_old").nextAttemptAt, t0 + 990);

    clock.advance(990);
    await h.nextRound();
    await waitUntil(() => deliveryOf(h.store, "evt_old").state === "dead", 10_000, "dead");
    const d = deliveryOf(h.store, "evt_old");
    assert.equal(d.attempts, 2);
    assert.equal(d.lastError, "max age exceeded: HTTP 503: maintenance");
    assert.deepEqual(
      h.outcomes.map(([, o]) => o),
      ["retried", "dead"],
    );
  });

  it("dead-letters at once on 400 and 404, and a replay from another connection is delivered", async () => {
    const h = await setup({
      respond: (req) =>
        req.id === "evt_400" ? { status: 400, body: "bad payload" } : { status: 404, body: "no such hook" },
      pollIntervalMs: 100,
    });
    const now = Date.now();
    commitEvents(
      h.store,
      [makeEvent("evt_400", "srv-1", now), makeEvent("evt_404", "srv-2", now)],
      ["ops"],
      now,
    );
    h.service.start();
    await waitUntil(
      () =>
        deliveryOf(h.store, "evt_400").state === "dead" && deliveryOf(h.store, "evt_404").state === "dead",
      10_000,
      "both dead",
    );
    assert.equal(deliveryOf(h.store, "evt_400").lastError, "rejected: HTTP 400: bad payload");
    assert.equal(deliveryOf(h.store, "evt_404").lastError, "rejected: HTTP 404: no such hook");
    assert.equal(deliveryOf(h.store, "evt_404").attempts, 1);
    await h.nextRound();
    assert.equal(h.receiver.requests.length, 2, "no retry of a rejected delivery");

    // The receiver is fixed; `events replay` runs in another process: another connection to the file.
    h.receiver.setResponder(() => ({ status: 204 }));
    const other = openSqliteStore(h.file);
    try {
      assert.equal(other.requeue("evt_404", Date.now()), 1);
    } finally {
      other.close();
    }
    // No wake(): the service must notice within its poll interval.
    await waitUntil(() => deliveryOf(h.store, "evt_404").state === "delivered", 10_000, "replayed delivery");
    const replayed = h.receiver.accepted();
    assert.equal(replayed.length, 1);
    assert.equal(replayed[0]?.id, "evt_404");
    assert.equal(deliveryOf(h.store, "evt_404").attempts, 1);
    assert.equal(deliveryOf(h.store, "evt_400").state, "dead");
  });

  it("keeps at most maxInFlight attempts open per webhook", async () => {
    const h = await setup({ respond: () => ({ status: 200, hold: true }), maxInFlight: 2 });
    const now = Date.now();
    const ids = ["evt_1", "evt_2", "evt_3", "evt_4", "evt_5"];
    commitEvents(
      h.store,
      ids.map((id, i) => makeEvent(id, `srv-${i}`, now)),
      ["ops"],
      now,
    );
    h.service.start();
    await waitUntil(() => h.receiver.open() === 2, 10_000, "two requests held");
    await h.nextRound();
    await h.nextRound();
    assert.equal(h.receiver.requests.length, 2);
    assert.equal(h.service.inFlight().get("ops"), 2);

    await waitUntil(
      () => {
        h.receiver.release();
        return ids.every((id) => deliveryOf(h.store, id).state === "delivered");
      },
      10_000,
      "all delivered",
    );
    assert.equal(h.receiver.maxOpen(), 2);
    assert.equal(h.receiver.requests.length, 5);
  });

  it("stop() waits for an attempt that finishes within the grace", async () => {
    const h = await setup({ script: [{ status: 200, delayMs: 150 }] });
    const now = Date.now();
    commitEvents(h.store, [makeEvent("evt_g", "srv-1", now)], ["ops"], now);
    h.service.start();
    await waitUntil(() => h.receiver.open() === 1, 10_000, "request open");
    await h.service.stop(10_000);
    assert.equal(deliveryOf(h.store, "evt_g").state, "delivered");
  });

  it("stop() mid-attempt aborts it and leaves the row pending; a new service delivers it", async () => {
    const h = await setup({ script: [{ status: 200, hold: true }] });
    const now = Date.now();
    commitEvents(h.store, [makeEvent("evt_s", "srv-1", now)], ["ops"], now);
    h.service.start();
    await waitUntil(() => h.receiver.open() === 1, 10_000, "request held");
    await h.service.stop(50);
    const d = deliveryOf(h.store, "evt_s");
    assert.equal(d.state, "pending");
    assert.equal(d.attempts, 0, "an aborted attempt is not counted");
    assert.deepEqual(h.outcomes, []);
    assert.deepEqual([...h.service.inFlight()], []);

    const again = await setup({ file: h.file, receiver: h.receiver });
    again.service.start();
    await waitUntil(
      () => deliveryOf(again.store, "evt_s").state === "delivered",
      10_000,
      "delivered after restart",
    );
    assert.deepEqual(
      h.receiver.accepted().map((r) => r.id),
      ["evt_s"],
    );
  });

  it("loses nothing when abandoned mid-retry: a new store and service on the file deliver with the same id", async () => {
    let attempts = 0;
    const receiver = await startReceiver({
      secret: SECRET,
      respond: () => {
        attempts++;
        // 1st: refused; 2nd (the retry): hangs, as when the daemon dies mid-attempt; then accepted.
        if (attempts === 1) return { status: 503 };
        if (attempts === 2) return { status: 200, hold: true };
        return { status: 200 };
      },
    });
    cleanups.push(() => receiver.close());
    const file = tempFile();
    const first = await setup({ file, receiver });
    const now = Date.now();
    commitEvents(first.store, [makeEvent("evt_k", "srv-1", now)], ["ops"], now);
    first.service.start();
    await waitUntil(() => receiver.open() === 1, 10_000, "the retry is in flight");
    assert.equal(deliveryOf(first.store, "evt_k").attempts, 1);
    // The process dies: its attempt never completes and its connection goes away.
    await first.service.stop(0);
    first.store.close();

    const second = await setup({ file, receiver });
    const pending = deliveryOf(second.store, "evt_k");
    assert.equal(pending.state, "pending");
    second.service.start();
    await waitUntil(
      () => deliveryOf(second.store, "evt_k").state === "delivered",
      10_000,
      "delivered after restart",
    );
    assert.deepEqual(
      receiver.requests.map((r) => r.id),
      ["evt_k", "evt_k", "evt_k"],
    );
    const bodies = new Set(receiver.requests.map((r) => r.body));
    assert.equal(bodies.size, 1, "the same body on every attempt");
    assert.equal(deliveryOf(second.store, "evt_k").attempts, 2);
  });

  it("follows config reloads: a removed webhook's rows stay pending, a new one gets its own", async () => {
    const h = await setup();
    const now = Date.now();
    h.webhooks.push(makeWebhook(h.receiver.url, { name: "audit" }));
    const removed = h.webhooks.splice(0, 1);
    assert.equal(removed[0]?.name, "ops");
    commitEvents(h.store, [makeEvent("evt_w", "srv-1", now)], ["ops", "audit"], now);
    h.service.start();
    await waitUntil(
      () => deliveryOf(h.store, "evt_w", "audit").state === "delivered",
      10_000,
      "audit delivered",
    );
    await h.nextRound();
    assert.equal(deliveryOf(h.store, "evt_w", "ops").state, "pending");
    const opsQueue = h.queue.filter((q) => q.webhook === "ops").at(-1);
    assert.equal(opsQueue?.depth, 1, "the removed webhook's backlog is still reported");
  });

  it("dead-letters a delivery it cannot build, with the reason", async () => {
    const h = await setup({ webhook: { secret: undefined } });
    const now = Date.now();
    commitEvents(h.store, [makeEvent("evt_nosecret", "srv-1", now)], ["ops"], now);
    h.service.start();
    await waitUntil(() => deliveryOf(h.store, "evt_nosecret").state === "dead", 10_000, "dead");
    assert.match(deliveryOf(h.store, "evt_nosecret").lastError ?? "", /needs a secret/);
    assert.equal(h.receiver.requests.length, 0);
  });

  it("chat formats: a 200 carrying a platform error code is retried (rate limit) or dead-lettered", async () => {
    const receiver = await startReceiver({
      respond: (req) => {
        const text = String((JSON.parse(req.body) as { text?: { content?: string } }).text?.content);
        if (text.includes("srv-limit")) {
          const limited = receiver.requests.filter((r) => r.body.includes("srv-limit")).length === 1;
          return {
            status: 200,
            body: limited ? '{"errcode":130101,"errmsg":"send too fast"}' : '{"errcode":0}',
          };
        }
        return { status: 200, body: '{"errcode":310000,"errmsg":"keywords not in content"}' };
      },
    });
    cleanups.push(() => receiver.close());
    // One event per request here: this is about classifying each answer (digests: delivery-digest.test.ts).
    const h = await setup({
      receiver,
      webhook: { format: "dingtalk", secret: "SECx", group: { wait: 0, max: 1 } },
    });
    const now = Date.now();
    commitEvents(
      h.store,
      [makeEvent("evt_limit", "srv-limit", now), makeEvent("evt_kw", "srv-kw", now)],
      ["ops"],
      now,
    );
    h.service.start();
    await waitUntil(
      () =>
        deliveryOf(h.store, "evt_limit").state === "delivered" &&
        deliveryOf(h.store, "evt_kw").state === "dead",
      10_000,
      "outcomes",
    );
    assert.equal(deliveryOf(h.store, "evt_limit").attempts, 2);
    assert.equal(
      deliveryOf(h.store, "evt_kw").lastError,
      "rejected: dingtalk error 310000: keywords not in content",
    );
    const signed = new URL(receiver.requests[0]?.url ?? "", receiver.url);
    assert.ok(signed.searchParams.get("sign"), "the DingTalk URL is signed");
    assert.ok(signed.searchParams.get("timestamp"));
  });

  it("never logs the secret, the signature or a static header's value", async () => {
    const lines: string[] = [];
    const logger = createLogger({ level: "trace", format: "json" }, { write: (s: string) => lines.push(s) });
    const h = await setup({
      logger,
      script: [{ status: 500 }],
      webhook: { headers: { authorization: "Bearer static-token-123" } },
    });
    const now = Date.now();
    commitEvents(h.store, [makeEvent("evt_log", "srv-1", now)], ["ops"], now);
    h.service.start();
    await waitUntil(() => deliveryOf(h.store, "evt_log").state === "delivered", 10_000, "delivered");
    const text = lines.join("");
    assert.match(text, /webhook delivered/);
    assert.match(text, /will retry/);
    assert.ok(text.includes('"eventId":"evt_log"'));
    const signatures = h.receiver.requests.map((r) => String(r.headers["webhook-signature"]).slice(3));
    for (const secret of [SECRET, SECRET.slice(6), "static-token-123", ...signatures]) {
      assert.ok(!text.includes(secret), "a secret leaked into the logs");
    }
  });
});

describe("delivery service timer", () => {
  it("wakes on its own when a retry falls due, even while a later event of the server waits", async () => {
    const h = await setup({
      random: () => 0.99,
      webhook: { retry: { minDelay: 300, maxDelay: 300 } },
      script: [{ status: 503 }],
      pollIntervalMs: 60_000,
    });
    const now = Date.now();
    commitEvents(
      h.store,
      [makeEvent("evt_t1", "srv-1", now), makeEvent("evt_t2", "srv-1", now)],
      ["ops"],
      now,
    );
    h.service.start();
    // With a one-minute poll interval only the timer armed for the retry can deliver these in time.
    await waitUntil(
      () =>
        deliveryOf(h.store, "evt_t1").state === "delivered" &&
        deliveryOf(h.store, "evt_t2").state === "delivered",
      10_000,
      "both delivered",
    );
    assert.deepEqual(idsOf(h.receiver), ["evt_t1", "evt_t1", "evt_t2"]);
  });
});
