/**
 * `imagewatch events list` (run in-process) and `GET /api/v1/events`, both over a real SQLite store seeded
 * in a temp dir: every filter, the table, usage errors, the read-only open, and paging with `before`.
 */
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import Database from "better-sqlite3";
import { eventsCommand } from "../../src/cli/events.js";
import type { EventType } from "../../src/domain/types.js";
import { createHttpServer } from "../../src/http/server.js";
import { systemClock } from "../../src/lib/clock.js";
import { UsageError } from "../../src/lib/errors.js";
import { createSilentLogger } from "../../src/lib/logger.js";
import { createMetrics } from "../../src/metrics/metrics.js";
import { openSqliteStore } from "../../src/store/sqlite-store.js";
import type { Store } from "../../src/store/types.js";
import { captureContext } from "../helpers/command-context.js";
import { makeTempDir } from "../helpers/temp-dir.js";

const P = "0123456789abcdef0123456789abcdef";
const Q = "fedcba9876543210fedcba9876543210";
const HOUR = 3_600_000;
const NOW = Date.now();

/**
 * e1 (5h ago) s1 status_changed: ops delivered
 * e2 (4h ago) s2 stuck:          ops dead, chat delivered
 * e3 (3h ago) s1 poll_failed:    ops pending
 * e4 (2h ago) s2 status_changed, project Q: chat dead
 * e5 (1h ago) s1 status_changed: ops delivered, chat delivered
 */
function seed(store: Store): void {
  const rows: Array<
    [string, EventType, string, string, number, Array<[string, "delivered" | "dead" | "pending"]>]
  > = [
    ["e1", "image_server.status_changed", P, "s1", 5, [["ops", "delivered"]]],
    [
      "e2",
      "image_server.stuck",
      P,
      "s2",
      4,
      [
        ["ops", "dead"],
        ["chat", "delivered"],
      ],
    ],
    ["e3", "image_server.poll_failed", P, "s1", 3, [["ops", "pending"]]],
    ["e4", "image_server.status_changed", Q, "s2", 2, [["chat", "dead"]]],
    [
      "e5",
      "image_server.status_changed",
      P,
      "s1",
      1,
      [
        ["ops", "delivered"],
        ["chat", "delivered"],
      ],
    ],
  ];
  for (const [id, type, projectId, serverId, hoursAgo, deliveries] of rows) {
    const at = NOW - hoursAgo * HOUR;
    store.commitPoll({
      servers: [],
      events: [
        {
          id,
          type,
          occurredAt: at,
          projectId,
          serverId,
          data: {
            event_id: id,
            project_id: projectId,
            server_id: serverId,
            name: `n${serverId}`,
            status: "ERROR",
          },
        },
      ],
      deliveries: deliveries.map(([webhook]) => ({ eventId: id, webhook })),
      now: at,
    });
    for (const [webhook, state] of deliveries) {
      if (state === "delivered") store.markDelivered(id, webhook, 1, at);
      if (state === "dead") store.markDead(id, webhook, 3, "rejected: HTTP 404 Not Found", at);
      if (state === "pending") store.markRetry(id, webhook, 2, at + HOUR * 10, "HTTP 503", at);
    }
  }
}

const dir = makeTempDir({ after });
const dbFile = path.join(dir, "state", "imagewatch.db");
const config = path.join(dir, "imagewatch.yaml");
fs.writeFileSync(
  config,
  `cloud:
  region: cn-north-4
  auth: { kind: aksk, accessKey: AK, secretKey: SK }
targets:
  - projectId: "${P}"
    discover: true
state:
  path: state/imagewatch.db
`,
);
{
  const store = openSqliteStore(dbFile);
  try {
    seed(store);
  } finally {
    store.close();
  }
}

async function list(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  const io = captureContext(["list", "-c", config, ...args], { cwd: dir });
  const code = await eventsCommand.run(io.ctx);
  return { code, out: io.out(), err: io.err() };
}

async function listIds(...args: string[]): Promise<string[]> {
  const r = await list("--json", ...args);
  assert.equal(r.code, 0, r.err);
  return (JSON.parse(r.out) as { events: Array<{ event_id: string }> }).events.map((e) => e.event_id);
}

