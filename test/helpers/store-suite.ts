/**
 * The one store test suite (STYLE rule 10): every scenario is written against the `Store` interface
 * and runs on every implementation and configuration (`runStoreSuite`).
 */
import assert from "node:assert/strict";
import { afterEach, beforeEach, describe, it } from "node:test";
import type { JobRecord } from "../../src/domain/observe-jobs.js";
import type { DomainEvent, EventType, ServerState } from "../../src/domain/types.js";
import { AppError } from "../../src/lib/errors.js";
import type { PollCommit, Store } from "../../src/store/types.js";

const T0 = Date.parse("2026-11-27T10:00:00.000Z");

/** A complete server state, with nested lastError and server object, overridable per test. */
export function makeServerState(overrides: Partial<ServerState> = {}): ServerState {
  const projectId = overrides.projectId ?? "proj-1";
  const serverId = overrides.serverId ?? "srv-1";
  return {
    projectId,
    serverId,
    name: `name-${serverId}`,
    status: "BUILDING",
    statusSince: T0 - 60_000,
    present: true,
    stuck: false,
    stuckNotifiedAt: null,
    stuckCount: 0,
    consecutiveFailures: 2,
    pollFailedNotified: false,
    lastPollAt: T0,
    lastPollOk: false,
    lastSuccessAt: T0 - 30_000,
    lastError: {
      kind: "http_5xx",
      http_status: 503,
      error_code: "WKS.0001",
      error_msg: "busy",
      request_id: "r-1",
    },
    server: {
      id: serverId,
      name: `name-${serverId}`,
      status: "BUILDING",
      updateTime: T0 - 60_000,
      createTime: T0 - 3_600_000,
      imageId: "",
      imageType: "gold",
      serverGroupId: "sg-1",
      appGroupId: "ag-1",
      apsServerId: "aps-1",
      instanceId: "ecs-1",
      raw: {
        id: serverId,
        status: "BUILDING",
        image_ref: { image_type: "gold" },
        tags: ["a", 1, null],
        x: 1.5,
      },
    },
    ...overrides,
  };
}

/** An event of `serverId` (project `proj-1` unless given). */
export function makeEvent(
  id: string,
  serverId: string,
  opts: { projectId?: string; occurredAt?: number; type?: EventType } = {},
): DomainEvent {
  const projectId = opts.projectId ?? "proj-1";
  return {
    id,
    type: opts.type ?? "image_server.status_changed",
    occurredAt: opts.occurredAt ?? T0,
    projectId,
    serverId,
    data: {
      event_id: id,
      project_id: projectId,
      server_id: serverId,
      name: `name-${serverId}`,
      status: "ACTIVE",
      previous_status: "BUILDING",
      previous_status_duration_seconds: 3000,
      image_server: { id: serverId, nested: { deep: [1, "two"] } },
    },
  };
}

/** A job record of project `p1` (a RUNNING build unless overridden; handled once finished). */
export function makeJobRecord(jobId: string, overrides: Partial<JobRecord> = {}): JobRecord {
  const status = overrides.status ?? "RUNNING";
  return {
    projectId: "p1",
    jobId,
    jobType: "CREATE_SERVER_IMAGE",
    status,
    beginTime: T0,
    endTime: null,
    serverId: "",
    name: "",
    resources: [],
    subJobsSeen: true,
    failures: [],
    outcomeHandled: status !== "RUNNING" && status !== "WAITING",
    stuckCount: 0,
    firstSeenAt: T0,
    ...overrides,
  };
}

/** A poll commit of `events`, each with one delivery per webhook in `webhooks`. */
export function commitOf(
  events: DomainEvent[],
  webhooks: string[],
  now = T0,
  servers: ServerState[] = [],
): PollCommit {
  return {
    servers,
    events,
    deliveries: events.flatMap((e) => webhooks.map((webhook) => ({ eventId: e.id, webhook }))),
    now,
  };
}

