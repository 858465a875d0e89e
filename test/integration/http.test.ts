import assert from "node:assert/strict";
import { request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { after, before, describe, it } from "node:test";
import type { ImageServer, ServerState } from "../../src/domain/types.js";
import { createHttpServer, type HttpServerDeps } from "../../src/http/server.js";
import { formatHumanDuration } from "../../src/lib/duration.js";
import { createLogger, createSilentLogger } from "../../src/lib/logger.js";
import { createMetrics } from "../../src/metrics/metrics.js";
import type { DeliveryRecord, EventFilter, StoredEvent } from "../../src/store/types.js";
import { createManualClock } from "../helpers/manual-clock.js";

interface Reply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

function call(
  base: string,
  path: string,
  opts: { method?: string; headers?: Record<string, string>; body?: Buffer | string } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      new URL(path, base),
      { method: opts.method ?? "GET", headers: opts.headers ?? {}, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString("utf8"),
          }),
        );
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    req.end(opts.body);
  });
}

const P = "0123456789abcdef0123456789abcdef";
const clock = createManualClock("2026-11-27T10:00:00.000Z");
const NOW = clock.now();

function imageServer(id: string, name: string, status: string): ImageServer {
  return {
    id,
    name,
    status,
    updateTime: NOW,
    createTime: NOW - 86_400_000,
    imageId: "img",
    imageType: "private",
    serverGroupId: "sg",
    appGroupId: "ag",
    apsServerId: "aps",
    instanceId: "ecs",
    raw: {},
  };
}

function serverState(id: string, name: string, status: string, over: Partial<ServerState> = {}): ServerState {
  return {
    projectId: P,
    serverId: id,
    name,
    status,
    statusSince: NOW - (12 * 60 + 3) * 1000,
    present: true,
    stuck: false,
    stuckNotifiedAt: null,
    stuckCount: 0,
    consecutiveFailures: 0,
    pollFailedNotified: false,
    lastPollAt: NOW - 5000,
    lastPollOk: true,
    lastSuccessAt: NOW - 5000,
    lastError: null,
    server: imageServer(id, name, status),
    ...over,
  };
}

const SERVERS: ServerState[] = [
  serverState("srv-ok", "build-ok", "BUILDING"),
  serverState("srv-xss", "<script>alert(1)</script>", "ERROR", {
    stuck: true,
    lastPollOk: false,
    consecutiveFailures: 3,
    lastError: { kind: "http_5xx", http_status: 503, error_code: "APPSTREAM.5000", error_msg: "busy" },
  }),
];

function storedEvent(
  seq: number,
  deliveries: DeliveryRecord[],
): StoredEvent & { deliveries: DeliveryRecord[] } {
  return {
    seq,
    id: `evt_${seq}`,
    type: "image_server.status_changed",
    occurredAt: NOW - seq * 1000,
    projectId: P,
    serverId: "srv-ok",
    data: {
      event_id: `evt_${seq}`,
      project_id: P,
      server_id: "srv-ok",
      name: "build-ok",
      status: "BUILT",
      previous_status: "BUILDING",
    },
    deliveries,
  };
}

function delivery(eventId: string, webhook: string, state: DeliveryRecord["state"]): DeliveryRecord {
  return {
    eventId,
    webhook,
    state,
    attempts: state === "pending" ? 2 : 1,
    nextAttemptAt: NOW + 60_000,
    lastError: state === "pending" ? "http 503" : null,
    createdAt: NOW - 10_000,
    updatedAt: NOW - 5000,
  };
}

const EVENTS = [
  storedEvent(2, [delivery("evt_2", "ops", "pending"), delivery("evt_2", "chat", "delivered")]),
  storedEvent(1, [delivery("evt_1", "ops", "dead")]),
];

interface Harness {
  deps: HttpServerDeps;
  token: { value: string | undefined };
  ready: { value: boolean };
  reloadResult: { value: { ok: true } | { ok: false; errors: string[] } | "throw" };
  reloads: number[];
  limits: number[];
  filters: EventFilter[];
}