describe("imagewatch events list", () => {
  it("lists every event newest first, as the API's JSON", async () => {
    assert.deepEqual(await listIds(), ["e5", "e4", "e3", "e2", "e1"]);
    const r = await list("--json", "--limit", "1");
    const [e] = (JSON.parse(r.out) as { events: Array<Record<string, unknown>> }).events;
    assert.equal(e?.type, "image_server.status_changed");
    assert.deepEqual(e?.deliveries, [
      { webhook: "chat", state: "delivered", attempts: 1, next_attempt_at: null, last_error: null },
      { webhook: "ops", state: "delivered", attempts: 1, next_attempt_at: null, last_error: null },
    ]);
  });

  it("filters by state, webhook, server, type, since and limit, combined with AND", async () => {
    assert.deepEqual(await listIds("--state", "dead"), ["e4", "e2"]);
    assert.deepEqual(await listIds("--state", "dead", "--webhook", "ops"), ["e2"]);
    assert.deepEqual(await listIds("--state", "pending"), ["e3"]);
    assert.deepEqual(await listIds("--webhook", "chat"), ["e5", "e4", "e2"]);
    assert.deepEqual(await listIds("--server", "s2"), ["e4", "e2"]);
    assert.deepEqual(await listIds("--type", "status_changed"), ["e5", "e4", "e1"]);
    assert.deepEqual(await listIds("--type", "image_server.stuck"), ["e2"]);
    assert.deepEqual(await listIds("--since", "150m"), ["e5", "e4"]);
    assert.deepEqual(await listIds("--since", new Date(NOW - 3.5 * HOUR).toISOString()), ["e5", "e4", "e3"]);
    assert.deepEqual(await listIds("--limit", "2"), ["e5", "e4"]);
    assert.deepEqual(await listIds("--server", "s2", "--type", "stuck", "--state", "delivered"), ["e2"]);
  });

  it("prints a table: time, id, type, server name and id, each delivery and its last error", async () => {
    const r = await list("--server", "s2");
    assert.equal(r.code, 0, r.err);
    const lines = r.out.trimEnd().split("\n");
    assert.match(lines[0] ?? "", /^TIME\s+EVENT\s+TYPE\s+SERVER\s+DELIVERIES/);
    assert.match(lines[1] ?? "", /^\S+Z\s+e4\s+status_changed\s+ns2 \(s2\)\s+chat dead ×3$/);
    assert.equal(lines[2], "    chat: last error: rejected: HTTP 404 Not Found");
    assert.match(lines[3] ?? "", /\se2\s+stuck\s+ns2 \(s2\)\s+(chat delivered ×1, ops dead ×3)$/);
    assert.equal(lines.length, 5);
    const none = await list("--type", "discovered");
    assert.equal(none.code, 0);
    assert.equal(none.out, "");
    assert.match(none.err, /no events match/);
  });

  it("rejects a bad option value as a usage error naming the option", async () => {
    for (const [option, value, re] of [
      ["--state", "gone", /--state: must be one of pending, delivered, dead/],
      ["--type", "nope", /--type: unknown event type "nope"/],
      ["--since", "yesterday", /--since: must be a duration such as 1h or an ISO time/],
      ["--limit", "0", /--limit: must be an integer from 1 to 1000/],
      ["--webhook", "", /--webhook: must not be empty/],
    ] as const) {
      await assert.rejects(
        list(option, value),
        (err: unknown) => err instanceof UsageError && re.test(err.message),
        `${option} ${value}`,
      );
    }
  });

  it("reads while another connection holds the write lock (it opens the file read-only)", async () => {
    const writer = new Database(dbFile);
    try {
      writer.exec("BEGIN IMMEDIATE; INSERT INTO meta (key, value) VALUES ('held', '1')");
      const started = Date.now();
      assert.deepEqual(await listIds("--limit", "1"), ["e5"]);
      assert.ok(Date.now() - started < 2000, "it did not wait for the lock");
    } finally {
      writer.exec("ROLLBACK");
      writer.close();
    }
  });
});