function dueIds(store: Store, webhook: string, now: number, limit = 100, exclude?: ReadonlySet<string>) {
  return store.dueDeliveries(webhook, now, limit, exclude).map((d) => d.event.id);
}

function deliveryOf(store: Store, eventId: string, webhook: string) {
  const ev = store.listEvents(10_000).find((e) => e.id === eventId);
  return ev?.deliveries.find((d) => d.webhook === webhook);
}

/** Runs every store scenario against stores made by `makeStore` (a fresh, empty store per test). */
export function runStoreSuite(name: string, makeStore: () => Store): void {
  describe(`Store contract: ${name}`, () => {
    let store: Store;
    beforeEach(() => {
      store = makeStore();
    });
    afterEach(() => {
      store.close();
    });

    describe("servers", () => {
      it("returns exactly the saved states, nested fields included", () => {
        const a = makeServerState({ serverId: "a" });
        const b = makeServerState({
          serverId: "b",
          projectId: "proj-2",
          status: null,
          lastError: null,
          server: null,
          lastPollOk: null,
          lastPollAt: null,
          lastSuccessAt: null,
          stuck: true,
          stuckNotifiedAt: T0,
          stuckCount: 3,
          present: false,
          pollFailedNotified: true,
        });
        store.commitPoll({ servers: [a, b], events: [], deliveries: [], now: T0 });
        const loaded = store.loadServers();
        const byKey = new Map(loaded.map((s) => [`${s.projectId}/${s.serverId}`, s]));
        assert.equal(loaded.length, 2);
        assert.deepEqual(byKey.get("proj-1/a"), a);
        assert.deepEqual(byKey.get("proj-2/b"), b);
      });

      it("upserts by (projectId, serverId): a later commit replaces the state", () => {
        store.commitPoll({ servers: [makeServerState()], events: [], deliveries: [], now: T0 });
        const next = makeServerState({ status: "ACTIVE", consecutiveFailures: 0, lastError: null });
        const sameIdOtherProject = makeServerState({ projectId: "proj-9" });
        store.commitPoll({ servers: [next, sameIdOtherProject], events: [], deliveries: [], now: T0 + 1 });
        const loaded = store.loadServers();
        assert.equal(loaded.length, 2);
        assert.deepEqual(
          loaded.find((s) => s.projectId === "proj-1"),
          next,
        );
      });

      it("deletes server states by key and keeps their events", () => {
        const a = makeServerState({ serverId: "a" });
        const b = makeServerState({ serverId: "b" });
        const ev = makeEvent("evt_a", "a");
        store.commitPoll({ servers: [a, b], events: [ev], deliveries: [], now: T0 });
        const n = store.deleteServers([
          { projectId: "proj-1", serverId: "a" },
          { projectId: "proj-1", serverId: "missing" },
        ]);
        assert.equal(n, 1);
        assert.deepEqual(
          store.loadServers().map((s) => s.serverId),
          ["b"],
        );
        assert.equal(store.listEvents(10).length, 1, "events stay");
      });

      it("starts empty", () => {
        assert.deepEqual(store.loadServers(), []);
        assert.deepEqual(store.listEvents(10), []);
        assert.equal(store.queueStats().size, 0);
        assert.equal(store.nextDueAt("w1"), null);
      });
    });

    describe("commitPoll", () => {
      it("returns the ids newly inserted and creates their deliveries as pending, due at commit time", () => {
        const ids = store.commitPoll(
          commitOf([makeEvent("e1", "a"), makeEvent("e2", "b")], ["w1", "w2"], T0, [makeServerState()]),
        );
        assert.deepEqual(ids, ["e1", "e2"]);
        const d = deliveryOf(store, "e1", "w2");
        assert.deepEqual(d, {
          eventId: "e1",
          webhook: "w2",
          state: "pending",
          attempts: 0,
          nextAttemptAt: T0,
          lastError: null,
          createdAt: T0,
          updatedAt: T0,
        });
        assert.equal(store.nextDueAt("w1"), T0);
      });

      it("ignores an event id already stored, and does not re-create or reset its deliveries", () => {
        store.commitPoll(commitOf([makeEvent("e1", "a")], ["w1"]));
        store.markDelivered("e1", "w1", 1, T0 + 10);
        const again = store.commitPoll(
          commitOf([makeEvent("e1", "a"), makeEvent("e2", "a")], ["w1", "w2"], T0 + 20),
        );
        assert.deepEqual(again, ["e2"]);
        const e1 = store.listEvents(10).find((e) => e.id === "e1");
        assert.deepEqual(
          e1?.deliveries.map((d) => [d.webhook, d.state]),
          [["w1", "delivered"]],
        );
        assert.equal(store.listEvents(10).length, 2);
      });

      it("stores a delivery pair repeated within one commit once", () => {
        const commit = commitOf([makeEvent("e1", "a")], ["w1", "w1", "w2"]);
        assert.equal(commit.deliveries.length, 3);
        store.commitPoll(commit);
        assert.deepEqual(
          store.listEvents(1)[0]?.deliveries.map((d) => d.webhook),
          ["w1", "w2"],
        );
      });

      it("stores an id repeated within one commit once", () => {
        const ids = store.commitPoll(commitOf([makeEvent("e1", "a"), makeEvent("e1", "a")], ["w1"]));
        assert.deepEqual(ids, ["e1"]);
        assert.equal(store.listEvents(10).length, 1);
        assert.equal(store.queueStats().get("w1")?.depth, 1);
      });

      const failures: Array<{ name: string; commit: () => PollCommit }> = [
        {
          name: "a delivery row missing its webhook (after servers and events were written)",
          commit: () => ({
            ...commitOf([makeEvent("e1", "a"), makeEvent("e2", "b")], ["w1"], T0, [makeServerState()]),
            deliveries: [
              { eventId: "e1", webhook: "w1" },
              { eventId: "e2", webhook: null as unknown as string },
            ],
          }),
        },
        {
          name: "a server row missing its project id (after a first server was written)",
          commit: () =>
            commitOf([makeEvent("e1", "a")], ["w1"], T0, [
              makeServerState({ serverId: "ok" }),
              makeServerState({ serverId: "bad", projectId: null as unknown as string }),
            ]),
        },
        {
          name: "an event missing its type (never silently skipped)",
          commit: () =>
            commitOf(
              [makeEvent("e1", "a"), { ...makeEvent("e2", "b"), type: null as unknown as EventType }],
              ["w1"],
              T0,
              [makeServerState()],
            ),
        },
      ];
      for (const f of failures) {
        it(`writes nothing of a poll that fails midway: ${f.name}`, () => {
          const before = makeServerState({ serverId: "ok", status: "CREATING" });
          store.commitPoll(commitOf([makeEvent("e0", "z")], ["w1"], T0 - 1, [before]));

          assert.throws(() => store.commitPoll(f.commit()), AppError);

          assert.deepEqual(
            store.listEvents(10).map((e) => e.id),
            ["e0"],
          );
          assert.deepEqual(store.loadServers(), [before]);
          assert.equal(store.queueStats().get("w1")?.depth, 1);
          // The store is still usable, and the same poll can be committed once fixed.
          assert.deepEqual(store.commitPoll(commitOf([makeEvent("e1", "a")], ["w1"])), ["e1"]);
        });
      }
    });

    describe("values that cannot be serialised", () => {
      it("stores a placeholder for that field only; the rest of the poll is saved", () => {
        // 100,000 levels: JSON.stringify alone throws "Maximum call stack size exceeded".
        const root: Record<string, unknown> = {};
        let node = root;
        for (let i = 0; i < 100_000; i++) {
          const child: Record<string, unknown> = {};
          node.a = child;
          node = child;
        }
        const plain = makeServerState({ serverId: "plain" });
        const base = makeServerState({ serverId: "deep" });
        const deepServer = base.server === null ? null : { ...base.server, raw: { id: "deep", nest: root } };
        const deep = { ...base, server: deepServer };
        const bigintEvent = { ...makeEvent("e2", "deep"), data: { ...makeEvent("e2", "deep").data, n: 1n } };

        const ids = store.commitPoll(
          commitOf([makeEvent("e1", "plain"), bigintEvent], ["w1"], T0, [plain, deep]),
        );

        assert.deepEqual(ids, ["e1", "e2"]);
        const loaded = new Map(store.loadServers().map((s) => [s.serverId, s]));
        assert.deepEqual(loaded.get("plain"), plain);
        const stored = loaded.get("deep");
        assert.ok(stored?.server);
        // Everything but the too-deep part is kept as it was.
        assert.deepEqual({ ...stored, server: null }, { ...deep, server: null });
        assert.equal(stored.server.status, "BUILDING");
        let level: unknown = (stored.server.raw as { nest: unknown }).nest;
        let depth = 0;
        while (typeof level === "object" && level !== null && "a" in level) {
          level = (level as { a: unknown }).a;
          depth += 1;
        }
        assert.ok(depth > 100 && depth < 100_000, `kept ${depth} levels`);
        assert.deepEqual(level, { _imagewatch: "unserialisable", reason: "nested deeper than 200 levels" });
        const e2 = store.listEvents(10).find((e) => e.id === "e2");
        assert.deepEqual(e2?.data, {
          ...makeEvent("e2", "deep").data,
          n: { _imagewatch: "unserialisable", reason: "a bigint" },
        });
        assert.deepEqual(dueIds(store, "w1", T0), ["e1", "e2"]);
      });
    });

    describe("dueDeliveries", () => {
      it("returns due deliveries oldest commit first, with their events, at most `limit`", () => {
        store.commitPoll(commitOf([makeEvent("a1", "A")], ["w1"], T0));
        store.commitPoll(commitOf([makeEvent("b1", "B"), makeEvent("c1", "C")], ["w1"], T0 + 5));
        const due = store.dueDeliveries("w1", T0 + 5, 2);
        assert.deepEqual(
          due.map((d) => d.event.id),
          ["a1", "b1"],
        );
        const first = due[0];
        assert.ok(first);
        assert.deepEqual({ ...first.event, seq: 0 }, { ...makeEvent("a1", "A"), seq: 0 });
        assert.ok((due[1]?.event.seq ?? 0) > first.event.seq);
        assert.equal(first.delivery.webhook, "w1");
        assert.equal(first.delivery.state, "pending");
        assert.deepEqual(dueIds(store, "w1", T0 + 5), ["a1", "b1", "c1"]);
        assert.deepEqual(dueIds(store, "w1", T0 + 5, 0), []);
      });

      it("returns nothing not yet due, and nothing of another webhook", () => {
        store.commitPoll(commitOf([makeEvent("a1", "A")], ["w1"], T0));
        assert.deepEqual(dueIds(store, "w1", T0 - 1), []);
        assert.deepEqual(dueIds(store, "w2", T0 + 1), []);
      });

      it("keeps per-server order: a server's second event waits for its first; other servers proceed", () => {
        store.commitPoll(
          commitOf([makeEvent("a1", "A"), makeEvent("b1", "B"), makeEvent("a2", "A")], ["w1"]),
        );
        assert.deepEqual(dueIds(store, "w1", T0), ["a1", "b1"]);

        // a1 backs off: still pending, so a2 keeps waiting even though a2 is due.
        store.markRetry("a1", "w1", 1, T0 + 60_000, "HTTP 503", T0);
        assert.deepEqual(dueIds(store, "w1", T0 + 1), ["b1"]);
        assert.deepEqual(dueIds(store, "w1", T0 + 60_000), ["a1", "b1"]);

        store.markDelivered("a1", "w1", 2, T0 + 60_001);
        assert.deepEqual(dueIds(store, "w1", T0 + 60_001), ["b1", "a2"]);
      });

      it("the same server in another project is another server", () => {
        store.commitPoll(
          commitOf([makeEvent("p1", "A"), makeEvent("q1", "A", { projectId: "proj-2" })], ["w1"]),
        );
        assert.deepEqual(dueIds(store, "w1", T0), ["p1", "q1"]);
      });

      it("a dead-lettered first event unblocks the next one of its server", () => {
        store.commitPoll(commitOf([makeEvent("a1", "A"), makeEvent("a2", "A")], ["w1"]));
        assert.deepEqual(dueIds(store, "w1", T0), ["a1"]);
        store.markDead("a1", "w1", 1, "HTTP 400", T0 + 1);
        assert.deepEqual(dueIds(store, "w1", T0 + 1), ["a2"]);
      });

      it("orders per webhook: a first event delivered to w1 but pending for w2 blocks only on w2", () => {
        store.commitPoll(commitOf([makeEvent("a1", "A"), makeEvent("a2", "A")], ["w1", "w2"]));
        store.markDelivered("a1", "w1", 1, T0 + 1);
        assert.deepEqual(dueIds(store, "w1", T0 + 1), ["a2"]);
        assert.deepEqual(dueIds(store, "w2", T0 + 1), ["a1"]);
      });

      it("skips excluded (in-flight) deliveries, which still block later ones of their server", () => {
        store.commitPoll(
          commitOf([makeEvent("a1", "A"), makeEvent("a2", "A"), makeEvent("b1", "B")], ["w1"]),
        );
        assert.deepEqual(dueIds(store, "w1", T0, 100, new Set(["a1"])), ["b1"]);
        assert.deepEqual(dueIds(store, "w1", T0, 100, new Set(["a1", "b1"])), []);
        assert.deepEqual(dueIds(store, "w1", T0, 100, new Set()), ["a1", "b1"]);
      });

      it("with 11,000 pending deliveries, returns each server's first one, skipping those in flight", () => {
        // How fast the query is depends on the implementation (the SQLite tests check its plan uses indexes
        // only); this pins what it returns at that size.
        const events: DomainEvent[] = [];
        // 1,000 servers × 10 events, plus one server with a long backlog of 1,000.
        for (let i = 0; i < 10; i++) {
          for (let s = 0; s < 1000; s++) events.push(makeEvent(`e-${s}-${i}`, `s${s}`));
        }
        for (let i = 0; i < 1000; i++) events.push(makeEvent(`long-${i}`, "long"));
        store.commitPoll(commitOf(events, ["w1"]));
        assert.equal(store.queueStats().get("w1")?.depth, 11_000);

        const inFlight = new Set(Array.from({ length: 50 }, (_, s) => `e-${s}-0`));
        const due = store.dueDeliveries("w1", T0, 100, inFlight);
        const all = store.dueDeliveries("w1", T0, 10_000);

        assert.equal(due.length, 100);
        assert.deepEqual(due[0]?.event.id, "e-50-0");
        assert.ok(due.every((d) => d.event.id.endsWith("-0")));
        assert.equal(all.length, 1001); // the first event of each server
        assert.equal(all.filter((d) => d.event.serverId === "long").length, 1);
      });
    });

    describe("delivery transitions", () => {
      it("retry keeps it pending with the new attempt count, due time and error", () => {
        store.commitPoll(commitOf([makeEvent("e1", "a")], ["w1"]));
        store.markRetry("e1", "w1", 1, T0 + 2000, "HTTP 503", T0 + 1);
        assert.deepEqual(deliveryOf(store, "e1", "w1"), {
          eventId: "e1",
          webhook: "w1",
          state: "pending",
          attempts: 1,
          nextAttemptAt: T0 + 2000,
          lastError: "HTTP 503",
          createdAt: T0,
          updatedAt: T0 + 1,
        });
        assert.equal(store.nextDueAt("w1"), T0 + 2000);
      });

      it("delivered and dead leave the queue", () => {
        store.commitPoll(commitOf([makeEvent("e1", "a"), makeEvent("e2", "b")], ["w1"]));
        store.markDelivered("e1", "w1", 1, T0 + 1);
        store.markDead("e2", "w1", 3, "HTTP 410", T0 + 2);
        const e1 = deliveryOf(store, "e1", "w1");
        const e2 = deliveryOf(store, "e2", "w1");
        assert.equal(e1?.state, "delivered");
        assert.equal(e1?.attempts, 1);
        assert.equal(e1?.updatedAt, T0 + 1);
        assert.equal(e2?.state, "dead");
        assert.equal(e2?.attempts, 3);
        assert.equal(e2?.lastError, "HTTP 410");
        assert.deepEqual(dueIds(store, "w1", T0 + 10), []);
        assert.equal(store.nextDueAt("w1"), null);
        assert.deepEqual(store.queueStats().get("w1"), { depth: 0, oldestCreatedAt: null });
      });
    });

    describe("requeue", () => {
      it("re-queues dead and delivered deliveries as new: attempts reset, due now", () => {
        store.commitPoll(commitOf([makeEvent("e1", "a")], ["w1", "w2"]));
        store.markDead("e1", "w1", 5, "HTTP 404", T0 + 1);
        store.markDelivered("e1", "w2", 1, T0 + 2);
        const now = T0 + 86_400_000;
        assert.equal(store.requeue("e1", now), 2);
        for (const w of ["w1", "w2"]) {
          assert.deepEqual(deliveryOf(store, "e1", w), {
            eventId: "e1",
            webhook: w,
            state: "pending",
            attempts: 0,
            nextAttemptAt: now,
            lastError: null,
            createdAt: now,
            updatedAt: now,
          });
          assert.deepEqual(dueIds(store, w, now), ["e1"]);
        }
      });

      it("with a webhook, re-queues only that one", () => {
        store.commitPoll(commitOf([makeEvent("e1", "a")], ["w1", "w2"]));
        store.markDead("e1", "w1", 5, "HTTP 404", T0 + 1);
        store.markDead("e1", "w2", 5, "HTTP 404", T0 + 1);
        assert.equal(store.requeue("e1", T0 + 5, "w2"), 1);
        assert.equal(deliveryOf(store, "e1", "w1")?.state, "dead");
        assert.equal(deliveryOf(store, "e1", "w2")?.state, "pending");
        assert.equal(store.requeue("e1", T0 + 5, "w-unknown"), 0);
      });

      it("makes a pending delivery due now without resetting it", () => {
        store.commitPoll(commitOf([makeEvent("e1", "a")], ["w1"]));
        store.markRetry("e1", "w1", 2, T0 + 600_000, "HTTP 503", T0 + 1);
        assert.equal(store.requeue("e1", T0 + 10), 1);
        const d = deliveryOf(store, "e1", "w1");
        assert.equal(d?.state, "pending");
        assert.equal(d?.attempts, 2);
        assert.equal(d?.lastError, "HTTP 503");
        assert.equal(d?.nextAttemptAt, T0 + 10);
        assert.equal(d?.createdAt, T0);
      });

      it("returns 0 for an unknown event", () => {
        assert.equal(store.requeue("evt_nope", T0), 0);
      });
    });

    it("queueStats: pending depth and oldest createdAt per webhook; 0 when drained", () => {
      store.commitPoll(commitOf([makeEvent("e1", "a")], ["w1", "w2"], T0 + 100));
      store.commitPoll(commitOf([makeEvent("e2", "b"), makeEvent("e3", "c")], ["w1"], T0 + 200));
      store.markDelivered("e1", "w1", 1, T0 + 300);
      store.markDead("e1", "w2", 1, "HTTP 400", T0 + 300);
      store.markRetry("e3", "w1", 1, T0 + 900, "timeout", T0 + 300);
      const stats = store.queueStats();
      assert.deepEqual(
        [...stats.entries()].sort(([a], [b]) => a.localeCompare(b)),
        [
          ["w1", { depth: 2, oldestCreatedAt: T0 + 200 }],
          ["w2", { depth: 0, oldestCreatedAt: null }],
        ],
      );
    });

    it("listEvents: newest first, at most `limit`, each with all its deliveries", () => {
      store.commitPoll(commitOf([makeEvent("e1", "a")], ["w1", "w2"]));
      store.commitPoll(commitOf([makeEvent("e2", "b")], []));
      store.commitPoll(commitOf([makeEvent("e3", "c", { type: "image_server.stuck" })], ["w2"]));
      store.markDead("e1", "w2", 4, "HTTP 400", T0 + 5);

      const all = store.listEvents(10);
      assert.deepEqual(
        all.map((e) => e.id),
        ["e3", "e2", "e1"],
      );
      assert.ok((all[0]?.seq ?? 0) > (all[1]?.seq ?? 0) && (all[1]?.seq ?? 0) > (all[2]?.seq ?? 0));
      assert.equal(all[0]?.type, "image_server.stuck");
      assert.deepEqual(all[1]?.deliveries, []);
      const e1 = all[2];
      assert.ok(e1);
      const { seq: _seq, deliveries, ...event } = e1;
      assert.deepEqual(event, makeEvent("e1", "a"));
      assert.deepEqual(deliveries.map((d) => [d.webhook, d.state, d.attempts]).sort(), [
        ["w1", "pending", 0],
        ["w2", "dead", 4],
      ]);
      assert.deepEqual(
        store.listEvents(2).map((e) => e.id),
        ["e3", "e2"],
      );
    });

    it("prune deletes old fully delivered events only; dead letters, pending and recent ones stay", () => {
      const old = T0 - 20 * 86_400_000;
      const cut = T0 - 14 * 86_400_000;
      store.commitPoll(
        commitOf(
          [
            makeEvent("old-delivered", "a", { occurredAt: old }),
            makeEvent("old-dead", "b", { occurredAt: old }),
            makeEvent("old-pending", "c", { occurredAt: old }),
            makeEvent("old-mixed", "d", { occurredAt: old }),
            makeEvent("recent-delivered", "e", { occurredAt: cut + 1 }),
          ],
          ["w1", "w2"],
        ),
      );
      store.commitPoll(commitOf([makeEvent("old-none", "f", { occurredAt: old })], []));
      const mark = (id: string, w1: "delivered" | "dead", w2: "delivered" | "dead") => {
        for (const [w, s] of [
          ["w1", w1],
          ["w2", w2],
        ] as const) {
          if (s === "delivered") store.markDelivered(id, w, 1, T0);
          else store.markDead(id, w, 1, "HTTP 400", T0);
        }
      };
      mark("old-delivered", "delivered", "delivered");
      mark("old-dead", "dead", "dead");
      mark("old-mixed", "delivered", "dead");
      mark("recent-delivered", "delivered", "delivered");
      store.markDelivered("old-pending", "w1", 1, T0);

      assert.equal(store.prune(cut), 2);
      assert.deepEqual(
        store
          .listEvents(100)
          .map((e) => e.id)
          .sort(),
        ["old-dead", "old-mixed", "old-pending", "recent-delivered"],
      );
      assert.equal(store.requeue("old-delivered", T0), 0, "its deliveries went with it");
      assert.equal(store.queueStats().get("w2")?.depth, 1);
      assert.equal(store.prune(cut), 0);
    });

    it("prune with a limit deletes at most that many per call, the oldest first, skipping what must stay", () => {
      const day = 86_400_000;
      const cut = T0 - 14 * day;
      const ids = ["d20", "d19", "pending18", "d17", "d16", "d15"];
      store.commitPoll(
        commitOf(
          ids.map((id, i) => makeEvent(id, `s${i}`, { occurredAt: T0 - (20 - i) * day })),
          ["w1"],
        ),
      );
      for (const id of ids) if (id !== "pending18") store.markDelivered(id, "w1", 1, T0);
      const left = () =>
        store
          .listEvents(100)
          .map((e) => e.id)
          .reverse();
      assert.equal(store.prune(cut, 2), 2);
      assert.deepEqual(left(), ["pending18", "d17", "d16", "d15"]);
      assert.equal(store.prune(cut, 2), 2);
      assert.deepEqual(left(), ["pending18", "d15"]);
      assert.equal(store.prune(cut, 2), 1);
      assert.equal(store.prune(cut, 2), 0);
      assert.deepEqual(left(), ["pending18"]);
      assert.equal(store.prune(cut, 0), 0, "a limit of 0 deletes nothing");
      assert.equal(store.queueStats().get("w1")?.depth, 1, "the pending delivery stays");
    });

    it("pruneJobs deletes one project's finished jobs that ended before the cut, oldest first, at most `limit` a call", () => {
      const day = 86_400_000;
      const cut = T0 - 14 * day;
      const job = (jobId: string, status: string, beginDaysAgo: number | null, endDaysAgo: number | null) =>
        makeJobRecord(jobId, {
          status,
          beginTime: beginDaysAgo === null ? null : T0 - beginDaysAgo * day,
          endTime: endDaysAgo === null ? null : T0 - endDaysAgo * day,
        });
      assert.equal(store.jobsPrunedBefore("p1"), undefined, "never pruned");
      const records = [
        job("failed-20d", "FAILED", 20, 20),
        job("success-19d", "SUCCESS", 19, 19),
        job("no-end-18d", "UNKNOWN", 18, null), // gone from the API before its end: ages from its begin
        job("running-30d", "RUNNING", 30, null), // active: kept however old
        job("began-16d-ended-10d", "FAILED", 16, 10), // ended inside the retention
        job("no-begin", "FAILED", null, 20), // no begin time: kept
        job("recent", "SUCCESS", 1, 1),
      ];
      store.commitPoll({
        ...commitOf([], []),
        jobs: { cursor: { projectId: "p1", failedCounts: {} }, records },
      });
      store.commitPoll({
        ...commitOf([], []),
        jobs: {
          cursor: { projectId: "p2", failedCounts: {} },
          records: [{ ...job("p2-failed-20d", "FAILED", 20, 20), projectId: "p2" }],
        },
      });
      // RETURNING gives no order: compare sorted.
      const pruned = (limit?: number) => store.pruneJobs("p1", cut, limit).sort();
      assert.deepEqual(pruned(2), ["failed-20d", "success-19d"], "the two oldest");
      assert.deepEqual(pruned(2), ["no-end-18d"]);
      assert.deepEqual(pruned(2), []);
      assert.deepEqual(
        store
          .loadJobs("p1")
          .jobs.map((j) => j.jobId)
          .sort(),
        ["began-16d-ended-10d", "no-begin", "recent", "running-30d"],
      );
      assert.deepEqual(
        store.loadJobs("p2").jobs.map((j) => j.jobId),
        ["p2-failed-20d"],
        "another project's jobs stay",
      );
      assert.equal(store.jobsPrunedBefore("p1"), cut, "the cut-off is kept");
      assert.equal(store.jobsPrunedBefore("p2"), undefined, "per project");
      assert.deepEqual(store.pruneJobs("p1", T0, 0), [], "a limit of 0 deletes nothing");
      assert.equal(store.jobsPrunedBefore("p1"), T0, "a later cut-off raises it");
      store.pruneJobs("p1", cut);
      assert.equal(store.jobsPrunedBefore("p1"), T0, "an earlier one does not lower it");
    });

    it("isWritable is true while open and false once closed", () => {
      assert.equal(store.isWritable(), true);
      store.close();
      assert.equal(store.isWritable(), false);
      store.close(); // closing twice is harmless (afterEach closes again)
    });
  });
}