function harness(initialToken: string | undefined, logger = createSilentLogger()): Harness {
  const metrics = createMetrics({ version: "9.9.9", collectDefault: false });
  for (const s of SERVERS) metrics.setServer(s);
  const h: Harness = {
    token: { value: initialToken },
    ready: { value: false },
    reloadResult: { value: { ok: true } },
    reloads: [],
    limits: [],
    filters: [],
    deps: undefined as unknown as HttpServerDeps,
  };
  h.deps = {
    metrics,
    logger,
    clock,
    version: "9.9.9",
    getBearerToken: () => h.token.value,
    listServers: () => SERVERS,
    listEvents: (limit, filter) => {
      h.limits.push(limit);
      h.filters.push(filter ?? {});
      return EVENTS.slice(0, limit);
    },
    getEvent: (id) => EVENTS.find((e) => e.id === id),
    stuckThresholdFor: (status) => (status === "ERROR" ? 3_600_000 : undefined),
    isReady: () => h.ready.value,
    reload: async () => {
      h.reloads.push(Date.now());
      const r = h.reloadResult.value;
      if (r === "throw") throw new Error("boom with secret s3cret-token");
      return r;
    },
  };
  return h;
}

describe("http server with a bearer token", () => {
  const TOKEN = "s3cret-token";
  const logLines: string[] = [];
  const h = harness(
    TOKEN,
    createLogger({ level: "debug", format: "json" }, { write: (s: string) => logLines.push(s) }),
  );
  const srv = createHttpServer(h.deps);
  let base = "";

  before(async () => {
    const { url, port } = await srv.start("127.0.0.1", 0);
    assert.ok(port > 0);
    base = url;
  });
  after(() => srv.stop());

  const auth = { Authorization: `Bearer ${TOKEN}` };
  const guarded: Array<[string, string]> = [
    ["GET", "/metrics"],
    ["GET", "/"],
    ["GET", "/api/v1/servers"],
    ["GET", "/api/v1/events"],
    ["GET", "/servers/0123456789abcdef0123456789abcdef/srv-ok"],
    ["POST", "/-/reload"],
  ];
  const basic = (user: string, password: string) =>
    `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;

  it("takes the token as the password of HTTP Basic, and challenges a browser for it", async () => {
    for (const path of ["/", "/api/v1/servers", "/servers/0123456789abcdef0123456789abcdef/srv-ok"]) {
      const ok = await call(base, path, { headers: { Authorization: basic("anyone", TOKEN) } });
      assert.equal(ok.status, 200, path);
    }
    const wrong = await call(base, "/", {
      headers: { Authorization: basic("ops", "nope"), Accept: "text/html" },
    });
    assert.equal(wrong.status, 401);
    assert.equal(wrong.headers["www-authenticate"], 'Basic realm="imagewatch"');
    const api = await call(base, "/api/v1/servers", { headers: { Authorization: basic("ops", "nope") } });
    assert.equal(
      api.headers["www-authenticate"],
      'Bearer realm="imagewatch"',
      "API clients are offered Bearer",
    );
    // The stylesheet and script hold no data: a browser may fetch them before it has the credentials.
    for (const path of ["/static/status.css", "/static/refresh.js", "/static/favicon.svg"]) {
      assert.equal((await call(base, path)).status, 200, path);
    }
  });

  it("answers 401 with WWW-Authenticate on guarded paths without a token or with a wrong one", async () => {
    for (const [method, path] of guarded) {
      const variants: Array<Record<string, string>> = [
        {},
        { Authorization: "Bearer wrong" },
        { Authorization: `Basic ${TOKEN}` },
      ];
      for (const headers of variants) {
        const r = await call(base, path, { method, headers });
        assert.equal(r.status, 401, `${method} ${path} ${JSON.stringify(headers)}`);
        assert.match(String(r.headers["www-authenticate"]), /^Bearer/);
        assert.ok(!r.body.includes(TOKEN), "the token is never echoed");
      }
    }
    assert.equal(h.reloads.length, 0, "an unauthorised reload does nothing");
  });

  it("serves guarded paths with the right token (any case of the scheme)", async () => {
    const r = await call(base, "/metrics", { headers: auth });
    assert.equal(r.status, 200);
    assert.match(String(r.headers["content-type"]), /^text\/plain; version=0\.0\.4/);
    assert.match(
      r.body,
      /imagewatch_image_server_status\{project_id="[0-9a-f]+",server_id="srv-ok",status="BUILDING"\} 1/,
    );
    assert.equal(
      (await call(base, "/api/v1/servers", { headers: { Authorization: `bearer ${TOKEN}` } })).status,
      200,
    );
  });

  it("leaves /-/healthy and /-/ready open", async () => {
    assert.equal((await call(base, "/-/healthy")).status, 200);
    assert.equal((await call(base, "/-/ready")).status, 503);
  });

  it("applies a changed token at once (reload)", async () => {
    h.token.value = "next-token";
    try {
      assert.equal((await call(base, "/metrics", { headers: auth })).status, 401);
      assert.equal(
        (await call(base, "/metrics", { headers: { Authorization: "Bearer next-token" } })).status,
        200,
      );
    } finally {
      h.token.value = TOKEN;
    }
  });

  it("logs requests with a constant message and never the Authorization header", async () => {
    logLines.length = 0;
    await call(base, "/api/v1/servers?x=1", { headers: auth });
    const lines = logLines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const req = lines.find((l) => l.msg === "http request" && l.path === "/api/v1/servers");
    assert.ok(req, "a debug line per request");
    assert.equal(req.status, 200);
    assert.ok(!logLines.join("\n").includes(TOKEN), "no log line holds the token");
  });
});

describe("http server without a bearer token", () => {
  const h = harness(undefined);
  const srv = createHttpServer(h.deps);
  let base = "";

  before(async () => {
    base = (await srv.start("127.0.0.1", 0)).url;
  });
  after(() => srv.stop());

  it("serves every path without Authorization (also with an empty token)", async () => {
    for (const token of [undefined, ""]) {
      h.token.value = token;
      assert.equal((await call(base, "/metrics")).status, 200);
      assert.equal((await call(base, "/")).status, 200);
      assert.equal((await call(base, "/api/v1/servers")).status, 200);
    }
  });

  it("answers 404 for unknown paths and 405 with Allow for wrong methods", async () => {
    const nf = await call(base, "/nope");
    assert.equal(nf.status, 404);
    assert.match(String(nf.headers["content-type"]), /^application\/json; charset=utf-8/);
    assert.equal((await call(base, "/metrics/extra")).status, 404);

    const cases: Array<[string, string, string]> = [
      ["POST", "/metrics", "GET, HEAD"],
      ["DELETE", "/api/v1/servers", "GET, HEAD"],
      ["GET", "/-/reload", "POST"],
      ["PUT", "/-/healthy", "GET, HEAD"],
    ];
    for (const [method, path, allow] of cases) {
      const r = await call(base, path, { method });
      assert.equal(r.status, 405, `${method} ${path}`);
      assert.equal(r.headers.allow, allow, `${method} ${path}`);
    }
  });

  it("answers HEAD where GET is allowed, without a body", async () => {
    const r = await call(base, "/metrics", { method: "HEAD" });
    assert.equal(r.status, 200);
    assert.equal(r.body, "");
    assert.ok(Number(r.headers["content-length"]) > 100);
    assert.equal((await call(base, "/-/healthy", { method: "HEAD" })).status, 200);
  });

  it("ignores query strings where they mean nothing", async () => {
    const r = await call(base, "/metrics?foo=bar&x");
    assert.equal(r.status, 200);
    assert.match(r.body, /imagewatch_build_info/);
  });

  it("answers /-/ready 503 until the daemon is ready, then 200", async () => {
    h.ready.value = false;
    assert.equal((await call(base, "/-/ready")).status, 503);
    h.ready.value = true;
    assert.equal((await call(base, "/-/ready")).status, 200);
    assert.equal((await call(base, "/-/healthy")).status, 200);
  });

  it("reloads: 200 ok, 400 with the errors, 500 without details when reload throws", async () => {
    h.reloadResult.value = { ok: true };
    let r = await call(base, "/-/reload", { method: "POST" });
    assert.equal(r.status, 200);
    assert.match(String(r.headers["content-type"]), /^application\/json; charset=utf-8/);
    assert.deepEqual(JSON.parse(r.body), { status: "ok" });

    const errors = ["webhooks[1].url: must be http(s) URL", "schedule.interval: must be a duration"];
    h.reloadResult.value = { ok: false, errors };
    r = await call(base, "/-/reload", { method: "POST" });
    assert.equal(r.status, 400);
    assert.deepEqual(JSON.parse(r.body), { status: "error", errors });

    h.reloadResult.value = "throw";
    r = await call(base, "/-/reload", { method: "POST" });
    assert.equal(r.status, 500);
    assert.ok(!r.body.includes("s3cret"), "the thrown message is not echoed");
    assert.equal(h.reloads.length, 3);
    h.reloadResult.value = { ok: true };
  });

  it("rejects request bodies over 64 KiB with 413 and does not run the handler", async () => {
    const before = h.reloads.length;
    const big = Buffer.alloc(100 * 1024, 0x61);
    const r = await call(base, "/-/reload", {
      method: "POST",
      body: big,
      headers: { "Content-Type": "text/plain", "Content-Length": String(big.length) },
    });
    assert.equal(r.status, 413);
    assert.equal(h.reloads.length, before);
    // The same body streamed without a declared length is cut off while it is read.
    const chunked = await call(base, "/-/reload", {
      method: "POST",
      body: big,
      headers: { "Transfer-Encoding": "chunked" },
    });
    assert.equal(chunked.status, 413);
    assert.equal(h.reloads.length, before);
    // A small body is fine.
    const ok = await call(base, "/-/reload", { method: "POST", body: "{}" });
    assert.equal(ok.status, 200);
  });

  it("lists servers in the documented shape", async () => {
    const r = await call(base, "/api/v1/servers");
    assert.equal(r.status, 200);
    const body = JSON.parse(r.body) as { servers: Array<Record<string, unknown>> };
    assert.equal(body.servers.length, 2);
    assert.deepEqual(body.servers[0], {
      project_id: P,
      server_id: "srv-ok",
      name: "build-ok",
      status: "BUILDING",
      status_since: new Date(NOW - 723_000).toISOString(),
      stuck: false,
      last_poll_at: new Date(NOW - 5000).toISOString(),
      last_poll_ok: true,
      consecutive_failures: 0,
      last_error: null,
    });
    assert.deepEqual(body.servers[1]?.last_error, {
      kind: "http_5xx",
      http_status: 503,
      error_code: "APPSTREAM.5000",
      error_msg: "busy",
    });
    assert.equal(body.servers[1]?.consecutive_failures, 3);
  });

  it("lists events newest first with deliveries, and validates limit", async () => {
    h.limits.length = 0;
    let r = await call(base, "/api/v1/events");
    assert.equal(r.status, 200);
    assert.deepEqual(h.limits, [101], "default limit 100, one more to know whether a next page exists");
    const body = JSON.parse(r.body) as { events: Array<Record<string, unknown>>; next: string | null };
    assert.equal(body.next, null, "every event fitted: no next page");
    assert.deepEqual(
      body.events.map((e) => e.event_id),
      ["evt_2", "evt_1"],
    );
    const first = body.events[0] as Record<string, unknown>;
    assert.equal(first.type, "image_server.status_changed");
    assert.equal(first.occurred_at, new Date(NOW - 2000).toISOString());
    assert.equal(first.project_id, P);
    assert.equal(first.server_id, "srv-ok");
    assert.equal((first.data as Record<string, unknown>).previous_status, "BUILDING");
    assert.deepEqual(first.deliveries, [
      {
        webhook: "ops",
        state: "pending",
        attempts: 2,
        next_attempt_at: new Date(NOW + 60_000).toISOString(),
        last_error: "http 503",
      },
      { webhook: "chat", state: "delivered", attempts: 1, next_attempt_at: null, last_error: null },
    ]);

    r = await call(base, "/api/v1/events?limit=1");
    assert.equal(r.status, 200);
    const one = JSON.parse(r.body) as { events: unknown[]; next: string | null };
    assert.equal(one.events.length, 1);
    assert.equal(one.next, "evt_2", "a full page names its last event as the cursor");
    assert.equal((await call(base, "/api/v1/events?limit=1000")).status, 200);
    assert.deepEqual(h.limits.slice(1), [2, 1001]);

    for (const bad of ["0", "1001", "abc", "-1", "1.5", "", "1e2", "99999999999"]) {
      const b = await call(base, `/api/v1/events?limit=${bad}`);
      assert.equal(b.status, 400, `limit=${bad}`);
      assert.equal((JSON.parse(b.body) as { status: string }).status, "error");
    }
    assert.equal(h.limits.length, 3, "listEvents is not called for a bad limit");
  });

  it("passes each events filter to the store, and answers 400 naming every bad parameter", async () => {
    h.filters.length = 0;
    const q =
      "state=dead&type=stuck&project_id=p1&server_id=s1&webhook=ops&since=2026-11-27T09:00:00Z&before=evt_2";
    assert.equal((await call(base, `/api/v1/events?${q}`)).status, 200);
    assert.deepEqual(h.filters, [
      {
        state: "dead",
        type: "image_server.stuck",
        projectId: "p1",
        serverId: "s1",
        webhook: "ops",
        since: Date.parse("2026-11-27T09:00:00Z"),
        before: "evt_2",
      },
    ]);
    assert.equal((await call(base, "/api/v1/events?since=90m")).status, 200);
    assert.deepEqual(h.filters[1], { since: NOW - 90 * 60_000 }, "a duration counts back from now");

    const bad = await call(base, "/api/v1/events?since=yesterday&state=gone&colour=red&type=nope&limit=0");
    assert.equal(bad.status, 400);
    const errors = (JSON.parse(bad.body) as { errors: string[] }).errors;
    assert.deepEqual(
      errors.map((e) => e.split(":")[0]),
      ["since", "state", "colour", "type", "limit"],
    );
    assert.equal(errors[0], "since: must be a duration such as 1h or an ISO time");
    assert.match(errors[2] ?? "", /colour: unknown parameter/);
    for (const [query, name] of [
      ["before=evt_gone", "before"],
      ["project_id=", "project_id"],
      ["state=dead&state=pending", "state"],
    ]) {
      const r = await call(base, `/api/v1/events?${query}`);
      assert.equal(r.status, 400, query);
      assert.match((JSON.parse(r.body) as { errors: string[] }).errors[0] ?? "", new RegExp(`^${name}: `));
    }
    assert.equal(h.filters.length, 2, "the store is not asked for a bad query");
  });

  it("renders an HTML status page with a row per server, escaped, under a CSP without inline script", async () => {
    const r = await call(base, "/");
    assert.equal(r.status, 200);
    assert.match(String(r.headers["content-type"]), /^text\/html; charset=utf-8/);
    assert.match(String(r.headers["content-security-policy"]), /script-src 'self'; style-src 'self'/);
    assert.doesNotMatch(String(r.headers["content-security-policy"]), /unsafe-inline/);
    // The failing server first, then the building one; name first.
    assert.match(
      r.body,
      /attn-failing[\s\S]*&lt;script&gt;alert\(1\)&lt;\/script&gt;[\s\S]*attn-transitional[\s\S]*>build-ok</,
    );
    assert.match(r.body, /<span class="status status-transitional">BUILDING<\/span>/);
    assert.ok(!r.body.includes("<script>"), "no inline script");
    assert.ok(!/ style=/.test(r.body), "no inline style attribute");
    assert.match(r.body, /stuck since <time/);
    assert.match(r.body, /http_5xx 503 APPSTREAM\.5000 busy/);
    assert.match(r.body, /image_server\.status_changed/);
    assert.match(r.body, /class="delivery delivery-dead">ops: dead/);
  });

  it("formats human durations", () => {
    assert.equal(formatHumanDuration(723_000), "12m 3s");
    assert.equal(formatHumanDuration(45_000), "45s");
    assert.equal(formatHumanDuration(2 * 3_600_000 + 5 * 60_000), "2h 5m");
    assert.equal(formatHumanDuration(3 * 86_400_000 + 4 * 3_600_000), "3d 4h");
    assert.equal(formatHumanDuration(-5), "0s");
  });
});

describe("http server lifecycle", () => {
  it("stop() resolves with an idle keep-alive connection open, and the port stops answering", async () => {
    const h = harness(undefined);
    const srv = createHttpServer(h.deps);
    const { url } = await srv.start("127.0.0.1", 0);
    const { Agent } = await import("node:http");
    const agent = new Agent({ keepAlive: true });
    try {
      const status = await new Promise<number>((resolve, reject) => {
        const req = httpRequest(new URL("/-/healthy", url), { agent }, (res) => {
          res.resume();
          res.on("end", () => resolve(res.statusCode ?? 0));
        });
        req.on("error", reject);
        req.end();
      });
      assert.equal(status, 200);
      const t0 = Date.now();
      await srv.stop();
      assert.ok(Date.now() - t0 < 1500, "idle connections are closed at once, not after the grace");
      await assert.rejects(call(url, "/-/healthy"));
      await srv.stop(); // idempotent
    } finally {
      agent.destroy();
    }
  });

  it("start() rejects when the port is taken", async () => {
    const a = createHttpServer(harness(undefined).deps);
    const b = createHttpServer(harness(undefined).deps);
    const { port } = await a.start("127.0.0.1", 0);
    try {
      await assert.rejects(b.start("127.0.0.1", port), /EADDRINUSE/);
    } finally {
      await a.stop();
    }
  });
});