describe("GET /api/v1/events over the SQLite store", () => {
  let store: Store;
  let base = "";
  let stop: () => Promise<void> = async () => {};

  before(async () => {
    store = openSqliteStore(dbFile, { readOnly: true });
    const srv = createHttpServer({
      metrics: createMetrics({ version: "1", collectDefault: false }),
      logger: createSilentLogger(),
      clock: systemClock,
      version: "1",
      getBearerToken: () => undefined,
      listServers: () => [],
      listEvents: (limit, filter) => store.listEvents(limit, filter),
      getEvent: (id) => store.getEvent(id),
      isReady: () => true,
      reload: async () => ({ ok: true }),
    });
    base = (await srv.start("127.0.0.1", 0)).url;
    stop = () => srv.stop();
  });
  after(async () => {
    await stop();
    store.close();
  });

  async function get(query: string): Promise<{ status: number; body: Record<string, unknown> }> {
    const res = await fetch(`${base}/api/v1/events?${query}`);
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  }
  async function ids(query: string): Promise<string[]> {
    const r = await get(query);
    assert.equal(r.status, 200, JSON.stringify(r.body));
    return (r.body.events as Array<{ event_id: string }>).map((e) => e.event_id);
  }

  it("applies each filter", async () => {
    assert.deepEqual(await ids(""), ["e5", "e4", "e3", "e2", "e1"]);
    assert.deepEqual(await ids("state=dead"), ["e4", "e2"]);
    assert.deepEqual(await ids("state=dead&webhook=chat"), ["e4"]);
    assert.deepEqual(await ids("webhook=ops"), ["e5", "e3", "e2", "e1"]);
    assert.deepEqual(await ids("type=poll_failed"), ["e3"]);
    assert.deepEqual(await ids("type=image_server.status_changed"), ["e5", "e4", "e1"]);
    assert.deepEqual(await ids(`project_id=${Q}`), ["e4"]);
    assert.deepEqual(await ids("server_id=s1"), ["e5", "e3", "e1"]);
    assert.deepEqual(await ids("since=150m"), ["e5", "e4"]);
    assert.deepEqual(await ids(`since=${encodeURIComponent(new Date(NOW - 4.5 * HOUR).toISOString())}`), [
      "e5",
      "e4",
      "e3",
      "e2",
    ]);
    assert.deepEqual(await ids("before=e3"), ["e2", "e1"]);
    assert.deepEqual(await ids("before=e4&server_id=s2"), ["e2"]);
  });

  it("pages with `before`: each page starts after the last, no overlap, `next` null at the end", async () => {
    const seen: string[] = [];
    let query = "limit=2";
    const nexts: Array<string | null> = [];
    for (let page = 0; page < 5; page++) {
      const r = await get(query);
      assert.equal(r.status, 200);
      seen.push(...(r.body.events as Array<{ event_id: string }>).map((e) => e.event_id));
      const next = r.body.next as string | null;
      nexts.push(next);
      if (next === null) break;
      query = `limit=2&before=${next}`;
    }
    assert.deepEqual(seen, ["e5", "e4", "e3", "e2", "e1"]);
    assert.deepEqual(nexts, ["e4", "e2", null]);
    // A filtered page's cursor pages within the filter.
    const dead = await get("state=dead&limit=1");
    assert.deepEqual(dead.body.next, "e4");
    assert.deepEqual(await ids("state=dead&limit=1&before=e4"), ["e2"]);
  });

  it("answers 400 naming a malformed, unknown or dangling parameter", async () => {
    const r = await get("since=soon&server=s1");
    assert.equal(r.status, 400);
    assert.deepEqual(r.body.errors, [
      "since: must be a duration such as 1h or an ISO time",
      "server: unknown parameter (known: limit, state, type, project_id, server_id, webhook, since, before)",
    ]);
    const gone = await get("before=evt_pruned");
    assert.equal(gone.status, 400);
    assert.match((gone.body.errors as string[])[0] ?? "", /^before: no event with id "evt_pruned"/);
  });
});
